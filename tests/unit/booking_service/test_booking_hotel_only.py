"""A hotel stay alone is not a flight: its guests need names, not travel documents (one
given is still checked, under the same field names), it is never ticketed, and what
shows it (the Booking message, the itinerary, the supplier's order) works without
flights. Flights and packages still require a document of every passenger."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from booking_service.api.convert import booking_pb, passenger_pb
from booking_service.flows.packages import hotel_guests, stay_record
from booking_service.flows.plan import plan_booking
from booking_service.flows.validation import (
    DocumentInput,
    PassengerInput,
    TravelDocument,
    Traveller,
    validate_request,
)
from booking_service.itinerary import document as itinerary
from booking_service.pricing import offer_refs
from booking_service.pricing.passengers import Party
from booking_service.store.models import DocumentType, PassengerType
from booking_service.store.repository import BookingRecord, PassengerRecord
from services.errors import ValidationError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.providers.amadeus_hotels.orders import order_body
from services.providers.hotels import HotelGuest, HotelOrderRequest
from tests.unit.booking_service.test_booking_hotel_units import DOC, TODAY, hotel, raw
from tests.unit.booking_service.test_booking_plan import offer, valid
from tests.unit.booking_service.test_booking_provider_units import booking

NO_DOC = PassengerInput("Ann", "Lee", "1990-01-01", None)
CHILD_NO_DOC = PassengerInput("Bo", "Lee", "2018-03-01", None)


def violations(**changes: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        validate_request(raw(**changes), TODAY, offer_refs.problem)
    return {v.field: v.description for v in err.value.violations}


def test_a_hotel_stay_alone_needs_no_document() -> None:
    valid_request = validate_request(
        raw(offer_ids=(), hotel_offer_id="h1", passengers=(NO_DOC, CHILD_NO_DOC)),
        TODAY,
        offer_refs.problem,
    )
    assert [t.document for t in valid_request.travellers] == [None, None]
    assert valid_request.travellers[1].birth_date == date(2018, 3, 1)


@pytest.mark.parametrize(
    "changes",
    [
        {"offer_ids": ("fare:1:100.00:1:0:0",)},  # flights
        {"offer_ids": ("fare:1:100.00:1:0:0",), "hotel_offer_id": "h1"},  # a package
    ],
    ids=["flights", "package"],
)
def test_flights_and_packages_need_a_document_of_every_passenger(
    changes: dict[str, object],
) -> None:
    found = violations(
        passengers=(PassengerInput("Ann", "Lee", "1990-01-01", DOC), NO_DOC), **changes
    )
    assert set(found) == {"passengers[1].document"}
    assert found["passengers[1].document"].startswith("is required")


def test_a_document_given_for_a_hotel_stay_is_checked_under_the_same_names() -> None:
    bad = DocumentInput("VISA", "12", "gb", "2020-01-01")
    found = violations(
        offer_ids=(),
        hotel_offer_id="h1",
        passengers=(PassengerInput("Ann", "Lee", "1990-01-01", bad),),
    )
    assert set(found) == {
        "passengers[0].document.type",
        "passengers[0].document.number",
        "passengers[0].document.issuing_country",
        "passengers[0].document.expire_date",
    }
    # One document is still one person's.
    twice = violations(
        offer_ids=(),
        hotel_offer_id="h1",
        passengers=(
            PassengerInput("Ann", "Lee", "1990-01-01", DOC),
            PassengerInput("Bob", "Lee", "1991-01-01", DOC),
        ),
    )
    assert set(twice) == {"passengers[1].document.number"}
    # And a good one is kept.
    kept = validate_request(
        raw(offer_ids=(), hotel_offer_id="h1"), TODAY, offer_refs.problem
    ).travellers[0]
    assert kept.document == TravelDocument(
        DocumentType.PASSPORT, "X1234567", "GB", date(2030, 1, 1)
    )


def test_the_plan_holds_documents_to_the_flights_only() -> None:
    # Expiring before check-in: no matter for the stay alone (nothing is flown) ...
    early = TravelDocument(DocumentType.PASSPORT, "X1234567", "GB", date(2026, 6, 30))
    ann = Traveller("Ann", "Lee", date(1990, 1, 1), early)
    plan = plan_booking(valid([ann]), [], hotel())
    assert plan.segments == () and plan.party == Party(1)
    plan_booking(valid([replace(ann, document=None)]), [], hotel())
    # ... but the flight of a package departs after it.
    with pytest.raises(ValidationError) as err:
        plan_booking(valid([ann]), [offer(1, Party(1))], hotel())
    assert {v.field for v in err.value.violations} == {"passengers[0].document.expire_date"}


def test_a_stay_alone_needs_an_adult_as_its_lead_guest() -> None:
    child = Traveller("Bo", "Lee", date(2018, 3, 1), None)
    with pytest.raises(ValidationError) as err:
        plan_booking(valid([child]), [], hotel())
    (problem,) = err.value.violations
    assert problem.field == "passengers" and "lead guest" in problem.description


def guest(given: str, kind: PassengerType, *, ticket: str | None = None) -> PassengerRecord:
    return PassengerRecord(
        given, "Lee", date(2015, 1, 1), kind.value, None, None, None, None, ticket
    )


def hotel_only() -> BookingRecord:
    stay = replace(
        stay_record(1, hotel(), "SKYROUTE-H-ABCDEF-00"),
        order_status="ORDERED",
        supplier_order_id="O1",
        confirmation_number="CONF1234",
    )
    base = booking(status="CONFIRMED", confirmed_at=datetime(2026, 6, 1, tzinfo=UTC))
    return replace(
        base,
        segments=(),
        passengers=(guest("Ann", PassengerType.ADULT), guest("Bo", PassengerType.CHILD)),
        hotel=stay,
    )


def test_a_hotel_stay_alone_shows_no_flights_tickets_or_documents() -> None:
    b = hotel_only()
    message = booking_pb(b)
    assert message.kind == pb.BOOKING_KIND_HOTEL and not message.offers
    assert [p.HasField("document") for p in message.passengers] == [False, False]
    assert [p.ticket_number for p in message.passengers] == ["", ""]
    assert message.hotel_stays[0].confirmation_number == "CONF1234"

    doc = itinerary.document(b, datetime(2026, 6, 1, tzinfo=UTC))
    assert doc["segments"] == [] and doc["hotel"]["confirmation_number"] == "CONF1234"
    assert [(p["ticket_number"], p["document"]) for p in doc["passengers"]] == [(None, None)] * 2
    text = itinerary.render_text(doc)
    assert "GUESTS" in text and "LEE/ANN (Adult)" in text and "Confirmation CONF1234" in text
    for flight_word in ("FLIGHTS", "PASSENGERS", "Ticket", "ticketed", "airport"):
        assert flight_word not in text


def test_a_passenger_with_a_document_keeps_it_on_the_wire() -> None:
    with_doc = replace(
        guest("Ann", PassengerType.ADULT),
        document_type="PASSPORT",
        document_number="X1234567",
        document_country="GB",
        document_expire_date=date(2030, 1, 1),
    )
    message = passenger_pb(with_doc)
    assert message.document.number == "X1234567" and message.document.expire_date == "2030-01-01"
    assert itinerary._document(with_doc) == {
        "type": "PASSPORT",
        "number": "****4567",
        "issuing_country": "GB",
    }


def test_the_lead_guest_is_the_first_adult_and_carries_the_contact() -> None:
    guests = hotel_guests(
        [
            guest("Bo", PassengerType.CHILD),
            guest("Ann", PassengerType.ADULT),
            guest("Cy", PassengerType.ADULT),
        ]
    )
    assert [g.given_name for g in guests] == ["Ann", "Bo", "Cy"]
    body = order_body(
        HotelOrderRequest("OFFER1", 1, guests, "ann@example.com", "R-1", phone="+442071234567")
    )["data"]
    assert body["guests"][0] == {
        "tid": 1,
        "firstName": "ANN",
        "lastName": "LEE",
        "email": "ann@example.com",
        "phone": "+442071234567",
    }
    assert "email" not in body["guests"][1] and "phone" not in body["guests"][1]
    no_phone = order_body(HotelOrderRequest("OFFER1", 1, (HotelGuest("A", "B"),), "a@b.cd", "R"))
    assert "phone" not in no_phone["data"]["guests"][0]
