"""Tracking never starves interactive searches: its searches ask search for background
priority (``x-skyroute-priority``), so under the fleet's upstream rate budget they take
only permits interactive searches leave free, and are retried later when there are none.

Two search replicas with a tight budget, two tracking replicas with 60 trackers (60
distinct searches) due at once, and interactive searches running meanwhile: no
interactive search comes back partial, tracking had to defer runs (it yielded), and
every tracker still runs once its turn comes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster
from tests.utils.tracking_cluster import TrackingCluster

TODAY = datetime.now(UTC).date()
TRACKERS = 60
BUDGET = {
    "PROVIDER_RATE_LIMIT_PER_SECOND": "8",
    "PROVIDER_RATE_LIMIT_BURST": "4",
    "PROVIDER_RATE_LIMIT_INTERACTIVE_RESERVE": "3",
    "PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS": "2",
}


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.database_url = database_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 1).start()
        self.search = SearchCluster(
            workdir, database_url, redis_url, self.prefix, 2, self.tokens, env=BUDGET
        ).start()
        self.tracking = TrackingCluster(
            workdir,
            database_url,
            redis_url,
            self.prefix,
            self.search.addresses,
            2,
            env={"TRACKING_RETRY_SECONDS": "0.5", "TRACKING_MAX_TRACKERS_PER_USER": "100"},
        ).start()

    def stop(self) -> None:
        for part in (self.tracking, self.search, self.tokens, self.sim):
            part.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with seeded_database() as url:
        stack = Stack(tmp_path_factory.mktemp("tracking-budget"), url, redis_url)
        try:
            yield stack
        finally:
            stack.stop()


def day(n: int) -> str:
    return (TODAY + timedelta(days=2 + n)).isoformat()


async def test_tracking_yields_the_budget_to_interactive_searches(stack: Stack) -> None:
    stack.sim._call("POST", "/_sim/rate-limit", {"per_second": 1000, "burst": 100})
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(due)
    auth = stack.tracking.auth(f"saver-{secrets.token_hex(3)}")
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    try:
        created = await asyncio.gather(
            *(
                stub.CreateTracker(
                    pb.CreateTrackerRequest(
                        tracker=pb.Tracker(
                            flight=pb.FlightSearch(
                                origin="LHR",
                                destination="JFK",
                                departure_date=day(n),
                                passengers=search_pb.Passengers(adults=1),
                                cabin=search_pb.CABIN_ECONOMY,
                            ),
                            frequency=duration_pb2.Duration(seconds=3600),
                            triggers=pb.Triggers(back_in_stock=True),
                        ),
                        first_run_time=when,
                    ),
                    metadata=auth,
                    timeout=20,
                )
                for n in range(TRACKERS)
            )
        )
    finally:
        await channel.close()
    ids = [int(c.tracker.tracker_id) for c in created]
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))

    # Interactive searches meanwhile, each of its own (no cache hits): 4 callers.
    search_channel = stack.search.channel()
    search = search_grpc.SearchServiceStub(search_channel)
    answers: list[search_pb.SearchFlightsResponse] = []
    end = time.monotonic() + 6
    numbers = iter(range(10_000))

    async def caller() -> None:
        while time.monotonic() < end:
            n = next(numbers)
            answers.append(
                await search.SearchFlights(
                    search_pb.SearchFlightsRequest(
                        origin="LHR",
                        destination="JFK",
                        departure_date=day(n % 60),
                        passengers=search_pb.Passengers(adults=2 + n // 60),
                        cabin=search_pb.CABIN_ECONOMY,
                        page_size=5,
                        include_provider_offers=True,
                    ),
                    timeout=20,
                )
            )

    try:
        await asyncio.gather(*(caller() for _ in range(4)))
    finally:
        await search_channel.close()

    conn = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:

        async def runs() -> int:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM tracker_runs WHERE tracker_id = ANY($1)", ids
                )
            )

        deadline = time.monotonic() + 60
        done = await runs()
        while done < TRACKERS and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            done = await runs()
        retried = await conn.fetchval(
            "SELECT count(*) FROM price_trackers WHERE id = ANY($1) AND fence > 1", ids
        )
    finally:
        await conn.close()

    partial = [a.partial_reason for a in answers if a.partial]
    assert len(answers) >= 20
    assert partial == []  # no interactive search was held back for tracking's sake
    assert retried > 0  # tracking was: its runs waited for free permits
    assert done == TRACKERS  # and every one ran in the end
