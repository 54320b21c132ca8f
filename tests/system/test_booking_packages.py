"""Hotel stays and flight + hotel packages with every service as processes: the stand-in
(flights' inventory is the seeded database; the hotel supplier with its own login), a
token replica holding the supplier's token, a search replica (flights and hotels) and
two booking replicas (BOOKING_HOTEL_PROVIDER) on one database.

A package is held (seats, hotel priced), confirmed (one hotel order at the supplier,
then the flights' tickets), read through the other replica, and cancelled with a refund
per item. All or none under a failure injected at every step (the hotel's price at
create, sold out / price changed / not booked / unknown outcome at the order, the hold
running out while the hotel is being booked): either everything is booked once, or
nothing is (no live hotel order, the seats back). A replica SIGKILLed while the hotel
order is in flight: the other replica's resumer finishes the package, with one order.
Concurrent confirmation retries on both replicas place one order. Validation names the
fields; other users see NOT_FOUND. The itinerary link is issued while the hotel order is
placed (the token service's issue time), works, and is revoked when the package fails or
its caller is gone; a wrong user or a declined payment makes none.
"""

from __future__ import annotations

import asyncio
import collections
import json
import re
import secrets
import signal
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis as redis_lib
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from skyroute_cli.__main__ import main as cli_main
from tests.utils.booking_cluster import (
    BookingCluster,
    bearer,
    create_request,
    passenger,
    provider_env,
    seats_available,
    sim_orders,
)
from tests.utils.hotel_stack import HOTEL_SECRET, PASSWORD, HotelStack
from tests.utils.search_cluster import seeded_database

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)
LEASE_SECONDS = 15.0  # 4 x the hotel timeout + 10, the least allowed


class PackageStack(HotelStack):
    """The hotel stack with one token and one search replica (flights from the
    inventory and the flight provider), and two booking replicas."""

    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        super().__init__(
            workdir,
            database_url,
            redis_url,
            {"PROVIDER_ENABLED": "true"},
            token_replicas=1,
            search_replicas=1,
        )
        self.database_url = database_url
        self.booking = BookingCluster(
            workdir,
            database_url,
            replicas=2,
            env={
                "BOOKING_PRICE_SOURCE": "search",
                "SEARCH_SERVICE_ADDRESSES": ",".join(self.search.addresses),
                "SEARCH_TIMEOUT_SECONDS": "10",
                **provider_env(self.tokens),
                "BOOKING_HOTEL_PROVIDER": "hotel",
                "PROVIDER_HOTEL_BASE_URL": self.sim.base_url,
                "PROVIDER_HOTEL_TIMEOUT_SECONDS": "1.25",
                "BOOKING_PACKAGE_LEASE_SECONDS": str(LEASE_SECONDS),
                "BOOKING_SWEEP_INTERVAL_SECONDS": "0.3",
            },
        ).start()

    def stop(self) -> None:
        self.booking.stop()
        super().stop()

    # -- the hotel supplier stand-in ----------------------------------------------------

    def hotel_orders(self, reference: str | None = None) -> list[dict[str, Any]]:
        """Live hotel orders; with ``reference``, those whose remark names the booking."""
        orders: list[dict[str, Any]] = self.sim._call("GET", "/_sim/hotel-orders")["orders"]
        if reference is None:
            return orders
        return [o for o in orders if f"-{reference}-" in (o["remark"] or "")]

    def fail_hotel_orders(
        self, count: int, mode: str, status: int = 500, delay_ms: int = 0
    ) -> None:
        self.sim._call(
            "POST",
            "/_sim/fail-hotel-orders",
            {"count": count, "status": status, "mode": mode, "delay_ms": delay_ms},
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[PackageStack]:
    with seeded_database() as url:
        stack = PackageStack(tmp_path_factory.mktemp("packages"), url, redis_url)
        try:
            yield stack
            stack.booking.stop()
            logs = stack.booking.logs()
            leaked = [
                t["access_token"][:4] for t in stack.sim.tokens() if t["access_token"] in logs
            ]
            assert not leaked, f"supplier tokens in booking logs: {leaked}"
            assert PASSWORD not in logs and HOTEL_SECRET not in logs
            assert "Traceback" not in logs
        finally:
            stack.stop()


@pytest.fixture(autouse=True)
def reset_faults(stack: PackageStack) -> Iterator[None]:
    yield
    stack.sim._call("POST", "/_sim/fail-hotel-orders", {"count": 0})
    stack.sim.config(api_latency_ms=0)


@dataclass
class Clients:
    search: spb_grpc.SearchServiceStub
    a: pb_grpc.BookingServiceStub
    b: pb_grpc.BookingServiceStub
    user: tuple[tuple[str, str], ...]
    other: tuple[tuple[str, str], ...]


@pytest.fixture
async def clients(stack: PackageStack) -> AsyncIterator[Clients]:
    channels = [
        stack.search.channel(),
        *(grpc.aio.insecure_channel(a) for a in stack.booking.addresses),
    ]
    try:
        yield Clients(
            spb_grpc.SearchServiceStub(channels[0]),
            pb_grpc.BookingServiceStub(channels[1]),
            pb_grpc.BookingServiceStub(channels[2]),
            bearer(stack.booking.token(f"user-{secrets.token_hex(4)}")),
            bearer(stack.booking.token(f"other-{secrets.token_hex(4)}")),
        )
    finally:
        for channel in channels:
            await channel.close()


def amount(value: money_pb2.Money) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos).scaleb(-9)


def reason(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    return "", {}


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


@dataclass
class Offers:
    flight: spb.Itinerary
    hotel: spb.HotelOffer
    fare_id: int
    check_in: date


async def offers(
    clients: Clients, refundable: bool = True, day: int = 0, source: int = spb.SOURCE_INVENTORY
) -> Offers:
    """An inventory flight LHR-JFK and a hotel offer in New York from its arrival day
    (``day`` moves the stay by three days a step, so tests do not share a hotel night)."""
    for days in range(1, 8):
        response = await clients.search.SearchFlights(
            spb.SearchFlightsRequest(
                origin="LHR",
                destination="JFK",
                departure_date=(TOMORROW + timedelta(days=days)).isoformat(),
                passengers=spb.Passengers(adults=1),
                cabin=spb.CABIN_ECONOMY,
                page_size=100,
                include_provider_offers=source == spb.SOURCE_PROVIDER,
            ),
            timeout=15,
        )
        found = [i for i in response.itineraries if i.source == source]
        if found:
            break
    else:
        raise AssertionError(f"no {spb.Source.Name(source)} offers LHR-JFK")
    flight = found[0]
    check_in = TOMORROW + timedelta(days=days + 1 + 3 * day)
    hotels = await clients.search.SearchHotels(
        spb.SearchHotelsRequest(
            destination=spb.HotelDestination(code="NYC"),
            check_in_date=check_in.isoformat(),
            check_out_date=(check_in + timedelta(days=2)).isoformat(),
            rooms=[spb.RoomOccupancy(adults=1)],
            page_size=100,
            currency_code=flight.total_price.currency_code,
            filters=spb.HotelFilters(refundable_only=refundable),
        ),
        timeout=15,
    )
    rates = [o for h in hotels.hotels for o in h.offers if o.refundable == refundable]
    assert rates, "no hotel offers in NYC"
    return Offers(flight, rates[0], flight.journeys[0].segments[0].fare_id, check_in)


async def seats(stack: PackageStack, fare_id: int) -> int:
    engine = create_async_engine(stack.database_url)
    try:
        return await seats_available(engine, fare_id)
    finally:
        await engine.dispose()


async def sql(stack: PackageStack, statement: str, **params: Any) -> list[Any]:
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.fetchall()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def create_package(clients: Clients, found: Offers, **fields: Any) -> pb.Booking:
    response = await clients.a.CreateBooking(
        create_request([found.flight.offer_id], hotel_offer_id=found.hotel.offer_id, **fields),
        metadata=clients.user,
        timeout=20,
    )
    return response.booking


async def wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.3)


# -- the happy path -------------------------------------------------------------------


async def test_package_held_confirmed_read_and_cancelled_with_refund_per_item(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, refundable=True)
    before = await seats(stack, found.fare_id)
    held = await create_package(clients, found)
    assert held.status == pb.BOOKING_STATUS_HELD
    assert held.kind == pb.BOOKING_KIND_PACKAGE
    assert held.package_state == pb.PACKAGE_STATE_HELD
    (stay,) = held.hotel_stays
    assert stay.hotel_id == found.hotel.hotel_id and stay.rooms == 1
    assert stay.check_in_date == found.check_in.isoformat() and stay.refundable
    assert amount(held.total_price) == amount(found.flight.total_price) + amount(stay.price)
    assert await seats(stack, found.fare_id) == before - 1
    assert stack.hotel_orders(held.booking_reference) == []  # booked on confirmation only

    # Other users see NOT_FOUND for every call.
    ref = held.booking_reference
    for call in (
        clients.b.GetBooking(pb.GetBookingRequest(booking_reference=ref), metadata=clients.other),
        clients.b.ConfirmBooking(
            pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
            metadata=clients.other,
        ),
        clients.b.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.other
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert stack.hotel_orders(ref) == []

    response = await clients.a.ConfirmBooking(
        pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
        metadata=clients.user,
        timeout=20,
    )
    confirmed = response.booking
    assert confirmed.status == pb.BOOKING_STATUS_CONFIRMED
    assert confirmed.package_state == pb.PACKAGE_STATE_CONFIRMED
    assert all(p.ticket_number for p in confirmed.passengers)
    (order,) = stack.hotel_orders(ref)
    assert confirmed.hotel_stays[0].confirmation_number == order["reference"]
    itinerary = await clients.b.GetItinerary(
        pb.GetItineraryRequest(download_token=response.itinerary_link.download_token)
    )
    document = json.loads(itinerary.itinerary_json)
    assert document["hotel"]["confirmation_number"] == order["reference"]
    assert f"Confirmation {order['reference']}" in itinerary.itinerary_text

    # The other replica reads it, and a retry of the confirmation returns it.
    again = await clients.b.ConfirmBooking(
        pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
        metadata=clients.user,
    )
    assert again.booking.status == pb.BOOKING_STATUS_CONFIRMED
    listed = await clients.b.ListBookings(pb.ListBookingsRequest(), metadata=clients.user)
    assert [b.booking_reference for b in listed.bookings] == [ref]
    assert listed.bookings[0].hotel_stays[0].confirmation_number == order["reference"]

    cancelled = (
        await clients.b.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
        )
    ).booking
    assert cancelled.status == pb.BOOKING_STATUS_CANCELLED
    refunds = {r.item: amount(r.amount) for r in cancelled.item_refunds}
    assert refunds["hotel"] == amount(stay.price)  # refundable, before its deadline
    assert refunds["flights"] + refunds["hotel"] == amount(cancelled.refund_amount)
    assert stack.hotel_orders(ref) == []
    assert await seats(stack, found.fare_id) == before


async def test_hotel_only_booking_and_non_refundable_stay_refunds_nothing(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, refundable=False, day=1)
    request = create_request([], hotel_offer_id=found.hotel.offer_id)
    held = (await clients.b.CreateBooking(request, metadata=clients.user, timeout=20)).booking
    assert held.kind == pb.BOOKING_KIND_HOTEL and not held.offers
    ref = held.booking_reference
    confirmed = await clients.a.ConfirmBooking(
        pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
        metadata=clients.user,
        timeout=20,
    )
    assert confirmed.booking.status == pb.BOOKING_STATUS_CONFIRMED
    assert len(stack.hotel_orders(ref)) == 1
    cancelled = (
        await clients.a.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
        )
    ).booking
    assert [(r.item, amount(r.amount)) for r in cancelled.item_refunds] == [("hotel", 0)]
    assert amount(cancelled.refund_amount) == 0
    assert stack.hotel_orders(ref) == []


def search_calls(stack: PackageStack) -> collections.Counter[str]:
    """The RPCs the search replica has started, by method (its /metrics)."""
    url = f"http://127.0.0.1:{stack.search.metrics_ports[0]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text_ = response.read().decode()
    calls: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text_):
        for sample in family.samples:
            if (
                sample.name == "grpc_server_started_total"
                and sample.labels.get("grpc_service") == "skyroute.search.v1.SearchService"
            ):
                calls[sample.labels["grpc_method"]] += int(sample.value)
    return calls


async def test_package_create_is_one_search_call(stack: PackageStack, clients: Clients) -> None:
    """The flight offer and the hotel offer are priced in one PriceItems call."""
    found = await offers(clients, day=16)
    before = search_calls(stack)
    held = await create_package(clients, found)
    assert held.status == pb.BOOKING_STATUS_HELD and len(held.hotel_stays) == 1
    assert search_calls(stack) - before == collections.Counter({"PriceItems": 1})
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=held.booking_reference),
        metadata=clients.user,
        timeout=20,
    )


# -- all or none ----------------------------------------------------------------------

STEPS = [
    "price_changed_at_create",
    "sold_out_at_order",
    "price_changed_at_order",
    "not_booked_at_order",
    "unknown_outcome_found",
    "hold_expires_during_order",
]


@pytest.mark.parametrize("step", STEPS)
async def test_package_all_or_none_under_a_failure_at_every_step(
    stack: PackageStack, clients: Clients, step: str
) -> None:
    found = await offers(clients, day=2 + STEPS.index(step))
    before = await seats(stack, found.fare_id)
    if step == "price_changed_at_create":
        stack.sim.hotel_price_change(10)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await create_package(clients, found)
        finally:
            stack.sim.hotel_price_change(0)
        assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        why, metadata = reason(error.value)
        assert why == "PRICE_CHANGED" and "hotel_offer_id" in metadata["fields"]
        assert await seats(stack, found.fare_id) == before
        listed = await clients.a.ListBookings(pb.ListBookingsRequest(), metadata=clients.user)
        assert not listed.bookings
        return

    held = await create_package(clients, found)
    ref = held.booking_reference
    assert await seats(stack, found.fare_id) == before - 1
    expected = {
        "sold_out_at_order": "HOTEL_SOLD_OUT",
        "price_changed_at_order": "HOTEL_PRICE_CHANGED",
        "not_booked_at_order": "HOTEL_NOT_BOOKED",
        "hold_expires_during_order": "HOLD_EXPIRED",
    }.get(step)
    rooms_before = None
    if step == "sold_out_at_order":
        stay = held.hotel_stays[0]
        where = {
            "hotelId": stay.hotel_id,
            "roomType": stay.room_type,
            "checkInDate": stay.check_in_date,
            "checkOutDate": stay.check_out_date,
        }
        nights = stack.sim._call("GET", f"/_sim/hotel-rooms?{urllib.parse.urlencode(where)}")
        rooms_before = {**where, "rooms": min(nights["nights"].values())}
        stack.sim.hotel_sold_out(
            stay.hotel_id, stay.room_type, stay.check_in_date, stay.check_out_date
        )
    elif step == "price_changed_at_order":
        stack.sim.hotel_price_change(7)
    elif step == "not_booked_at_order":
        stack.fail_hotel_orders(1, "before", 503)
    elif step == "unknown_outcome_found":
        plenty_of_rooms(stack, held.hotel_stays[0])  # a second order would be placed
        stack.fail_hotel_orders(1, "after", 502)
    elif step == "hold_expires_during_order":
        # The hotel is booked slowly; the hold runs out before the flights are confirmed.
        stack.fail_hotel_orders(1, "after", 504, delay_ms=2000)
        await sql(
            stack,
            "UPDATE bookings SET hold_expires_at = now() + interval '1 second' "
            "WHERE reference = :r",
            r=ref,
        )
    try:
        confirm = clients.b.ConfirmBooking(
            pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
            metadata=clients.user,
            timeout=30,
        )
        if expected is None:
            booking = (await confirm).booking
            assert booking.status == pb.BOOKING_STATUS_CONFIRMED
            assert len(stack.hotel_orders(ref)) == 1  # found by its remark, not booked again
            assert await seats(stack, found.fare_id) == before - 1
            await clients.a.CancelBooking(
                pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
            )
            return
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await confirm
    finally:
        stack.sim.hotel_price_change(0)
        if rooms_before is not None:
            stack.sim._call("POST", "/_sim/hotel-rooms", rooms_before)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION, error.value.details()
    assert reason(error.value)[0] == expected
    # Nothing half-booked: no live hotel order, the seats back, the booking cancelled.
    assert stack.hotel_orders(ref) == []
    assert await seats(stack, found.fare_id) == before
    booking = (
        await clients.a.GetBooking(
            pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
        )
    ).booking
    assert booking.status in (pb.BOOKING_STATUS_CANCELLED, pb.BOOKING_STATUS_EXPIRED)
    assert booking.package_state == pb.PACKAGE_STATE_FAILED
    assert booking.failure_reason == expected
    assert not any(p.ticket_number for p in booking.passengers)


async def test_package_with_provider_flights_all_or_none(
    stack: PackageStack, clients: Clients
) -> None:
    """Flights at the upstream provider (its flight order is the hold) and a hotel: a
    hotel failure at confirmation cancels the provider's flight order too; a flight
    order the provider dropped fails the package before the hotel is booked; a package
    that succeeds holds both, and its cancellation removes both."""
    for attempt, failure in enumerate(("HOTEL_PRICE_CHANGED", "PROVIDER_ORDER_CANCELLED", "")):
        found = await offers(clients, day=11 + attempt, source=spb.SOURCE_PROVIDER)
        held = await create_package(clients, found)
        ref = held.booking_reference
        [flight_order] = sim_orders(stack.sim, ref)
        assert held.provider
        if failure == "HOTEL_PRICE_CHANGED":
            stack.sim.hotel_price_change(7)
        elif failure == "PROVIDER_ORDER_CANCELLED":
            await drop_flight_order(stack, flight_order["id"])
        request = pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa")
        try:
            if failure:
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await clients.b.ConfirmBooking(request, metadata=clients.user, timeout=30)
                assert reason(error.value)[0] == failure
                assert sim_orders(stack.sim, ref) == [] and stack.hotel_orders(ref) == []
                booking = await clients.a.GetBooking(
                    pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
                )
                assert booking.booking.status == pb.BOOKING_STATUS_CANCELLED
                assert booking.booking.failure_reason == failure
                continue
        finally:
            stack.sim.hotel_price_change(0)
        confirmed = await clients.b.ConfirmBooking(request, metadata=clients.user, timeout=30)
        assert confirmed.booking.status == pb.BOOKING_STATUS_CONFIRMED
        assert confirmed.booking.provider_record_locator
        assert len(sim_orders(stack.sim, ref)) == 1 and len(stack.hotel_orders(ref)) == 1
        await clients.a.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
        )
        assert sim_orders(stack.sim, ref) == [] and stack.hotel_orders(ref) == []


async def drop_flight_order(stack: PackageStack, order_id: str) -> None:
    """The provider drops the flight order (as the airline might), with booking's token."""
    client = stack.tokens.client("booking")
    try:
        token = (await client.get_token("amadeus")).access_token
    finally:
        await client.close()
    request = urllib.request.Request(
        f"{stack.sim.base_url}/v1/booking/flight-orders/{urllib.parse.quote(order_id)}",
        method="DELETE",
        headers={"Authorization": f"Bearer {token}"},
    )
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).close())


# -- retries and a crash ----------------------------------------------------------------


def plenty_of_rooms(stack: PackageStack, stay: pb.BookedHotelStay) -> None:
    """Rooms enough that a second order for the stay would succeed (and be seen)."""
    stack.sim._call(
        "POST",
        "/_sim/hotel-rooms",
        {
            "hotelId": stay.hotel_id,
            "roomType": stay.room_type,
            "checkInDate": stay.check_in_date,
            "checkOutDate": stay.check_out_date,
            "rooms": 50,
        },
    )


async def test_concurrent_confirm_retries_on_both_replicas_place_one_order(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=8)
    held = await create_package(clients, found)
    ref = held.booking_reference
    plenty_of_rooms(stack, held.hotel_stays[0])
    stack.fail_hotel_orders(1, "after", 500, delay_ms=300)  # the first answer is lost
    request = pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa")

    async def confirm(stub: pb_grpc.BookingServiceStub) -> str:
        try:
            response = await stub.ConfirmBooking(request, metadata=clients.user, timeout=20)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE)
            return reason(exc)[0]
        assert response.booking.status == pb.BOOKING_STATUS_CONFIRMED
        return "CONFIRMED"

    answers = await asyncio.gather(*(confirm(s) for s in [clients.a, clients.b] * 4))
    assert "CONFIRMED" in answers
    assert set(answers) <= {"CONFIRMED", "CONFIRMATION_IN_PROGRESS", "PROVIDER_OUTCOME_UNKNOWN"}
    assert len(stack.hotel_orders(ref)) == 1
    final = await clients.a.ConfirmBooking(request, metadata=clients.user, timeout=20)
    assert final.booking.status == pb.BOOKING_STATUS_CONFIRMED
    assert len(stack.hotel_orders(ref)) == 1
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
    )


async def test_concurrent_packages_on_both_replicas_none_double_or_half_booked(
    stack: PackageStack, clients: Clients
) -> None:
    """Twelve packages created and confirmed at once over both replicas while the
    supplier loses the answers of some orders: every package ends CONFIRMED with exactly
    one hotel order (none twice), and its seat held once."""
    found = await offers(clients, day=14)
    before = await seats(stack, found.fare_id)
    first = await create_package(clients, found)
    plenty_of_rooms(stack, first.hotel_stays[0])
    stack.fail_hotel_orders(5, "after", 500)

    async def package(i: int) -> str:
        stub = clients.a if i % 2 else clients.b
        held = (
            (
                await stub.CreateBooking(
                    create_request([found.flight.offer_id], hotel_offer_id=found.hotel.offer_id),
                    metadata=clients.user,
                    timeout=30,
                )
            ).booking
            if i
            else first
        )
        request = pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token=f"tok_{i}"
        )
        for _ in range(40):  # retried as a client would, through either replica
            try:
                done = await stub.ConfirmBooking(request, metadata=clients.user, timeout=30)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE)
                stub = clients.b if stub is clients.a else clients.a
                await asyncio.sleep(0.5)
                continue
            assert done.booking.status == pb.BOOKING_STATUS_CONFIRMED
            return held.booking_reference
        raise AssertionError(f"package {held.booking_reference} not confirmed")

    references = await asyncio.gather(*(package(i) for i in range(12)))
    for ref in references:
        assert len(stack.hotel_orders(ref)) == 1, ref
    assert await seats(stack, found.fare_id) == before - 12
    for ref in references:
        await clients.a.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
        )
        assert stack.hotel_orders(ref) == []
    assert await seats(stack, found.fare_id) == before


async def test_replica_killed_mid_confirmation_is_resumed_by_the_other(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=9)
    before = await seats(stack, found.fare_id)
    held = await create_package(clients, found)
    ref = held.booking_reference
    plenty_of_rooms(stack, held.hotel_stays[0])
    # The supplier makes the order, then takes its time answering: replica A is killed
    # while it waits.
    stack.fail_hotel_orders(1, "after", 500, delay_ms=2000)
    victim = stack.booking.processes[0]
    confirm = asyncio.ensure_future(
        clients.a.ConfirmBooking(
            pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
            metadata=clients.user,
            timeout=20,
        )
    )
    try:
        await wait_for(lambda: _ordering(stack, ref), timeout=10)

        async def ordered_at_supplier() -> bool:
            return bool(stack.hotel_orders(ref))

        assert await wait_for(ordered_at_supplier, timeout=10)
        victim.signal(signal.SIGKILL)
        with pytest.raises(grpc.aio.AioRpcError):
            await confirm

        async def confirmed() -> bool:
            rows = await sql(
                stack,
                "SELECT p.state FROM booking_packages p JOIN bookings b ON b.id = p.booking_id "
                "WHERE b.reference = :r",
                r=ref,
            )
            return rows[0][0] == "CONFIRMED"

        assert await wait_for(confirmed, timeout=LEASE_SECONDS + 20)
        booking = (
            await clients.b.GetBooking(
                pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
            )
        ).booking
        assert booking.status == pb.BOOKING_STATUS_CONFIRMED
        assert len(stack.hotel_orders(ref)) == 1
        assert await seats(stack, found.fare_id) == before - 1
        retry = await clients.b.ConfirmBooking(
            pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
            metadata=clients.user,
        )
        assert retry.booking.status == pb.BOOKING_STATUS_CONFIRMED
        assert len(stack.hotel_orders(ref)) == 1
    finally:
        victim.stop()
        victim.start()
        port = victim.wait_ready()["grpc"]
        stack.booking.addresses[0] = f"127.0.0.1:{port}"


async def _ordering(stack: PackageStack, reference: str) -> bool:
    rows = await sql(
        stack,
        "SELECT h.order_status FROM booking_hotel_stays h JOIN bookings b "
        "ON b.id = h.booking_id WHERE b.reference = :r",
        r=reference,
    )
    return bool(rows) and rows[0][0] == "ORDERING"


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hotel_offer_id": "x" * 3000}, "hotel_offer_id"),
        ({"hotel_offer_id": "not-an-offer-id"}, "hotel_offer_id"),
        ({"offer_ids": [], "hotel_offer_id": ""}, "offer_ids"),
        ({"guests": 2}, "hotel_offer_id"),
    ],
)
async def test_validation_names_the_field(
    stack: PackageStack, clients: Clients, change: dict[str, Any], field: str
) -> None:
    found = await offers(clients, day=0)
    request = create_request([found.flight.offer_id], hotel_offer_id=found.hotel.offer_id)
    if "guests" in change:  # two passengers for a room priced for one
        request = create_request(
            [],
            hotel_offer_id=found.hotel.offer_id,
            passengers=[passenger(number="P1111111"), passenger("Bob", number="P2222222")],
        )
    else:
        if "offer_ids" in change:
            del request.offer_ids[:]
        request.hotel_offer_id = change["hotel_offer_id"]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await clients.a.CreateBooking(request, metadata=clients.user, timeout=20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert field in violations(error.value), error.value.details()


# -- the CLI ----------------------------------------------------------------------------


async def test_cli_books_a_package(
    stack: PackageStack, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    found = await offers(clients, day=10)
    env = {"BOOKING_SERVICE_ADDRESSES": ",".join(stack.booking.addresses)}
    jwt = ("--jwt", stack.booking.token(f"cli-{secrets.token_hex(3)}"))
    args = [
        "booking", "create", *jwt, "--offer", found.flight.offer_id,
        "--hotel-offer", found.hotel.offer_id,
        "--passenger", "Alice Smith,1990-04-01,PASSPORT:X1234567:GB:2036-01-31",
        "--email", "alice@example.com",
    ]  # fmt: skip
    code = await asyncio.to_thread(cli_main, args, env)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "HOTEL" in out and found.hotel.check_in_date in out  # the stays' table
    ref = out.split()[1]
    code = await asyncio.to_thread(
        cli_main, ["booking", "confirm", ref, *jwt, "--payment-token", "tok_visa"], env
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "CONFIRMED" in out and "CONFIRMATION" in out
    (order,) = stack.hotel_orders(ref)
    assert order["reference"] in out
    code = await asyncio.to_thread(cli_main, [*args[:3], *args[7:]], env)
    assert code == 2  # neither --offer nor --hotel-offer
    assert "--hotel-offer" in capsys.readouterr().err
    await asyncio.to_thread(cli_main, ["booking", "cancel", ref, *jwt], env)
    out = capsys.readouterr().out
    assert re.search(r"refund by item\s+flights ", out), out
    assert stack.hotel_orders(ref) == []


# -- the itinerary link, issued while the hotel is booked -----------------------------

LINK_TTL = timedelta(hours=24)  # BOOKING_ITINERARY_LINK_TTL_SECONDS' default


def itinerary_tokens(stack: PackageStack, reference: str) -> list[dict[bytes, bytes]]:
    """The token service's download tokens (kept by digest) for the booking's itinerary."""
    client = redis_lib.Redis.from_url(stack.redis_url)
    try:
        found = []
        for key in client.scan_iter(match=f"{stack.prefix}:dl:*", count=1000):
            fields = client.hgetall(key)
            if fields.get(b"resource") == f"itinerary/{reference}".encode():
                found.append(fields)
        return found
    finally:
        client.close()


def confirm_request(reference: str, payment_token: str = "tok_visa") -> pb.ConfirmBookingRequest:
    return pb.ConfirmBookingRequest(booking_reference=reference, payment_token=payment_token)


async def test_package_link_is_issued_while_the_hotel_order_is_placed(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=15)
    held = await create_package(clients, found)
    ref = held.booking_reference
    latency = 0.8  # the hotel order's, under the supplier timeout (1.25 s)
    stack.sim.config(api_latency_ms=int(latency * 1000))
    started = datetime.now(UTC)
    response = await clients.a.ConfirmBooking(
        confirm_request(ref), metadata=clients.user, timeout=20
    )
    took = datetime.now(UTC) - started
    stack.sim.config(api_latency_ms=0)
    assert response.booking.package_state == pb.PACKAGE_STATE_CONFIRMED
    assert took >= timedelta(seconds=latency)
    # Issued (the token service's clock: its expiry less its lifetime) right after the
    # claim, long before the hotel's order came back; after it, it would be >= 0.8 s.
    link = response.itinerary_link
    issued = link.expire_time.ToDatetime(UTC) - LINK_TTL
    assert issued - started < timedelta(seconds=latency / 2), issued - started
    # The link works, and it is the only one made.
    got = await clients.b.GetItinerary(pb.GetItineraryRequest(download_token=link.download_token))
    assert got.booking_reference == ref and got.remaining_uses == link.max_uses - 1
    assert json.loads(got.itinerary_json)["status"] == "CONFIRMED"
    [token] = itinerary_tokens(stack, ref)
    assert token[b"revoked"] == b"0"
    assert link.download_token not in stack.booking.logs()
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
    )


async def test_failed_package_hands_out_no_link_and_revokes_the_early_one(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=16)
    held = await create_package(clients, found)
    ref = held.booking_reference
    stay = held.hotel_stays[0]
    where = {
        "hotelId": stay.hotel_id,
        "roomType": stay.room_type,
        "checkInDate": stay.check_in_date,
        "checkOutDate": stay.check_out_date,
    }
    nights = stack.sim._call("GET", f"/_sim/hotel-rooms?{urllib.parse.urlencode(where)}")
    rooms_before = {**where, "rooms": min(nights["nights"].values())}
    stack.sim.hotel_sold_out(stay.hotel_id, stay.room_type, stay.check_in_date, stay.check_out_date)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await clients.b.ConfirmBooking(confirm_request(ref), metadata=clients.user, timeout=20)
    finally:
        stack.sim._call("POST", "/_sim/hotel-rooms", rooms_before)
    # The failure as ever; the early link's token was issued, never handed out, revoked.
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error.value)[0] == "HOTEL_SOLD_OUT"

    async def revoked() -> list[dict[bytes, bytes]]:
        tokens = itinerary_tokens(stack, ref)
        return tokens if tokens and all(t[b"revoked"] == b"1" for t in tokens) else []

    assert len(await wait_for(revoked, timeout=10)) == 1


async def test_caller_gone_mid_confirmation_gets_its_link_on_retry_and_the_early_one_revoked(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=17)
    held = await create_package(clients, found)
    ref = held.booking_reference
    stack.sim.config(api_latency_ms=800)
    try:
        # The caller gives up while the hotel is booked; the confirmation carries on.
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await clients.a.ConfirmBooking(confirm_request(ref), metadata=clients.user, timeout=0.3)
        assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        async def confirmed() -> bool:
            booking = await clients.a.GetBooking(
                pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
            )
            return booking.booking.package_state == pb.PACKAGE_STATE_CONFIRMED

        assert await wait_for(confirmed, timeout=10)
    finally:
        stack.sim.config(api_latency_ms=0)

    # The early link reached no one: revoked. The retry's is a new, working one.
    async def revoked() -> list[dict[bytes, bytes]]:
        tokens = itinerary_tokens(stack, ref)
        return tokens if tokens and all(t[b"revoked"] == b"1" for t in tokens) else []

    assert len(await wait_for(revoked, timeout=10)) == 1
    retry = await clients.a.ConfirmBooking(confirm_request(ref), metadata=clients.user, timeout=20)
    assert retry.booking.status == pb.BOOKING_STATUS_CONFIRMED
    got = await clients.b.GetItinerary(
        pb.GetItineraryRequest(download_token=retry.itinerary_link.download_token)
    )
    assert got.booking_reference == ref
    assert sorted(t[b"revoked"] for t in itinerary_tokens(stack, ref)) == [b"0", b"1"]
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
    )


async def test_no_link_is_issued_for_a_wrong_user_or_a_declined_payment(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, day=18)
    held = await create_package(clients, found)
    ref = held.booking_reference
    for metadata, payment, code in (
        (clients.other, "tok_visa", grpc.StatusCode.NOT_FOUND),
        (clients.user, "tok_declined", grpc.StatusCode.FAILED_PRECONDITION),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await clients.b.ConfirmBooking(
                confirm_request(ref, payment), metadata=metadata, timeout=20
            )
        assert error.value.code() == code
    await asyncio.sleep(0.5)  # an issue started wrongly would have landed by now
    assert itinerary_tokens(stack, ref) == []
    assert stack.hotel_orders(ref) == []
    # The owner's confirmation with a good payment then makes one.
    response = await clients.b.ConfirmBooking(
        confirm_request(ref), metadata=clients.user, timeout=20
    )
    assert response.itinerary_link.download_token
    assert len(itinerary_tokens(stack, ref)) == 1
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
    )
