"""The status section's booking counts (booking_service/status_counts.py) on a real
database and Redis: held bookings exact on every read; confirmed bookings counted once
per interval for the whole fleet, however many replicas' heartbeats ask, and by each
replica on its own (still once per interval) when Redis does not answer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis

from benchmarks.bulk_rows import reference_of
from booking_service.status_counts import BookingCounts, counts_key
from tests.utils.db import temporary_database

INSERT = """
INSERT INTO bookings (reference, user_id, request_id, request_hash, status, currency,
                      total_price, contact_email, hold_expires_at)
SELECT ref, 'u', ref, repeat('0', 64), $1, 'USD', 1, 'a@example.com',
       now() + interval '15 minutes'
FROM unnest($2::text[]) AS ref"""
made = itertools.count(1)


@pytest.fixture
async def pool() -> AsyncIterator[asyncpg.Pool]:
    async with temporary_database() as url:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        async with asyncpg.create_pool(dsn, min_size=1, max_size=6) as pool:
            yield pool


async def add(pool: asyncpg.Pool, status: str, n: int) -> None:
    await pool.execute(INSERT, status, [reference_of(next(made)) for _ in range(n)])


async def settle(counts: list[BookingCounts]) -> None:
    """Lets every background recount the reads started finish."""
    for c in counts:
        if c._task is not None:
            await asyncio.wait_for(asyncio.shield(c._task), 10)


async def test_the_fleet_counts_confirmed_once_per_interval(
    pool: asyncpg.Pool, redis_url: str, key_prefix: str
) -> None:
    redis = Redis.from_url(redis_url)
    await add(pool, "HELD", 3)
    await add(pool, "CONFIRMED", 7)
    await add(pool, "CANCELLED", 2)
    replicas = [BookingCounts(pool, redis, key_prefix, f"r{i}", interval=2.0) for i in range(5)]
    try:
        # Every replica's heartbeat at once, a few times over.
        for _ in range(3):
            await asyncio.gather(*(c.read() for c in replicas))
            await settle(replicas)
        assert sum(c.recounts for c in replicas) == 1
        assert int(await redis.get(counts_key(key_prefix))) == 7
        reads = await asyncio.gather(*(c.read() for c in replicas))
        assert reads == [{"HELD": 3, "CONFIRMED": 7}] * 5

        # Held is exact at once; confirmed is the shared count until the interval ends.
        await add(pool, "HELD", 1)
        await add(pool, "CONFIRMED", 4)
        assert await replicas[2].read() == {"HELD": 4, "CONFIRMED": 7}
        deadline = time.monotonic() + 15
        while True:
            reads = await asyncio.gather(*(c.read() for c in replicas))
            await settle(replicas)
            if all(r.get("CONFIRMED") == 11 for r in reads):
                break
            assert time.monotonic() < deadline, reads
            await asyncio.sleep(0.2)
        # One more count for the fleet, by whichever replica won the lock.
        assert sum(c.recounts for c in replicas) == 2
    finally:
        for c in replicas:
            await c.close()
        await redis.aclose()


async def test_without_redis_each_replica_counts_once_per_interval(pool: asyncpg.Pool) -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    await add(pool, "CONFIRMED", 5)
    counts = BookingCounts(pool, down, "p", "r1", interval=60.0)
    try:
        first = await counts.read()
        await settle([counts])
        assert first == {"HELD": 0}  # counting started; nothing known yet
        for _ in range(5):
            assert await counts.read() == {"HELD": 0, "CONFIRMED": 5}
            await settle([counts])
        assert counts.recounts == 1
    finally:
        await counts.close()
        await down.aclose()
