"""A burst of commands beyond the Redis connection pool (``REDIS_MAX_CONNECTIONS``)
waits for a connection (up to ``REDIS_POOL_TIMEOUT_SECONDS``) instead of failing with
``MaxConnectionsError``, which every caller would take for a Redis outage (here: the
rate budget calling unlimited). On one Redis, on a Redis Cluster and through Sentinel.
Each case first shows that redis-py's own pool of that size fails under the burst."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import MaxConnectionsError

from services.config import RedisSettings
from services.rate_budget import RateBudget, RateBudgetSettings
from services.redis_client import ClusterClient, RedisClient, create_redis
from tests.utils.redis_server import SentinelSetup

POOL = 2
CALLERS = 200


def _settings(url: str) -> RedisSettings:
    # A long wait: this is about waiting instead of failing, not about how long.
    return RedisSettings(url=url, max_connections=POOL, pool_timeout_seconds=30.0)


async def _burst(client: RedisClient, prefix: str) -> tuple[list[BaseException], dict[str, int]]:
    """CALLERS concurrent rate-budget permits and script runs (a Lua script, as every
    Redis user here sends); the errors raised and the budget's outcome counts."""
    budget = RateBudget(
        client,
        prefix,
        "amadeus",
        RateBudgetSettings(per_second=1e6, burst=10 * CALLERS, max_wait_seconds=5.0),
    )
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    key = f"{prefix}:pool:{{n}}"

    async def one() -> None:
        await budget.acquire()
        await script(keys=[key], args=[])

    results = await asyncio.gather(*(one() for _ in range(CALLERS)), return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)], budget.counts


async def _check(ours: RedisClient, theirs: Any, prefix: str) -> None:
    try:
        errors, _ = await _burst(theirs, f"{prefix}:redis-py")
        # The burst does exceed a pool of this size: redis-py's own fails with
        # MaxConnectionsError (RateBudget would call unlimited; here its INCR fails).
        assert any(isinstance(e, MaxConnectionsError) for e in errors), errors[:3]
        errors, counts = await _burst(ours, prefix)
        assert errors == []
        assert counts == {"interactive_granted": CALLERS}  # never "unlimited"
        assert int(await ours.get(f"{prefix}:pool:{{n}}") or 0) == CALLERS
    finally:
        await theirs.aclose()
        await ours.aclose()


@pytest.mark.redis_backends
async def test_a_burst_beyond_the_pool_waits_for_a_connection(
    redis_url: str, redis_backend: str, key_prefix: str
) -> None:
    ours = create_redis(_settings(redis_url))
    if redis_backend == "cluster":
        assert isinstance(ours, ClusterClient)
        seed = _settings(redis_url).cluster()
        assert seed is not None
        theirs: Any = RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in seed.nodes], max_connections=POOL
        )
    else:
        theirs = Redis.from_url(redis_url, max_connections=POOL)
    await _check(ours, theirs, key_prefix)
    if isinstance(ours, ClusterClient):
        # The gate kept every node's pool within its size.
        assert all(len(n._connections) <= POOL for n in ours.get_nodes())


@pytest.fixture
def sentinel(workdir: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(workdir / "sentinel").start()
    yield setup
    setup.stop()


async def test_through_sentinel_a_burst_waits_for_a_connection(
    sentinel: SentinelSetup, key_prefix: str
) -> None:
    settings = _settings(sentinel.url)
    target = settings.sentinel()
    assert target is not None
    theirs = Sentinel(list(target.sentinels)).master_for(target.master, max_connections=POOL)
    ours = create_redis(settings)
    await _check(ours, theirs, key_prefix)
