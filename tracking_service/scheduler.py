"""The run loop of one replica: claim due trackers, price them, store the results.

Timeline (lease 30 s; replica A killed mid-run)::

    t=0     A claims trackers 1..100 (fence 7 each), searches
    t=1     A is SIGKILLed: nothing stored
    t=30    the claims expire; B claims 1..100 (fence 8), searches, stores each run
            (tracker, period) once, raises each alert once
    (had A only been paused: at t=31 it wakes and tries to store with fence 7: the
    UPDATE matches no row, A stores nothing)

Every replica runs this loop; ``FOR UPDATE SKIP LOCKED`` hands each due tracker to one
of them. Runs of one batch are grouped by search key and priced once per key; a batch
is stored while the next one is claimed and priced.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from services.tasks import cancel_and_wait
from tracking_service.metrics import TrackingMetrics
from tracking_service.prices import PriceSource, PriceUnavailable
from tracking_service.settings import TrackingPolicy
from tracking_service.store import Claim, Finished, TrackingStore
from tracking_service.triggers import Observation, evaluate
from tracking_service.watch import AlertHub

log = logging.getLogger("skyroute.tracking.scheduler")


class Scheduler:
    def __init__(
        self,
        store: TrackingStore,
        prices: PriceSource,
        hub: AlertHub,
        policy: TrackingPolicy,
        owner: str,
        metrics: TrackingMetrics,
    ) -> None:
        self._store = store
        self._prices = prices
        self._hub = hub
        self._policy = policy
        self._owner = owner
        self._metrics = metrics
        self.counts = {"runs": 0, "lost": 0, "deferred": 0, "alerts": 0}

    async def run(self) -> None:
        """``TRACKING_WORKERS`` claim loops (default one), each a two-stage pipeline."""
        await asyncio.gather(*(self._loop() for _ in range(self._policy.workers)))

    async def _loop(self) -> None:
        """Claims a batch, prices and evaluates it, then stores it in the background
        while claiming and pricing the next: at most one batch being worked on and one
        being stored, so claims never run ahead of the work (a claimed tracker is being
        priced), and due trackers leased but not yet stored, which every claim's index
        scan walks past, stay few."""
        storing: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    claims = await self._store.claim(
                        self._owner, self._policy.claim_batch, self._policy.lease_seconds
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database is down: look again later
                    log.warning("cannot claim due trackers", extra={"error": type(exc).__name__})
                    await asyncio.sleep(1.0)
                    continue
                if not claims:
                    await asyncio.sleep(self._policy.poll_seconds)
                    continue
                try:
                    finished, deferred = await self.work(claims)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the claims expire and another replica runs them
                    log.warning("tracker batch failed", extra={"error": type(exc).__name__})
                    await asyncio.sleep(1.0)
                    continue
                if storing is not None:
                    await storing
                storing = asyncio.create_task(self._store_safely(finished, deferred))
        finally:
            if storing is not None and not storing.done():
                await cancel_and_wait([storing])

    async def run_batch(self, claims: list[Claim]) -> None:
        """One batch, start to end: price, evaluate, store."""
        await self.store(*await self.work(claims))

    async def work(self, claims: list[Claim]) -> tuple[list[Finished], list[Claim]]:
        """Prices the batch (once per search key) and evaluates each run's triggers: the
        runs to store, and the claims to retry later (no price this time)."""
        observe = self._metrics.lag.observe
        for claim in claims:
            observe(max(0.0, (claim.claimed_at - claim.period).total_seconds()))
        groups: dict[str, list[Claim]] = defaultdict(list)
        for claim in claims:
            groups[claim.tracker.search_key].append(claim)
        results = await asyncio.gather(
            *(self._price(group) for group in groups.values()), return_exceptions=True
        )
        finished: list[Finished] = []
        deferred: list[Claim] = []
        for group, result in zip(groups.values(), results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, PriceUnavailable):
                    log.warning("pricing failed", extra={"error": type(result).__name__})
                deferred.extend(group)
                continue
            for claim in group:
                state, drafts = evaluate(claim.tracker.triggers, claim.tracker.state, result)
                finished.append(Finished(claim, result, state, drafts))
        self._metrics.coalesced.inc(len(claims) - len(groups))
        return finished, deferred

    async def _store_safely(self, finished: list[Finished], deferred: list[Claim]) -> None:
        try:
            await self.store(finished, deferred)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the claims expire and another replica runs them
            log.warning("tracker batch failed", extra={"error": type(exc).__name__})

    async def store(self, finished: list[Finished], deferred: list[Claim]) -> None:
        """Stores the runs whose claims still hold (one statement), defers the others,
        and publishes the new alerts."""
        if deferred:
            self.counts["deferred"] += len(deferred)
            self._metrics.runs.labels("deferred").inc(len(deferred))
            await self._store.retry_later(deferred, self._policy.retry_seconds)
        stored, alerts = await self._store.finish(self._owner, finished)
        lost = len(finished) - stored
        self.counts["runs"] += stored
        self.counts["lost"] += lost
        self.counts["alerts"] += len(alerts)
        self._metrics.runs.labels("stored").inc(stored)
        if lost:
            self._metrics.runs.labels("lost").inc(lost)
            log.info("runs dropped: claims lost", extra={"count": lost})
        for alert in alerts:
            self._metrics.alerts.labels(alert.kind).inc()
        await self._hub.publish(alerts)

    async def _price(self, group: list[Claim]) -> Observation:
        """One price for runs of one search (the shortest period bounds its age)."""
        tracker = group[0].tracker
        period = min(c.tracker.frequency_seconds for c in group)
        return await self._prices.price(tracker.search_key, tracker.kind, tracker.search, period)
