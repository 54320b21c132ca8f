"""The run loop's pipeline: a batch is stored while the next is claimed and priced, and a
replica never holds more than the batch it prices plus the one it stores."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from prometheus_client import CollectorRegistry

from tracking_service.metrics import TrackingMetrics
from tracking_service.scheduler import Scheduler
from tracking_service.settings import TrackingPolicy
from tracking_service.store import AlertRow, Claim, Finished, TrackerRow
from tracking_service.triggers import Observation, TriggerSpec, TriggerState

NOW = datetime(2030, 1, 1, tzinfo=UTC)
BATCHES, BATCH = 6, 5


def claim(tracker_id: int, key: str) -> Claim:
    tracker = TrackerRow(
        id=tracker_id,
        user_id="u",
        kind="FLIGHT",
        search={},
        search_key=key,
        frequency_seconds=3600,
        triggers=TriggerSpec(None, None, None, True),
        paused=False,
        ended=False,
        ends_at=NOW,
        next_run_at=NOW,
        fence=1,
        state=TriggerState(),
        last_period=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return Claim(tracker, NOW, 1, NOW)


class SlowStore:
    """Hands out BATCHES batches; storing one takes a while."""

    def __init__(self) -> None:
        self.batches = [
            [claim(b * BATCH + i, f"key-{b}-{i % 2}") for i in range(BATCH)] for b in range(BATCHES)
        ]
        self.claimed = 0
        self.stored = 0
        self.most_held = 0  # batches claimed and not yet stored, at most
        self.storing = False
        self.all_stored = asyncio.Event()

    async def claim(self, owner: str, limit: int, lease_seconds: float) -> list[Claim]:
        if self.claimed == len(self.batches):
            return []
        batch = self.batches[self.claimed]
        self.claimed += 1
        self.most_held = max(self.most_held, self.claimed - self.stored)
        return batch

    async def finish(self, owner: str, runs: Sequence[Finished]) -> tuple[int, list[AlertRow]]:
        self.storing = True
        await asyncio.sleep(0.05)
        self.storing = False
        self.stored += 1
        if self.stored == len(self.batches):
            self.all_stored.set()
        return len(runs), []

    async def retry_later(self, claims: Sequence[Claim], seconds: float) -> None:
        raise AssertionError("every search answered")


class Prices:
    def __init__(self, store: SlowStore) -> None:
        self.store = store
        self.searches = 0
        self.while_storing = 0  # searches that answered while a batch was being stored

    async def price(
        self, key: str, kind: str, params: dict[str, Any], period_seconds: float
    ) -> Observation:
        self.searches += 1
        await asyncio.sleep(0.01)
        self.while_storing += self.store.storing
        return Observation(Decimal("100.00"), "EUR", "offer", 1)


class Hub:
    async def publish(self, alerts: Sequence[AlertRow]) -> None:
        return None


async def test_a_batch_is_stored_while_the_next_is_priced_and_no_more_is_held() -> None:
    store = SlowStore()
    prices = Prices(store)
    scheduler = Scheduler(
        cast(Any, store),
        cast(Any, prices),
        cast(Any, Hub()),
        TrackingPolicy(claim_batch=BATCH, poll_seconds=0.01),
        "replica-1",
        TrackingMetrics(CollectorRegistry()),
    )
    loop = asyncio.create_task(scheduler.run())
    try:
        await asyncio.wait_for(store.all_stored.wait(), 10)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert scheduler.counts["runs"] == BATCHES * BATCH
    assert prices.searches == BATCHES * 2  # once per search key of each batch
    # Pipelined: later batches were priced while the one before was being stored ...
    assert prices.while_storing >= 2 * (BATCHES - 2)
    # ... but never more than the batch being priced and the one being stored.
    assert store.most_held == 2
