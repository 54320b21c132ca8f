"""Idempotency, reference collisions, hold expiry and price re-checks under the hold's
locks, in-process against the real database."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.flows.bookings import Bookings
from booking_service.flows.sweeper import HoldSweeper
from booking_service.flows.validation import (
    ContactInput,
    CreateBookingInput,
    DocumentInput,
    PassengerInput,
)
from booking_service.pricing.checker import PricedOffer
from booking_service.pricing.from_database import DatabasePriceChecker
from booking_service.settings import BookingPolicy
from booking_service.store.repository import BookingStore
from services.errors import FailedPreconditionError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.booking_cluster import add_fare, create_request, seats_available, set_price


def reason(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    return "", {}


def one_passenger(offer_id: str, request_id: str = "r-1") -> CreateBookingInput:
    return CreateBookingInput(
        offer_ids=(offer_id,),
        passengers=(
            PassengerInput(
                "Ann",
                "Lee",
                "1990-01-01",
                DocumentInput("PASSPORT", "X1234567", "GB", "2036-01-01"),
            ),
        ),
        contact=ContactInput("ann@example.com", ""),
        request_id=request_id,
    )


async def test_same_request_id_returns_the_same_booking(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    request = create_request([fare.ref()], request_id="idem-1")
    first = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    again = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert again.booking == first.booking
    assert await seats_available(engine, fare.fare_id) == 4
    # Even after it was cancelled, the retry answers with that booking.
    await booking.stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=first.booking.booking_reference),
        metadata=booking.auth(user),
    )
    later = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert later.booking.booking_reference == first.booking.booking_reference
    assert later.booking.status == pb.BOOKING_STATUS_CANCELLED
    # Keys are per user: another user's identical key is a booking of their own.
    theirs = await booking.stub.CreateBooking(request, metadata=booking.auth(user + "-b"))
    assert theirs.booking.booking_reference != first.booking.booking_reference
    # Same key, different request: refused, and nothing is held.
    changed = create_request(
        [fare.ref()], request_id="idem-1", contact=pb.Contact(email="changed@example.com")
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(changed, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert reason(err.value)[0] == "REQUEST_ID_REUSED"
    assert await seats_available(engine, fare.fare_id) == 4


async def test_a_retry_gets_its_booking_after_the_flight_sold_out_or_repriced(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, price="100.00", seats=1)
    request = create_request([fare.ref()], request_id="idem-last-seat")
    first = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert await seats_available(engine, fare.fare_id) == 0
    # Sold out now (the retry's own booking took the last seat): still its booking.
    again = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert again.booking == first.booking
    # Repriced since: still its booking, not PRICE_CHANGED.
    await set_price(engine, fare.fare_id, "150.00")
    later = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert later.booking == first.booking
    # Another request for the flight (at its price) is sold out.
    await set_price(engine, fare.fare_id, "100.00")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request([fare.ref()], request_id="other"), metadata=booking.auth(user)
        )
    assert reason(err.value)[0] == "SOLD_OUT"
    assert await seats_available(engine, fare.fare_id) == 0


async def test_a_taken_reference_is_retried_with_another(
    engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    references = iter(["AAAAAA", "AAAAAA", "AAAAAA", "BBBBBB"])
    bookings = Bookings(
        store, DatabasePriceChecker(store), BookingPolicy(), references=lambda: next(references)
    )
    first = await bookings.create(user, one_passenger(fare.ref(), "collide-1"))
    second = await bookings.create(user, one_passenger(fare.ref(), "collide-2"))
    assert (first.reference, second.reference) == ("AAAAAA", "BBBBBB")
    assert await seats_available(engine, fare.fare_id) == 3


async def test_holds_expire_and_give_seats_back(
    server_factory, engine: AsyncEngine, user: str
) -> None:
    server = await server_factory(BOOKING_HOLD_SECONDS="0.5", BOOKING_SWEEP_INTERVAL_SECONDS="0.1")
    fare = await add_fare(engine, seats=3)
    held = (
        await server.stub.CreateBooking(create_request([fare.ref()]), metadata=server.auth(user))
    ).booking
    assert await seats_available(engine, fare.fare_id) == 2
    for _ in range(50):
        got = (
            await server.stub.GetBooking(
                pb.GetBookingRequest(booking_reference=held.booking_reference),
                metadata=server.auth(user),
            )
        ).booking
        if got.status == pb.BOOKING_STATUS_EXPIRED:
            break
        await asyncio.sleep(0.1)
    assert got.status == pb.BOOKING_STATUS_EXPIRED
    assert await seats_available(engine, fare.fare_id) == 3
    for call, expected in (
        (
            server.stub.ConfirmBooking(
                pb.ConfirmBookingRequest(
                    booking_reference=held.booking_reference, payment_token="tok_visa"
                ),
                metadata=server.auth(user),
            ),
            "HOLD_EXPIRED",
        ),
        (
            server.stub.CancelBooking(
                pb.CancelBookingRequest(booking_reference=held.booking_reference),
                metadata=server.auth(user),
            ),
            "HOLD_EXPIRED",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert (err.value.code(), reason(err.value)[0]) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            expected,
        )
    assert await seats_available(engine, fare.fare_id) == 3


async def test_confirm_after_expiry_but_before_the_sweep_is_refused(
    engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    """The database's clock decides, not the sweeper: an overdue hold cannot be paid
    for even while it still says HELD; the next sweep expires it."""
    fare = await add_fare(engine, seats=2)
    bookings = Bookings(store, DatabasePriceChecker(store), BookingPolicy(hold_seconds=0.2))
    held = await bookings.create(user, one_passenger(fare.ref(), "overdue"))
    await asyncio.sleep(0.3)
    with pytest.raises(FailedPreconditionError) as err:
        await bookings.confirm(user, held.reference, "tok_visa")
    assert err.value.reason == "HOLD_EXPIRED"
    assert (await bookings.get(user, held.reference)).status == "HELD"
    await HoldSweeper(store, 1.0, 100).sweep_once()
    assert (await bookings.get(user, held.reference)).status == "EXPIRED"
    assert await seats_available(engine, fare.fare_id) == 2


async def test_cancel_after_expiry_but_before_the_sweep_is_refused(
    engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    """Cancel decides by the hold's expiry (the database's clock), as confirm does, not
    by whether the sweeper has run: an overdue hold is HOLD_EXPIRED, before the sweep
    and after it, and its seats come back once, with the expiry."""
    fare = await add_fare(engine, seats=2)
    bookings = Bookings(store, DatabasePriceChecker(store), BookingPolicy(hold_seconds=0.2))
    held = await bookings.create(user, one_passenger(fare.ref(), "overdue-cancel"))
    assert await seats_available(engine, fare.fare_id) == 1
    await asyncio.sleep(0.3)
    with pytest.raises(FailedPreconditionError) as err:
        await bookings.cancel(user, held.reference)
    assert err.value.reason == "HOLD_EXPIRED"
    assert (await bookings.get(user, held.reference)).status == "HELD"
    assert await seats_available(engine, fare.fare_id) == 1
    assert await HoldSweeper(store, 1.0, 100).sweep_once() >= 1
    assert (await bookings.get(user, held.reference)).status == "EXPIRED"
    assert await seats_available(engine, fare.fare_id) == 2
    with pytest.raises(FailedPreconditionError) as err:
        await bookings.cancel(user, held.reference)
    assert err.value.reason == "HOLD_EXPIRED"
    assert await seats_available(engine, fare.fare_id) == 2


class StalePrices:
    """The database source with a stale price (as a cache would show), and optionally
    a price guarantee like the search service's."""

    def __init__(
        self, store: BookingStore, stale: Decimal, guaranteed_until: datetime | None = None
    ) -> None:
        self._inner = DatabasePriceChecker(store)
        self._stale = stale
        self._until = guaranteed_until

    def check_offer_id(self, offer_id: str) -> str | None:
        return self._inner.check_offer_id(offer_id)

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        offers = await self._inner.price_offers(offer_ids)
        return [
            replace(
                o,
                original_total=self._stale,
                current_total=self._stale,
                guaranteed_until=self._until,
                segments=tuple(replace(s, price=self._stale) for s in o.segments),
            )
            for o in offers
        ]

    async def close(self) -> None:
        pass


async def test_price_moved_after_revalidation_is_caught_under_the_lock(
    server_factory, engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    fare = await add_fare(engine, price="100.00", seats=5)
    await set_price(engine, fare.fare_id, "130.00")
    server = await server_factory(prices=StalePrices(store, Decimal("100.00")))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(create_request([fare.ref()]), metadata=server.auth(user))
    got_reason, metadata = reason(err.value)
    assert got_reason == "PRICE_CHANGED"
    assert (metadata["original_total"], metadata["current_total"]) == ("100.00", "130.00")
    assert await seats_available(engine, fare.fare_id) == 5


async def test_a_running_guarantee_is_honoured(
    server_factory, engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    fare = await add_fare(engine, price="100.00", seats=5)
    await set_price(engine, fare.fare_id, "130.00")
    until = datetime.now(UTC) + timedelta(minutes=10)
    server = await server_factory(prices=StalePrices(store, Decimal("100.00"), until))
    booked = (
        await server.stub.CreateBooking(create_request([fare.ref()]), metadata=server.auth(user))
    ).booking
    assert (booked.total_price.units, booked.total_price.nanos) == (100, 0)
    assert await seats_available(engine, fare.fare_id) == 4
