"""Checks against the priced offers, and the price decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from booking_service.flows.plan import check_price, final_prices, plan_booking
from booking_service.flows.validation import TravelDocument, Traveller, ValidRequest
from booking_service.pricing.checker import Amount, PricedOffer, PricedSegment
from booking_service.pricing.passengers import Party
from booking_service.store.models import DocumentType
from booking_service.store.repository import HeldFare
from services.errors import FailedPreconditionError, ValidationError
from services.flights import FlightLeg

DEPARTURE = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def traveller(born: date, expires: date = date(2030, 1, 1)) -> Traveller:
    return Traveller(
        "Ann", "Lee", born, TravelDocument(DocumentType.PASSPORT, "X1234567", "GB", expires)
    )


def offer(
    fare_id: int,
    party: Party,
    price: str = "100.00",
    original: str | None = None,
    seats: int = 9,
    currency: str = "EUR",
    days: int = 0,
    guaranteed_until: datetime | None = None,
) -> PricedOffer:
    cost = party.fare_cost(Decimal(price))
    leg = FlightLeg(
        flight_designator=f"SR{fare_id}",
        origin="LHR",
        destination="JFK",
        departure_at=DEPARTURE + timedelta(days=days),
        arrival_at=DEPARTURE + timedelta(days=days, hours=7),
    )
    segment = PricedSegment(
        fare_id=fare_id,
        leg=leg,
        cabin="ECONOMY",
        price=cost,
        refundable=True,
        change_fee=Decimal("10.00"),
        seats_available=seats,
    )
    return PricedOffer(
        f"offer-{fare_id}",
        party,
        currency,
        (segment,),
        party.fare_cost(Decimal(original or price)),
        cost,
        seats >= party.seats,
        guaranteed_until,
    )


def valid(travellers: list[Traveller], max_total: Amount | None = None) -> ValidRequest:
    return ValidRequest(
        ("a",), tuple(travellers), "ann@example.com", None, "r", "h" * 64, max_total
    )


def fields(exc: ValidationError) -> set[str]:
    return {v.field for v in exc.violations}


def test_types_are_by_age_on_the_first_departure() -> None:
    # 12 on the day of departure: an adult; turns 2 the day after: still an infant.
    request = valid([traveller(date(2014, 7, 1)), traveller(date(2024, 7, 2))])
    plan = plan_booking(request, [offer(1, Party(1, 0, 1))])
    assert plan.party == Party(1, 0, 1)
    assert plan.seats_by_fare == {1: 1}


def test_all_problems_against_the_offers_at_once() -> None:
    request = valid(
        [traveller(date(2025, 1, 1)), traveller(date(2020, 1, 1), expires=date(2026, 7, 3))],
        max_total=Amount(Decimal("10"), "USD"),
    )
    offers = [
        offer(1, Party(1)),
        offer(2, Party(0, 1, 1), currency="GBP", days=5),
        offer(1, Party(0, 1, 1)),
    ]
    with pytest.raises(ValidationError) as err:
        plan_booking(request, offers)
    assert fields(err.value) == {
        "passengers",
        "offer_ids[0]",
        "offer_ids[1]",
        "offer_ids[2]",
        "passengers[1].document.expire_date",
        "max_total_price.currency_code",
    }


def test_price_change_needs_consent() -> None:
    changed = offer(1, Party(1), price="120.00", original="100.00")
    plan = plan_booking(valid([traveller(date(1990, 1, 1))]), [changed])
    with pytest.raises(FailedPreconditionError) as err:
        check_price(plan)
    assert err.value.reason == "PRICE_CHANGED"
    assert err.value.metadata["current_total"] == "120.00"
    consented = plan_booking(
        valid([traveller(date(1990, 1, 1))], Amount(Decimal(120), "EUR")), [changed]
    )
    check_price(consented)
    too_low = plan_booking(
        valid([traveller(date(1990, 1, 1))], Amount(Decimal(119), "EUR")), [changed]
    )
    with pytest.raises(FailedPreconditionError) as err:
        check_price(too_low)
    assert err.value.reason == "PRICE_ABOVE_MAXIMUM"


def test_sold_out_names_the_segment() -> None:
    plan = plan_booking(
        valid([traveller(date(1990, 1, 1))]),
        [offer(1, Party(1)), offer(2, Party(1), seats=0, days=7)],
    )
    with pytest.raises(FailedPreconditionError) as err:
        check_price(plan)
    assert err.value.reason == "SOLD_OUT"
    assert err.value.metadata["field"] == "offer_ids[1]"
    assert err.value.metadata["flight"] == "SR2"


def test_final_prices_follow_the_locked_fare_unless_guaranteed() -> None:
    now = DEPARTURE - timedelta(days=10)
    request = valid([traveller(date(1990, 1, 1))], Amount(Decimal("500"), "EUR"))
    plan = plan_booking(
        request,
        [
            offer(1, Party(1)),
            offer(2, Party(1), days=7, guaranteed_until=now + timedelta(minutes=5)),
        ],
    )
    held = {1: HeldFare(Decimal("110.00"), "EUR"), 2: HeldFare(Decimal("300.00"), "EUR")}
    assert final_prices(plan, held, now) == [Decimal("110.00"), Decimal("100.00")]
    # Once the guarantee has run out, the locked price applies to that offer too.
    later = now + timedelta(minutes=6)
    assert final_prices(plan, held, later) == [Decimal("110.00"), Decimal("300.00")]
    strict = plan_booking(valid([traveller(date(1990, 1, 1))]), [offer(1, Party(1))])
    with pytest.raises(FailedPreconditionError) as err:
        final_prices(strict, held, now)
    assert err.value.reason == "PRICE_CHANGED"


def test_a_repriced_fare_is_checked_against_the_maximum_with_the_hotel_stay() -> None:
    """The maximum bounds the whole booking: a fare repriced under the hold's lock plus
    the hotel stay, not the flights alone."""
    from tests.unit.booking_service.test_booking_hotel_units import hotel

    now = DEPARTURE - timedelta(days=10)
    request = valid([traveller(date(1990, 1, 1))], Amount(Decimal("500"), "EUR"))
    plan = plan_booking(request, [offer(1, Party(1))], hotel(total=Decimal("300.00")))
    assert plan.total == Decimal("400.00")
    # 150 + 300 is within 500.
    assert final_prices(plan, {1: HeldFare(Decimal("150.00"), "EUR")}, now) == [Decimal("150.00")]
    # 250 alone is, but with the stay it is 550.
    with pytest.raises(FailedPreconditionError) as err:
        final_prices(plan, {1: HeldFare(Decimal("250.00"), "EUR")}, now)
    assert err.value.reason == "PRICE_ABOVE_MAXIMUM"
    assert err.value.metadata["current_total"] == "550.00"
