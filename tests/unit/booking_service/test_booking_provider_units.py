"""Provider orders, itinerary documents, the JWT exemption and the new settings, without
any server: the order request built from a plan, the outcome of a provider's answer,
the text rendering."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from booking_service.api.auth import JwtAuthenticator, KeySet, PublicMethods
from booking_service.flows.plan import check_price, plan_booking
from booking_service.flows.upstream_orders import new_remark, rejected_error
from booking_service.flows.upstream_orders import order_request as neutral_order_request
from booking_service.flows.validation import TravelDocument, Traveller, ValidRequest
from booking_service.itinerary import document as itinerary
from booking_service.itinerary.links import reference_of, resource_of
from booking_service.pricing.checker import PricedOffer, PricedSegment, ProviderOffer
from booking_service.pricing.passengers import Party
from booking_service.settings import (
    BookingServiceSettings,
    ItineraryLinkSettings,
    JwtSettings,
    ProviderOrderSettings,
)
from booking_service.store.models import DocumentType, PassengerType
from booking_service.store.repository import BookingRecord, PassengerRecord, SegmentRecord
from services.config import ConfigError
from services.errors import FailedPreconditionError, UnauthenticatedError, ValidationError
from services.flights import FlightLeg
from services.providers.amadeus.orders import order_body, placed_order
from services.providers.amadeus.orders import order_rejected as OrderRejected

DEPARTURE = datetime(2026, 12, 1, 11, 10, tzinfo=UTC)


def raw_offer(types: list[str]) -> dict[str, Any]:
    """An Amadeus flight-offer's parts that matter here."""
    pricings = []
    for n, kind in enumerate(types, 1):
        pricing: dict[str, Any] = {"travelerId": str(n), "travelerType": kind}
        if kind == "HELD_INFANT":
            pricing["associatedAdultId"] = "1"
        pricings.append(pricing)
    return {
        "type": "flight-offer",
        "id": "1",
        "price": {"grandTotal": "500.00"},
        "travelerPricings": pricings,
    }


def provider_offer(party: Party, types: list[str], available: bool = True) -> PricedOffer:
    leg = FlightLeg(
        flight_designator="AA232",
        origin="LHR",
        destination="JFK",
        departure_at=DEPARTURE,
        arrival_at=DEPARTURE + timedelta(hours=8),
        departure_local_time="2026-12-01T11:10:00+00:00",
        arrival_local_time="2026-12-01T14:20:00-05:00",
    )
    segment = PricedSegment(
        fare_id=None,
        leg=leg,
        cabin="ECONOMY",
        price=Decimal("500.00"),
        refundable=False,
        change_fee=Decimal("0.00"),
        seats_available=9,
    )
    return PricedOffer(
        "p-1",
        party,
        "EUR",
        (segment,),
        Decimal("500.00"),
        Decimal("500.00"),
        available,
        provider=ProviderOffer("amadeus", raw_offer(types)) if available else None,
    )


def order_request(plan: Any, remark: str) -> dict[str, Any]:
    """The Amadeus flight-order body of the plan's neutral order request."""
    return order_body(neutral_order_request(plan, remark))


def traveller(given: str, born: date, doc: DocumentType = DocumentType.PASSPORT) -> Traveller:
    return Traveller(given, "Lee", born, TravelDocument(doc, "X1234567", "GB", date(2031, 1, 1)))


def request(travellers: list[Traveller]) -> ValidRequest:
    return ValidRequest(("p-1",), tuple(travellers), "ann@example.com", None, "r", "h" * 64, None)


FAMILY = [
    traveller("Ann", date(1980, 1, 1)),
    traveller("Kid", date(2018, 5, 5)),
    traveller("Tom", date(1982, 2, 2), DocumentType.NATIONAL_ID),
    traveller("Baby", date(2026, 1, 1)),
]


def test_order_request_matches_passengers_to_traveler_ids_by_type() -> None:
    offer = provider_offer(Party(2, 1, 1), ["ADULT", "ADULT", "CHILD", "HELD_INFANT"])
    plan = plan_booking(request(FAMILY), [offer])
    body = order_request(plan, "SKYROUTE-ABC234-0A1B2C3D")["data"]
    assert body["type"] == "flight-order"
    assert body["flightOffers"] == [offer.provider.offer]  # type: ignore[union-attr]
    by_id = {t["id"]: t for t in body["travelers"]}
    assert {k: v["name"]["firstName"] for k, v in by_id.items()} == {
        "1": "ANN",
        "3": "KID",
        "2": "TOM",
        "4": "BABY",
    }
    assert by_id["2"]["documents"][0]["documentType"] == "IDENTITY_CARD"
    assert by_id["1"]["documents"][0] == {
        "documentType": "PASSPORT",
        "number": "X1234567",
        "expiryDate": "2031-01-01",
        "issuanceCountry": "GB",
        "nationality": "GB",
        "holder": True,
    }
    assert by_id["1"]["contact"] == {"emailAddress": "ann@example.com"}
    assert "contact" not in by_id["3"]
    assert body["remarks"] == {
        "general": [{"subType": "GENERAL_MISCELLANEOUS", "text": "SKYROUTE-ABC234-0A1B2C3D"}]
    }


def test_order_request_refuses_an_offer_priced_for_other_travelers() -> None:
    # The offer says one adult and one child; the plan (by age) has two adults.
    offer = provider_offer(Party(2, 0, 0), ["ADULT", "CHILD"])
    plan = plan_booking(request([FAMILY[0], FAMILY[2]]), [offer])
    with pytest.raises(FailedPreconditionError) as err:
        order_request(plan, "R")
    assert err.value.reason == "OFFER_NOT_BOOKABLE"


def test_sold_out_provider_offer_is_refused_before_anything_is_held() -> None:
    plan = plan_booking(request([FAMILY[0]]), [provider_offer(Party(), ["ADULT"], False)])
    with pytest.raises(FailedPreconditionError) as err:
        check_price(plan)
    assert err.value.reason == "SOLD_OUT"
    assert err.value.metadata["field"] == "offer_ids[0]"


def test_provider_flights_hold_no_inventory_seats_and_repeat_check() -> None:
    offer = provider_offer(Party(), ["ADULT"])
    plan = plan_booking(request([FAMILY[0]]), [offer])
    assert plan.seats_by_fare == {} and plan.provider == "amadeus"
    with pytest.raises(ValidationError) as err:
        plan_booking(request([FAMILY[0]]), [offer, offer])
    assert "also in" in str(err.value)


def test_remarks_are_unique_per_attempt() -> None:
    first, second = new_remark("ABC234"), new_remark("ABC234")
    assert first.startswith("SKYROUTE-ABC234-") and first != second


@pytest.mark.parametrize(
    "codes, reason",
    [([37200], "PRICE_CHANGED"), ([34651], "SOLD_OUT"), ([4926], "PROVIDER_REJECTED")],
)
def test_refusals_map_to_reasons(codes: list[int], reason: str) -> None:
    plan = plan_booking(request([FAMILY[0]]), [provider_offer(Party(), ["ADULT"])])
    assert rejected_error(OrderRejected(400, codes), plan).reason == reason


def test_price_discrepancy_reports_the_providers_new_total() -> None:
    plan = plan_booking(request([FAMILY[0]]), [provider_offer(Party(), ["ADULT"])])
    exc = OrderRejected(
        400, [37200], ["Current grandTotal price (612.40) is different from request one (500.00)"]
    )
    error = rejected_error(exc, plan)
    assert error.metadata == {
        "currency": "EUR",
        "original_total": "500.00",
        "current_total": "612.40",
    }
    assert "current_total" not in rejected_error(OrderRejected(400, [37200]), plan).metadata


def test_placed_order_reads_id_and_record_locator() -> None:
    body = {"data": {"id": "eJzabc%3D", "associatedRecords": [{"reference": "QWERTY"}]}}
    assert placed_order(body).order_id == "eJzabc%3D"
    assert placed_order(body).record_locator == "QWERTY"
    for bad in ({}, {"data": {}}, {"data": {"id": ""}}, None):
        with pytest.raises(ValueError):
            placed_order(bad)


def test_public_methods_skip_the_jwt_only_for_exact_names() -> None:
    jwt_settings = JwtSettings(issuer="i", audience="a", secret="s" * 32)
    auth = PublicMethods(
        JwtAuthenticator(jwt_settings, KeySet("s" * 32)),
        ["/skyroute.booking.v1.BookingService/GetItinerary"],
    )
    assert auth("/skyroute.booking.v1.BookingService/GetItinerary", {}) is None
    for method in (
        "/skyroute.booking.v1.BookingService/GetBooking",
        "/skyroute.booking.v1.BookingService/GetItineraryX",
    ):
        with pytest.raises(UnauthenticatedError):
            auth(method, {})
    with pytest.raises(ValueError):
        PublicMethods(JwtAuthenticator(jwt_settings, KeySet(None)), ["GetItinerary"])


def test_itinerary_resources() -> None:
    assert reference_of(resource_of("ABC234")) == "ABC234"
    for resource in ("eticket/ABC234", "itinerary/abc234", "itinerary/ABC23", "itinerary/"):
        assert reference_of(resource) is None


def booking(**changes: Any) -> BookingRecord:
    created = datetime(2026, 11, 23, 9, tzinfo=UTC)
    fields: dict[str, Any] = dict(
        id=1,
        reference="ABC234",
        user_id="u",
        request_id="r",
        request_hash="h" * 64,
        status="CONFIRMED",
        currency="EUR",
        total_price=Decimal("300.50"),
        contact_email="a@example.com",
        contact_phone=None,
        hold_expires_at=created + timedelta(minutes=15),
        created_at=created,
        updated_at=created,
        confirmed_at=datetime(2026, 11, 23, 10, tzinfo=UTC),
        cancelled_at=None,
        expired_at=None,
        refund_amount=None,
        payment_reference=None,
        payment_token_hash=None,
        provider=None,
        provider_remark=None,
        provider_order_status=None,
        provider_order_id=None,
        provider_record_locator=None,
        provider_attempt_at=None,
    )
    fields.update(changes)
    segment = SegmentRecord(
        offer_index=0,
        offer_id="o-1",
        fare_id=None,
        leg=FlightLeg(
            flight_designator="SR100",
            origin="LHR",
            destination="JFK",
            departure_at=DEPARTURE,
            arrival_at=DEPARTURE + timedelta(hours=8),
            departure_local_time=None,
            arrival_local_time="2026-12-01T14:10:00-05:00",
        ),
        cabin="BUSINESS",
        seats=1,
        price=Decimal("300.5"),
        refundable=False,
        change_fee=Decimal("0.00"),
    )
    passenger = PassengerRecord(
        given_name="Zoë",
        family_name="O'Neil",
        birth_date=date(1990, 1, 1),
        passenger_type=PassengerType.ADULT.value,
        document_type="NATIONAL_ID",
        document_number="AB12345",
        document_country="IE",
        document_expire_date=date(2030, 1, 1),
        ticket_number="9900000000042",
    )
    return BookingRecord(**fields, segments=(segment,), passengers=(passenger,))


def test_itinerary_document_and_text() -> None:
    doc = itinerary.document(
        booking(provider="amadeus", provider_record_locator="XYZ789"),
        datetime(2026, 11, 23, 12, tzinfo=UTC),
    )
    assert doc["passengers"][0]["document"] == {
        "type": "NATIONAL_ID",
        "number": "***2345",
        "issuing_country": "IE",
    }
    segment = doc["segments"][0]
    # No stored local time (a row from before revision 0003): UTC.
    assert segment["departure_local_time"] == "2026-12-01T11:10:00+00:00"
    assert segment["arrival_local_time"] == "2026-12-01T14:10:00-05:00"
    assert doc["totals"] == {"currency": "EUR", "total": "300.50", "per_segment": ["300.50"]}
    text = itinerary.render_text(doc)
    assert "Airline reference:  XYZ789" in text
    assert "O'NEIL/ZOË (Adult)" in text and "Ticket 9900000000042" in text
    assert "Departs  LHR  Tue 01 Dec 2026 11:10 (UTC+00:00)" in text
    assert "Arrives  JFK  Tue 01 Dec 2026 14:10 (UTC-05:00)" in text
    assert "TOTAL  EUR 300.50" in text
    assert all(
        line == line.rstrip() and len(line) <= itinerary.TEXT_WIDTH for line in text.splitlines()
    )
    assert "Airline reference" not in itinerary.render_text(
        itinerary.document(booking(), datetime(2026, 11, 23, tzinfo=UTC))
    )


BASE_ENV = {
    "DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
    "BOOKING_JWT_ISSUER": "i",
    "BOOKING_JWT_AUDIENCE": "a",
    "BOOKING_JWT_SECRET": "s" * 40,
}
TOKENS = {
    "TOKEN_SERVICE_ADDRESSES": "127.0.0.1:1,127.0.0.1:2",
    "TOKEN_CALLER_KEY": "booking-caller-key-1234",
}


def test_provider_and_link_settings() -> None:
    plain = BookingServiceSettings.from_env(BASE_ENV)
    assert plain.tokens is None and plain.provider is None
    assert plain.links == ItineraryLinkSettings(24 * 3600.0, 10)

    settings = BookingServiceSettings.from_env(
        {
            **BASE_ENV,
            **TOKENS,
            "PROVIDER_BASE_URL": "http://sim:8081/",
            "BOOKING_ITINERARY_LINK_MAX_USES": "0",
        }
    )
    assert settings.tokens is not None and settings.tokens.caller_id == "booking"
    assert settings.tokens.addresses == ("127.0.0.1:1", "127.0.0.1:2")
    assert "booking-caller-key" not in repr(settings.tokens)
    assert settings.provider == ProviderOrderSettings(
        "amadeus", "http://sim:8081", 10.0, "sim", "http://sim:8081"
    )
    assert settings.provider.lease_seconds > 2 * settings.provider.timeout_seconds
    assert settings.links.max_uses == 0
    disabled = BookingServiceSettings.from_env(
        {**BASE_ENV, "PROVIDER_BASE_URL": "http://sim:8081", "PROVIDER_ENABLED": "false"}
    )
    assert disabled.provider is None


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PROVIDER_BASE_URL": "http://sim:8081"}, "TOKEN_SERVICE_ADDRESSES"),
        ({**TOKENS, "PROVIDER_ENABLED": "true"}, "PROVIDER_BASE_URL"),
        (
            {**TOKENS, "PROVIDER_BASE_URL": "http://sim", "PROVIDER_ORDER_LOOKUP": "queue"},
            "PROVIDER_ORDER_LOOKUP",
        ),
        ({"TOKEN_SERVICE_ADDRESSES": "127.0.0.1:1"}, "TOKEN_CALLER_KEY"),
        ({"BOOKING_ITINERARY_LINK_MAX_USES": "-1"}, "MAX_USES"),
        ({"BOOKING_ITINERARY_LINK_TTL_SECONDS": str(8 * 24 * 3600)}, "TTL"),
    ],
)
def test_bad_provider_and_link_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        BookingServiceSettings.from_env({**BASE_ENV, **env})
    assert message in str(err.value)
