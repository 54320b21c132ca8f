"""Serving while Redis answers: the shared token, and waiting for its refresh.

A caller that finds no usable token in the local copy re-reads Redis (single
flight), and without one there waits for the one refresh in flight, never
starting a second one, for as long as its own deadline allows (at most
``wait_max_seconds``). While the shared backoff runs it fails fast, except the one
caller per probe interval in the whole fleet that takes the half-open probe.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from redis.exceptions import RedisError

from services.errors import DeadlineError, FailedPreconditionError, UnavailableError
from token_service.broker.fleet import FleetView
from token_service.broker.local_copy import LocalCopy
from token_service.broker.refresh import Refresher
from token_service.redis_health import RedisHealth
from token_service.settings import RefreshPolicy
from token_service.store import RedisClock, TokenRecord, TokenStore, parse_event, parse_lease


class SharedPath:
    def __init__(
        self,
        name: str,
        local: LocalCopy,
        store: TokenStore,
        clock: RedisClock,
        refresher: Refresher,
        policy: RefreshPolicy,
        redis_health: RedisHealth,
    ) -> None:
        self.name = name
        self._local = local
        self._store = store
        self._clock = clock
        self._refresher = refresher
        self._policy = policy
        self._redis_health = redis_health
        self._owner = store.owner
        self._fleet = FleetView(store, local, refresher.chained)
        # Event tasks are kept until done: the loop holds only weak references to tasks.
        self._event_tasks: set[asyncio.Task[None]] = set()

    async def get_token(self, need_ms: int, wait_seconds: float | None) -> TokenRecord | None:
        """A usable token from Redis, waiting for the refresh up to ``wait_seconds``;
        None as soon as Redis is down (the caller then takes the degraded path)."""
        loop = asyncio.get_running_loop()
        wait = self._policy.wait_max_seconds
        if wait_seconds is not None:
            wait = max(min(wait, wait_seconds), 0.0)
        deadline = loop.time() + wait
        first = True
        while True:
            if self._redis_health.degraded:
                return None
            try:
                rec = await self._local.reread()
                now = self._clock.now_ms()
                if rec is not None and rec.servable(now, need_ms, self._local.floor_ms):
                    self._count_served(first)
                    return rec
                if first:
                    self._local.count_miss()
                    first = False
                negative = await self._store.negative()
                backoff = await self._store.backoff()
                reauth = await self._reauth()
                if (
                    rec is not None
                    and rec.servable(now, 0, self._local.floor_ms)
                    and (negative or backoff or reauth)
                ):
                    return rec  # cannot refresh now: serve the still-valid token
                self._raise_if_reauth(reauth)
                probe = await self._may_probe(negative, backoff)
                if not probe:
                    self._raise_if_blocked(negative, backoff)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._refresher.join(probe), remaining)
            except RedisError as exc:
                self._redis_health.mark_down(exc)
            except TimeoutError:
                raise DeadlineError(
                    f"timed out after {wait:.1f}s waiting for a new {self.name} token",
                    reason="TOKEN_REFRESH_TIMEOUT",
                ) from None

    def _count_served(self, first: bool) -> None:
        if first:
            self._local.count_hit()
        else:
            self._local.count_wait()

    async def _may_probe(self, negative: str | None, backoff: tuple[str, int] | None) -> bool:
        """Half-open, like a circuit breaker: while callers have nothing valid and the
        shared backoff runs, one caller in the whole fleet per probe interval may try
        the endpoint now. Recovery then follows the endpoint, not the backoff timer."""
        if negative is not None or backoff is None:
            return False
        return await self._store.take_probe(
            self._owner, int(self._policy.probe_interval_seconds * 1000)
        )

    async def _reauth(self) -> str | None:
        """Why the chain needs an operator (fleet-wide, in Redis), or None."""
        if not self._refresher.chained:
            return None
        reauth = await self._store.reauthorization_required()
        self._local.reauth = reauth or ""
        return reauth

    def _raise_if_reauth(self, reauth: str | None) -> None:
        if reauth is not None:
            raise FailedPreconditionError(
                f"provider {self.name} needs a new authorization: {reauth}",
                reason="REAUTHORIZATION_REQUIRED",
                metadata={"provider": self.name},
            )

    def _raise_if_blocked(self, negative: str | None, backoff: tuple[str, int] | None) -> None:
        """Fail fast when no token can come now: credentials rejected, or backing off."""
        if negative is not None:
            raise FailedPreconditionError(
                f"provider {self.name} rejected our client credentials: {negative}",
                reason="UPSTREAM_CREDENTIALS_REJECTED",
                metadata={"provider": self.name},
            )
        if backoff is not None:
            error, remaining_ms = backoff
            raise UnavailableError(
                f"no valid {self.name} token: the token endpoint is unavailable ({error}); "
                f"next attempt in {remaining_ms / 1000:.1f}s",
                reason="UPSTREAM_TOKEN_UNAVAILABLE",
                metadata={"provider": self.name},
                retry_after_seconds=remaining_ms / 1000,
            )

    # ------------------------------------------------------------------ events

    def on_event(self, payload: bytes) -> None:
        """A Redis pub/sub event for this provider. One that carries the record (a new
        token, an invalidation, a restore, a hand-back: ``store.parse_event``) is
        adopted as it is, without a Redis command, if it is newer than the copy, and
        ignored if not. Any other (``released``, ``reauth``, a format this replica does
        not know, a token that does not open here) marks the copy stale and re-reads
        it and the reauth flag, as every event did before they carried records.

        A lease announcement (``leased:...``) is noted: this replica's loop, due too,
        waits for the holder's event instead of trying the lease meanwhile.

        Events can be lost (a dropped subscription, Redis Cluster's bus): the copy is
        still confirmed against Redis once it is older than the staleness window, and
        an announced lease is counted on for one lease TTL at most."""
        lease = parse_lease(payload)
        if lease is not None:
            self._local.note_lease(*lease, self._policy.lock_ttl_seconds)
            self._local.count_event("lease")
            return
        if self._adopt(payload):
            return
        self._local.count_event("reread")
        self.mark_stale()
        task = asyncio.get_running_loop().create_task(self._after_event())
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)

    def _adopt(self, payload: bytes) -> bool:
        """True if the event needs no read: its record was adopted, or is not newer
        than the copy (a replayed or late event never moves the copy back)."""
        if self._redis_health.degraded:
            return False  # the degraded copy is this replica's own; the hand-back decides
        event = parse_event(payload)
        rec = self._store.open_event(event) if event is not None else None
        if event is None or rec is None:
            return False
        if not self._local.adopt(rec):
            self._local.count_event("ignored")
            return True
        self._local.count_event("adopted")
        if event.chain_rotations is not None:
            self._local.reauth = ""  # a chained write clears the flag in its script
        self._fleet.announced(event.upstream_ok, event.chain_rotations)
        return True

    def mark_stale(self) -> None:
        """The token and the fleet's status may have changed: re-read both at next use."""
        self._local.mark_stale()
        self._fleet.mark_changed()

    async def _after_event(self) -> None:
        try:
            await self._local.reread()
            await self._reauth()  # a broken chain or an installed one: fleet-wide at once
        except RedisError as exc:
            self._redis_health.mark_down(exc)
        self._local.pulse()

    async def resume(self) -> None:
        """Redis is back and holds the token: serve it from now on."""
        self._local.mark_stale()
        await self._local.read_shared()
        self._local.pulse()

    # ------------------------------------------------------------------ other RPCs

    async def invalidate(self, token: str) -> bool | None:
        """Marks ``token`` invalid in Redis if it is still current; None if Redis is down."""
        try:
            invalidated = await self._store.invalidate(token)
        except RedisError as exc:
            self._redis_health.mark_down(exc)
            return None
        local = self._local.record
        if local is not None and local.access_token == token:
            self._local.record = replace(local, invalid=True)
        self._local.mark_stale()
        return invalidated

    async def status(self, fresh: bool = False) -> tuple[dict[str, int], str | None, int]:
        """Cluster counters, who holds the refresh lock (its owner id, None when free),
        and the backoff left (ms); as far as Redis answered. The token is the local copy,
        kept current by the events (re-read only if one said it is stale); the fleet's
        part comes from ``FleetView`` (re-read only when it may have changed, or
        ``fresh``)."""
        cluster: dict[str, int] = {}
        locked: str | None = None
        backoff_ms = 0
        try:
            if self._local.known_stale():
                await self._local.reread()
            fleet = await self._fleet.read(fresh)
            cluster = fleet.cluster
            locked = None if fleet.holder is None else fleet.holder.split("|")[0]
            if self._refresher.chained:
                self._local.reauth = fleet.reauth or ""
            if fleet.backoff is not None:
                self._local.last_error = self._local.last_error or fleet.backoff[0]
                backoff_ms = fleet.backoff[1]
        except RedisError as exc:
            self._redis_health.mark_down(exc)
        return cluster, locked, backoff_ms
