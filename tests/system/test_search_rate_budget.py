"""One upstream rate budget for the fleet: 6 search replicas (processes) under load
against a stand-in that allows N requests/s plus a burst. The stand-in never sees more
than that in any second and answers no 429; a flood of background calls sharing the
budget (as a background job elsewhere in the fleet would) does not starve the searches.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from services.rate_budget import BudgetExhausted, RateBudget, RateBudgetSettings, background
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.search_cluster import provider_query as query
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

LIMIT = 20  # the stand-in's requests per second
SIM_BURST = 10
# The fleet's budget: the provider's rate, a smaller burst (a margin for requests that
# arrive closer together than they were granted).
FLEET = RateBudgetSettings(per_second=LIMIT, burst=5, interactive_reserve=3, max_wait_seconds=2.0)
FLEET_ENV = {
    "PROVIDER_RATE_LIMIT_PER_SECOND": str(FLEET.per_second),
    "PROVIDER_RATE_LIMIT_BURST": str(FLEET.burst),
    "PROVIDER_RATE_LIMIT_INTERACTIVE_RESERVE": str(FLEET.interactive_reserve),
    "PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS": str(FLEET.max_wait_seconds),
}


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 2).start()
        self.search = SearchCluster(
            workdir, database_url, redis_url, self.prefix, 6, self.tokens, env=FLEET_ENV
        ).start()

    def stop(self) -> None:
        self.search.stop()
        self.tokens.stop()
        self.sim.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with seeded_database() as database:
        stack = Stack(tmp_path_factory.mktemp("rate-budget"), database, redis_url)
        try:
            yield stack
        finally:
            stack.stop()


async def load(
    stack: Stack, seconds: float, callers: int, numbers: Iterator[int]
) -> list[pb.SearchFlightsResponse]:
    channel = stack.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    end = asyncio.get_running_loop().time() + seconds
    answers: list[pb.SearchFlightsResponse] = []

    async def caller() -> None:
        while asyncio.get_running_loop().time() < end:
            answers.append(await stub.SearchFlights(query(next(numbers)), timeout=20))

    try:
        await asyncio.gather(*(caller() for _ in range(callers)))
    finally:
        await channel.close()
    return answers


def set_sim_limit(sim: Sim) -> None:
    sim._call("POST", "/_sim/rate-limit", {"per_second": LIMIT, "burst": SIM_BURST})


@pytest.mark.redis_backends
async def test_the_fleet_stays_within_the_providers_limit(stack: Stack) -> None:
    set_sim_limit(stack.sim)
    answers = await load(stack, 4.0, callers=30, numbers=itertools.count())
    seen = stack.sim._call("GET", "/_sim/rate-limit")
    # 30 callers ask far more than 20/s: the budget is what holds them back.
    assert seen["requests"] >= LIMIT * 3
    assert seen["max_in_window"] <= LIMIT + SIM_BURST
    assert seen["api_429"] == 0
    partial = [a.partial_reason for a in answers if a.partial]
    assert len(partial) <= len(answers) // 10, partial[:5]


async def test_background_flood_does_not_starve_searches(stack: Stack) -> None:
    set_sim_limit(stack.sim)
    token = next(t["access_token"] for t in reversed(stack.sim.tokens()) if not t["revoked"])
    redis = Redis.from_url(stack.redis_url, max_connections=100)
    budget = RateBudget(redis, stack.prefix, "amadeus", FLEET)
    flood = {"sent": 0, "refused": 0}
    stop = asyncio.Event()

    async def background_job(session: aiohttp.ClientSession) -> None:
        with background():
            while not stop.is_set():
                try:
                    await budget.acquire()
                except BudgetExhausted:
                    flood["refused"] += 1
                    continue
                async with session.get(
                    f"{stack.sim.base_url}/v1/reference-data/airlines",
                    headers={"Authorization": f"Bearer {token}"},
                ) as r:
                    await r.read()
                flood["sent"] += 1

    try:
        async with aiohttp.ClientSession() as session:
            jobs = [asyncio.create_task(background_job(session)) for _ in range(20)]
            try:
                answers = await load(stack, 4.0, callers=30, numbers=itertools.count(400))
            finally:
                stop.set()
                await asyncio.gather(*jobs)
    finally:
        await redis.aclose()
    seen = stack.sim._call("GET", "/_sim/rate-limit")
    assert seen["max_in_window"] <= LIMIT + SIM_BURST
    assert seen["api_429"] == 0
    # The searches kept getting permits; the background job waited and gave up.
    partial = [a.partial_reason for a in answers if a.partial]
    assert len(answers) >= LIMIT * 2
    assert len(partial) <= len(answers) // 10, partial[:5]
    assert flood["refused"] > 0
    assert flood["sent"] < len(answers) // 2
