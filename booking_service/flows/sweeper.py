"""Expires holds that ran out and gives their seats back; runs in every replica.

Each pass takes a batch of due HELD bookings with ``FOR UPDATE SKIP LOCKED`` (so
replicas split the work instead of queueing on each other), marks them EXPIRED and
returns their seats, all in one transaction (store.repository.BookingStore.expire_due). A
full batch is followed at once by the next; otherwise the sweeper sleeps for the
interval, with jitter so replicas do not run in lockstep.

With the provider's order API configured, each pass then does the provider's part
(upstream_orders.ProviderOrdering.sweep): deletes the orders of cancelled and expired
bookings, and settles bookings whose order placing was abandoned. That work is
claimed with a lease, so replicas split it too.
"""

from __future__ import annotations

import asyncio
import logging
import random

from prometheus_client import CollectorRegistry, Counter

from booking_service.flows.packages import Packages
from booking_service.flows.upstream_orders import ProviderOrdering
from booking_service.store.repository import BookingStore
from services.rate_budget import background

log = logging.getLogger("skyroute.booking.sweeper")


class SweeperMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.expired = Counter(
            "skyroute_booking_holds_expired_total",
            "Held bookings expired by this replica",
            registry=registry,
        )
        self.seats_returned = Counter(
            "skyroute_booking_expired_seats_returned_total",
            "Seats given back by expired holds",
            registry=registry,
        )
        self.errors = Counter(
            "skyroute_booking_sweeper_errors_total", "Sweeper passes that failed", registry=registry
        )


class HoldSweeper:
    def __init__(
        self,
        store: BookingStore,
        interval_seconds: float,
        batch_size: int,
        metrics: SweeperMetrics | None = None,
        ordering: ProviderOrdering | None = None,
        packages: Packages | None = None,
    ) -> None:
        """``packages``: its resumer runs on each pass (stuck confirmations, hotel
        orders left to cancel)."""
        self._store = store
        self._interval = interval_seconds
        self._batch = batch_size
        self._metrics = metrics
        self._ordering = ordering
        self._packages = packages

    async def sweep_once(self) -> int:
        """One batch; returns how many bookings it expired."""
        expired = await self._store.expire_due(self._batch)
        if expired.booking_ids:
            log.info(
                "holds expired",
                extra={
                    "count": len(expired.booking_ids),
                    "seats_returned": expired.seats_returned,
                    "provider_orders": expired.provider_orders,
                    "booking_references": expired.references[:20],
                },
            )
            if self._metrics:
                self._metrics.expired.inc(len(expired.booking_ids))
                self._metrics.seats_returned.inc(expired.seats_returned)
        return len(expired.booking_ids)

    async def sweep_provider_once(self) -> int:
        """The provider's part of a pass; how many bookings' orders it worked on."""
        worked = 0
        with background():  # yields the upstream rate budget to user requests
            if self._ordering is not None:
                worked += await self._ordering.sweep(self._batch)
            if self._packages is not None:
                worked += await self._packages.resume()
        return worked

    async def run(self) -> None:
        while True:
            try:
                expired = await self.sweep_once()
                # After expiring, so the orders of holds just expired go at once.
                if await self.sweep_provider_once() + expired >= self._batch:
                    continue  # more are due: no pause
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away: keep going
                log.warning("sweep failed", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
                if self._metrics:
                    self._metrics.errors.inc()
            await asyncio.sleep(self._interval * random.uniform(0.75, 1.25))
