"""The booking flows through a real grpc.aio server and a real (throwaway) database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.pricing.checker import PricedOffer
from booking_service.pricing.from_database import DatabasePriceChecker
from booking_service.pricing.passengers import Party
from booking_service.store.repository import BookingStore
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.common.v1 import money_pb2
from tests.utils.booking_cluster import (
    add_fare,
    create_request,
    passenger,
    seats_available,
    seats_booked,
    set_price,
)
from tests.utils.respell import respell


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo")


def money(value: money_pb2.Money) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos).scaleb(-9)


async def test_create_holds_seats_and_returns_a_held_booking(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=10, price="123.45")
    party = Party(adults=2, children=1)
    request = create_request(
        [fare.ref(party)],
        [
            passenger("Alice", "Smith", "1980-01-01"),
            passenger("Bob", "Smith", "1982-02-02"),
            passenger("Carol", "Smith", "2018-05-05"),
        ],
    )
    response = await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    b = response.booking
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{6}", b.booking_reference)
    assert b.status == pb.BOOKING_STATUS_HELD
    # 2 adults + 1 child at 75%: 123.45 * 2.75 = 339.4875 -> 339.49
    assert money(b.total_price) == Decimal("339.49")
    assert b.total_price.currency_code == "EUR"
    assert [p.type for p in b.passengers] == [
        pb.PASSENGER_TYPE_ADULT,
        pb.PASSENGER_TYPE_ADULT,
        pb.PASSENGER_TYPE_CHILD,
    ]
    assert b.offers[0].segments[0].seats == 3
    assert b.offers[0].segments[0].flight_designator == fare.designator
    held_for = b.hold_expire_time.seconds - b.create_time.seconds
    assert 890 <= held_for <= 900
    assert await seats_available(engine, fare.fare_id) == 7


async def test_get_list_and_other_users_see_nothing(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine)
    created = [
        (
            await booking.stub.CreateBooking(
                create_request([fare.ref()]), metadata=booking.auth(user)
            )
        ).booking
        for _ in range(5)
    ]
    got = await booking.stub.GetBooking(
        pb.GetBookingRequest(booking_reference=created[0].booking_reference.lower()),
        metadata=booking.auth(user),
    )
    assert got.booking == created[0]

    seen = []
    token = ""
    while True:
        page = await booking.stub.ListBookings(
            pb.ListBookingsRequest(page_size=2, page_token=token), metadata=booking.auth(user)
        )
        assert len(page.bookings) <= 2
        seen += [b.booking_reference for b in page.bookings]
        token = page.next_page_token
        if not token:
            break
    assert seen == [b.booking_reference for b in reversed(created)]

    other = booking.auth("someone-else")
    for call in (
        booking.stub.GetBooking(
            pb.GetBookingRequest(booking_reference=created[0].booking_reference), metadata=other
        ),
        booking.stub.CancelBooking(
            pb.CancelBookingRequest(booking_reference=created[0].booking_reference), metadata=other
        ),
        booking.stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=created[0].booking_reference, payment_token="tok_visa"
            ),
            metadata=other,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await booking.stub.ListBookings(pb.ListBookingsRequest(), metadata=other)).bookings
    # ... and the booking is untouched.
    again = await booking.stub.GetBooking(
        pb.GetBookingRequest(booking_reference=created[0].booking_reference),
        metadata=booking.auth(user),
    )
    assert again.booking.status == pb.BOOKING_STATUS_HELD


async def test_list_filters_by_status_and_validates_paging(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine)
    refs = [
        (
            await booking.stub.CreateBooking(
                create_request([fare.ref()]), metadata=booking.auth(user)
            )
        ).booking.booking_reference
        for _ in range(3)
    ]
    await booking.stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=refs[1]), metadata=booking.auth(user)
    )
    cancelled = await booking.stub.ListBookings(
        pb.ListBookingsRequest(status=pb.BOOKING_STATUS_CANCELLED), metadata=booking.auth(user)
    )
    assert [b.booking_reference for b in cancelled.bookings] == [refs[1]]
    held = await booking.stub.ListBookings(
        pb.ListBookingsRequest(status=pb.BOOKING_STATUS_HELD, page_size=1),
        metadata=booking.auth(user),
    )
    assert [b.booking_reference for b in held.bookings] == [refs[2]]
    assert held.next_page_token
    # Same token, another filter: refused. Garbage token, negative size: refused.
    for request in (
        pb.ListBookingsRequest(page_token=held.next_page_token),
        pb.ListBookingsRequest(page_token="not-a-token"),
        pb.ListBookingsRequest(page_size=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await booking.stub.ListBookings(request, metadata=booking.auth(user))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Too large is clamped, not refused.
    big = await booking.stub.ListBookings(
        pb.ListBookingsRequest(page_size=10_000), metadata=booking.auth(user)
    )
    assert len(big.bookings) == 3


def bad_fields(exc: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    raise AssertionError("no BadRequest")


async def test_a_page_token_is_the_callers_and_has_one_spelling(
    booking, engine: AsyncEngine, user: str
) -> None:
    """Another user's page token was an empty page, and a token spelled differently
    (base64's unused bits) was the same token: both are INVALID_ARGUMENT now."""
    fare = await add_fare(engine)
    for _ in range(2):
        await booking.stub.CreateBooking(create_request([fare.ref()]), metadata=booking.auth(user))
    first = await booking.stub.ListBookings(
        pb.ListBookingsRequest(page_size=1), metadata=booking.auth(user)
    )
    token = first.next_page_token
    assert token
    for caller, page_token in ((f"{user}-other", token), (user, respell(token))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await booking.stub.ListBookings(
                pb.ListBookingsRequest(page_size=1, page_token=page_token),
                metadata=booking.auth(caller),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == ["page_token"]
    # The token itself still works for its owner.
    second = await booking.stub.ListBookings(
        pb.ListBookingsRequest(page_size=1, page_token=token), metadata=booking.auth(user)
    )
    assert len(second.bookings) == 1


async def test_confirm_issues_unique_ticket_numbers_once(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine)
    request = create_request(
        [fare.ref(Party(adults=2))], [passenger("Ann", "Lee"), passenger("Ben", "Lee")]
    )
    held = (await booking.stub.CreateBooking(request, metadata=booking.auth(user))).booking
    confirm = pb.ConfirmBookingRequest(
        booking_reference=held.booking_reference, payment_token="tok_visa"
    )
    confirmed = (await booking.stub.ConfirmBooking(confirm, metadata=booking.auth(user))).booking
    assert confirmed.status == pb.BOOKING_STATUS_CONFIRMED
    tickets = [p.ticket_number for p in confirmed.passengers]
    assert all(re.fullmatch(r"990\d{10}", t) for t in tickets) and len(set(tickets)) == 2
    assert confirmed.payment_reference.startswith("pay_")
    # A retry with the same payment token returns the same confirmation.
    again = (await booking.stub.ConfirmBooking(confirm, metadata=booking.auth(user))).booking
    assert again == confirmed
    # Another payment for it is refused.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=held.booking_reference, payment_token="tok_other"
            ),
            metadata=booking.auth(user),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(err.value).reason == "BOOKING_NOT_HELD"
    # Statuses as the API spells them (the Booking.status enum), in text and metadata.
    assert err.value.details() == (
        f"booking {held.booking_reference} is BOOKING_STATUS_CONFIRMED, not BOOKING_STATUS_HELD"
    )
    assert error_info(err.value).metadata["status"] == "BOOKING_STATUS_CONFIRMED"


async def test_declined_payment_keeps_the_hold(booking, engine: AsyncEngine, user: str) -> None:
    fare = await add_fare(engine, seats=5)
    held = (
        await booking.stub.CreateBooking(create_request([fare.ref()]), metadata=booking.auth(user))
    ).booking
    for token in ("tok_declined", "declined_insufficient_funds"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await booking.stub.ConfirmBooking(
                pb.ConfirmBookingRequest(
                    booking_reference=held.booking_reference, payment_token=token
                ),
                metadata=booking.auth(user),
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert error_info(err.value).reason == "PAYMENT_DECLINED"
    still = (
        await booking.stub.GetBooking(
            pb.GetBookingRequest(booking_reference=held.booking_reference),
            metadata=booking.auth(user),
        )
    ).booking
    assert still.status == pb.BOOKING_STATUS_HELD
    assert await seats_available(engine, fare.fare_id) == 4
    ok = await booking.stub.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token="tok_visa"
        ),
        metadata=booking.auth(user),
    )
    assert ok.booking.status == pb.BOOKING_STATUS_CONFIRMED


async def test_cancel_returns_seats_once_and_is_idempotent(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=4)
    held = (
        await booking.stub.CreateBooking(create_request([fare.ref()]), metadata=booking.auth(user))
    ).booking
    assert await seats_available(engine, fare.fare_id) == 3
    cancel = pb.CancelBookingRequest(booking_reference=held.booking_reference)
    first = (await booking.stub.CancelBooking(cancel, metadata=booking.auth(user))).booking
    assert first.status == pb.BOOKING_STATUS_CANCELLED
    assert money(first.refund_amount) == 0  # a hold was never charged
    second = (await booking.stub.CancelBooking(cancel, metadata=booking.auth(user))).booking
    assert second == first
    assert await seats_available(engine, fare.fare_id) == 4
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=held.booking_reference, payment_token="tok_visa"
            ),
            metadata=booking.auth(user),
        )
    assert error_info(err.value).reason == "BOOKING_NOT_HELD"
    assert "is BOOKING_STATUS_CANCELLED, not BOOKING_STATUS_HELD" in err.value.details()
    assert error_info(err.value).metadata["status"] == "BOOKING_STATUS_CANCELLED"


@pytest.mark.parametrize("refundable, expected", [(True, "150.00"), (False, "0")])
async def test_refund_of_a_confirmed_booking_follows_the_fare_rules(
    booking, engine: AsyncEngine, user: str, refundable: bool, expected: str
) -> None:
    fare = await add_fare(engine, price="100.00", change_fee="25.00", refundable=refundable)
    request = create_request(
        [fare.ref(Party(adults=2))], [passenger("Ann", "Lee"), passenger("Ben", "Lee")]
    )
    held = (await booking.stub.CreateBooking(request, metadata=booking.auth(user))).booking
    await booking.stub.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token="tok_visa"
        ),
        metadata=booking.auth(user),
    )
    cancelled = (
        await booking.stub.CancelBooking(
            pb.CancelBookingRequest(booking_reference=held.booking_reference),
            metadata=booking.auth(user),
        )
    ).booking
    # Refundable: 200.00 minus 25.00 per passenger; non-refundable: nothing.
    assert money(cancelled.refund_amount) == Decimal(expected)
    assert await seats_available(engine, fare.fare_id) == fare.seats


async def test_round_trip_sold_out_on_the_return_takes_no_outbound_seat(
    booking, engine: AsyncEngine, user: str
) -> None:
    outbound = await add_fare(engine, seats=5)
    inbound = await add_fare(engine, seats=1, origin="JFK", destination="LHR")
    # The return leg has one seat: someone else takes it.
    await booking.stub.CreateBooking(
        create_request([inbound.ref()]), metadata=booking.auth("early-bird")
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request([outbound.ref(), inbound.ref()]), metadata=booking.auth(user)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(err.value)
    assert info.reason == "SOLD_OUT"
    assert info.metadata["field"] == "offer_ids[1]"
    assert info.metadata["flight"] == inbound.designator
    assert await seats_available(engine, outbound.fare_id) == 5
    assert not (
        await booking.stub.ListBookings(pb.ListBookingsRequest(), metadata=booking.auth(user))
    ).bookings


class StaleAvailability:
    """The database price source, but with an out-of-date view of the seats (as a
    search cache would have): every offer looks available."""

    def __init__(self, store: BookingStore) -> None:
        self._inner = DatabasePriceChecker(store)

    def check_offer_id(self, offer_id: str) -> str | None:
        return self._inner.check_offer_id(offer_id)

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        offers = await self._inner.price_offers(offer_ids)
        return [
            replace(
                o,
                available=True,
                segments=tuple(replace(s, seats_available=99) for s in o.segments),
            )
            for o in offers
        ]

    async def close(self) -> None:
        pass


async def test_round_trip_where_the_return_sells_out_during_the_hold(
    server_factory, engine: AsyncEngine, store: BookingStore, user: str
) -> None:
    """The price check saw seats; the hold finds none on the return leg, after it took
    the outbound seats (lower fare id first): they are given back."""
    server = await server_factory(prices=StaleAvailability(store))
    outbound = await add_fare(engine, seats=5)
    inbound = await add_fare(engine, seats=1, origin="JFK", destination="LHR")
    assert outbound.fare_id < inbound.fare_id
    await server.stub.CreateBooking(
        create_request([inbound.ref()]), metadata=server.auth("early-bird")
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(
            create_request([outbound.ref(), inbound.ref()]), metadata=server.auth(user)
        )
    info = error_info(err.value)
    assert (err.value.code(), info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SOLD_OUT")
    assert info.metadata["field"] == "offer_ids[1]"
    assert info.metadata["segment_index"] == "0"
    assert info.metadata["flight"] == inbound.designator
    assert info.metadata["seats_available"] == "0"
    assert await seats_available(engine, outbound.fare_id) == 5
    assert await seats_booked(engine, outbound.fare_id) == 0


async def test_price_change_is_reported_not_swallowed(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, price="100.00", seats=5)
    offer = fare.ref()  # the caller saw 100.00
    await set_price(engine, fare.fare_id, "120.00")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(create_request([offer]), metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(err.value)
    assert info.reason == "PRICE_CHANGED"
    assert info.metadata["current_total"] == "120.00"
    assert info.metadata["original_total"] == "100.00"
    assert info.metadata["currency"] == "EUR"
    assert await seats_available(engine, fare.fare_id) == 5
    # Accepting up to a maximum below the new price: still refused.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request(
                [offer], max_total_price=money_pb2.Money(currency_code="EUR", units=110)
            ),
            metadata=booking.auth(user),
        )
    assert error_info(err.value).reason == "PRICE_ABOVE_MAXIMUM"
    # Money reads as people write it (it was "EUR 110.000000000", the Money's nanos).
    assert err.value.details() == ("the total EUR 120.00 is above max_total_price EUR 110.00")
    assert error_info(err.value).metadata["max_total"] == "110.00"
    # Accepting up to a maximum that covers it: booked at the new price.
    ok = await booking.stub.CreateBooking(
        create_request([offer], max_total_price=money_pb2.Money(currency_code="EUR", units=120)),
        metadata=booking.auth(user),
    )
    assert money(ok.booking.total_price) == Decimal("120.00")
    assert await seats_available(engine, fare.fare_id) == 4
