"""Hotel stays without services: the hotel offer in the request checks, in the plan
(currency, guests, a changed price needs consent, totals), and the cancellation policy
of a stay (refund before the deadline only, nothing for a hold)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from booking_service.flows.packages import hotel_refund, stay_record
from booking_service.flows.plan import check_price, plan_booking
from booking_service.flows.validation import (
    ContactInput,
    CreateBookingInput,
    DocumentInput,
    PassengerInput,
    validate_request,
)
from booking_service.pricing import offer_refs
from booking_service.pricing.checker import Amount
from booking_service.pricing.hotels import PricedHotel
from booking_service.pricing.passengers import Party
from booking_service.settings import BookingServiceSettings
from services.config import ConfigError
from services.errors import FailedPreconditionError, ValidationError
from tests.unit.booking_service.test_booking_plan import offer, traveller, valid
from tests.unit.booking_service.test_booking_provider_units import BASE_ENV, TOKENS

TODAY = date(2026, 6, 1)
DOC = DocumentInput("PASSPORT", "X1234567", "GB", "2030-01-01")
DEADLINE = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def hotel(**changes: object) -> PricedHotel:
    fields: dict[str, object] = dict(
        offer_id="hotel-offer",
        provider="hotel",
        supplier_offer_id="SUPPLIER1",
        hotel_id="HTNYC001",
        hotel_name="Hotel",
        city_code="NYC",
        room_type="A1D",
        room_description="Double",
        board_type="ROOM_ONLY",
        check_in=date(2026, 7, 2),
        check_out=date(2026, 7, 4),
        rooms=1,
        guests=1,
        refundable=True,
        cancellation_deadline=DEADLINE,
        total=Decimal("300.00"),
        original_total=Decimal("300.00"),
        currency="EUR",
        price_changed=False,
    )
    fields.update(changes)
    return PricedHotel(**fields)  # type: ignore[arg-type]


def raw(**changes: object) -> CreateBookingInput:
    fields: dict[str, object] = dict(
        offer_ids=("fare:1:100.00:1:0:0",),
        passengers=(PassengerInput("Ann", "Lee", "1990-01-01", DOC),),
        contact=ContactInput("ann@example.com", ""),
        request_id="req-1",
    )
    fields.update(changes)
    return CreateBookingInput(**fields)  # type: ignore[arg-type]


def test_a_hotel_offer_alone_is_a_request_and_changes_the_fingerprint() -> None:
    alone = validate_request(raw(offer_ids=(), hotel_offer_id="h1"), TODAY, offer_refs.problem)
    assert alone.hotel_offer_id == "h1" and alone.offer_ids == ()
    # Without a hotel offer the fingerprint is what it was before hotel stays existed.
    assert raw().fingerprint() != raw(hotel_offer_id="h1").fingerprint()
    old = asdict(raw())
    del old["request_id"], old["hotel_offer_id"]
    canonical = json.dumps(old, sort_keys=True, default=str, separators=(",", ":"))
    assert raw().fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"offer_ids": (), "hotel_offer_id": ""}, "offer_ids"),
        ({"hotel_offer_id": "h" * 3000}, "hotel_offer_id"),
    ],
)
def test_request_problems_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_request(raw(**changes), TODAY, offer_refs.problem)
    assert field in {v.field for v in err.value.violations}


def test_package_total_holds_flights_and_hotel() -> None:
    plan = plan_booking(valid([traveller(date(1990, 1, 1))]), [offer(1, Party(1))], hotel())
    assert plan.total == Decimal("400.00") and plan.hotel_total == Decimal("300.00")
    check_price(plan)


def test_hotel_alone_takes_ages_on_arrival() -> None:
    # 12 on the day of arrival: an adult.
    plan = plan_booking(valid([traveller(date(2014, 7, 2))]), [], hotel())
    assert plan.party == Party(1) and plan.segments == () and plan.total == Decimal("300.00")


def test_hotel_problems_against_the_flights_name_hotel_offer_id() -> None:
    request = valid([traveller(date(1990, 1, 1)), traveller(date(1991, 1, 1))])
    with pytest.raises(ValidationError) as err:
        plan_booking(request, [offer(1, Party(2))], hotel(currency="USD", guests=1))
    problems = [v for v in err.value.violations if v.field == "hotel_offer_id"]
    assert len(problems) == 2  # the currency, and two passengers for one guest


def test_a_changed_hotel_price_needs_consent() -> None:
    changed = hotel(total=Decimal("330.00"), price_changed=True)
    plan = plan_booking(valid([traveller(date(1990, 1, 1))]), [offer(1, Party(1))], changed)
    with pytest.raises(FailedPreconditionError) as err:
        check_price(plan)
    assert err.value.reason == "PRICE_CHANGED"
    assert err.value.metadata["fields"] == "hotel_offer_id"
    assert err.value.metadata["current_total"] == "430.00"
    assert err.value.metadata["original_total"] == "400.00"
    consented = valid([traveller(date(1990, 1, 1))], Amount(Decimal("430"), "EUR"))
    check_price(plan_booking(consented, [offer(1, Party(1))], changed))


def test_cancellation_policy_of_a_stay() -> None:
    stay = stay_record(7, hotel(), "SKYROUTE-H-ABCDEF-00")
    before, after = DEADLINE - timedelta(minutes=1), DEADLINE + timedelta(minutes=1)
    assert hotel_refund(stay, True, before) == Decimal("300.00")
    assert hotel_refund(stay, True, after) == 0
    assert hotel_refund(stay, False, before) == 0  # a hold was not charged
    not_refundable = replace(stay, refundable=False, cancellation_deadline=None)
    assert hotel_refund(not_refundable, True, before) == 0


HOTEL_ENV = {
    **BASE_ENV,
    **TOKENS,
    "SEARCH_SERVICE_ADDRESSES": "127.0.0.1:3",
    "BOOKING_HOTEL_PROVIDER": "hotel",
    "PROVIDER_HOTEL_BASE_URL": "http://sim:8081/",
}


def test_hotel_supplier_settings() -> None:
    assert BookingServiceSettings.from_env(BASE_ENV).hotel is None
    hotel = BookingServiceSettings.from_env(
        {**HOTEL_ENV, "PROVIDER_HOTEL_TIMEOUT_SECONDS": "2", "PROVIDER_TIMEOUT_SECONDS": "9"}
    ).hotel
    assert hotel is not None
    assert (hotel.name, hotel.base_url, hotel.kind) == (
        "hotel",
        "http://sim:8081",
        "amadeus_hotels",
    )
    assert hotel.timeout_seconds == 2.0 and hotel.lookup_url == "http://sim:8081"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"PROVIDER_HOTEL_BASE_URL": ""}, "PROVIDER_HOTEL_BASE_URL"),
        ({"PROVIDER_HOTEL_KIND": "amadeus"}, "PROVIDER_HOTEL_KIND"),
        ({"SEARCH_SERVICE_ADDRESSES": ""}, "SEARCH_SERVICE_ADDRESSES"),
        ({"TOKEN_SERVICE_ADDRESSES": ""}, "TOKEN_SERVICE_ADDRESSES"),
        (
            {"PROVIDER_HOTEL_TIMEOUT_SECONDS": "20", "BOOKING_PACKAGE_LEASE_SECONDS": "60"},
            "BOOKING_PACKAGE_LEASE_SECONDS",
        ),
    ],
)
def test_bad_hotel_supplier_settings(changes: dict[str, str], message: str) -> None:
    env = {k: v for k, v in {**HOTEL_ENV, **changes}.items() if v}
    with pytest.raises(ConfigError) as err:
        BookingServiceSettings.from_env(env)
    assert message in str(err.value)
