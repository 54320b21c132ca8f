"""Login and registration attempts, limited per account and per client address for
the whole fleet: one GCRA budget per key in Redis (services/rate_budget.py), so the
limit holds however the attempts are spread over the replicas.

Keys carry a SHA-256 of the email or address, never the value itself. If Redis
cannot be asked the attempt goes ahead (counted in the metrics, as the provider
budgets do): the argon2 cost of each attempt still bounds an attacker, and a Redis
outage must not lock every user out.
"""

from __future__ import annotations

import hashlib
import logging

from redis.exceptions import RedisError

from account_service.metrics import AccountMetrics
from account_service.settings import ThrottleSettings
from services.errors import RateLimitedError
from services.rate_budget import Priority, RateBudget, RateBudgetSettings
from services.redis_client import RedisClient

log = logging.getLogger("skyroute.account.throttle")


class Throttle:
    def __init__(
        self, redis: RedisClient, prefix: str, settings: ThrottleSettings, metrics: AccountMetrics
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:account-throttle"
        self._settings = settings
        self._outcomes = metrics.throttle

    async def check(self, action: str, limits: tuple[tuple[str, str, float], ...]) -> None:
        """Takes one attempt from each (kind, value, per minute) budget; raises
        RateLimitedError (RESOURCE_EXHAUSTED + RetryInfo) when any has none."""
        for kind, value, per_minute in limits:
            if per_minute <= 0:
                continue
            name = f"{action}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"
            budget = RateBudget(
                self._redis,
                self._prefix,
                name,
                RateBudgetSettings(per_second=per_minute / 60.0, burst=self._settings.burst),
            )
            try:
                granted, seconds = await budget.try_permit(Priority.INTERACTIVE, 0.0)
            except RedisError as exc:
                log.warning(
                    "throttle unavailable; attempt allowed",
                    extra={"action": action, "error": type(exc).__name__},
                )
                self._outcomes.labels(action, "unlimited").inc()
                return
            if not granted:
                self._outcomes.labels(action, "refused").inc()
                raise RateLimitedError(
                    "too many attempts; retry later",
                    reason="RATE_LIMITED",
                    metadata={"limit": kind},
                    retry_after_seconds=max(seconds, 0.001),
                )
        self._outcomes.labels(action, "allowed").inc()

    async def login(self, email: str, address: str) -> None:
        s = self._settings
        await self.check(
            "login",
            (
                ("address", address, s.login_per_address_per_minute),
                ("account", email, s.login_per_account_per_minute),
            ),
        )

    async def register(self, email: str, address: str) -> None:
        s = self._settings
        await self.check(
            "register",
            (
                ("address", address, s.register_per_address_per_minute),
                ("account", email, s.register_per_account_per_minute),
            ),
        )
