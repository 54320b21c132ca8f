"""Creates with three tracking replicas as processes, each with a pool of two
PostgreSQL connections:

- one user fires a burst of creates through every replica, far past the per-user
  limit: exactly ``limit`` trackers exist, every other create is refused with
  TRACKER_LIMIT_REACHED (none times out waiting for a connection), and meanwhile
  another user's Create, Get and List on the same replicas complete. "Meanwhile" is
  made certain, not left to timing: the test holds the bursting user's lock in
  PostgreSQL (the one each create takes), so no create of the burst can finish until
  the other user's calls have; each replica has one of the burst's creates waiting on
  that lock, holding one of its two connections, and the rest waiting in memory;
- an unknown airport is INVALID_ARGUMENT naming the field, as search says it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import error_details, seeded_database
from tests.utils.tracking_cluster import TrackingCluster
from tracking_service.store import USER_LOCK

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
            delete_matching(redis_url, f"{prefix}:*")


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


async def waiting_on_locks(conn: asyncpg.Connection, count: int, timeout: float = 20) -> None:
    """Until ``count`` sessions wait on an advisory lock (one create per replica)."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        if waiting >= count:
            return
        assert time.monotonic() < deadline, f"{waiting} creates wait on the user's lock"
        await asyncio.sleep(0.05)


async def test_a_burst_by_one_user_keeps_the_limit_and_starves_no_one(
    tracking: TrackingCluster,
) -> None:
    eager_user, calm_user = f"eager-{secrets.token_hex(3)}", f"calm-{secrets.token_hex(3)}"
    eager, calm = tracking.auth(eager_user), tracking.auth(calm_user)
    channels = [grpc.aio.insecure_channel(a) for a in tracking.addresses]
    stubs = [tracking.stub(c) for c in channels]
    holder = await asyncpg.connect(
        tracking.database_url.replace("postgresql+asyncpg", "postgresql")
    )
    watcher = await asyncpg.connect(
        tracking.database_url.replace("postgresql+asyncpg", "postgresql")
    )
    burst: list[asyncio.Task[pb.CreateTrackerResponse]] = []
    try:
        # Warm every replica's pool and airport memory first.
        mine = await stubs[0].CreateTracker(create_request(), metadata=calm, timeout=10)
        for stub in stubs[1:]:
            await stub.GetTracker(
                pb.GetTrackerRequest(tracker_id=mine.tracker.tracker_id), metadata=calm, timeout=10
            )

        async def eager_create(n: int) -> pb.CreateTrackerResponse:
            stub = stubs[n % 3]
            return await stub.CreateTracker(create_request(), metadata=eager, timeout=60)

        # The bursting user's lock, as each create takes it (tracking_service/store.py).
        held = holder.transaction()
        await held.start()
        await holder.execute(USER_LOCK, eager_user)
        try:
            burst = [asyncio.create_task(eager_create(n)) for n in range(BURST)]
            await waiting_on_locks(watcher, len(stubs))
            # The other user, on every replica, while the whole burst waits.
            answered: list[float] = []
            for n, stub in enumerate(stubs):
                started = time.monotonic()
                got = await stub.GetTracker(
                    pb.GetTrackerRequest(tracker_id=mine.tracker.tracker_id),
                    metadata=calm,
                    timeout=5,
                )
                assert got.tracker.tracker_id == mine.tracker.tracker_id
                listed = await stub.ListTrackers(pb.ListTrackersRequest(), metadata=calm, timeout=5)
                assert mine.tracker.tracker_id in {t.tracker_id for t in listed.trackers}
                if n == 1:
                    made = await stub.CreateTracker(create_request(), metadata=calm, timeout=5)
                    assert made.tracker.tracker_id
                answered.append(time.monotonic() - started)
            assert not any(t.done() for t in burst), [t for t in burst if t.done()][:1]
        finally:
            await held.rollback()
        results = await asyncio.gather(*burst, return_exceptions=True)
        page = await stubs[2].ListTrackers(
            pb.ListTrackersRequest(page_size=100), metadata=eager, timeout=5
        )
    finally:
        for task in burst:
            task.cancel()
        await holder.close()
        await watcher.close()
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
    print(f"other user's Get+List(+Create): max {max(answered):.3f}s while the burst waited")


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
