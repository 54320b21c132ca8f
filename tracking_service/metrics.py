"""The tracking service's own metrics (``skyroute_tracking_*``), on the process registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class TrackingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "skyroute_tracking_runs_total",
            "Tracker runs by outcome: stored, lost (the claim was taken over), deferred "
            "(no price this time)",
            ["outcome"],
            registry=registry,
        )
        self.lag = Histogram(
            "skyroute_tracking_schedule_lag_seconds",
            "From a run's due time to its claim",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
        )
        self.coalesced = Counter(
            "skyroute_tracking_coalesced_runs_total",
            "Runs priced by another run's search of the same key in their batch",
            registry=registry,
        )
        self.alerts = Counter(
            "skyroute_tracking_alerts_total", "Alerts raised", ["kind"], registry=registry
        )
        self.watchers = Counter(
            "skyroute_tracking_alerts_delivered_total",
            "Alerts sent on WatchAlerts streams",
            registry=registry,
        )
