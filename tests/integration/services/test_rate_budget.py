"""The shared upstream rate budget (services/rate_budget.py) against real Redis: GCRA
rate and burst under concurrency from many tasks and several processes, the
interactive reserve, the fleet-wide 429 pause, and Redis being away."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.parent_death import die_with_spawning_process
from services.rate_budget import (
    BudgetExhausted,
    Priority,
    RateBudget,
    RateBudgetMetrics,
    RateBudgetSettings,
    background,
)

PROVIDER = "amadeus"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, max_connections=300)
    yield client
    await client.aclose()


def budget(
    redis: Redis,
    prefix: str,
    per_second: float,
    burst: int,
    reserve: int = 0,
    max_wait: float = 0.0,
    registry: CollectorRegistry | None = None,
) -> RateBudget:
    settings = RateBudgetSettings(
        per_second=per_second, burst=burst, interactive_reserve=reserve, max_wait_seconds=max_wait
    )
    return RateBudget(
        redis,
        prefix,
        PROVIDER,
        settings,
        RateBudgetMetrics(registry) if registry is not None else None,
    )


async def redis_now(redis: Redis) -> float:
    sec, usec = await redis.time()
    return sec + usec / 1e6


async def spin(limiter: RateBudget, redis: Redis, seconds: float, tasks: int) -> tuple[int, float]:
    """``tasks`` tasks asking for free permits (no waiting) for ``seconds``: (granted,
    the window in Redis time)."""
    granted = 0

    async def one() -> None:
        nonlocal granted
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ok, _ = await limiter.try_permit(Priority.INTERACTIVE, 0)
            granted += ok
            await asyncio.sleep(0.002)

    start = await redis_now(redis)
    await asyncio.gather(*(one() for _ in range(tasks)))
    return granted, await redis_now(redis) - start


async def test_a_burst_at_once_is_exactly_the_burst(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=5, burst=10)
    results = await asyncio.gather(
        *(limiter.try_permit(Priority.INTERACTIVE, 0) for _ in range(200))
    )
    assert sum(ok for ok, _ in results) == 10
    # The refused ones are told when a slot frees: about one interval (0.2 s).
    waits = [s for ok, s in results if not ok]
    assert all(0 < s <= 0.2 + 1e-6 for s in waits)


async def test_rate_holds_under_many_tasks(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=50, burst=5)
    granted, window = await spin(limiter, redis, 1.5, tasks=20)
    # GCRA: at most the burst plus rate x window, whatever the concurrency.
    assert granted <= 5 + 50 * window + 1
    assert granted >= 0.6 * 50 * 1.5  # and the budget is actually used


def _process_spin(
    redis_url: str,
    prefix: str,
    seconds: float,
    ready: multiprocessing.synchronize.Barrier,
    out: multiprocessing.queues.Queue,
) -> None:  # type: ignore[type-arg]
    die_with_spawning_process()

    async def main() -> None:
        redis = Redis.from_url(redis_url)
        try:
            limiter = budget(redis, prefix, per_second=40, burst=8)
            await redis.ping()
            ready.wait()
            start = await redis_now(redis)
            granted, _ = await spin(limiter, redis, seconds, tasks=8)
            out.put((granted, start, await redis_now(redis)))
        finally:
            await redis.aclose()

    asyncio.run(main())


def test_rate_holds_across_processes(redis_url: str, key_prefix: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    n = 3
    ready = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_spin, args=(redis_url, key_prefix, 1.5, ready, out))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    granted = sum(r[0] for r in results)
    window = max(r[2] for r in results) - min(r[1] for r in results)
    assert all(r[0] > 0 for r in results)  # every process got permits
    assert granted <= 8 + 40 * window + 1
    assert granted >= 0.6 * 40 * 1.5


async def test_waiting_callers_are_spaced_by_the_rate(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=20, burst=2, max_wait=5.0)
    start = time.monotonic()
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(time.monotonic() - start)

    await asyncio.gather(*(one() for _ in range(12)))
    times.sort()
    # 2 at once, then one every 50 ms: the last no earlier than 10 intervals.
    assert times[-1] >= 10 * 0.05 - 0.01
    for i in range(2, 12):
        assert times[i] >= (i - 1) * 0.05 - 0.01


async def test_waits_no_longer_than_allowed(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=2, burst=1, max_wait=0.2)
    await limiter.acquire()
    began = time.monotonic()
    with pytest.raises(BudgetExhausted) as caught:
        await limiter.acquire()
    assert time.monotonic() - began < 0.15  # refused at once: the slot is 0.5 s away
    assert 0.2 < caught.value.retry_after <= 0.5
    # The call's own deadline is shorter still.
    limiter = budget(redis, key_prefix + "-b", per_second=2, burst=1, max_wait=5.0)
    await limiter.acquire()
    with pytest.raises(BudgetExhausted):
        await limiter.acquire(time_left=0.1)


async def test_background_leaves_the_reserve_to_interactive(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=1, burst=10, reserve=4)
    bg = await asyncio.gather(*(limiter.try_permit(Priority.BACKGROUND, 5) for _ in range(50)))
    assert sum(ok for ok, _ in bg) == 6
    fg = await asyncio.gather(*(limiter.try_permit(Priority.INTERACTIVE, 0) for _ in range(50)))
    assert sum(ok for ok, _ in fg) == 4


async def test_a_background_flood_does_not_starve_interactive(
    redis: Redis, key_prefix: str
) -> None:
    registry = CollectorRegistry()
    limiter = budget(
        redis, key_prefix, per_second=20, burst=4, reserve=2, max_wait=3.0, registry=registry
    )
    counts = {"interactive": 0, "background": 0, "background_refused": 0}
    end = time.monotonic() + 1.5

    async def interactive() -> None:
        while time.monotonic() < end:
            await limiter.acquire()  # never refused: the queue is shorter than 3 s
            counts["interactive"] += 1

    async def flood() -> None:
        with background():
            while time.monotonic() < end:
                try:
                    await limiter.acquire()
                    # (a wait begun before the end may be granted once the queue drains)
                    counts["background"] += time.monotonic() < end
                except BudgetExhausted:
                    counts["background_refused"] += 1

    # 20 interactive callers ask for more than the rate: they queue (at most 1 s ahead).
    await asyncio.gather(*(interactive() for _ in range(20)), *(flood() for _ in range(20)))
    # Interactive callers keep getting permits; background ones only get the two free
    # slots of the first moment, then wait and give up while interactive demand lasts.
    assert counts["interactive"] >= 20
    assert counts["background"] <= 2
    assert counts["background_refused"] > 0
    sample = registry.get_sample_value
    assert (
        sample(
            "skyroute_rate_budget_permits_total",
            {"provider": PROVIDER, "priority": "background", "outcome": "refused"},
        )
        > 0
    )
    assert (
        sample(
            "skyroute_rate_budget_wait_seconds_count",
            {"provider": PROVIDER, "priority": "interactive"},
        )
        == counts["interactive"]
    )


async def test_a_429_pauses_every_replica(redis: Redis, key_prefix: str) -> None:
    registry = CollectorRegistry()
    one = budget(redis, key_prefix, per_second=100, burst=10, max_wait=0.1, registry=registry)
    other = budget(redis, key_prefix, per_second=100, burst=10, max_wait=2.0)
    await one.pause(0.6)
    await one.pause(0.1)  # a shorter Retry-After never shortens the pause
    with pytest.raises(BudgetExhausted) as caught:
        await one.acquire()
    assert 0.3 < caught.value.retry_after <= 0.6
    began = time.monotonic()
    await other.acquire()  # the other replica waits the pause out
    assert time.monotonic() - began >= 0.3
    assert (
        registry.get_sample_value("skyroute_rate_budget_pauses_total", {"provider": PROVIDER})
        == 2.0
    )  # two 429s
    # After the pause, the burst is there again.
    ok = await asyncio.gather(*(other.try_permit(Priority.INTERACTIVE, 0) for _ in range(20)))
    assert sum(g for g, _ in ok) >= 8


async def test_status_shows_the_shared_state(redis: Redis, key_prefix: str) -> None:
    limiter = budget(redis, key_prefix, per_second=1, burst=5, max_wait=0)
    for _ in range(3):
        await limiter.acquire()
    await limiter.pause(5)
    status = await limiter.status()
    assert status["free_slots_now"] == 2
    assert 4 < status["paused_for_seconds"] <= 5
    assert status["replica_counts"]["interactive_granted"] == 3


async def test_off_and_redis_away_call_unlimited(key_prefix: str) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        off = budget(dead, key_prefix, per_second=0, burst=1)
        await off.acquire()  # off: Redis is not even asked
        assert off.counts == {}
        away = budget(dead, key_prefix, per_second=1, burst=1)
        for _ in range(3):
            await away.acquire()
        assert away.counts == {"interactive_unlimited": 3}
    finally:
        await dead.aclose()


async def test_a_redis_that_lost_the_script_is_given_it_again(tmp_path) -> None:
    """A restarted (or failed-over) Redis has no scripts: the permit loads it and is
    granted, with no error and no unlimited call."""
    from tests.utils.redis_server import PrivateRedis

    server = PrivateRedis(tmp_path).start()
    client = Redis.from_url(server.url)
    try:
        b = budget(client, "lost", per_second=10, burst=5)
        assert (await b.try_permit(Priority.INTERACTIVE, 0))[0]
        await client.script_flush()
        assert await client.script_exists(b._permit.sha) == [False]
        assert (await b.try_permit(Priority.INTERACTIVE, 0))[0]
        assert await client.script_exists(b._permit.sha) == [True]
        await b.acquire()
        assert b.counts == {"interactive_granted": 1}
    finally:
        await client.aclose()
        server.stop()
