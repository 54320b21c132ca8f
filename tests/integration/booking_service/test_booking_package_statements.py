"""The package flows' combined statements (store/repository.py, store/hotels.py): a
hold with its stay in one statement, the claim taking the stay's ORDERING, and the
hotel order recorded with the booking and package confirmed in one statement, each
part only under its guards."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.flows.pnr import new_reference
from booking_service.store.hotels import HotelStayRecord, HotelStore
from booking_service.store.repository import (
    BookingRecord,
    BookingStore,
    HeldFare,
    NewBookingRow,
    PackageClaim,
    PassengerRecord,
    SegmentRecord,
    UnreadConfirmation,
)
from services.flights import FlightLeg
from tests.utils.booking_cluster import add_fare, seats_available

CLAIM = PackageClaim(60, checks_flight_orders=True)
PASSENGER = PassengerRecord(
    "Alice", "Smith", date(1990, 1, 31), "ADULT", "PASSPORT", "X1234567", "GB", date(2036, 1, 1)
)


def _stay() -> HotelStayRecord:
    check_in = date.today() + timedelta(days=40)
    return HotelStayRecord(
        booking_id=0,
        provider="hotel",
        offer_id="search-offer",
        supplier_offer_id="SUPPLIER1",
        hotel_id="HVPAR018",
        hotel_name="Harbour View",
        city_code="PAR",
        room_type="A1D",
        room_description="standard room",
        board_type="ROOM_ONLY",
        check_in=check_in,
        check_out=check_in + timedelta(days=2),
        rooms=1,
        refundable=True,
        cancellation_deadline=datetime.now(UTC) + timedelta(days=30),
        price=Decimal("300.00"),
        remark=f"SR-H-{secrets.token_hex(4).upper()}",
        order_status="NONE",
    )


async def _hold(
    engine: AsyncEngine, store: BookingStore, cost: Decimal | None, hold_seconds: float = 900
) -> tuple[int, BookingRecord | HeldFare | None]:
    fare = await add_fare(engine, price="100.00", seats=5)
    departure = datetime.now(UTC) + timedelta(days=40)
    leg = FlightLeg(
        flight_designator=fare.designator,
        origin="LHR",
        destination="JFK",
        departure_at=departure,
        arrival_at=departure + timedelta(hours=7),
    )
    row = NewBookingRow(
        reference=new_reference(),
        user_id=f"user-{secrets.token_hex(4)}",
        request_id=secrets.token_hex(8),
        request_hash="h",
        currency="EUR",
        total_price=Decimal("400.00"),
        contact_email="alice@example.com",
        contact_phone=None,
        hold_seconds=hold_seconds,
    )
    segment = SegmentRecord(
        offer_index=0,
        offer_id="offer",
        fare_id=fare.fare_id,
        leg=leg,
        cabin="ECONOMY",
        seats=1,
        price=Decimal("100.00"),
        refundable=True,
        change_fee=Decimal("25.00"),
    )
    held = await store.hold_one_fare(
        row, [PASSENGER], [segment], fare.fare_id, 1, cost, 100, _stay()
    )
    return fare.fare_id, held


async def _count(engine: AsyncEngine, table: str, booking_id: int) -> int:
    async with engine.connect() as conn:
        query = text(f"SELECT count(*) FROM {table} WHERE booking_id = :b")
        return int((await conn.execute(query, {"b": booking_id})).scalar_one())


async def test_a_hold_with_a_stay_writes_all_three_or_nothing(
    engine: AsyncEngine, store: BookingStore
) -> None:
    fare_id, held = await _hold(engine, store, Decimal("100.00"))
    assert isinstance(held, BookingRecord)
    assert held.hotel is not None and held.package is not None
    assert held.hotel.booking_id == held.id and held.package.state == "HELD"
    assert held.package.fence == 0
    # What came back is what a read finds.
    read = await store.load_with_stay(held.id)
    assert read is not None
    assert read.hotel == held.hotel and read.package == held.package
    assert await seats_available(engine, fare_id) == 4
    # The unread confirmation leaves a package alone and reads it with its stay.
    unread = await store.confirm_unread(held.user_id, held.reference, "pay_1", "a" * 64, "999")
    assert unread == UnreadConfirmation(package=read)
    assert (
        await store.confirm_unread("someone-else", held.reference, "p", "a" * 64, "999", CLAIM)
        == UnreadConfirmation()
    )
    assert await store.load_with_stay(held.id) == read

    # The fare no longer costs what was priced: nothing written, its price comes back.
    fare_id, moved = await _hold(engine, store, Decimal("90.00"))
    assert moved == HeldFare(Decimal("100.00"), "EUR")
    assert await seats_available(engine, fare_id) == 5
    async with engine.connect() as conn:
        stays = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM booking_hotel_stays h "
                    "LEFT JOIN bookings b ON b.id = h.booking_id WHERE b.id IS NULL"
                )
            )
        ).scalar_one()
    assert stays == 0


async def test_the_unread_confirmation_claims_a_held_package(
    engine: AsyncEngine, store: BookingStore
) -> None:
    _, held = await _hold(engine, store, None)
    assert isinstance(held, BookingRecord)
    read = await store.load_with_stay(held.id)
    unread = await store.confirm_unread(
        held.user_id, held.reference, "pay_1", "a" * 64, "999", CLAIM
    )
    # The package as it was read, and the claim: fence 1, the stay taken ORDERING.
    assert unread == UnreadConfirmation(package=read, claimed=(1, True))
    current = await store.load_with_stay(held.id)
    assert current is not None and current.hotel is not None and current.package is not None
    assert current.status == "HELD" and current.hotel.order_status == "ORDERING"
    package = current.package
    assert (package.state, package.fence) == ("CONFIRMING", 1)
    assert (package.payment_reference, package.payment_token_hash) == ("pay_1", "a" * 64)
    assert package.lease_until is not None
    # Claimed already: a retry reads it, claims nothing, writes nothing.
    again = await store.confirm_unread(
        held.user_id, held.reference, "pay_2", "b" * 64, "999", CLAIM
    )
    assert again == UnreadConfirmation(package=current)
    assert await store.load_with_stay(held.id) == current


async def test_the_unread_claim_guards(engine: AsyncEngine, store: BookingStore) -> None:
    # Past its hold: read, not claimed.
    _, held = await _hold(engine, store, None)
    assert isinstance(held, BookingRecord)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE bookings SET hold_expires_at = now() - interval '1 s' WHERE id = :b"),
            {"b": held.id},
        )
    read = await store.load_with_stay(held.id)
    unread = await store.confirm_unread(
        held.user_id, held.reference, "pay_1", "a" * 64, "999", CLAIM
    )
    assert unread == UnreadConfirmation(package=read)
    assert await store.load_with_stay(held.id) == read

    # A flights' provider order to check first: claimed, the stay left NONE, unless
    # flights' orders are not checked here.
    for checks, ordering in ((True, False), (False, True)):
        _, held = await _hold(engine, store, None)
        assert isinstance(held, BookingRecord)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE bookings SET provider_order_id = 'ORDER1' WHERE id = :b"),
                {"b": held.id},
            )
        unread = await store.confirm_unread(
            held.user_id, held.reference, "pay_1", "a" * 64, "999", PackageClaim(60, checks)
        )
        assert unread.claimed == (1, ordering)
        current = await store.load_with_stay(held.id)
        assert current is not None and current.hotel is not None and current.package is not None
        assert current.package.state == "CONFIRMING"
        assert current.hotel.order_status == ("ORDERING" if ordering else "NONE")


async def test_confirm_ordered_only_under_the_fence_and_while_held(
    engine: AsyncEngine, store: BookingStore
) -> None:
    hotels = HotelStore(store._pool)
    _, held = await _hold(engine, store, None)
    assert isinstance(held, BookingRecord)
    claimed = await hotels.claim_confirm(held.id, 60, "pay_1", "a" * 64, ordering=True)
    assert claimed is not None
    fence, ordering = claimed
    assert ordering
    # A second claim finds the package CONFIRMING: nothing.
    assert await hotels.claim_confirm(held.id, 60, "pay_2", "b" * 64, ordering=True) is None

    # A stale fence changes nothing.
    stale = await store.confirm_ordered(held.id, fence - 1, "H1", "CONF1", "pay_1", "a" * 64, "999")
    assert not stale.ordered and stale.booking is None
    current = await store.load_with_stay(held.id)
    assert current is not None and current.hotel is not None and current.package is not None
    assert current.status == "HELD" and current.hotel.order_status == "ORDERING"
    assert current.package.state == "CONFIRMING"

    done = await store.confirm_ordered(held.id, fence, "H1", "CONF1", "pay_1", "a" * 64, "999")
    assert done.ordered and done.booking is not None
    booking = done.booking
    assert booking.status == "CONFIRMED" and booking.payment_reference == "pay_1"
    assert all(p.ticket_number and p.ticket_number.startswith("999") for p in booking.passengers)
    assert booking.hotel is not None and booking.package is not None
    assert booking.hotel.order_status == "ORDERED" and booking.hotel.supplier_order_id == "H1"
    assert booking.package.state == "CONFIRMED" and booking.package.lease_until is None
    assert booking == await store.load_with_stay(held.id)
    # Replayed: the stay is no longer ORDERING, nothing changes.
    again = await store.confirm_ordered(held.id, fence, "H2", "CONF2", "pay_1", "a" * 64, "999")
    assert not again.ordered and again.booking is None


async def test_confirm_ordered_past_the_hold_records_the_order_only(
    engine: AsyncEngine, store: BookingStore
) -> None:
    hotels = HotelStore(store._pool)
    _, held = await _hold(engine, store, None)
    assert isinstance(held, BookingRecord)
    claimed = await hotels.claim_confirm(held.id, 60, "pay_1", "a" * 64, ordering=True)
    assert claimed is not None
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE bookings SET hold_expires_at = now() - interval '1 s' WHERE id = :b"),
            {"b": held.id},
        )
    done = await store.confirm_ordered(held.id, claimed[0], "H1", "C1", "pay_1", "a" * 64, "999")
    # The order is recorded (compensation will cancel it); nothing else moved.
    assert done.ordered and done.booking is None
    current = await store.load_with_stay(held.id)
    assert current is not None and current.hotel is not None and current.package is not None
    assert current.status == "HELD" and current.hotel.order_status == "ORDERED"
    assert current.hotel.supplier_order_id == "H1"
    assert current.package.state == "CONFIRMING"
    assert all(p.ticket_number is None for p in current.passengers)
    assert await _count(engine, "booking_packages", held.id) == 1
