"""No oversell, all-or-none holds and idempotency under concurrency, with booking
replicas as separate processes sharing one throwaway PostgreSQL database, reached over
a round_robin channel; every test runs with the replicas on PostgreSQL directly and
through PgBouncer in transaction pooling mode (DB_PGBOUNCER=true)."""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.booking_cluster import (
    BookingCluster,
    add_fare,
    bearer,
    create_request,
    seats_available,
    seats_booked,
)
from tests.utils.db import temporary_database_sync
from tests.utils.pgbouncer import DATABASE_PATHS, services_database


@pytest.fixture(scope="module", params=DATABASE_PATHS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BookingCluster]:
    """Two replicas on PostgreSQL, or on PgBouncer in transaction pooling mode (the
    checks below read PostgreSQL directly either way)."""
    workdir: Path = tmp_path_factory.mktemp("booking-cluster")
    with temporary_database_sync() as url:
        service_url, db_env = services_database(request, url)
        cluster = BookingCluster(
            workdir, service_url, replicas=2, env={"DB_POOL_SIZE": "10", **db_env}
        )
        cluster.database_url = url  # type: ignore[attr-defined]
        try:
            yield cluster.start()
        finally:
            cluster.stop()


@pytest.fixture
async def engine(cluster: BookingCluster) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(cluster.database_url)  # type: ignore[attr-defined]
    yield engine
    await engine.dispose()


def reason_of(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    return "", {}


async def test_500_concurrent_bookings_for_20_seats(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    fare = await add_fare(engine, seats=20)
    # Callers alternate between the replicas, so both serve the burst however the
    # channels' connections come up (a round_robin channel only uses the replicas it
    # is already connected to).
    channels = [cluster.channel([address]) for address in cluster.addresses]
    stubs = [cluster.stub(channel) for channel in channels]
    low_water = [fare.seats]
    done = asyncio.Event()

    async def watch_seats() -> None:
        while not done.is_set():
            low_water.append(await seats_available(engine, fare.fare_id))
            await asyncio.sleep(0.01)

    async def book(i: int) -> str:
        user = f"buyer-{i}"
        try:
            await stubs[i % len(stubs)].CreateBooking(
                create_request([fare.ref()]), metadata=bearer(cluster.token(user)), timeout=60
            )
            return "HELD"
        except grpc.aio.AioRpcError as exc:
            reason, metadata = reason_of(exc)
            assert (exc.code(), reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SOLD_OUT"), (
                exc.code(),
                exc.details(),
            )
            assert metadata["flight"] == fare.designator
            return reason

    watcher = asyncio.create_task(watch_seats())
    try:
        results = await asyncio.gather(*(book(i) for i in range(500)))
    finally:
        done.set()
        await watcher
        for channel in channels:
            await channel.close()
    counts = collections.Counter(results)
    assert counts == {"HELD": 20, "SOLD_OUT": 480}
    assert min(low_water) >= 0
    assert await seats_available(engine, fare.fare_id) == 0
    assert await seats_booked(engine, fare.fare_id) == fare.seats - 0
    # Both replicas served CreateBooking. Which one got the 20 that won is up to
    # timing, so any answer counts: held or sold out.
    logs = [p.log_text() for p in cluster.processes]
    assert all("booking held" in log or '"reason": "SOLD_OUT"' in log for log in logs)
    # No bearer token (a JWT starts with "eyJ") ever reaches a log line.
    assert not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.", "\n".join(logs))


async def test_round_trip_races_never_take_half_a_trip(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    """Round trips and one-way returns compete for a return leg with 5 seats: every
    round trip either has both legs or none."""
    outbound = await add_fare(engine, seats=50)
    inbound = await add_fare(engine, seats=5, origin="JFK", destination="LHR")
    channel = cluster.channel()
    stub = cluster.stub(channel)

    async def book(i: int) -> bool:
        offers = [outbound.ref(), inbound.ref()] if i % 2 == 0 else [inbound.ref()]
        try:
            await stub.CreateBooking(
                create_request(offers), metadata=bearer(cluster.token(f"rt-{i}")), timeout=60
            )
            return True
        except grpc.aio.AioRpcError as exc:
            assert reason_of(exc)[0] == "SOLD_OUT"
            return False

    try:
        results = await asyncio.gather(*(book(i) for i in range(60)))
    finally:
        await channel.close()
    round_trips = sum(ok for i, ok in enumerate(results) if i % 2 == 0)
    assert sum(results) == 5
    assert await seats_available(engine, inbound.fare_id) == 0
    # The outbound leg lost exactly one seat per successful round trip.
    assert await seats_available(engine, outbound.fare_id) == 50 - round_trips
    assert await seats_booked(engine, outbound.fare_id) == round_trips


async def test_50_concurrent_retries_with_one_request_id_make_one_booking(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    fare = await add_fare(engine, seats=10)
    channel = cluster.channel()
    stub = cluster.stub(channel)
    request = create_request([fare.ref()], request_id="retry-me-0001")
    auth = bearer(cluster.token("retrier"))
    try:
        responses = await asyncio.gather(
            *(stub.CreateBooking(request, metadata=auth, timeout=30) for _ in range(50))
        )
        # The same key with a different request is refused, naming the booking.
        other = create_request(
            [fare.ref()], request_id="retry-me-0001", contact=pb.Contact(email="other@example.com")
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateBooking(other, metadata=auth, timeout=30)
    finally:
        await channel.close()
    assert len({r.booking.booking_reference for r in responses}) == 1
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    reason, metadata = reason_of(err.value)
    assert reason == "REQUEST_ID_REUSED"
    assert metadata["booking_reference"] == responses[0].booking.booking_reference
    assert await seats_available(engine, fare.fare_id) == 9
    async with engine.connect() as conn:
        count = (
            await conn.execute(text("SELECT count(*) FROM bookings WHERE user_id = 'retrier'"))
        ).scalar_one()
    assert count == 1


async def test_concurrent_cancels_return_seats_once(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    fare = await add_fare(engine, seats=6)
    channel = cluster.channel()
    stub = cluster.stub(channel)
    auth = bearer(cluster.token("canceller"))
    try:
        held = (await stub.CreateBooking(create_request([fare.ref()]), metadata=auth)).booking
        confirmed = (await stub.CreateBooking(create_request([fare.ref()]), metadata=auth)).booking
        await stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=confirmed.booking_reference, payment_token="tok_visa"
            ),
            metadata=auth,
        )
        assert await seats_available(engine, fare.fare_id) == 4
        results = await asyncio.gather(
            *(
                stub.CancelBooking(pb.CancelBookingRequest(booking_reference=ref), metadata=auth)
                for ref in [held.booking_reference, confirmed.booking_reference] * 25
            )
        )
        # Later cancels change nothing either.
        late = await stub.CancelBooking(
            pb.CancelBookingRequest(booking_reference=held.booking_reference), metadata=auth
        )
    finally:
        await channel.close()
    assert {r.booking.status for r in results} == {pb.BOOKING_STATUS_CANCELLED}
    assert late.booking.status == pb.BOOKING_STATUS_CANCELLED
    assert await seats_available(engine, fare.fare_id) == 6
    assert await seats_booked(engine, fare.fare_id) == 0
