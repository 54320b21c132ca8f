"""Prometheus metrics of the token service, labelled by provider."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class TokenMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cache = Counter(
            "skyroute_token_cache_total",
            "GetToken outcomes: hit, miss (no usable token), wait",
            ["provider", "result"],
            registry=registry,
        )
        self.upstream = Counter(
            "skyroute_token_upstream_requests_total",
            "Requests to the provider's token endpoint by outcome",
            ["provider", "outcome"],
            registry=registry,
        )
        self.lock_contended = Counter(
            "skyroute_token_lock_contended_total",
            "Refresh attempts that found the lock held",
            ["provider"],
            registry=registry,
        )
        self.fenced_rejected = Counter(
            "skyroute_token_fenced_writes_rejected_total",
            "Token writes refused by the fence",
            ["provider"],
            registry=registry,
        )
        # What an event cost: adopted from the event itself, ignored (not newer than the
        # copy), or re-read from Redis (an event without a record); and the record's
        # reads, whatever asked for them. Flat per refresh as replicas are added.
        self.events = Counter(
            "skyroute_token_events_total",
            "Token events received, by handling: adopted, ignored (not newer), reread",
            ["provider", "handling"],
            registry=registry,
        )
        self.shared_reads = Counter(
            "skyroute_token_shared_reads_total",
            "Reads of the shared token record from Redis into this replica's copy",
            ["provider"],
            registry=registry,
        )
        self.expiry = Gauge(
            "skyroute_token_time_to_expiry_seconds",
            "Seconds until the served token expires",
            ["provider"],
            registry=registry,
        )
        self.age = Gauge(
            "skyroute_token_age_seconds", "Age of the served token", ["provider"], registry=registry
        )
        self.generation = Gauge(
            "skyroute_token_generation",
            "Generation of the served token",
            ["provider"],
            registry=registry,
        )
        self.degraded = Gauge(
            "skyroute_token_degraded",
            "1 while Redis is unreachable and this replica serves its own single-flight cache",
            registry=registry,
        )
        self.chain = Counter(
            "skyroute_token_chain_events_total",
            "Refresh-token chain events: rotated, suspect (a holder died "
            "between the provider's answer and the store), broken "
            "(invalid_grant), recovered (by the bootstrap grant), "
            "reauthorization_required",
            ["provider", "event"],
            registry=registry,
        )
        self.reauth = Gauge(
            "skyroute_token_reauthorization_required",
            "1 while the provider's refresh-token chain is broken and only an "
            "operator's `token authorize` / `install-refresh-token` helps",
            ["provider"],
            registry=registry,
        )
        # The one window rotation cannot close: the provider has answered (the old refresh
        # token is spent) and the new one is not yet stored.
        self.store_window = Histogram(
            "skyroute_token_chain_store_window_seconds",
            "From the provider's answer to the fenced write's acknowledgement",
            ["provider"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.download = Counter(
            "skyroute_download_tokens_total",
            "Download token operations by result",
            ["operation", "result"],
            registry=registry,
        )
