"""A hotel stay alone, with every service as processes (the stack of
test_booking_packages: stand-in, token, search, two booking replicas): its guest gives
no travel document; it is created, confirmed, fetched, listed (and filtered by status)
through either replica and the CLI, read through its itinerary link and cancelled with
the stay's refund, and never has a ticket number, in the API or in the database.
Flights and packages still refuse a passenger without a document, naming the field.
"""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from skyroute_cli.__main__ import main as cli_main
from tests.system import test_booking_packages as packages
from tests.system.test_booking_packages import (
    Clients,
    PackageStack,
    amount,
    offers,
    sql,
    violations,
)
from tests.utils.booking_cluster import create_request, passenger

# The packages module's stack (its own instance here) and its per-test fixtures.
stack = packages.stack
clients = packages.clients
reset_faults = packages.reset_faults


def guest(given: str = "Alice") -> pb.Passenger:
    """A guest as a hotel stay needs one: names and date of birth, no document."""
    return pb.Passenger(given_name=given, family_name="Smith", birth_date="1990-04-01")


async def stored_passengers(stack: PackageStack, reference: str) -> list[tuple[object, ...]]:
    return await sql(
        stack,
        "SELECT p.document_type, p.document_number, p.ticket_number FROM booking_passengers p "
        "JOIN bookings b ON b.id = p.booking_id WHERE b.reference = :r",
        r=reference,
    )


async def test_hotel_only_booking_without_documents_or_tickets(
    stack: PackageStack, clients: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    found = await offers(clients, refundable=True, day=20)
    request = create_request([], passengers=[guest()], hotel_offer_id=found.hotel.offer_id)
    held = (await clients.a.CreateBooking(request, metadata=clients.user, timeout=20)).booking
    ref = held.booking_reference
    assert held.status == pb.BOOKING_STATUS_HELD and held.kind == pb.BOOKING_KIND_HOTEL
    assert not held.offers and not held.passengers[0].HasField("document")
    assert held.passengers[0].type == pb.PASSENGER_TYPE_ADULT
    assert amount(held.total_price) == amount(held.hotel_stays[0].price)

    response = await clients.b.ConfirmBooking(
        pb.ConfirmBookingRequest(booking_reference=ref, payment_token="tok_visa"),
        metadata=clients.user,
        timeout=20,
    )
    confirmed = response.booking
    assert confirmed.status == pb.BOOKING_STATUS_CONFIRMED
    assert confirmed.package_state == pb.PACKAGE_STATE_CONFIRMED
    assert [p.ticket_number for p in confirmed.passengers] == [""]
    (order,) = stack.hotel_orders(ref)
    assert confirmed.hotel_stays[0].confirmation_number == order["reference"]
    assert [(g["firstName"], g["lastName"]) for g in order["data"]["guests"]] == [
        ("ALICE", "SMITH")
    ]
    assert await stored_passengers(stack, ref) == [(None, None, None)]

    # The itinerary: the stay and its guest, no flights, no tickets.
    itinerary = await clients.a.GetItinerary(
        pb.GetItineraryRequest(download_token=response.itinerary_link.download_token)
    )
    document = json.loads(itinerary.itinerary_json)
    assert document["segments"] == [] and document["totals"]["per_segment"] == []
    assert document["passengers"][0]["ticket_number"] is None
    assert document["passengers"][0]["document"] is None
    assert document["hotel"]["confirmation_number"] == order["reference"]
    assert "GUESTS" in itinerary.itinerary_text
    assert "FLIGHTS" not in itinerary.itinerary_text
    assert "Ticket" not in itinerary.itinerary_text

    # Fetched and listed through the other replica, the status filter included.
    got = await clients.a.GetBooking(
        pb.GetBookingRequest(booking_reference=ref), metadata=clients.user
    )
    assert got.booking == confirmed
    for status, expected in (
        (pb.BOOKING_STATUS_UNSPECIFIED, [ref]),
        (pb.BOOKING_STATUS_CONFIRMED, [ref]),
        (pb.BOOKING_STATUS_HELD, []),
    ):
        listed = await clients.a.ListBookings(
            pb.ListBookingsRequest(status=status), metadata=clients.user
        )
        assert [b.booking_reference for b in listed.bookings] == expected
    assert listed.next_page_token == ""

    # The CLI: a guests table without tickets, and the stay in the list.
    env = {"BOOKING_SERVICE_ADDRESSES": ",".join(stack.booking.addresses)}
    jwt = ("--jwt", dict(clients.user)["authorization"].removeprefix("Bearer "))
    assert await asyncio.to_thread(cli_main, ["booking", "get", ref, *jwt], env) == 0
    out = capsys.readouterr().out
    assert "GUEST" in out and "TICKET" not in out and "Alice Smith" in out
    assert await asyncio.to_thread(cli_main, ["booking", "list", *jwt], env) == 0
    out = capsys.readouterr().out
    assert f"hotel {confirmed.hotel_stays[0].city_code}" in out
    assert found.check_in.isoformat() in out

    cancelled = (
        await clients.b.CancelBooking(
            pb.CancelBookingRequest(booking_reference=ref), metadata=clients.user
        )
    ).booking
    assert cancelled.status == pb.BOOKING_STATUS_CANCELLED
    refunds = [(r.item, amount(r.amount)) for r in cancelled.item_refunds]
    assert refunds == [("hotel", amount(confirmed.hotel_stays[0].price))]  # refundable
    assert amount(cancelled.refund_amount) == amount(confirmed.hotel_stays[0].price)
    assert stack.hotel_orders(ref) == []
    assert await stored_passengers(stack, ref) == [(None, None, None)]


async def test_a_document_given_for_a_stay_is_kept_and_checked(
    stack: PackageStack, clients: Clients
) -> None:
    found = await offers(clients, refundable=True, day=21)
    with_document = passenger(number="H7654321")
    request = create_request([], passengers=[with_document], hotel_offer_id=found.hotel.offer_id)
    held = (await clients.a.CreateBooking(request, metadata=clients.user, timeout=20)).booking
    assert held.passengers[0].document.number == "H7654321"
    await clients.a.CancelBooking(
        pb.CancelBookingRequest(booking_reference=held.booking_reference), metadata=clients.user
    )
    bad = passenger(number="H7654321")
    bad.document.issuing_country = "gb"
    request = create_request([], passengers=[bad], hotel_offer_id=found.hotel.offer_id)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await clients.a.CreateBooking(request, metadata=clients.user, timeout=20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error.value) == ["passengers[0].document.issuing_country"]


@pytest.mark.parametrize("kind", ["flights", "package"])
async def test_flights_and_packages_refuse_a_missing_document_naming_it(
    stack: PackageStack, clients: Clients, kind: str
) -> None:
    found = await offers(clients, day=22)
    hotel = {"hotel_offer_id": found.hotel.offer_id} if kind == "package" else {}
    request = create_request([found.flight.offer_id], passengers=[guest()], **hotel)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await clients.b.CreateBooking(request, metadata=clients.user, timeout=20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert violations(error.value) == ["passengers[0].document"]
    assert "passengers[0].document: is required" in (error.value.details() or "")
    listed = await clients.b.ListBookings(pb.ListBookingsRequest(), metadata=clients.user)
    assert not listed.bookings  # nothing held
