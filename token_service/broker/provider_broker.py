"""One provider's token: served from memory, shared through Redis, refreshed
once per lifetime under a fenced lease lock.

``ProviderBroker`` is what the servicer and the app use. Each call takes the
shared path (``shared.py``: re-read Redis, wait for the one refresh in flight,
the half-open probe) while Redis answers, and the degraded path (``degraded.py``:
the replica's own token, single flight and backoff per replica) while it does
not, as ``RedisHealth`` says at that moment. The background loop refreshes ahead
of expiry (``refresh.py``: fenced lease with keep-alive, shared backoff). All of
them serve and update one ``LocalCopy`` (``local_copy.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from redis.exceptions import RedisError

from services.errors import FailedPreconditionError, UnavailableError
from services.logs import Redactor
from token_service.broker.degraded import DegradedPath
from token_service.broker.local_copy import Counters, LocalCopy
from token_service.broker.refresh import Refresher
from token_service.broker.shared import SharedPath
from token_service.metrics import TokenMetrics
from token_service.redis_health import RedisHealth
from token_service.settings import ProviderConfig, RefreshPolicy
from token_service.store import RedisClock, TokenRecord, TokenStore
from token_service.upstream import TokenEndpoint, UpstreamError, UpstreamInvalidGrant

log = logging.getLogger("skyroute.token.broker")


@dataclass(frozen=True)
class Status:
    record: TokenRecord | None
    now_ms: int
    degraded: bool
    refresh_locked: bool
    refreshing: bool
    counters: Counters
    cluster: dict[str, int]
    last_error: str
    backoff_remaining_ms: int
    grant: str
    reauthorization_required: bool
    # This replica's recent chain store windows (answer -> write acknowledged): p50, p99.
    lock_holder: str = ""  # the refresh lock's owner (a replica id), "" when free
    store_window_ms: tuple[float, float] | None = None


class ProviderBroker:
    def __init__(
        self,
        provider: ProviderConfig,
        store: TokenStore,
        clock: RedisClock,
        endpoint: TokenEndpoint,
        policy: RefreshPolicy,
        metrics: TokenMetrics,
        redis_health: RedisHealth,
        redactor: Redactor,
    ) -> None:
        self.name = provider.name
        self.grant = provider.grant
        self.channel = store.channel  # this provider's pub/sub events
        self._store = store
        self._clock = clock
        self._policy = policy
        self._redis_health = redis_health
        self._local = LocalCopy(self.name, store, clock, policy, metrics, redactor)
        self.counters = self._local.counters
        self._refresher = Refresher(
            provider, self._local, store, clock, endpoint, policy, metrics, redis_health, redactor
        )
        self._shared = SharedPath(
            self.name, self._local, store, clock, self._refresher, policy, redis_health
        )
        self._degraded = DegradedPath(
            self.name, self._local, store, clock, endpoint, policy, metrics, redis_health, redactor
        )

    # ------------------------------------------------------------------ read path

    async def get_token(self, need_ms: int = 0, wait_seconds: float | None = None) -> TokenRecord:
        """The current token; without one, waits for the refresh up to ``wait_seconds``
        (the caller's remaining time), never longer than ``wait_max_seconds``."""
        rec = self._local.record
        if rec is not None and self._trust_local() and self._local.servable(rec, need_ms):
            self._local.count_hit()
            return rec
        rec = await self._shared.get_token(need_ms, wait_seconds)
        if rec is None:  # Redis is down
            return await self._degraded.get_token(need_ms)
        return rec

    def _trust_local(self) -> bool:
        return self._redis_health.degraded or self._local.confirmed_recently()

    # ------------------------------------------------------------------ events

    def on_event(self, payload: bytes) -> None:
        """A Redis pub/sub event for this provider: a changed record (adopted from the
        event itself), a released lease or a broken chain (``SharedPath.on_event``)."""
        self._shared.on_event(payload)

    async def prime(self) -> None:
        """Loads the shared token at start-up, so this replica serves it at once."""
        await self._degraded.take_tag()
        await self._local.reread()

    def mark_stale(self) -> None:
        self._shared.mark_stale()

    def refresh_after_ms(self, lifetime_ms: int) -> int:
        """A jittered fraction of the lifetime, keeping a minimum margin before expiry:
        at least the hand-out floor, so a token is refreshed before it stops being
        handed out."""
        return self._refresher.refresh_after_ms(lifetime_ms)

    # ------------------------------------------------------------------ background

    async def run(self) -> None:
        """Refreshes ahead of expiry on every replica; the lock picks one to do it."""
        while True:
            try:
                if self._redis_health.degraded:
                    await self._degraded.tick()
                    continue
                await self._refresher.tick()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                self._redis_health.mark_down(exc)
            except Exception:
                log.exception("refresh loop error", extra={"provider": self.name})
                await asyncio.sleep(1)

    async def recover(self) -> None:
        """Redis is back: hand a token fetched while degraded to the cluster, or adopt its.
        Raises RecoveryPending (stay degraded) while another replica's hand-back is due."""
        await self._degraded.hand_back()
        await self._shared.resume()

    # ------------------------------------------------------------------ other RPCs

    async def report_invalid(
        self, token: str, wait_seconds: float | None = None
    ) -> tuple[TokenRecord, bool]:
        """Invalidate ``token`` if it is still current; then return a valid token."""
        if self._redis_health.degraded:
            invalidated = self._degraded.invalidate(token)
        else:
            shared = await self._shared.invalidate(token)
            if shared is None:  # Redis went down: report it to the degraded copy
                return await self.report_invalid(token, wait_seconds)
            invalidated = shared
        if invalidated:
            log.info("token invalidated by caller report", extra={"provider": self.name})
            self._local.pulse()
        return await self.get_token(wait_seconds=wait_seconds), invalidated

    async def watch(self) -> AsyncIterator[TokenRecord]:
        """The current token, then each new generation, re-sent at every heartbeat."""
        wake = asyncio.Event()
        self._local.watchers.add(wake)
        try:
            while True:
                wake.clear()
                yield await self.get_token()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._policy.watch_heartbeat_seconds)
        finally:
            self._local.watchers.discard(wake)

    async def status(self, fresh: bool = False) -> Status:
        """``fresh``: the fleet's part read from Redis now, not the last read that may
        still hold (``fleet.py``)."""
        if not self._redis_health.degraded:
            cluster, locked, backoff_ms = await self._shared.status(fresh)
        else:
            cluster, locked, backoff_ms = {}, None, self._degraded.backoff_remaining_ms()
        return Status(
            record=self._local.record,
            now_ms=self._clock.now_ms(),
            degraded=self._redis_health.degraded,
            refresh_locked=locked is not None,
            lock_holder=locked or "",
            refreshing=self._local.refreshing,
            counters=replace(self.counters),
            cluster=cluster,
            last_error=self._local.last_error,
            backoff_remaining_ms=backoff_ms,
            grant=self.grant,
            reauthorization_required=bool(self._local.reauth),
            store_window_ms=self._refresher.store_window_ms(),
        )

    async def install_grant(
        self, code: str | None, redirect_uri: str | None, refresh_token: str | None
    ) -> TokenRecord:
        """An operator's new chain (code exchange or refresh token), under the refresh
        lease; every replica is told by the write's event."""
        if not self._refresher.chained:
            raise FailedPreconditionError(
                f"provider {self.name} uses the {self.grant} grant: nothing to install",
                reason="GRANT_NOT_CHAINED",
                metadata={"provider": self.name},
            )
        if self._redis_health.degraded:
            raise UnavailableError(
                "Redis is unreachable: the chain cannot be stored", reason="REDIS_UNAVAILABLE"
            )
        loop = asyncio.get_running_loop()
        ttl_ms = int(self._policy.lock_ttl_seconds * 1000)
        # Wait out a refresh in flight: at most one lease plus one fetch.
        deadline = (
            loop.time() + self._policy.lock_ttl_seconds + self._policy.upstream_timeout_seconds
        )
        while True:
            lease, _ = await self._store.lock.try_acquire(ttl_ms)
            if lease is not None:
                break
            if loop.time() > deadline:
                raise UnavailableError(
                    "the refresh lease stayed busy; try again", reason="REFRESH_LEASE_BUSY"
                )
            await asyncio.sleep(0.05)
        try:
            async with self._store.lock.kept_alive(lease, ttl_ms):
                generation = await self._refresher.install(lease, code, redirect_uri, refresh_token)
        except UpstreamInvalidGrant:
            raise FailedPreconditionError(
                f"provider {self.name} refused the grant (invalid_grant)",
                reason="GRANT_REJECTED",
                metadata={"provider": self.name},
            ) from None
        except UpstreamError as exc:
            raise UnavailableError(
                f"provider {self.name}: {exc.message}",
                reason="UPSTREAM_TOKEN_UNAVAILABLE",
                metadata={"provider": self.name},
            ) from None
        finally:
            await self._store.lock.release(lease)
        rec = self._local.record
        if not generation or rec is None:
            raise UnavailableError(
                "the new token could not be stored; try again", reason="REFRESH_LEASE_BUSY"
            )
        self._local.reauth = ""
        log.info(
            "operator installed a new grant",
            extra={"provider": self.name, "generation": generation},
        )
        return rec
