"""The run loop of one replica: claim due trackers, price them, store the results.

Timeline (lease 30 s; replica A killed mid-run)::

    t=0     A claims trackers 1..100 (fence 7 each), searches
    t=1     A is SIGKILLed: nothing stored
    t=30    the claims expire; B claims 1..100 (fence 8), searches, stores each run
            (tracker, period) once, raises each alert once
    (had A only been paused: at t=31 it wakes and tries to store with fence 7: the
    UPDATE matches no row, A stores nothing)

Every replica runs this loop; ``FOR UPDATE SKIP LOCKED`` hands each due tracker to one
of them. Runs of one batch are grouped by search key and priced once per key.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

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
        """``TRACKING_WORKERS`` claim loops: one batch's searches in flight do not hold
        up the next batch's claim."""
        await asyncio.gather(*(self._loop() for _ in range(self._policy.workers)))

    async def _loop(self) -> None:
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
                await self.run_batch(claims)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the claims expire and another replica runs them
                log.warning("tracker batch failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    async def run_batch(self, claims: list[Claim]) -> None:
        for claim in claims:
            lag = (claim.claimed_at - claim.period).total_seconds()
            self._metrics.lag.observe(max(0.0, lag))
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
