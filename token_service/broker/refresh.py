"""Refresh scheduling while Redis answers: once per token lifetime, across the cluster.

Every replica's loop wakes at the token's ``refresh_ms``; the fenced lease lock
lets one through. The holder keeps its short lease alive while it works,
re-checks, fetches upstream and writes with the fenced script; a writer whose
lease was lost meanwhile is refused. Failures open a shared backoff window in
Redis; ``invalid_client`` is negative-cached. Callers without a usable token join
the same single attempt (``join``) instead of starting another.

Chained grants (``refresh_token``, ``password``) send the refresh token only under
the lease, after leaving a write-ahead marker (``take_chain``), and store the next
refresh token in the same fenced write as the access token (``chain.py``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from services.logs import Redactor
from token_service.broker.chain import Chain
from token_service.broker.local_copy import LocalCopy, sleep_or_change
from token_service.broker.single_flight import SingleFlight
from token_service.lock import Lease
from token_service.metrics import TokenMetrics
from token_service.redis_health import RedisHealth
from token_service.settings import ProviderConfig, RefreshPolicy
from token_service.store import RedisClock, TokenRecord, TokenStore
from token_service.upstream import (
    FetchedToken,
    TokenEndpoint,
    UpstreamError,
    UpstreamInvalidGrant,
    UpstreamRejectedClient,
)

log = logging.getLogger("skyroute.token.broker")

# Longest a waiter sleeps between looks at Redis while another replica refreshes.
CONTENDED_POLL_SECONDS = 0.2


def refresh_after_ms(policy: RefreshPolicy, floor_ms: int, lifetime_ms: int) -> int:
    """A jittered fraction of the lifetime, keeping a minimum margin before expiry:
    at least the hand-out floor, so a token is refreshed before it stops being
    handed out."""
    p = policy
    after = lifetime_ms * random.uniform(p.refresh_min_fraction, p.refresh_max_fraction)
    margin = min(max(p.refresh_min_margin_seconds * 1000, floor_ms), lifetime_ms / 2)
    return int(min(after, lifetime_ms - margin))


def due_ms(rec: TokenRecord | None) -> int:
    """When this replica's loop should try to refresh ``rec`` (0: now)."""
    if rec is None or rec.invalid:
        return 0
    # A little per-replica spread so replicas do not all hit the lock at once.
    spread = min(250, max(rec.expires_ms - rec.refresh_ms, 0) // 20)
    return rec.refresh_ms + random.randint(0, spread)


class Refresher:
    def __init__(
        self,
        provider: ProviderConfig,
        local: LocalCopy,
        store: TokenStore,
        clock: RedisClock,
        endpoint: TokenEndpoint,
        policy: RefreshPolicy,
        metrics: TokenMetrics,
        redis_health: RedisHealth,
        redactor: Redactor,
    ) -> None:
        self.name = provider.name
        self._revokes_previous = provider.revokes_previous
        self._rotation_drain = provider.rotation_drain_seconds
        self._local = local
        self._store = store
        self._clock = clock
        self._endpoint = endpoint
        self._policy = policy
        self._metrics = metrics
        self._redis_health = redis_health
        self._redactor = redactor
        self._flight = SingleFlight()  # the replica's one refresh attempt in flight
        self._chain = (
            Chain(provider, local, store, endpoint, metrics, redactor) if provider.chained else None
        )

    def refresh_after_ms(self, lifetime_ms: int) -> int:
        return refresh_after_ms(self._policy, self._local.floor_ms, lifetime_ms)

    @property
    def chained(self) -> bool:
        return self._chain is not None

    def store_window_ms(self) -> tuple[float, float] | None:
        """p50 and p99 of this replica's recent chain store windows, if any."""
        windows = sorted(self._chain.windows_ms) if self._chain is not None else []
        if not windows:
            return None
        return (
            round(windows[len(windows) // 2], 3),
            round(windows[min(len(windows) - 1, int(len(windows) * 0.99))], 3),
        )

    async def join(self, probe: bool = False) -> None:
        """Joins the attempt in flight on this replica, or starts one. A half-open
        ``probe`` goes ahead despite the backoff window."""
        await self._flight.run(self._probe_attempt if probe else self._attempt)

    async def tick(self) -> None:
        """One turn of the background loop: sleep until due (or a change), or refresh."""
        changed = self._local.changed
        # Confirmed within the staleness window (by an event's re-read or by callers) and
        # no event since: nothing new to read. The holder re-reads under its lease anyway.
        local = self._local
        rec = local.record if local.confirmed_recently() else await local.reread()
        now = self._clock.now_ms()
        due = due_ms(rec)
        if due > now:
            await sleep_or_change(changed, (due - now) / 1000)
            return
        held = local.lease_held_for(rec)
        if held > 0:
            # Another replica announced it holds the lease to replace this record: its
            # write's event (or its release) wakes us; no lease attempt, no look at the
            # backoff meanwhile. Past the lease TTL without one, we try as before.
            await sleep_or_change(changed, held)
            return
        blocked = await self._blocked_ms()
        if blocked:
            await sleep_or_change(changed, blocked / 1000)
            return
        await self._flight.run(self._attempt)

    async def _blocked_ms(self) -> int:
        backoff = await self._store.backoff()
        if backoff is not None:
            return backoff[1]
        if await self._store.negative() is not None:
            ttl = await self._store.redis.pttl(self._store.negative_key)
            return max(int(ttl), 1)
        if self._chain is not None and await self._store.reauthorization_required():
            return 5000  # until an operator's new grant (its event wakes us sooner)
        return 0

    # ------------------------------------------------------------------ one attempt

    async def _probe_attempt(self) -> None:
        await self._attempt(probe=True)

    async def _attempt(self, probe: bool = False) -> None:
        """One attempt across the cluster: refresh under the lock, or wait for its holder.
        A half-open ``probe`` goes ahead despite the backoff window."""
        changed = self._local.changed
        ttl_ms = int(self._policy.lock_ttl_seconds * 1000)
        lease, holder_ttl_ms = await self._store.lock.try_acquire(ttl_ms)
        if lease is None:
            self._local.counters.lock_contended += 1
            self._metrics.lock_contended.labels(self.name).inc()
            # Wait for the holder's event; if it dies, its lease ends and we try again.
            # Capped so that a missed pub/sub event costs at most one short poll.
            await sleep_or_change(changed, min(holder_ttl_ms / 1000 + 0.05, CONTENDED_POLL_SECONDS))
            return
        wrote = False
        try:
            # The lease is short and renewed while we work (fetch, rotation drain), so
            # if this replica dies another takes over within about one lease.
            async with self._store.lock.kept_alive(lease, ttl_ms):
                wrote = await self._refresh_held(lease, probe)
        finally:
            try:
                await self._store.lock.release(lease)
                if not wrote:
                    await self._store.publish_released()
            except RedisError as exc:
                self._redis_health.mark_down(exc)

    async def _refresh_held(self, lease: Lease, probe: bool = False) -> bool:
        """The refresh under our lease; True if our token was written. A half-open
        ``probe`` goes ahead despite the backoff window."""
        rec = await self._local.read_shared()
        now = self._clock.now_ms()
        if rec is not None and not rec.invalid and now < rec.refresh_ms:
            return False  # refreshed by someone else between our check and the lock
        if await self._store.negative() is not None or (not probe and await self._store.backoff()):
            return False
        if self._chain is not None and await self._store.reauthorization_required():
            return False
        await self._store.announce_lease(rec)
        suspended = await self._suspend_for_rotation(rec, now)
        if self._chain is not None:
            generation, why, lifetime = await self._chain_refresh(lease, rec)
        else:
            fetched, elapsed_ms = await self._fetch()
            if fetched is None:
                generation, why, lifetime = 0, "", 0
            else:
                lifetime = fetched.expires_in_ms
                generation, why = await self._store.fenced_write(
                    lease,
                    rec.generation if rec else 0,
                    fetched.access_token,
                    fetched.token_type,
                    lifetime,
                    self.refresh_after_ms(lifetime),
                    elapsed_ms(),
                )
        if generation == 0 and not why:  # nothing fetched
            if suspended is not None:
                await self._store.restore(suspended.access_token)
            return False
        if generation == 0:
            self._local.counters.fenced_rejected += 1
            self._metrics.fenced_rejected.labels(self.name).inc()
            log.warning(
                "fenced token write rejected",
                extra={"provider": self.name, "why": why, "fence": lease.fence},
            )
            return False
        await self._store.clear_failures()
        await self._local.read_shared()
        log.info(
            "token refreshed",
            extra={"provider": self.name, "generation": generation, "lifetime_ms": lifetime},
        )
        return True

    async def _suspend_for_rotation(self, rec: TokenRecord | None, now: int) -> TokenRecord | None:
        """For providers that revoke the previous token on issue: stop serving it
        everywhere and let calls already using it finish before asking for a new one.
        Callers wait for the rotation (drain + one fetch) instead of getting 401s."""
        if not self._revokes_previous or rec is None or not rec.usable(now):
            return None
        suspended = rec if await self._store.invalidate(rec.access_token) else None
        await asyncio.sleep(self._rotation_drain)
        return suspended

    async def _chain_refresh(self, lease: Lease, rec: TokenRecord | None) -> tuple[int, str, int]:
        """A chained grant's refresh under the lease: (generation, why, lifetime ms);
        generation 0 with why '' when nothing was fetched (failure recorded)."""
        assert self._chain is not None
        self._local.refreshing = True
        try:
            outcome = await self._chain.refresh(
                lease, rec.generation if rec else 0, self.refresh_after_ms
            )
        except UpstreamError as exc:
            await self._record_failure(exc)
            return 0, "", 0
        finally:
            self._local.refreshing = False
        if outcome is None:
            return 0, "", 0
        self._local.counters.upstream_ok += 1
        self._metrics.upstream.labels(self.name, "ok").inc()
        self._local.last_error = ""
        return outcome

    async def install(
        self, lease: Lease, code: str | None, redirect_uri: str | None, refresh_token: str | None
    ) -> int:
        """An operator's new grant, under ``lease``: the new token's generation.
        Raises UpstreamError when the provider refuses it."""
        assert self._chain is not None
        rec = await self._local.read_shared()
        generation, _, _ = await self._chain.install(
            lease,
            rec.generation if rec else 0,
            self.refresh_after_ms,
            code,
            redirect_uri,
            refresh_token,
        )
        if generation:
            await self._store.clear_failures()
            await self._local.read_shared()
        return generation

    # ------------------------------------------------------------------ upstream

    async def _fetch(self) -> tuple[FetchedToken | None, Callable[[], int]]:
        """Calls the token endpoint, recording failures in Redis (shared backoff)."""
        sent = time.monotonic()

        def elapsed_ms() -> int:
            return int((time.monotonic() - sent) * 1000)

        self._local.refreshing = True
        try:
            fetched = await self._endpoint.fetch()
        except UpstreamError as exc:
            await self._record_failure(exc)
            return None, elapsed_ms
        finally:
            self._local.refreshing = False
        self._redactor.add(fetched.access_token)
        self._local.counters.upstream_ok += 1
        self._metrics.upstream.labels(self.name, "ok").inc()
        self._local.last_error = ""
        return fetched, elapsed_ms

    async def _record_failure(self, exc: UpstreamError) -> None:
        self._local.counters.upstream_failed += 1
        self._local.last_error = exc.message
        if isinstance(exc, UpstreamInvalidGrant):
            # The chain's flag (REAUTHORIZATION_REQUIRED) stops further attempts.
            self._metrics.upstream.labels(self.name, "rejected").inc()
            await self._store.count("upstream_failed")
            return
        if isinstance(exc, UpstreamRejectedClient):
            self._metrics.upstream.labels(self.name, "rejected").inc()
            log.error(
                "token endpoint rejected our credentials",
                extra={"provider": self.name, "error": exc.message},
            )
            await self._store.set_negative(
                exc.message, int(self._policy.negative_cache_seconds * 1000)
            )
            return
        self._metrics.upstream.labels(self.name, "failed").inc()
        delay = await self._store.record_failure(
            exc.message,
            int(self._policy.backoff_initial_seconds * 1000),
            int(self._policy.backoff_max_seconds * 1000),
            random.random(),
            int((exc.retry_after or 0) * 1000),
        )
        log.warning(
            "token refresh failed; backing off",
            extra={"provider": self.name, "error": exc.message, "backoff_ms": delay},
        )
