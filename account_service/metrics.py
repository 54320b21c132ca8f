"""The account service's own metrics (skyroute_account_*), beside the standard gRPC
server metrics every service exports."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class AccountMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.throttle = Counter(
            "skyroute_account_throttle",
            "Login and registration attempts by action and outcome (allowed, refused, "
            "unlimited = Redis not answering)",
            ["action", "outcome"],
            registry=registry,
        )
        self.logins = Counter(
            "skyroute_account_logins",
            "Logins by outcome (ok, invalid_credentials, not_verified)",
            ["outcome"],
            registry=registry,
        )
        self.refreshes = Counter(
            "skyroute_account_refreshes",
            "Refresh-token uses by outcome (rotated, invalid, reused, session_revoked)",
            ["outcome"],
            registry=registry,
        )
        self.revoked_sessions = Counter(
            "skyroute_account_revoked_sessions",
            "Sessions revoked, by reason (logout, logout_all, password_reset, reuse)",
            ["reason"],
            registry=registry,
        )
        self.hash_seconds = Histogram(
            "skyroute_account_password_hash_seconds",
            "Time of one argon2id hash or verification (in its worker thread)",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
