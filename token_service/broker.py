"""One provider's token: served from memory, shared through Redis, refreshed
once per lifetime under a fenced lease lock.

Read path: the in-memory copy is trusted for ``local_staleness_seconds`` (and
is refreshed at once by Redis pub/sub events), then re-read from Redis with a
single flight. A caller waits only when no usable token exists, and then for
the one refresh in flight, never starting a second one, for as long as its own
deadline allows (at most ``wait_max_seconds``).

Write path: the background loop (or a waiting caller) takes the lease lock
(a short lease it renews while it works), re-checks, fetches upstream and writes
with the fenced script; a writer whose lease was lost meanwhile is refused.
Failures open a shared backoff window in Redis; ``invalid_client`` is
negative-cached.

When Redis is unreachable the broker runs degraded: the in-memory copy is
authoritative and a per-replica lock keeps upstream requests single-flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar, cast

from redis.exceptions import RedisError

from services.errors import DeadlineError, FailedPreconditionError, UnavailableError
from services.logs import Redactor
from token_service.lock import Lease
from token_service.metrics import TokenMetrics
from token_service.redis_health import RecoveryPending, RedisHealth
from token_service.settings import ProviderConfig, RefreshPolicy
from token_service.store import (
    RedisClock,
    TokenRecord,
    TokenStore,
    degraded_generation,
    digest,
    fallback_tag,
)
from token_service.upstream import (
    FetchedToken,
    TokenEndpoint,
    UpstreamError,
    UpstreamRejectedClient,
)

log = logging.getLogger("skyroute.token.broker")

T = TypeVar("T")
# Longest a waiter sleeps between looks at Redis while another replica refreshes.
CONTENDED_POLL_SECONDS = 0.2


@dataclass
class Counters:
    hits: int = 0
    misses: int = 0
    waits: int = 0
    upstream_ok: int = 0
    upstream_failed: int = 0
    lock_contended: int = 0
    fenced_rejected: int = 0


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


class SingleFlight:
    """Runs one coroutine at a time; concurrent callers share its result."""

    def __init__(self) -> None:
        self._task: asyncio.Task[object] | None = None

    async def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(factory())
        # Shielded: one caller's cancellation (deadline) must not cancel the others' work.
        return cast(T, await asyncio.shield(self._task))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()


class ProviderBroker:
    def __init__(self, provider: ProviderConfig, store: TokenStore, clock: RedisClock,
                 endpoint: TokenEndpoint, policy: RefreshPolicy, metrics: TokenMetrics,
                 redis_health: RedisHealth, redactor: Redactor) -> None:
        self.name = provider.name
        self._revokes_previous = provider.revokes_previous
        self._rotation_drain = provider.rotation_drain_seconds
        self._store = store
        self._clock = clock
        self._endpoint = endpoint
        self._policy = policy
        self._metrics = metrics
        self._redis_health = redis_health
        self._redactor = redactor
        self.counters = Counters()
        self._local: TokenRecord | None = None
        self._checked_at = -math.inf
        self._changed = asyncio.Event()
        self._watchers: set[asyncio.Event] = set()
        self._reread_flight = SingleFlight()
        self._refresh_flight = SingleFlight()
        self._local_lock = asyncio.Lock()  # degraded-mode single flight
        self._floor_ms = int(policy.min_handout_seconds * 1000)
        self._owner = store.owner
        self._tag = fallback_tag(store.owner)  # replaced by one from Redis when it answers
        self._local_retry_at = 0.0
        self._local_negative_until = 0.0
        self._last_error = ""
        self._refreshing = False
        m = metrics
        self._hit = m.cache.labels(self.name, "hit")
        self._miss = m.cache.labels(self.name, "miss")
        self._wait = m.cache.labels(self.name, "wait")
        m.expiry.labels(self.name).set_function(self._expiry_seconds)
        m.age.labels(self.name).set_function(self._age_seconds)
        m.generation.labels(self.name).set_function(
            lambda: self._local.generation if self._local else 0)

    # ------------------------------------------------------------------ read path

    async def get_token(self, need_ms: int = 0, wait_seconds: float | None = None
                        ) -> TokenRecord:
        """The current token; without one, waits for the refresh up to ``wait_seconds``
        (the caller's remaining time), never longer than ``wait_max_seconds``."""
        rec = self._local
        if rec is not None and self._trust_local() and self._servable(rec, need_ms):
            self.counters.hits += 1
            self._hit.inc()
            return rec
        return await self._get_slow(need_ms, wait_seconds)

    def _servable(self, rec: TokenRecord, need_ms: int) -> bool:
        return rec.servable(self._clock.now_ms(), need_ms, self._floor_ms)

    def _trust_local(self) -> bool:
        return self._redis_health.degraded or (
            time.monotonic() - self._checked_at <= self._policy.local_staleness_seconds)

    async def _get_slow(self, need_ms: int, wait_seconds: float | None) -> TokenRecord:
        loop = asyncio.get_running_loop()
        wait = self._policy.wait_max_seconds
        if wait_seconds is not None:
            wait = max(min(wait, wait_seconds), 0.0)
        deadline = loop.time() + wait
        first = True
        while True:
            if self._redis_health.degraded:
                return await self._get_degraded(need_ms)
            try:
                rec = await self._reread()
                now = self._clock.now_ms()
                if rec is not None and rec.servable(now, need_ms, self._floor_ms):
                    self._count_served(first)
                    return rec
                if first:
                    self.counters.misses += 1
                    self._miss.inc()
                    first = False
                negative = await self._store.negative()
                backoff = await self._store.backoff()
                if rec is not None and rec.servable(now, 0, self._floor_ms) and (
                        negative or backoff):
                    return rec  # cannot refresh now: serve the still-valid token
                attempt: Callable[[], Awaitable[None]] = self._refresh_attempt
                if await self._may_probe(negative, backoff):
                    attempt = self._probe_attempt
                else:
                    self._raise_if_blocked(negative, backoff)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._refresh_flight.run(attempt), remaining)
            except RedisError as exc:
                self._redis_health.mark_down(exc)
            except TimeoutError:
                raise DeadlineError(
                    f"timed out after {wait:.1f}s waiting for a new {self.name} token",
                    reason="TOKEN_REFRESH_TIMEOUT") from None

    def _count_served(self, first: bool) -> None:
        if first:
            self.counters.hits += 1
            self._hit.inc()
        else:
            self.counters.waits += 1
            self._wait.inc()

    async def _may_probe(self, negative: str | None, backoff: tuple[str, int] | None) -> bool:
        """Half-open, like a circuit breaker: while callers have nothing valid and the
        shared backoff runs, one caller in the whole fleet per probe interval may try
        the endpoint now. Recovery then follows the endpoint, not the backoff timer."""
        if negative is not None or backoff is None:
            return False
        return await self._store.take_probe(self._owner,
                                            int(self._policy.probe_interval_seconds * 1000))

    async def _probe_attempt(self) -> None:
        await self._refresh_attempt(probe=True)

    def _raise_if_blocked(self, negative: str | None, backoff: tuple[str, int] | None) -> None:
        """Fail fast when no token can come now: credentials rejected, or backing off."""
        if negative is not None:
            raise FailedPreconditionError(
                f"provider {self.name} rejected our client credentials: {negative}",
                reason="UPSTREAM_CREDENTIALS_REJECTED", metadata={"provider": self.name})
        if backoff is not None:
            error, remaining_ms = backoff
            raise UnavailableError(
                f"no valid {self.name} token: the token endpoint is unavailable ({error}); "
                f"next attempt in {remaining_ms / 1000:.1f}s",
                reason="UPSTREAM_TOKEN_UNAVAILABLE", metadata={"provider": self.name},
                retry_after_seconds=remaining_ms / 1000)

    async def _reread(self) -> TokenRecord | None:
        return await self._reread_flight.run(self._read_shared)

    async def _read_shared(self) -> TokenRecord | None:
        rec = await self._store.read()
        self._checked_at = time.monotonic()
        self._set_local(rec)
        return rec

    def _set_local(self, rec: TokenRecord | None) -> None:
        old = self._local
        self._local = rec
        if rec is not None and (old is None or rec.generation != old.generation
                                or rec.invalid != old.invalid):
            if old is None or rec.access_token != old.access_token:
                self._redactor.add(rec.access_token)
            self._pulse()

    def _pulse(self) -> None:
        """Wakes everyone waiting for a change (waiters, watchers, the refresh loop)."""
        self._changed.set()
        self._changed = asyncio.Event()
        for watcher in self._watchers:
            watcher.set()

    # ------------------------------------------------------------------ events

    def on_event(self, payload: bytes) -> None:
        """A Redis pub/sub event for this provider: new generation, invalidation or release."""
        self._checked_at = -math.inf
        asyncio.get_running_loop().create_task(self._after_event())

    async def _after_event(self) -> None:
        try:
            await self._reread()
        except RedisError as exc:
            self._redis_health.mark_down(exc)
        self._pulse()

    async def prime(self) -> None:
        """Loads the shared token at start-up, so this replica serves it at once."""
        self._tag = await self._store.replica_tag()
        await self._reread()

    def mark_stale(self) -> None:
        self._checked_at = -math.inf

    # ------------------------------------------------------------------ write path

    async def _refresh_attempt(self, probe: bool = False) -> None:
        """One attempt across the cluster: refresh under the lock, or wait for its holder.
        A half-open ``probe`` goes ahead despite the backoff window."""
        changed = self._changed
        ttl_ms = int(self._policy.lock_ttl_seconds * 1000)
        lease, holder_ttl_ms = await self._store.lock.try_acquire(ttl_ms)
        if lease is None:
            self.counters.lock_contended += 1
            self._metrics.lock_contended.labels(self.name).inc()
            # Wait for the holder's event; if it dies, its lease ends and we try again.
            # Capped so that a missed pub/sub event costs at most one short poll.
            await self._sleep_or_change(changed, min(holder_ttl_ms / 1000 + 0.05,
                                                     CONTENDED_POLL_SECONDS))
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
        rec = await self._read_shared()
        now = self._clock.now_ms()
        if rec is not None and not rec.invalid and now < rec.refresh_ms:
            return False  # refreshed by someone else between our check and the lock
        if await self._store.negative() is not None or (
                not probe and await self._store.backoff()):
            return False
        suspended = await self._suspend_for_rotation(rec, now)
        fetched, elapsed_ms = await self._fetch()
        if fetched is None:
            if suspended is not None:
                await self._store.restore(suspended.access_token)
            return False
        lifetime = fetched.expires_in_ms
        generation, why = await self._store.fenced_write(
            lease, rec.generation if rec else 0, fetched.access_token, fetched.token_type,
            lifetime, self.refresh_after_ms(lifetime), elapsed_ms())
        if generation == 0:
            self.counters.fenced_rejected += 1
            self._metrics.fenced_rejected.labels(self.name).inc()
            log.warning("fenced token write rejected",
                        extra={"provider": self.name, "why": why, "fence": lease.fence})
            return False
        await self._store.clear_failures()
        await self._read_shared()
        log.info("token refreshed", extra={"provider": self.name, "generation": generation,
                                           "lifetime_ms": lifetime})
        return True

    async def _suspend_for_rotation(self, rec: TokenRecord | None, now: int
                                    ) -> TokenRecord | None:
        """For providers that revoke the previous token on issue: stop serving it
        everywhere and let calls already using it finish before asking for a new one.
        Callers wait for the rotation (drain + one fetch) instead of getting 401s."""
        if not self._revokes_previous or rec is None or not rec.usable(now):
            return None
        suspended = rec if await self._store.invalidate(rec.access_token) else None
        await asyncio.sleep(self._rotation_drain)
        return suspended

    async def _fetch(self) -> tuple[FetchedToken | None, Callable[[], int]]:
        """Calls the token endpoint, recording failures in Redis (shared backoff)."""
        sent = time.monotonic()

        def elapsed_ms() -> int:
            return int((time.monotonic() - sent) * 1000)

        self._refreshing = True
        try:
            fetched = await self._endpoint.fetch()
        except UpstreamError as exc:
            await self._record_failure(exc)
            return None, elapsed_ms
        finally:
            self._refreshing = False
        self._redactor.add(fetched.access_token)
        self.counters.upstream_ok += 1
        self._metrics.upstream.labels(self.name, "ok").inc()
        self._last_error = ""
        return fetched, elapsed_ms

    async def _record_failure(self, exc: UpstreamError) -> None:
        self.counters.upstream_failed += 1
        self._last_error = exc.message
        if isinstance(exc, UpstreamRejectedClient):
            self._metrics.upstream.labels(self.name, "rejected").inc()
            log.error("token endpoint rejected our credentials",
                      extra={"provider": self.name, "error": exc.message})
            await self._store.set_negative(exc.message,
                                           int(self._policy.negative_cache_seconds * 1000))
            return
        self._metrics.upstream.labels(self.name, "failed").inc()
        delay = await self._store.record_failure(
            exc.message, int(self._policy.backoff_initial_seconds * 1000),
            int(self._policy.backoff_max_seconds * 1000), random.random(),
            int((exc.retry_after or 0) * 1000))
        log.warning("token refresh failed; backing off",
                    extra={"provider": self.name, "error": exc.message, "backoff_ms": delay})

    def refresh_after_ms(self, lifetime_ms: int) -> int:
        """A jittered fraction of the lifetime, keeping a minimum margin before expiry:
        at least the hand-out floor, so a token is refreshed before it stops being
        handed out."""
        p = self._policy
        after = lifetime_ms * random.uniform(p.refresh_min_fraction, p.refresh_max_fraction)
        margin = min(max(p.refresh_min_margin_seconds * 1000, self._floor_ms), lifetime_ms / 2)
        return int(min(after, lifetime_ms - margin))

    # ------------------------------------------------------------------ background

    async def run(self) -> None:
        """Refreshes ahead of expiry on every replica; the lock picks one to do it."""
        while True:
            try:
                if self._redis_health.degraded:
                    await self._degraded_tick()
                    continue
                changed = self._changed
                rec = await self._reread()
                now = self._clock.now_ms()
                due = self._due_ms(rec)
                if due > now:
                    await self._sleep_or_change(changed, (due - now) / 1000)
                    continue
                blocked = await self._blocked_ms()
                if blocked:
                    await self._sleep_or_change(changed, blocked / 1000)
                    continue
                await self._refresh_flight.run(self._refresh_attempt)
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                self._redis_health.mark_down(exc)
            except Exception:
                log.exception("refresh loop error", extra={"provider": self.name})
                await asyncio.sleep(1)

    def _due_ms(self, rec: TokenRecord | None) -> int:
        if rec is None or rec.invalid:
            return 0
        # A little per-replica spread so replicas do not all hit the lock at once.
        spread = min(250, max(rec.expires_ms - rec.refresh_ms, 0) // 20)
        return rec.refresh_ms + random.randint(0, spread)

    async def _blocked_ms(self) -> int:
        backoff = await self._store.backoff()
        if backoff is not None:
            return backoff[1]
        if await self._store.negative() is not None:
            ttl = await self._store.redis.pttl(self._store.negative_key)
            return max(int(ttl), 1)
        return 0

    @staticmethod
    async def _sleep_or_change(changed: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), max(seconds, 0.001))

    # ------------------------------------------------------------------ degraded

    async def _get_degraded(self, need_ms: int) -> TokenRecord:
        rec = self._local
        if rec is not None and self._servable(rec, need_ms):
            self.counters.hits += 1
            self._hit.inc()
            return rec
        self.counters.misses += 1
        self._miss.inc()
        async with self._local_lock:
            rec = self._local
            if rec is not None and self._servable(rec, need_ms):
                return rec
            await self._refresh_local()
            rec = self._local
            if rec is not None and self._servable(rec, 0):
                return rec  # refresh failed: serve the still-valid token
        if time.monotonic() < self._local_negative_until:
            raise FailedPreconditionError(
                f"provider {self.name} rejected our client credentials: {self._last_error}",
                reason="UPSTREAM_CREDENTIALS_REJECTED", metadata={"provider": self.name})
        raise UnavailableError(
            f"no valid {self.name} token: the token endpoint is unavailable "
            f"({self._last_error or 'unknown error'})",
            reason="UPSTREAM_TOKEN_UNAVAILABLE", metadata={"provider": self.name},
            retry_after_seconds=max(self._local_retry_at - time.monotonic(), 0.1))

    async def _refresh_local(self) -> None:
        """Degraded refresh: per-replica single flight with local backoff."""
        mono = time.monotonic()
        if mono < self._local_retry_at or mono < self._local_negative_until:
            return
        sent_ms = self._clock.now_ms()
        self._refreshing = True
        try:
            fetched = await self._endpoint.fetch()
        except UpstreamError as exc:
            self.counters.upstream_failed += 1
            self._last_error = exc.message
            self._metrics.upstream.labels(self.name, "failed").inc()
            if isinstance(exc, UpstreamRejectedClient):
                self._local_negative_until = mono + self._policy.negative_cache_seconds
            else:
                delay = min(self._policy.backoff_max_seconds,
                            self._policy.backoff_initial_seconds * (1 + random.random()))
                self._local_retry_at = time.monotonic() + max(delay, exc.retry_after or 0)
            return
        finally:
            self._refreshing = False
        self._redactor.add(fetched.access_token)
        self.counters.upstream_ok += 1
        self._metrics.upstream.labels(self.name, "ok").inc()
        lifetime = fetched.expires_in_ms
        # Never the shared chain's next number: another replica may be degraded too.
        generation = degraded_generation(self._clock.now_ms(),
                                         self._local.generation if self._local else 0,
                                         self._tag)
        self._local = TokenRecord(
            access_token=fetched.access_token, token_type=fetched.token_type,
            generation=generation, issued_ms=sent_ms, expires_ms=sent_ms + lifetime,
            refresh_ms=sent_ms + self.refresh_after_ms(lifetime), invalid=False)
        log.info("token refreshed locally (degraded)",
                 extra={"provider": self.name, "generation": generation})
        self._pulse()

    async def _degraded_tick(self) -> None:
        changed = self._changed
        rec = self._local
        now = self._clock.now_ms()
        due = self._due_ms(rec)
        if due > now:
            await self._sleep_or_change(changed, min((due - now) / 1000, 0.5))
            return
        async with self._local_lock:
            await self._refresh_local()
        if self._redis_health.degraded:
            wait = max(self._local_retry_at - time.monotonic(), 0.05)
            await self._sleep_or_change(changed, min(wait, 0.5))

    async def recover(self) -> None:
        """Redis is back: hand a token fetched while degraded to the cluster, or adopt its.

        Runs while still degraded (callers are served from memory). If another replica
        holds the lock, its hand-back may not be written yet: rather than drop the
        usable token held here (and fetch a new one), raise RecoveryPending and stay
        degraded until the next probe."""
        self._tag = await self._store.replica_tag()
        rec = self._local
        usable = rec is not None and rec.usable(self._clock.now_ms())
        if rec is not None and usable:
            lease, _ = await self._store.lock.try_acquire(
                int(self._policy.lock_ttl_seconds * 1000))
            if lease is not None:
                try:
                    await self._store.adopt(lease, rec)
                finally:
                    await self._store.lock.release(lease)
        if usable and await self._store.read() is None:
            raise RecoveryPending(f"{self.name}: another replica is restoring the token")
        self._checked_at = -math.inf
        await self._read_shared()
        self._pulse()

    # ------------------------------------------------------------------ other RPCs

    async def report_invalid(self, token: str, wait_seconds: float | None = None
                             ) -> tuple[TokenRecord, bool]:
        """Invalidate ``token`` if it is still current; then return a valid token."""
        invalidated = False
        if self._redis_health.degraded:
            rec = self._local
            if rec is not None and not rec.invalid and digest(rec.access_token) == digest(token):
                self._local = replace(rec, invalid=True)
                invalidated = True
        else:
            try:
                invalidated = await self._store.invalidate(token)
            except RedisError as exc:
                self._redis_health.mark_down(exc)
                return await self.report_invalid(token, wait_seconds)
            local = self._local
            if local is not None and local.access_token == token:
                self._local = replace(local, invalid=True)
            self._checked_at = -math.inf
        if invalidated:
            log.info("token invalidated by caller report", extra={"provider": self.name})
            self._pulse()
        return await self.get_token(wait_seconds=wait_seconds), invalidated

    async def watch(self) -> AsyncIterator[TokenRecord]:
        """The current token, then each new generation, re-sent at every heartbeat."""
        wake = asyncio.Event()
        self._watchers.add(wake)
        try:
            while True:
                wake.clear()
                yield await self.get_token()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._policy.watch_heartbeat_seconds)
        finally:
            self._watchers.discard(wake)

    async def status(self) -> Status:
        cluster: dict[str, int] = {}
        locked = False
        backoff_ms = 0
        if not self._redis_health.degraded:
            try:
                await self._reread()
                cluster = await self._store.stats()
                locked = await self._store.lock.holder() is not None
                backoff = await self._store.backoff()
                if backoff is not None:
                    self._last_error = self._last_error or backoff[0]
                    backoff_ms = backoff[1]
            except RedisError as exc:
                self._redis_health.mark_down(exc)
        elif time.monotonic() < self._local_retry_at:
            backoff_ms = int((self._local_retry_at - time.monotonic()) * 1000)
        return Status(
            record=self._local, now_ms=self._clock.now_ms(),
            degraded=self._redis_health.degraded, refresh_locked=locked,
            refreshing=self._refreshing, counters=replace(self.counters), cluster=cluster,
            last_error=self._last_error, backoff_remaining_ms=backoff_ms)

    def _expiry_seconds(self) -> float:
        rec = self._local
        return max(rec.expires_ms - self._clock.now_ms(), 0) / 1000 if rec else 0.0

    def _age_seconds(self) -> float:
        rec = self._local
        return max(self._clock.now_ms() - rec.issued_ms, 0) / 1000 if rec else 0.0
