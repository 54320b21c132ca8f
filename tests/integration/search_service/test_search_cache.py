"""The Redis result cache: a change of seats or price shows within the TTL, concurrent
cold searches run the database query once (per process and across replicas), the hit
rate is in the metrics, and searches keep working without Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from search_service.cache import HOLD_MIN_BYTES, CacheMetrics, ResultCache
from services.config import RedisSettings
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.redis_client import create_redis
from tests.utils.redis_server import PrivateRedis
from tests.utils.search_cluster import (
    InProcessSearch,
    in_process_search,
    search_env,
    seeded_database,
)

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)
TTL = 1.0


@pytest.fixture(scope="module")
def own_db() -> Iterator[str]:
    """This module changes rows: a seeded database of its own."""
    with seeded_database() as url:
        yield url


@pytest.fixture
async def engine(own_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(own_db)
    yield engine
    await engine.dispose()


@pytest.fixture
async def search(own_db: str, redis_url: str, key_prefix: str) -> AsyncIterator[InProcessSearch]:
    env = search_env(own_db, redis_url, key_prefix, {"SEARCH_CACHE_TTL_SECONDS": str(TTL)})
    async with in_process_search(env) as s:
        yield s


def query(destination: str = "ATL") -> pb.SearchFlightsRequest:
    return pb.SearchFlightsRequest(
        origin="ORD",
        destination=destination,
        departure_date=TOMORROW.isoformat(),
        cabin=pb.CABIN_ECONOMY,
        page_size=5,
        filters=pb.SearchFilters(max_stops=0),
    )


def lookups(search: InProcessSearch, result: str) -> float:
    return search.metric("skyroute_search_cache_lookups_total", {"result": result})


async def test_seat_and_price_change_visible_within_ttl(
    search: InProcessSearch, engine: AsyncEngine
) -> None:
    first = (await search.stub.SearchFlights(query(), timeout=10)).itineraries[0]
    segment = first.journeys[0].segments[0]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE fares SET seats_available = seats_available - 1, price = price + 1000, "
                "version = version + 1 WHERE id = :id"
            ),
            {"id": segment.fare_id},
        )
    changed_at = time.monotonic()
    # Within the TTL the cached result may still be served ...
    cached = (await search.stub.SearchFlights(query(), timeout=10)).itineraries[0]
    assert cached.offer_id == first.offer_id
    assert lookups(search, "hit") >= 1
    # ... but never after it. A search is judged by when it was asked, so a slow call
    # (a busy machine) does not count against the cache.
    while True:
        asked_at = time.monotonic()
        items = (await search.stub.SearchFlights(query(), timeout=10)).itineraries
        fresh = next(
            (i for i in items if i.journeys[0].segments[0].fare_id == segment.fare_id), None
        )
        if fresh is None or fresh.seats_available == segment.seats_available - 1:
            break
        assert asked_at - changed_at <= TTL + 0.25, "stale result beyond the TTL"
        await asyncio.sleep(0.05)
    # The fare got 1000 dearer: it is no longer the cheapest, or shows the new price.
    if fresh is not None:
        assert fresh.total_price.units >= first.total_price.units + 1000


async def test_concurrent_cold_searches_query_the_database_once(search: InProcessSearch) -> None:
    before = search.app.repository.search_queries
    request = query("DEN")
    responses = await asyncio.gather(
        *(search.stub.SearchFlights(request, timeout=10) for _ in range(100))
    )
    assert search.app.repository.search_queries - before == 1
    assert search.metric("skyroute_search_inventory_queries_total", {"kind": "search"}) >= 1
    assert len({r.SerializeToString() for r in responses}) == 1
    assert lookups(search, "miss") == 1
    assert lookups(search, "coalesced") + lookups(search, "hit") == 99


@pytest.mark.redis_backends
async def test_one_computation_across_replicas(
    own_db: str, redis_url: str, key_prefix: str
) -> None:
    """Two servers (two replicas' worth of state) sharing Redis: concurrent misses of one
    key run the query once in total."""
    env = search_env(own_db, redis_url, key_prefix, {"SEARCH_CACHE_TTL_SECONDS": "30"})
    destinations = ["DFW", "DEN", "LAS", "SFO", "LAX", "MIA"]
    async with in_process_search(env) as a, in_process_search(env) as b:
        await asyncio.gather(
            *(
                s.stub.SearchFlights(query(d), timeout=10)
                for _ in range(20)
                for d in destinations
                for s in (a, b)
            )
        )
        total = a.app.repository.search_queries + b.app.repository.search_queries
        assert total == len(destinations)
        assert lookups(a, "miss") + lookups(b, "miss") == len(destinations)


async def test_hit_rate_metrics(search: InProcessSearch) -> None:
    request = query("LAS")
    for _ in range(5):
        await search.stub.SearchFlights(request, timeout=10)
    assert lookups(search, "miss") == 1
    assert lookups(search, "hit") == 4


async def test_cache_key_is_canonical(search: InProcessSearch) -> None:
    """Equivalent requests share one entry: code case, airline order, explicit defaults."""
    a = query("ATL")
    a.filters.included_airline_codes.extend(["UA", "DL", "AA"])
    b = query("atl")
    b.origin = "ord"
    b.filters.included_airline_codes.extend(["aa", "UA", "dl", "UA"])
    b.sort_order = pb.SORT_ORDER_PRICE
    b.page_size = 3
    before = search.app.repository.search_queries
    ra = await search.stub.SearchFlights(a, timeout=10)
    rb = await search.stub.SearchFlights(b, timeout=10)
    assert search.app.repository.search_queries - before == 1
    assert [i.offer_id for i in rb.itineraries] == [i.offer_id for i in ra.itineraries[:3]]


async def test_searches_work_without_redis(own_db: str, key_prefix: str, tmp_path: Path) -> None:
    """Redis gone: a result the replica trusts (for the window after Redis last vouched
    for it) is still answered from its copy; after that, searches are computed directly."""
    redis = PrivateRedis(tmp_path).start()
    # Long enough for stopping Redis to end inside it, however slow the machine.
    env = search_env(own_db, redis.url, key_prefix, {"SEARCH_CACHE_LOCAL_STALENESS_SECONDS": "3"})
    try:
        async with in_process_search(env) as s:
            first = await s.stub.SearchFlights(query(), timeout=10)
            redis.stop()
            held = await s.stub.SearchFlights(query(), timeout=10)
            assert held == first and lookups(s, "bypass") == 0
            await asyncio.sleep(3.05)
            again = await s.stub.SearchFlights(query(), timeout=10)
            assert [i.offer_id for i in again.itineraries] == [
                i.offer_id for i in first.itineraries
            ]
            assert lookups(s, "bypass") >= 1
    finally:
        redis.stop()


@pytest.mark.redis_backends
async def test_dead_lock_owner_is_taken_over(redis_url: str, key_prefix: str) -> None:
    """A replica that died while computing leaves its lock; it expires and a waiter
    computes instead of waiting for ever."""
    client = create_redis(RedisSettings(url=redis_url))
    cache = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()), lock_seconds=0.3)
    try:
        await client.set(cache.key("k") + ":lock", "dead-replica", px=300)
        calls = 0

        async def compute() -> tuple[bytes, float]:
            nonlocal calls
            calls += 1
            return b"value", 10.0

        started = time.monotonic()
        assert await cache.get_or_compute("k", compute) == b"value"
        assert 0.2 <= time.monotonic() - started < 2.0
        assert calls == 1
        assert await cache.get_or_compute("k", compute) == b"value"
        assert calls == 1
    finally:
        await client.aclose()


async def test_failed_computation_is_not_cached(redis_url: str, key_prefix: str) -> None:
    client = create_redis(RedisSettings(url=redis_url))
    cache = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()))
    try:

        async def broken() -> tuple[bytes, float]:
            raise RuntimeError("database down")

        with pytest.raises(RuntimeError):
            await cache.get_or_compute("k", broken)
        assert await client.get(cache.key("k")) is None
        assert await client.get(cache.key("k") + ":lock") is None  # released

        async def works() -> tuple[bytes, float]:
            return b"ok", 10.0

        assert await cache.get_or_compute("k", works) == b"ok"
    finally:
        await client.aclose()


async def test_expiry_counts_from_the_start_of_the_computation(
    redis_url: str, key_prefix: str
) -> None:
    client = create_redis(RedisSettings(url=redis_url))
    cache = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()))
    try:

        async def slow() -> tuple[bytes, float]:
            await asyncio.sleep(0.4)
            return b"v", 1.0

        await cache.get_or_compute("k", slow)
        ttl_ms = await client.pttl(cache.key("k"))
        assert 0 < ttl_ms <= 650
    finally:
        await client.aclose()


@pytest.mark.redis_backends
async def test_result_stored_between_the_look_and_the_lock_is_not_computed_again(
    redis_url: str, key_prefix: str
) -> None:
    """Another replica stores the result (and drops its lock) just after this one looked
    and missed: taking the lock finds the result instead of computing it again."""
    client = create_redis(RedisSettings(url=redis_url))
    cache = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()))
    look = cache._look

    async def look_then_another_replica_stores(name: str) -> bytes | None:
        value: bytes | None = await look(name)
        await client.set(cache.key("k"), b"theirs", px=10_000)
        return value

    calls = 0

    async def compute() -> tuple[bytes, float]:
        nonlocal calls
        calls += 1
        return b"ours", 10.0

    cache._look = look_then_another_replica_stores  # type: ignore[method-assign]
    try:
        assert await cache.get_or_compute("k", compute) == b"theirs"
        assert calls == 0
        assert await client.exists(cache.key("k") + ":lock") == 0
    finally:
        await client.aclose()


@pytest.mark.redis_backends
async def test_a_held_result_is_not_sent_again_while_redis_holds_it(
    redis_url: str, key_prefix: str
) -> None:
    """Two replicas: the one that did not compute receives the result once, then is
    answered "unchanged" (it returns the very bytes object it held, which a transfer
    would not); a result computed again elsewhere (same length, other bytes) replaces
    the held one at once."""
    client = create_redis(RedisSettings(url=redis_url))
    a = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()))
    b = ResultCache(client, key_prefix, CacheMetrics(CollectorRegistry()))
    computed: list[bytes] = []

    def computing(value: bytes) -> Callable[[], Awaitable[tuple[bytes, float]]]:
        async def compute() -> tuple[bytes, float]:
            computed.append(value)
            return value, 10.0

        return compute

    try:
        first = b"1" * HOLD_MIN_BYTES
        assert await a.get_or_compute("k", computing(first)) == first
        got = await b.get_or_compute("k", computing(b"never"))
        assert got == first and got is not first
        assert await b.get_or_compute("k", computing(b"never")) is got
        assert await a.get_or_compute("k", computing(b"never")) is first  # the owner's own
        b._look_script.sha = "0" * 40  # a server that does not know the script yet
        assert await b.get_or_compute("k", computing(b"never")) is got

        await client.delete(a.key("k"))  # expired (or evicted); its tag stays behind
        second = b"2" * HOLD_MIN_BYTES
        assert await a.get_or_compute("k", computing(second)) == second
        assert await b.get_or_compute("k", computing(b"never")) == second
        assert computed == [first, second]

        # Written over without its tag (not by the cache): the tag no longer vouches for
        # it, as the length differs.
        other = b"4" * (HOLD_MIN_BYTES + 1)
        await client.set(a.key("k"), other, px=10_000)
        assert await b.get_or_compute("k", computing(b"never")) == other

        # A result stored without a tag is sent in full every time.
        await client.delete(a.key("k"), a.key("k") + ":tag")
        third = b"3" * HOLD_MIN_BYTES
        await client.set(a.key("k"), third, px=10_000)
        assert await b.get_or_compute("k", computing(b"never")) == third
        assert await a.get_or_compute("k", computing(b"never")) == third
        assert computed == [first, second]

        # A small result is looked at with a GET (always what Redis holds, too).
        await client.delete(a.key("k"), a.key("k") + ":tag")
        small = b"5" * 100
        assert await a.get_or_compute("k", computing(small)) == small
        assert await b.get_or_compute("k", computing(b"never")) == small
        other_small = b"6" * 100  # written over, the tag left: the GET sees it
        await client.set(a.key("k"), other_small, px=10_000)
        assert await b.get_or_compute("k", computing(b"never")) == other_small
        # Grown (computed again): sent in full by the GET, then with its tag, then held.
        await client.delete(a.key("k"))
        assert await a.get_or_compute("k", computing(first)) == first
        assert await b.get_or_compute("k", computing(b"never")) == first
        got = await b.get_or_compute("k", computing(b"never"))
        assert got == first
        assert await b.get_or_compute("k", computing(b"never")) is got
        assert computed == [first, second, small, first]
    finally:
        await client.aclose()


WINDOW = 1.5


@pytest.mark.redis_backends
async def test_a_held_result_is_trusted_for_the_window_and_never_past_its_expiry(
    redis_url: str, key_prefix: str
) -> None:
    """With a trust window (SEARCH_CACHE_LOCAL_STALENESS_SECONDS), a large result Redis
    vouched for is served without a Redis command until the window ends, and never past
    the expiry Redis gave it; a result deleted early is served at most the window longer,
    then computed again. A small result is never trusted (always a GET)."""
    writer = create_redis(RedisSettings(url=redis_url))
    reader = create_redis(RedisSettings(url=redis_url))
    commands: list[object] = []
    execute = reader.execute_command

    async def counting(*args: object, **options: object) -> object:
        commands.append(args[0])
        return await execute(*args, **options)

    reader.execute_command = counting  # type: ignore[method-assign]
    a = ResultCache(writer, key_prefix, CacheMetrics(CollectorRegistry()))
    b_metrics = CacheMetrics(CollectorRegistry())
    # Windows of seconds: a check inside one must not miss it on a slow machine.
    b = ResultCache(reader, key_prefix, b_metrics, trust_seconds=WINDOW)
    computed: list[bytes] = []

    def computing(value: bytes, ttl: float = 10.0) -> Callable[[], Awaitable[tuple[bytes, float]]]:
        async def compute() -> tuple[bytes, float]:
            computed.append(value)
            return value, ttl

        return compute

    def trusted() -> float:
        return b_metrics.trusted._value.get()

    try:
        first = b"1" * HOLD_MIN_BYTES
        assert await a.get_or_compute("k", computing(first)) == first
        got = await b.get_or_compute("k", computing(b"never"))
        assert got == first and len(commands) == 1
        for _ in range(5):
            assert await b.get_or_compute("k", computing(b"never")) is got
        assert len(commands) == 1 and trusted() == 5
        assert b._metrics.lookup_counts()["hit"] == 6

        # Deleted early (by hand): still served from the copy inside the window, then
        # looked at again and computed anew.
        await writer.delete(a.key("k"), a.key("k") + ":tag")
        assert await b.get_or_compute("k", computing(b"never")) is got
        await asyncio.sleep(WINDOW + 0.05)
        second = b"2" * HOLD_MIN_BYTES
        assert await b.get_or_compute("k", computing(second)) == second
        assert computed == [first, second]
        # Its own computation is trusted too (no command), as is an "unchanged" answer.
        before = len(commands)
        assert await b.get_or_compute("k", computing(b"never")) == second
        assert len(commands) == before
        await asyncio.sleep(WINDOW + 0.05)
        assert await b.get_or_compute("k", computing(b"never")) == second
        assert len(commands) == before + 1  # asked: unchanged
        assert await b.get_or_compute("k", computing(b"never")) == second
        assert len(commands) == before + 1

        # Never past the expiry Redis reported, however long the window.
        long = ResultCache(reader, key_prefix, CacheMetrics(CollectorRegistry()), trust_seconds=60)
        short = b"3" * HOLD_MIN_BYTES
        assert await a.get_or_compute("short", computing(short, ttl=WINDOW)) == short
        assert await long.get_or_compute("short", computing(b"never")) == short
        assert await long.get_or_compute("short", computing(b"never")) == short
        await asyncio.sleep(WINDOW + 0.05)  # expired in Redis
        third = b"4" * HOLD_MIN_BYTES
        assert await long.get_or_compute("short", computing(third)) == third

        # With a window, small results (and empty ones) are held and trusted too; without
        # one, a small result is looked at every time (a GET).
        small = b"5" * 100
        assert await a.get_or_compute("small", computing(small)) == small
        got = await long.get_or_compute("small", computing(b"never"))
        assert got == small
        await writer.delete(a.key("small"))
        assert await long.get_or_compute("small", computing(b"never")) is got
        assert await a.get_or_compute("small", computing(b"6")) == b"6"
        empty = b""
        assert await a.get_or_compute("empty", computing(empty)) == empty
        assert await long.get_or_compute("empty", computing(b"never")) == empty
        # Evicted, its tag left behind: an empty result must not be vouched for by the
        # tag alone (a missing key's length is 0 too).
        brief = ResultCache(
            reader, key_prefix, CacheMetrics(CollectorRegistry()), trust_seconds=0.2
        )
        assert await brief.get_or_compute("empty", computing(b"never")) == empty
        await writer.delete(a.key("empty"))
        assert await writer.exists(a.key("empty") + ":tag") == 1
        await asyncio.sleep(0.25)
        assert await brief.get_or_compute("empty", computing(b"7")) == b"7"
        assert computed == [first, second, short, third, small, b"6", empty, b"7"]
    finally:
        await writer.aclose()
        await reader.aclose()
