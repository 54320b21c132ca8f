"""This replica's copy of one provider's token, shared by every path of the broker.

The copy is what the replica serves. While Redis answers it is confirmed against
the shared record (re-read with a single flight, trusted for
``local_staleness_seconds``), or adopted from a token event that carries the record
(``adopt``: no Redis command, and only if it is newer than the copy); while Redis does
not, the degraded path writes it itself. Whoever changes it pulses: waiters,
``WatchToken`` streams and the refresh loop wake at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

from services.logs import Redactor
from token_service.broker.single_flight import SingleFlight
from token_service.metrics import TokenMetrics
from token_service.settings import RefreshPolicy
from token_service.store import RedisClock, TokenRecord, TokenStore


@dataclass
class Counters:
    hits: int = 0
    misses: int = 0
    waits: int = 0
    upstream_ok: int = 0
    upstream_failed: int = 0
    lock_contended: int = 0
    fenced_rejected: int = 0


class LocalCopy:
    def __init__(
        self,
        name: str,
        store: TokenStore,
        clock: RedisClock,
        policy: RefreshPolicy,
        metrics: TokenMetrics,
        redactor: Redactor,
    ) -> None:
        self.name = name
        self._store = store
        self._clock = clock
        self._staleness = policy.local_staleness_seconds
        self._redactor = redactor
        self.floor_ms = int(policy.min_handout_seconds * 1000)
        self.record: TokenRecord | None = None
        self.checked_at = -math.inf  # last confirmed against Redis (monotonic)
        self.changed = asyncio.Event()  # replaced at every pulse
        self.watchers: set[asyncio.Event] = set()
        self._reread_flight = SingleFlight()
        self._adoptions = 0  # records adopted from events (a read racing one keeps it)
        # Another replica's announced lease: (generation, version) of the record it
        # replaces, and until when (monotonic) to count on its write's event.
        self._lease: tuple[int, int, float] | None = None
        self.counters = Counters()
        self.last_error = ""
        self.reauth = ""  # why the refresh-token chain needs an operator, as Redis last said
        self.refreshing = False  # a request to the token endpoint is in flight
        self._hit = metrics.cache.labels(name, "hit")
        self._miss = metrics.cache.labels(name, "miss")
        self._wait = metrics.cache.labels(name, "wait")
        self._reads = metrics.shared_reads.labels(name)
        self._events = {
            handling: metrics.events.labels(name, handling)
            for handling in ("adopted", "ignored", "reread", "lease")
        }
        metrics.expiry.labels(name).set_function(self._expiry_seconds)
        metrics.age.labels(name).set_function(self._age_seconds)
        metrics.generation.labels(name).set_function(
            lambda: self.record.generation if self.record else 0
        )

    def servable(self, rec: TokenRecord, need_ms: int) -> bool:
        return rec.servable(self._clock.now_ms(), need_ms, self.floor_ms)

    def confirmed_recently(self) -> bool:
        return time.monotonic() - self.checked_at <= self._staleness

    def mark_stale(self) -> None:
        self.checked_at = -math.inf
        self._lease = None  # what we heard may be out of date too

    def note_lease(self, generation: int, version: int, seconds: float) -> None:
        """Another replica announced it holds the refresh lease to replace the record
        (generation, version); count on its event for at most ``seconds``."""
        self._lease = (generation, version, time.monotonic() + seconds)

    def lease_held_for(self, rec: TokenRecord | None) -> float:
        """Seconds left of an announced lease whose holder replaces ``rec`` (or a newer
        record than ``rec``), else 0: once that holder's event has brought a newer
        record, or the announcement's time is up, the lease is tried again."""
        lease = self._lease
        if lease is None or rec is None:
            return 0.0
        generation, version, until = lease
        left = until - time.monotonic()
        if left <= 0 or (rec.generation, rec.version) > (generation, version):
            return 0.0
        return left

    def known_stale(self) -> bool:
        """An event (or a lost subscription) said the copy may be out of date, and it
        was not re-read since. Otherwise the events keep it current."""
        return self.checked_at == -math.inf

    # ------------------------------------------------------------------ from Redis

    async def reread(self) -> TokenRecord | None:
        """The shared record, read once for all concurrent callers of this replica."""
        return await self._reread_flight.run(self.read_shared)

    async def read_shared(self) -> TokenRecord | None:
        """The record in Redis, which the copy takes whatever it is (a failover may have
        lost the last write), except when an event adopted while the read was on its
        way brought a newer one: the read left Redis before that write."""
        adoptions = self._adoptions
        self._reads.inc()
        rec = await self._store.read()
        self.checked_at = time.monotonic()
        if adoptions != self._adoptions and (rec is None or not rec.newer_than(self.record)):
            return self.record
        self.set_from_shared(rec)
        return rec

    def adopt(self, rec: TokenRecord) -> bool:
        """A record from a token event: taken, and counted as confirmed now, if it is
        newer than the copy (``TokenRecord.newer_than``); an older or replayed event
        changes nothing, wakes nobody and confirms nothing. True if taken."""
        if not rec.newer_than(self.record):
            return False
        self._adoptions += 1
        self.checked_at = time.monotonic()
        self.set_from_shared(rec)
        return True

    def set_from_shared(self, rec: TokenRecord | None) -> None:
        old = self.record
        self.record = rec
        if rec is not None and (
            old is None or rec.generation != old.generation or rec.invalid != old.invalid
        ):
            if old is None or rec.access_token != old.access_token:
                self._redactor.add(rec.access_token)
            self.pulse()

    # ------------------------------------------------------------------ wake-ups

    def pulse(self) -> None:
        """Wakes everyone waiting for a change (waiters, watchers, the refresh loop)."""
        self.changed.set()
        self.changed = asyncio.Event()
        for watcher in self.watchers:
            watcher.set()

    # ------------------------------------------------------------------ counting

    def count_event(self, handling: str) -> None:
        """How a token event was handled: adopted, ignored, reread, or lease (noted)."""
        self._events[handling].inc()

    def count_hit(self) -> None:
        self.counters.hits += 1
        self._hit.inc()

    def count_miss(self) -> None:
        self.counters.misses += 1
        self._miss.inc()

    def count_wait(self) -> None:
        self.counters.waits += 1
        self._wait.inc()

    def _expiry_seconds(self) -> float:
        rec = self.record
        return max(rec.expires_ms - self._clock.now_ms(), 0) / 1000 if rec else 0.0

    def _age_seconds(self) -> float:
        rec = self.record
        return max(self._clock.now_ms() - rec.issued_ms, 0) / 1000 if rec else 0.0


async def sleep_or_change(changed: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds`` or until ``changed`` (taken before the work) is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), max(seconds, 0.001))
