"""Hold expiry with a sweeper in every replica (1-second holds): seats come back
exactly once, and a confirmation racing the expiry has exactly one winner."""

from __future__ import annotations

import asyncio
import json
import random
import time
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

HOLD_SECONDS = 1.0


@pytest.fixture(scope="module", params=DATABASE_PATHS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BookingCluster]:
    """Two replicas on PostgreSQL, or through PgBouncer in transaction pooling mode."""
    workdir: Path = tmp_path_factory.mktemp("booking-expiry")
    with temporary_database_sync() as url:
        service_url, db_env = services_database(request, url)
        cluster = BookingCluster(
            workdir,
            service_url,
            replicas=2,
            env={
                **db_env,
                "BOOKING_HOLD_SECONDS": str(HOLD_SECONDS),
                "BOOKING_SWEEP_INTERVAL_SECONDS": "0.1",
                # Small batches: several sweeps, on both replicas, race for the same rows.
                "BOOKING_SWEEP_BATCH_SIZE": "7",
            },
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


def expired_counts(cluster: BookingCluster) -> dict[str, int]:
    """Bookings each replica's sweeper expired, from its "holds expired" log lines."""
    counts = {}
    for process in cluster.processes:
        total = 0
        for line in process.log_text().splitlines():
            if '"holds expired"' in line:
                total += json.loads(line)["count"]
        counts[process.name] = total
    return counts


async def statuses(engine: AsyncEngine, fare_id: int) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT b.reference, b.status FROM bookings b JOIN booking_segments s "
                "ON s.booking_id = b.id WHERE s.fare_id = :f"
            ),
            {"f": fare_id},
        )
        return dict(rows.all())  # type: ignore[arg-type]


async def wait_until_settled(
    engine: AsyncEngine, fare_id: int, timeout: float = 10.0
) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = await statuses(engine, fare_id)
        if "HELD" not in found.values():
            return found
        assert time.monotonic() < deadline, "holds not expired in time"
        await asyncio.sleep(0.1)


async def test_expired_holds_give_seats_back_exactly_once(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    fare = await add_fare(engine, seats=100)
    before = sum(expired_counts(cluster).values())
    channel = cluster.channel()
    stub = cluster.stub(channel)
    try:
        await asyncio.gather(
            *(
                stub.CreateBooking(
                    create_request([fare.ref()]),
                    metadata=bearer(cluster.token(f"lapse-{i}")),
                    timeout=30,
                )
                for i in range(60)
            )
        )
    finally:
        await channel.close()
    found = await wait_until_settled(engine, fare.fare_id)
    assert len(found) == 60 and set(found.values()) == {"EXPIRED"}
    assert await seats_available(engine, fare.fare_id) == 100
    # Each booking was expired by exactly one sweep on one replica; none failed.
    assert sum(expired_counts(cluster).values()) - before == 60
    assert "sweep failed" not in cluster.logs()
    # Seats stay returned (no later sweep touches them again).
    await asyncio.sleep(0.5)
    assert await seats_available(engine, fare.fare_id) == 100


def _reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def test_confirm_racing_the_expiry_has_one_winner(
    cluster: BookingCluster, engine: AsyncEngine
) -> None:
    fare = await add_fare(engine, seats=80)
    channel = cluster.channel()
    stub = cluster.stub(channel)
    rng = random.Random(7)

    async def hold_then_confirm(i: int) -> tuple[str, bool]:
        auth = bearer(cluster.token(f"racer-{i}"))
        held = (
            await stub.CreateBooking(create_request([fare.ref()]), metadata=auth, timeout=30)
        ).booking
        expires = held.hold_expire_time.ToMicroseconds() / 1e6
        # Confirm at a random moment around the expiry (same host: same clock).
        await asyncio.sleep(max(0.0, expires - time.time() + rng.uniform(-0.25, 0.25)))
        try:
            done = await stub.ConfirmBooking(
                pb.ConfirmBookingRequest(
                    booking_reference=held.booking_reference, payment_token="tok_visa"
                ),
                metadata=auth,
                timeout=30,
            )
        except grpc.aio.AioRpcError as exc:
            assert (exc.code(), _reason(exc)) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "HOLD_EXPIRED",
            ), exc.details()
            return held.booking_reference, False
        assert done.booking.status == pb.BOOKING_STATUS_CONFIRMED
        assert all(len(p.ticket_number) == 13 for p in done.booking.passengers)
        return held.booking_reference, True

    try:
        outcomes = dict(await asyncio.gather(*(hold_then_confirm(i) for i in range(50))))
    finally:
        await channel.close()
    found = await wait_until_settled(engine, fare.fare_id)
    for reference, confirmed in outcomes.items():
        assert found[reference] == ("CONFIRMED" if confirmed else "EXPIRED"), reference
    winners = sum(outcomes.values())
    # Both outcomes happened, so the race was real.
    assert 0 < winners < 50
    assert await seats_available(engine, fare.fare_id) == 80 - winners
    assert await seats_booked(engine, fare.fare_id) == winners
