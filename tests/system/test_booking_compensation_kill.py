"""A booking replica SIGKILLed in the middle of a package's compensation (the stack of
test_booking_packages: stand-in, token, search, two booking replicas), at two points.

While it waits on the supplier: the package's confirmation fails after the hotel is
booked (the hold runs out while the supplier's answer to the order is lost and the
order is found by its remark), so the replica compensates: it cancels the hotel order
at the supplier, which cancels it but answers late, and the replica is killed while it
waits for that answer (the package COMPENSATING under its lease, the stay still
recorded ORDERED).

Between compensating steps: the hotel is sold out at the order, so nothing is booked
at the supplier and the replica goes on to cancel the booking, whose row the test holds
locked: the replica is killed while its cancel waits for the lock (its transaction dies
uncommitted).

Either way, once the lease runs out, the other replica's resumer must finish the
compensation: nothing half-booked (the seats back exactly once, no live hotel order,
the booking and the package in terminal states) and nothing done twice at the
supplier (one order and one cancel, or none).
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.system import test_booking_packages as packages
from tests.system.test_booking_packages import (
    LEASE_SECONDS,
    Clients,
    PackageStack,
    amount,
    create_package,
    offers,
    plenty_of_rooms,
    reason,
    seats,
    sql,
    wait_for,
)

# The packages module's stack (its own instance here) and its per-test fixtures.
stack = packages.stack
clients = packages.clients
reset_faults = packages.reset_faults

# The supplier cancels, then answers this late (within the client's 1.25 s timeout):
# the window in which the compensating replica is killed.
CANCEL_ANSWER_DELAY_MS = 1000


async def until(check: Any, what: str, timeout: float = 15.0, every: float = 0.02) -> None:
    """Polls a fast synchronous check (the stand-in's control API) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)


async def package_row(stack: PackageStack, reference: str) -> tuple[Any, ...]:
    rows = await sql(
        stack,
        "SELECT p.state, p.failure_reason, h.order_status, b.status FROM booking_packages p "
        "JOIN booking_hotel_stays h ON h.booking_id = p.booking_id "
        "JOIN bookings b ON b.id = p.booking_id WHERE b.reference = :r",
        r=reference,
    )
    return tuple(rows[0])


async def test_replica_killed_mid_compensation_is_finished_by_the_other(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=25)
    before = await seats(stack, found.fare_id)
    held = await create_package(clients, found)
    ref = held.booking_reference
    assert await seats(stack, found.fare_id) == before - 1
    plenty_of_rooms(stack, held.hotel_stays[0])  # a second order would succeed (and show)
    stats_before = stack.sim._call("GET", "/_sim/hotel-stats")
    # The order is made but its answer is lost (the replica looks it up by its remark);
    # the compensating cancel is made but answered late.
    stack.fail_hotel_orders(1, "after", 504, delay_ms=2000)
    stack.sim._call(
        "POST",
        "/_sim/fail-hotel-cancels",
        {"count": 1, "status": 500, "mode": "after", "delay_ms": CANCEL_ANSWER_DELAY_MS},
    )
    victim, survivor = stack.booking.processes
    confirm = asyncio.ensure_future(
        clients.a.ConfirmBooking(
            pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
            metadata=clients.user,
            timeout=30,
        )
    )
    try:
        # While the replica waits for the order's answer, the hold runs out: the
        # flights cannot be confirmed once the hotel is booked.
        await until(lambda: bool(stack.hotel_orders(ref)), "the hotel order")
        await sql(
            stack,
            "UPDATE bookings SET hold_expires_at = now() - interval '1 second' "
            "WHERE reference = :r",
            r=ref,
        )
        # Compensation: the order is cancelled at the supplier, whose answer is late.
        await until(lambda: not stack.hotel_orders(ref), "the compensating cancel")
        victim.signal(signal.SIGKILL)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await confirm
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        state, failure, order_status, _ = await package_row(stack, ref)
        # Killed mid-compensation: the cancel done at the supplier, not yet recorded.
        assert (state, failure, order_status) == ("COMPENSATING", "HOLD_EXPIRED", "ORDERED")

        async def finished() -> bool:
            return (await package_row(stack, ref))[0] == "FAILED"

        assert await wait_for(finished, timeout=LEASE_SECONDS + 30)
        state, failure, order_status, status = await package_row(stack, ref)
        assert (state, failure, order_status) == ("FAILED", "HOLD_EXPIRED", "CANCELLED")
        assert status in ("CANCELLED", "EXPIRED")
        assert "resuming a package" in survivor.log_text()
        # Nothing half-booked, nothing twice.
        assert stack.hotel_orders(ref) == []
        assert await seats(stack, found.fare_id) == before
        stats = stack.sim._call("GET", "/_sim/hotel-stats")
        for counter in ("hotel_orders_created", "hotel_orders_cancelled"):
            assert stats[counter] - stats_before[counter] == 1, counter
        booking = (
            await clients.b.GetBooking(
                pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
            )
        ).booking
        assert booking.package_state == pb.PACKAGE_STATE_FAILED
        assert booking.failure_reason == "HOLD_EXPIRED"
        assert booking.status in (pb.BOOKING_STATUS_CANCELLED, pb.BOOKING_STATUS_EXPIRED)
        assert not any(p.ticket_number for p in booking.passengers)
        # The user's retry learns the outcome; nothing is booked again.
        with pytest.raises(grpc.aio.AioRpcError) as retry:
            await clients.b.ConfirmBooking(
                pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
                metadata=clients.user,
                timeout=20,
            )
        assert retry.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert reason(retry.value)[0] == "HOLD_EXPIRED"
        assert (
            stack.sim._call("GET", "/_sim/hotel-stats")["hotel_orders_created"]
            == (stats["hotel_orders_created"])
        )
    finally:
        stack.sim._call("POST", "/_sim/fail-hotel-cancels", {"count": 0})
        victim.stop()
        victim.start()
        port = victim.wait_ready()["grpc"]
        stack.booking.addresses[0] = f"127.0.0.1:{port}"


async def cancel_waiting_on_lock(stack: PackageStack) -> bool:
    """A booking replica's cancel (``UPDATE bookings``) waits for a row lock."""
    rows = await sql(
        stack,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%UPDATE bookings%'",
    )
    return bool(rows[0][0])


async def test_replica_killed_between_compensating_steps_is_finished_by_the_other(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=27)
    before = await seats(stack, found.fare_id)
    held = await create_package(clients, found)
    ref = held.booking_reference
    stay = held.hotel_stays[0]
    stack.sim.hotel_sold_out(stay.hotel_id, stay.room_type, stay.check_in_date, stay.check_out_date)
    stats_before = stack.sim._call("GET", "/_sim/hotel-stats")
    victim, survivor = stack.booking.processes
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as lock:
            # The test holds the booking's row: the compensating cancel waits for it.
            await lock.execute(
                text("SELECT id FROM bookings WHERE reference = :r FOR UPDATE"), {"r": ref}
            )
            confirm = asyncio.ensure_future(
                clients.a.ConfirmBooking(
                    pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
                    metadata=clients.user,
                    timeout=30,
                )
            )
            assert await wait_for(lambda: cancel_waiting_on_lock(stack), timeout=20)
            state, failure, order_status, status = await package_row(stack, ref)
            assert (state, failure, order_status, status) == (
                "COMPENSATING",
                "HOTEL_SOLD_OUT",
                "CANCELLED",  # never placed: nothing to cancel at the supplier
                "HELD",
            )
            victim.signal(signal.SIGKILL)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await confirm
            assert error.value.code() == grpc.StatusCode.UNAVAILABLE
            await lock.rollback()
        # The dead replica's cancel never commits: the booking still holds its seat.
        assert (await package_row(stack, ref))[3] == "HELD"
        assert await seats(stack, found.fare_id) == before - 1

        async def finished() -> bool:
            return (await package_row(stack, ref))[0] == "FAILED"

        assert await wait_for(finished, timeout=LEASE_SECONDS + 30)
        assert await package_row(stack, ref) == (
            "FAILED",
            "HOTEL_SOLD_OUT",
            "CANCELLED",
            "CANCELLED",
        )
        assert "resuming a package" in survivor.log_text()
        assert await seats(stack, found.fare_id) == before  # given back once
        assert stack.hotel_orders(ref) == []
        stats = stack.sim._call("GET", "/_sim/hotel-stats")
        for counter in ("hotel_orders_created", "hotel_orders_cancelled"):
            assert stats[counter] == stats_before[counter], counter
        booking = (
            await clients.b.GetBooking(
                pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
            )
        ).booking
        assert booking.status == pb.BOOKING_STATUS_CANCELLED
        assert booking.failure_reason == "HOTEL_SOLD_OUT"
        assert amount(booking.refund_amount) == 0  # nothing was charged
    finally:
        await engine.dispose()
        victim.stop()
        victim.start()
        port = victim.wait_ready()["grpc"]
        stack.booking.addresses[0] = f"127.0.0.1:{port}"
