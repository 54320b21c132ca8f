"""Serving while Redis does not answer: the replica's own token.

The local copy is authoritative; a per-replica lock keeps upstream requests
single-flight and failures back off locally. A token fetched here gets a degraded
generation (unique to this replica, above the shared chain). When Redis answers
again, ``hand_back`` offers that token to the cluster or adopts the cluster's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import replace

from services.errors import FailedPreconditionError, UnavailableError
from services.logs import Redactor
from token_service.broker.local_copy import LocalCopy, sleep_or_change
from token_service.broker.refresh import due_ms, refresh_after_ms
from token_service.metrics import TokenMetrics
from token_service.redis_health import RecoveryPending, RedisHealth
from token_service.settings import RefreshPolicy
from token_service.store import (
    RedisClock,
    TokenRecord,
    TokenStore,
    degraded_generation,
    digest,
    fallback_tag,
)
from token_service.upstream import TokenEndpoint, UpstreamError, UpstreamRejectedClient

log = logging.getLogger("skyroute.token.broker")


class DegradedPath:
    def __init__(
        self,
        name: str,
        local: LocalCopy,
        store: TokenStore,
        clock: RedisClock,
        endpoint: TokenEndpoint,
        policy: RefreshPolicy,
        metrics: TokenMetrics,
        redis_health: RedisHealth,
        redactor: Redactor,
    ) -> None:
        self.name = name
        self._local = local
        self._store = store
        self._clock = clock
        self._endpoint = endpoint
        self._policy = policy
        self._metrics = metrics
        self._redis_health = redis_health
        self._redactor = redactor
        self._lock = asyncio.Lock()  # degraded-mode single flight
        self._tag = fallback_tag(store.owner)  # replaced by one from Redis when it answers
        self._retry_at = 0.0
        self._negative_until = 0.0

    async def take_tag(self) -> None:
        """This replica's tag for degraded generations, handed out by Redis."""
        self._tag = await self._store.replica_tag()

    async def get_token(self, need_ms: int) -> TokenRecord:
        local = self._local
        rec = local.record
        if rec is not None and local.servable(rec, need_ms):
            local.count_hit()
            return rec
        local.count_miss()
        async with self._lock:
            rec = local.record
            if rec is not None and local.servable(rec, need_ms):
                return rec
            await self._refresh()
            rec = local.record
            if rec is not None and local.servable(rec, 0):
                return rec  # refresh failed: serve the still-valid token
        if time.monotonic() < self._negative_until:
            raise FailedPreconditionError(
                f"provider {self.name} rejected our client credentials: {local.last_error}",
                reason="UPSTREAM_CREDENTIALS_REJECTED",
                metadata={"provider": self.name},
            )
        raise UnavailableError(
            f"no valid {self.name} token: the token endpoint is unavailable "
            f"({local.last_error or 'unknown error'})",
            reason="UPSTREAM_TOKEN_UNAVAILABLE",
            metadata={"provider": self.name},
            retry_after_seconds=max(self._retry_at - time.monotonic(), 0.1),
        )

    async def tick(self) -> None:
        """One turn of the background loop while degraded."""
        changed = self._local.changed
        rec = self._local.record
        now = self._clock.now_ms()
        due = due_ms(rec)
        if due > now:
            await sleep_or_change(changed, min((due - now) / 1000, 0.5))
            return
        async with self._lock:
            await self._refresh()
        if self._redis_health.degraded:
            wait = max(self._retry_at - time.monotonic(), 0.05)
            await sleep_or_change(changed, min(wait, 0.5))

    async def _refresh(self) -> None:
        """Degraded refresh: per-replica single flight with local backoff."""
        local = self._local
        mono = time.monotonic()
        if mono < self._retry_at or mono < self._negative_until:
            return
        sent_ms = self._clock.now_ms()
        local.refreshing = True
        try:
            fetched = await self._endpoint.fetch()
        except UpstreamError as exc:
            local.counters.upstream_failed += 1
            local.last_error = exc.message
            rejected = isinstance(exc, UpstreamRejectedClient)
            # The same outcome labels as the shared path's refresh.
            self._metrics.upstream.labels(self.name, "rejected" if rejected else "failed").inc()
            if rejected:
                self._negative_until = mono + self._policy.negative_cache_seconds
            else:
                delay = min(
                    self._policy.backoff_max_seconds,
                    self._policy.backoff_initial_seconds * (1 + random.random()),
                )
                self._retry_at = time.monotonic() + max(delay, exc.retry_after or 0)
            return
        finally:
            local.refreshing = False
        self._redactor.add(fetched.access_token)
        local.counters.upstream_ok += 1
        self._metrics.upstream.labels(self.name, "ok").inc()
        lifetime = fetched.expires_in_ms
        # Never the shared chain's next number: another replica may be degraded too.
        generation = degraded_generation(
            self._clock.now_ms(), local.record.generation if local.record else 0, self._tag
        )
        local.record = TokenRecord(
            access_token=fetched.access_token,
            token_type=fetched.token_type,
            generation=generation,
            issued_ms=sent_ms,
            expires_ms=sent_ms + lifetime,
            refresh_ms=sent_ms + refresh_after_ms(self._policy, local.floor_ms, lifetime),
            invalid=False,
        )
        log.info(
            "token refreshed locally (degraded)",
            extra={"provider": self.name, "generation": generation},
        )
        local.pulse()

    def invalidate(self, token: str) -> bool:
        """Marks ``token`` invalid in the local copy if it is the current one."""
        rec = self._local.record
        if rec is not None and not rec.invalid and digest(rec.access_token) == digest(token):
            self._local.record = replace(rec, invalid=True)
            return True
        return False

    def backoff_remaining_ms(self) -> int:
        remaining = self._retry_at - time.monotonic()
        return int(remaining * 1000) if remaining > 0 else 0

    async def hand_back(self) -> None:
        """Redis is back: hand a token fetched while degraded to the cluster.

        Runs while still degraded (callers are served from memory). If another replica
        holds the lock, its hand-back may not be written yet: rather than drop the
        usable token held here (and fetch a new one), raise RecoveryPending and stay
        degraded until the next probe."""
        await self.take_tag()
        rec = self._local.record
        usable = rec is not None and rec.usable(self._clock.now_ms())
        if rec is not None and usable:
            lease, _ = await self._store.lock.try_acquire(int(self._policy.lock_ttl_seconds * 1000))
            if lease is not None:
                try:
                    await self._store.adopt(lease, rec)
                finally:
                    await self._store.lock.release(lease)
        if not usable:
            return
        shared = await self._store.read()
        if shared is None:
            raise RecoveryPending(f"{self.name}: another replica is restoring the token")
        if rec is not None and shared.generation < rec.generation:
            # Another replica's hand-back won the lock and its token is numbered below
            # the one served here: adopting it would take this replica's generations
            # backwards. Stay degraded; at the next probe this replica takes the lock
            # and the adopt script renumbers the shared token above ours.
            raise RecoveryPending(f"{self.name}: the shared token is numbered below ours")
