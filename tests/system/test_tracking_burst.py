"""Creates with three tracking replicas as processes, each with a pool of two
PostgreSQL connections:

- one user fires a burst of creates through every replica, far past the per-user
  limit: exactly ``limit`` trackers exist, every other create is refused with
  TRACKER_LIMIT_REACHED (none times out waiting for a connection), and meanwhile
  another user's Create, Get and List on the same replicas complete;
- an unknown airport is INVALID_ARGUMENT naming the field, as search says it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import redis as redis_lib
from google.protobuf import duration_pb2, timestamp_pb2

from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tests.utils.search_cluster import error_details, seeded_database
from tests.utils.tracking_cluster import TrackingCluster

LIMIT = 5
BURST = 600


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[TrackingCluster]:
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    with seeded_database() as url:
        cluster = TrackingCluster(
            tmp_path_factory.mktemp("tracking-burst"),
            url,
            redis_url,
            prefix,
            ["127.0.0.1:1"],  # no run is due while these tests last
            3,
            env={
                "TRACKING_MAX_TRACKERS_PER_USER": str(LIMIT),
                "DB_POOL_SIZE": "2",
                "DB_MAX_OVERFLOW": "0",
                "DB_POOL_TIMEOUT_SECONDS": "1",
            },
        ).start()
        try:
            yield cluster
            assert "Traceback" not in cluster.logs()
        finally:
            cluster.stop()
            client = redis_lib.Redis.from_url(redis_url)
            try:
                keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()


def create_request(origin: str = "LHR", destination: str = "JFK") -> pb.CreateTrackerRequest:
    later = timestamp_pb2.Timestamp(seconds=int(time.time()) + 6 * 86400)
    return pb.CreateTrackerRequest(
        tracker=pb.Tracker(
            flight=pb.FlightSearch(
                origin=origin,
                destination=destination,
                departure_date=(datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
                passengers=search_pb.Passengers(adults=1),
                cabin=search_pb.CABIN_ECONOMY,
            ),
            frequency=duration_pb2.Duration(seconds=3600),
            triggers=pb.Triggers(back_in_stock=True),
        ),
        first_run_time=later,
    )


async def test_a_burst_by_one_user_keeps_the_limit_and_starves_no_one(
    tracking: TrackingCluster,
) -> None:
    eager = tracking.auth(f"eager-{secrets.token_hex(3)}")
    calm = tracking.auth(f"calm-{secrets.token_hex(3)}")
    channels = [grpc.aio.insecure_channel(a) for a in tracking.addresses]
    stubs = [tracking.stub(c) for c in channels]
    try:
        # Warm every replica's pool and airport memory first.
        mine = await stubs[0].CreateTracker(create_request(), metadata=calm, timeout=10)

        async def eager_create(n: int) -> pb.CreateTrackerResponse:
            stub = stubs[n % 3]
            return await stub.CreateTracker(create_request(), metadata=eager, timeout=30)

        burst = [asyncio.create_task(eager_create(n)) for n in range(BURST)]
        # The other user, on every replica, while the burst is still running.
        rounds = 0
        answered: list[float] = []
        while rounds < 3 or not all(t.done() for t in burst):
            for stub in stubs:
                started = time.monotonic()
                assert (
                    await stub.GetTracker(
                        pb.GetTrackerRequest(tracker_id=mine.tracker.tracker_id),
                        metadata=calm,
                        timeout=5,
                    )
                ).tracker.tracker_id == mine.tracker.tracker_id
                listed = await stub.ListTrackers(pb.ListTrackersRequest(), metadata=calm, timeout=5)
                assert mine.tracker.tracker_id in {t.tracker_id for t in listed.trackers}
                answered.append(time.monotonic() - started)
            if rounds == 0:
                assert not all(t.done() for t in burst), "the other user waited for the whole burst"
                made = await stubs[1].CreateTracker(create_request(), metadata=calm, timeout=5)
                assert made.tracker.tracker_id
            rounds += 1
        results = await asyncio.gather(*burst, return_exceptions=True)
        page = await stubs[2].ListTrackers(
            pb.ListTrackersRequest(page_size=100), metadata=eager, timeout=5
        )
    finally:
        for channel in channels:
            await channel.close()
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    others = [r for r in results if isinstance(r, BaseException) and r not in refused]
    assert others == []
    assert {r.code() for r in refused} == {grpc.StatusCode.FAILED_PRECONDITION}, {
        (r.code(), r.details()) for r in refused
    }
    assert {error_details(r)[1] for r in refused} == {"TRACKER_LIMIT_REACHED"}
    assert len(results) - len(refused) == LIMIT
    assert len(page.trackers) == LIMIT
    print(f"other user's Get+List: max {max(answered):.3f}s over {len(answered)} while bursting")


async def test_an_unknown_airport_is_named(tracking: TrackingCluster) -> None:
    auth = tracking.auth(f"typo-{secrets.token_hex(3)}")
    channel = tracking.channel()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await tracking.stub(channel).CreateTracker(
                create_request("XXX", "QQQ"), metadata=auth, timeout=10
            )
        known = await tracking.stub(channel).CreateTracker(
            create_request("LHR", "JFK"), metadata=auth, timeout=10
        )
    finally:
        await channel.close()
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    fields, _ = error_details(bad.value)
    assert fields == ["tracker.flight.origin", "tracker.flight.destination"]
    assert "tracker.flight.origin: unknown airport XXX" in (bad.value.details() or "")
    assert known.tracker.flight.origin == "LHR"
