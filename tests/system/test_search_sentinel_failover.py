"""Search through Redis Sentinel (1 primary, 2 replicas, 3 sentinels, real processes):
two search replicas with ``REDIS_URL=redis+sentinel://…`` serve cached searches and
take provider permits from the shared rate budget while the primary is killed.

- Callers see errors only while there is no primary (none at all here: the cache is
  bypassed and the budget lets calls through, as while Redis is down).
- After the failover the cache and the budget work against the new primary: hits, and
  permits granted by the budget's script there, none "unlimited".
- The provider never sees more than the budget in any 1 s window beyond what the
  failover explains: the calls sent unlimited while no primary existed, and one burst
  that a lost write of the budget's state (asynchronous replication) can give again.

Prints the figures docs/architecture.md quotes (run with -s)."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from tests.utils.failover import kill_sentinel_primary, sentinel_setup
from tests.utils.redis_server import SentinelSetup
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.search_cluster import provider_query as query
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

PER_SECOND = 20  # the fleet's budget (and the stand-in's own limit)
BURST = 5
SIM_BURST = 10  # the stand-in's: arrival jitter beyond the budget's own burst
BUDGET_ENV = {
    "PROVIDER_RATE_LIMIT_PER_SECOND": str(PER_SECOND),
    "PROVIDER_RATE_LIMIT_BURST": str(BURST),
    "PROVIDER_RATE_LIMIT_INTERACTIVE_RESERVE": "3",
    "PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS": "2",
}
POPULAR = 3  # queries asked over and over: served from the cache


@pytest.fixture
def sentinel(workdir: Path) -> Iterator[SentinelSetup]:
    with sentinel_setup(workdir) as setup:
        yield setup


Call = tuple[float, str]  # (monotonic start, "ok" / "partial: <reason>" / status code)


async def load(
    stub: pb_grpc.SearchServiceStub, seconds: float, fresh: Iterator[int]
) -> tuple[list[Call], list[Call]]:
    """8 callers of new queries (the budget) and 4 of the popular ones (the cache), for
    ``seconds``: (fresh calls, popular calls)."""
    end = time.monotonic() + seconds
    calls: tuple[list[Call], list[Call]] = ([], [])

    async def caller(popular: bool, numbers: Iterator[int]) -> None:
        while time.monotonic() < end:
            started = time.monotonic()
            try:
                answer = await stub.SearchFlights(query(next(numbers)), timeout=20)
                outcome = f"partial: {answer.partial_reason}" if answer.partial else "ok"
            except grpc.aio.AioRpcError as exc:
                outcome = exc.code().name
            calls[popular].append((started, outcome))

    await asyncio.gather(
        *(caller(False, fresh) for _ in range(8)),
        *(caller(True, itertools.cycle(range(10_000, 10_000 + POPULAR))) for _ in range(4)),
    )
    return calls


async def counters(search: SearchCluster) -> dict[str, float]:
    """Cache lookups by result, cache errors and permits by outcome, over the replicas."""
    out: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for port in search.metrics_ports:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == "skyroute_search_cache_lookups_total":
                        key = f"cache {s.labels['result']}"
                    elif s.name == "skyroute_search_cache_errors_total":
                        key = "cache errors"
                    elif s.name == "skyroute_rate_budget_permits_total":
                        key = f"permits {s.labels['outcome']}"
                    else:
                        continue
                    out[key] = out.get(key, 0.0) + s.value
    return out


def unlimited_window(logs: str, since: float) -> tuple[float, float] | None:
    """When (seconds after ``since``, a wall time) the replicas first and last let a
    call through unlimited (they log each), or None."""
    times = [
        datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp() - since
        for line in logs.splitlines()
        if "calling unlimited" in line and line.startswith("{")
    ]
    return (min(times), max(times)) if times else None


def delta(after: dict[str, float], before: dict[str, float], key: str) -> int:
    return int(after.get(key, 0.0) - before.get(key, 0.0))


async def test_cache_and_rate_budget_follow_the_new_primary(
    workdir: Path, sentinel: SentinelSetup
) -> None:
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    with seeded_database() as database:
        sim = Sim(workdir, new_clients()).start()
        tokens = TokenCluster(workdir, sim, sentinel.url, prefix, 1).start()
        search = SearchCluster(
            workdir, database, sentinel.url, prefix, 2, tokens, env=BUDGET_ENV
        ).start()
        channel = search.channel()
        stub = pb_grpc.SearchServiceStub(channel)
        fresh = itertools.count()
        try:
            for n in range(10_000, 10_000 + POPULAR):
                await stub.SearchFlights(query(n), timeout=20)
            # (Re)starts the stand-in's counting: the busiest 1 s window from now on.
            sim._call("POST", "/_sim/rate-limit", {"per_second": PER_SECOND, "burst": SIM_BURST})
            before = await counters(search)
            run = asyncio.create_task(load(stub, 10.0, fresh))
            await asyncio.sleep(3.0)
            no_primary_s, killed_at = await kill_sentinel_primary(sentinel)
            killed_wall = time.time() - (time.monotonic() - killed_at)
            fresh_calls, popular_calls = await run
            seen = sim._call("GET", "/_sim/rate-limit")
            during = await counters(search)
            # After the failover: both against the new primary.
            after_fresh, after_popular = await load(stub, 4.0, fresh)
            after = await counters(search)
            unlimited_s = unlimited_window(search.logs(), killed_wall)
        finally:
            await channel.close()
            search.stop()
            tokens.stop()
            sim.stop()

    calls = fresh_calls + popular_calls
    errors = [(t - killed_at, o) for t, o in calls if o != "ok" and not o.startswith("partial")]
    partial = [(t - killed_at, o) for t, o in calls if o.startswith("partial")]
    unlimited = delta(during, before, "permits unlimited")
    granted = delta(during, before, "permits granted") + delta(during, before, "permits waited")
    budget = PER_SECOND + BURST
    window = unlimited_s or (0.0, 0.0)
    print(
        f"\nSENTINEL search: failover {no_primary_s:.2f}s, calls {len(calls)} "
        f"({len(popular_calls)} popular), errors {len(errors)}, partial {len(partial)}; "
        f"cache hit {delta(during, before, 'cache hit')} bypass "
        f"{delta(during, before, 'cache bypass')}; permits granted {granted}, unlimited "
        f"{unlimited} (from {window[0]:.2f} to {window[1]:.2f} s after the kill); "
        f"provider: {seen['requests']} requests, busiest 1 s window "
        f"{seen['max_in_window']} (budget {budget}), 429s {seen['api_429']}"
    )
    # Unlimited (the budget's script unreachable) only while there is no primary.
    assert 0 <= window[0] <= window[1] <= no_primary_s + 2.0, window
    # Errors only while there is no primary (plus a reconnect).
    assert all(0 <= t <= no_primary_s + 2.0 for t, _ in errors), errors
    # The popular queries kept being answered, from the cache before and after.
    assert sum(o == "ok" for _, o in popular_calls) >= len(popular_calls) - len(errors)
    assert delta(during, before, "cache hit") > 0
    # After the failover: no errors, the cache answers (hits, nothing bypassed) and the
    # budget's script runs on the new primary (permits granted, none unlimited).
    after_calls = after_fresh + after_popular
    assert [o for _, o in after_calls if o != "ok" and not o.startswith("partial")] == []
    assert delta(after, during, "cache hit") > 0
    assert delta(after, during, "cache bypass") == 0
    assert delta(after, during, "cache errors") == 0
    assert delta(after, during, "permits granted") + delta(after, during, "permits waited") > 0
    assert delta(after, during, "permits unlimited") == 0
    # The busiest window: the budget (plus the stand-in's arrival jitter), the calls
    # let through unlimited while no primary existed, and one burst a lost write of
    # the budget's state may hand out again.
    assert seen["max_in_window"] <= PER_SECOND + SIM_BURST + unlimited + BURST, seen
