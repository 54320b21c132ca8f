"""The run claims in a real PostgreSQL: many claimers at once never share a tracker's
period, a holder that lost its claim (expired and taken over) stores nothing, periods
missed while nobody ran are skipped, and the models agree with migration 0004."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import tracking_service.models as models
from services.db import DatabaseSettings, create_pool
from tests.utils.db import temporary_database
from tracking_service.kinds import TrackedSearch, ends_at
from tracking_service.models import TrackerKind
from tracking_service.store import Claim, Finished, TrackingStore
from tracking_service.triggers import Observation, TriggerSpec, evaluate

TRACKING_TABLES = {"price_trackers", "tracker_runs", "tracker_alerts"}
SPEC = TriggerSpec(Decimal("10"), None, None, True)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with temporary_database() as url:
        yield url


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    settings = DatabaseSettings.from_env({"DATABASE_URL": database, "DB_POOL_SIZE": "12"})
    pool = create_pool(settings)
    await pool
    yield pool
    await pool.close()


def search(n: int) -> TrackedSearch:
    day = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    params = {
        "origin": "LHR",
        "destination": "JFK",
        "departure_date": day,
        "return_date": "",
        "adults": 1 + n % 3,
        "children": 0,
        "infants": 0,
        "cabin": "ECONOMY",
        "max_stops": 1,
    }
    return TrackedSearch(TrackerKind.FLIGHT, params)


async def make(store: TrackingStore, count: int, due: datetime, every: int = 60) -> list[int]:
    ids = []
    for n in range(count):
        s = search(n)
        row = await store.create(f"u{n % 5}", None, s, ends_at(s), every, SPEC, due, 10_000)
        ids.append(row.id)
    return ids


def finished(claim: Claim, price: str = "100.00") -> Finished:
    seen = Observation(Decimal(price), "EUR", "offer", 1)
    state, alerts = evaluate(claim.tracker.triggers, claim.tracker.state, seen)
    return Finished(claim, seen, state, alerts)


async def test_concurrent_claimers_each_get_distinct_trackers(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    ids = await make(store, 300, due)

    async def replica(name: str) -> list[int]:
        mine: list[int] = []
        while batch := await store.claim(name, 7, 30):
            stored, _ = await store.finish(name, [finished(c) for c in batch])
            assert stored == len(batch)
            mine.extend(c.tracker.id for c in batch)
        return mine

    claimed = await asyncio.gather(*(replica(f"r{i}") for i in range(8)))
    flat = [i for mine in claimed for i in mine]
    assert sorted(flat) == sorted(ids)  # each once, none skipped
    assert sum(1 for mine in claimed if mine) >= 2  # really concurrent
    async with pool.acquire() as conn:
        runs = await conn.fetch("SELECT tracker_id, period_start FROM tracker_runs")
        nexts = {r[0] for r in await conn.fetch("SELECT next_run_at FROM price_trackers")}
    assert len(runs) == 300 and {r["period_start"] for r in runs} == {due}
    assert nexts == {due + timedelta(seconds=60)}


async def test_a_holder_whose_claim_was_taken_over_stores_nothing(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    due = datetime.now(UTC) - timedelta(seconds=1)
    (tracker_id,) = await make(store, 1, due)
    (slow,) = await store.claim("slow", 10, 0.2)
    assert await store.claim("fast", 10, 30) == []  # the claim holds
    await asyncio.sleep(0.3)  # ... until it expires
    (fast,) = await store.claim("fast", 10, 30)
    assert fast.fence == slow.fence + 1 and fast.period == slow.period
    assert await store.finish("fast", [finished(fast, "100.00")]) == (1, [])
    # The slow holder wakes with a lower price: its result and its alert are dropped.
    assert await store.finish("slow", [finished(slow, "50.00")]) == (0, [])
    # And the fast one finishing again (a retry) stores nothing twice.
    assert await store.finish("fast", [finished(fast, "50.00")]) == (0, [])
    async with pool.acquire() as conn:
        runs = await conn.fetch("SELECT replica, lowest_price FROM tracker_runs")
        alerts = await conn.fetchval("SELECT count(*) FROM tracker_alerts")
    assert [(r["replica"], r["lowest_price"]) for r in runs] == [("fast", Decimal("100.00"))]
    assert alerts == 0
    row = await store.get("u0", tracker_id)
    assert row is not None and row.state.last_price == Decimal("100.00")


async def test_missed_periods_are_skipped_not_run_one_by_one(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=125)
    await make(store, 1, due, every=60)
    (claim,) = await store.claim("r", 10, 30)
    await store.finish("r", [finished(claim)])
    assert await store.claim("r", 10, 30) == []
    async with pool.acquire() as conn:
        next_run = await conn.fetchval("SELECT next_run_at FROM price_trackers")
    assert next_run == due + timedelta(seconds=180)  # the first period after now


async def test_a_failed_search_keeps_the_period_due_for_later(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    await make(store, 1, datetime.now(UTC) - timedelta(seconds=1))
    (claim,) = await store.claim("r1", 10, 30)
    await store.retry_later([claim], 0.2)
    assert await store.claim("r2", 10, 30) == []
    await asyncio.sleep(0.3)
    (again,) = await store.claim("r2", 10, 30)
    assert again.period == claim.period and again.fence == claim.fence + 1


async def test_paused_and_ended_trackers_are_not_claimed(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    paused, ended = await make(store, 2, datetime.now(UTC) - timedelta(seconds=1))
    await store.set_paused("u0", paused, True)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE price_trackers SET ends_at = now() - interval '1 second' WHERE id = $1", ended
        )
    assert await store.claim("r", 10, 30) == []
    resumed = await store.set_paused("u0", paused, False)
    assert resumed is not None and not resumed.paused
    (claim,) = await store.claim("r", 10, 30)
    assert claim.tracker.id == paused


async def test_models_and_migration_agree(database: str) -> None:
    engine = create_async_engine(database)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: [
                    d
                    for d in compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}),
                        models.Base.metadata,
                    )
                    if any(t in repr(d) for t in TRACKING_TABLES)
                ]
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_a_replica_stopping_hands_its_claims_over_at_once(pool: asyncpg.Pool) -> None:
    store = TrackingStore(pool, 10)
    await make(store, 3, datetime.now(UTC) - timedelta(seconds=1))
    held = await store.claim("stopping", 2, 300)
    assert len(held) == 2
    assert await store.release("stopping") == 2
    taken = await store.claim("other", 10, 30)
    assert {c.tracker.id for c in held} <= {c.tracker.id for c in taken}
    assert await store.finish("stopping", [finished(c) for c in held]) == (0, [])


async def test_a_stalled_transaction_does_not_hide_its_trackers_for_ever(
    pool: asyncpg.Pool,
) -> None:
    """A replica stopped inside ``finish`` holds its rows' locks, and ``SKIP LOCKED``
    claims pass them by; the transaction's idle limit (SET LOCAL, as the store sets it)
    ends it, so another replica can claim them once the lease is over."""
    store = TrackingStore(pool, 10, transaction_idle_seconds=0.5)
    await make(store, 1, datetime.now(UTC) - timedelta(seconds=1))
    (claim,) = await store.claim("stalled", 10, 0.2)
    stalled = await pool.acquire()
    try:
        transaction = stalled.transaction()
        await transaction.start()
        await stalled.execute("SET LOCAL idle_in_transaction_session_timeout = 500")
        await stalled.execute(
            "UPDATE price_trackers SET last_price = 1 WHERE id = $1", claim.tracker.id
        )
        await asyncio.sleep(0.3)  # the lease is over, the row still locked
        assert await store.claim("other", 10, 30) == []
        await asyncio.sleep(0.6)  # PostgreSQL ends the idle transaction
        (taken,) = await store.claim("other", 10, 30)
        assert taken.tracker.id == claim.tracker.id and taken.fence == claim.fence + 1
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await transaction.commit()
    finally:
        await pool.release(stalled)
