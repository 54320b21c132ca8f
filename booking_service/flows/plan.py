"""From a valid request and its priced offers to what a hold takes and costs.

``plan_booking`` runs the checks that need the offers (passenger types on the day of
the first departure, counts against every offer, one currency, no flight twice,
documents valid for the whole trip); ``check_price`` decides whether the revalidated
price may be booked; ``final_prices`` re-checks it against the fares' prices read under
the hold's row locks.

Offers of the upstream provider (``PricedOffer.provider``) hold no local seats: their
flights have no inventory fare, and the provider's flight order is their hold
(upstream_orders.py). Their price is the provider's, just re-priced, and stays as it is.

Price rules: the total the caller saw is the sum of the offers' original totals. A
different current total is FAILED_PRECONDITION / PRICE_CHANGED (new and old total in
ErrorInfo metadata) unless the caller sent ``max_total_price`` and the new total is
within it; a total above ``max_total_price`` is PRICE_ABOVE_MAXIMUM either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from booking_service.flows.validation import ValidRequest, Violations
from booking_service.pricing.checker import Amount, PricedOffer, PricedSegment, ProviderOffer
from booking_service.pricing.hotels import PricedHotel
from booking_service.pricing.passengers import Party, party_of, passenger_type
from booking_service.store.models import PassengerType
from booking_service.store.repository import HeldFare
from services.errors import FailedPreconditionError, ValidationError
from services.money_text import amount_text, money_text


@dataclass(frozen=True, slots=True)
class PlannedSegment:
    offer_index: int
    offer_id: str
    segment_index: int  # within its offer
    priced: PricedSegment
    seats: int


@dataclass(frozen=True, slots=True)
class BookingPlan:
    request: ValidRequest
    offers: tuple[PricedOffer, ...]
    party: Party
    passenger_types: tuple[PassengerType, ...]
    currency: str
    segments: tuple[PlannedSegment, ...]
    # The hotel stay (CreateBookingRequest.hotel_offer_id), priced again; None without.
    hotel: PricedHotel | None = None

    @property
    def hotel_total(self) -> Decimal:
        return self.hotel.total if self.hotel is not None else Decimal(0)

    @property
    def total(self) -> Decimal:
        return sum((o.current_total for o in self.offers), self.hotel_total)

    @property
    def original_total(self) -> Decimal:
        hotel = self.hotel.original_total if self.hotel is not None else Decimal(0)
        return sum((o.original_total for o in self.offers), hotel)

    @property
    def seats_by_fare(self) -> dict[int, int]:
        """Seats to hold on inventory fares (provider flights have none)."""
        seats: Counter[int] = Counter()
        for s in self.segments:
            if s.priced.fare_id is not None:
                seats[s.priced.fare_id] += s.seats
        return dict(seats)

    @property
    def provider_offers(self) -> tuple[ProviderOffer, ...]:
        return tuple(o.provider for o in self.offers if o.provider is not None)

    @property
    def provider(self) -> str | None:
        """The provider of the booking's provider offers (one per booking), if any."""
        offers = self.provider_offers
        return offers[0].provider if offers else None

    def segment_of_fare(self, fare_id: int) -> PlannedSegment:
        return next(s for s in self.segments if s.priced.fare_id == fare_id)


def _flight_key(segment: PricedSegment) -> tuple[object, ...]:
    if segment.fare_id is not None:
        return ("fare", segment.fare_id)
    return ("flight", segment.leg.flight_designator, segment.leg.departure_at)


def plan_booking(
    request: ValidRequest, offers: list[PricedOffer], hotel: PricedHotel | None = None
) -> BookingPlan:
    """Raises ValidationError listing every problem found against the offers (and the
    hotel offer: its currency, and enough room for the passengers, its guests)."""
    v = Violations()
    currency = offers[0].currency if offers else hotel.currency if hotel else ""
    seen_flights: dict[tuple[object, ...], int] = {}
    providers = {o.provider.provider for o in offers if o.provider is not None}
    for i, offer in enumerate(offers):
        if offer.currency != currency:
            v.add(
                f"offer_ids[{i}]", f"is priced in {offer.currency}, but offer_ids[0] in {currency}"
            )
        if offer.provider is not None and len(providers) > 1:
            v.add(f"offer_ids[{i}]", "offers of different providers cannot be booked together")
        for segment in offer.segments:
            key = _flight_key(segment)
            if key in seen_flights and seen_flights[key] != i:
                v.add(
                    f"offer_ids[{i}]",
                    f"flight {segment.leg.flight_designator} is also in "
                    f"offer_ids[{seen_flights[key]}]",
                )
            seen_flights.setdefault(key, i)

    departures = [s.leg.departure_at for o in offers for s in o.segments]
    if departures:
        first_day = min(departures).date()
        last_day = max(departures).date()
    else:  # a hotel stay alone: ages on arrival
        assert hotel is not None
        first_day = last_day = hotel.check_in
    types = tuple(passenger_type(t.birth_date, first_day) for t in request.travellers)
    party = party_of(types)
    if party.adults == 0:
        # A stay alone: the adult is the lead guest the supplier's order needs.
        v.add(
            "passengers",
            "at least one passenger must be an adult (12 or older on the day of the first "
            "departure)"
            if departures
            else "at least one guest must be an adult (12 or older on check-in): the lead guest",
        )
    if party.infants > party.adults:
        v.add(
            "passengers",
            f"more infants ({party.infants}) than adults ({party.adults}): "
            "each infant travels on an adult's lap",
        )
    for i, offer in enumerate(offers):
        if offer.party != party:
            v.add(
                f"offer_ids[{i}]",
                f"is priced for {offer.party.describe()}, but the passengers are "
                f"{party.describe()} (by age on {first_day.isoformat()})",
            )
    for i, t in enumerate(request.travellers):
        # A hotel stay alone needs no document: one given is not held to a trip.
        if departures and t.document is not None and t.document.expire_date < last_day:
            v.add(
                f"passengers[{i}].document.expire_date",
                f"expires before the last flight ({last_day.isoformat()})",
            )
    if hotel is not None:
        if hotel.currency != currency:
            v.add("hotel_offer_id", f"is priced in {hotel.currency}, but the flights in {currency}")
        if party.seats > hotel.guests:
            v.add(
                "hotel_offer_id",
                f"is for {hotel.guests} guest(s), but there are {party.seats} passengers "
                f"(infants aside)",
            )
    if request.max_total is not None and request.max_total.currency != currency:
        v.add("max_total_price.currency_code", f"the offers are priced in {currency}")
    v.raise_any()

    segments = tuple(
        PlannedSegment(i, offer.offer_id, j, segment, party.seats)
        for i, offer in enumerate(offers)
        for j, segment in enumerate(offer.segments)
    )
    return BookingPlan(request, tuple(offers), party, types, currency, segments, hotel)


def _price_changed(
    plan: BookingPlan, current_total: Decimal, changed: list[int]
) -> FailedPreconditionError:
    # -1: the hotel offer.
    fields = ",".join("hotel_offer_id" if i < 0 else f"offer_ids[{i}]" for i in changed)
    return FailedPreconditionError(
        f"the price changed from {money_text(plan.original_total, plan.currency)} to "
        f"{money_text(current_total, plan.currency)}; book again with the new price or "
        f"set max_total_price",
        reason="PRICE_CHANGED",
        metadata={
            "currency": plan.currency,
            "original_total": str(plan.original_total),
            "current_total": str(current_total),
            "fields": fields,
        },
    )


def _above_maximum(plan: BookingPlan, total: Decimal, maximum: Amount) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"the total {money_text(total, plan.currency)} is above max_total_price {maximum}",
        reason="PRICE_ABOVE_MAXIMUM",
        metadata={
            "currency": plan.currency,
            "current_total": str(total),
            "original_total": str(plan.original_total),
            "max_total": amount_text(maximum.value, maximum.currency),
        },
    )


def accept_total(plan: BookingPlan, total: Decimal, changed: list[int]) -> None:
    """Raises unless ``total`` may be booked (see the module docstring)."""
    maximum = plan.request.max_total
    if maximum is not None:
        if total > maximum.value:
            raise _above_maximum(plan, total, maximum)
    elif changed:
        raise _price_changed(plan, total, changed)


def sold_out(plan: BookingPlan, fare_id: int, seats_available: int) -> FailedPreconditionError:
    return segment_sold_out(plan.segment_of_fare(fare_id), seats_available)


def segment_sold_out(segment: PlannedSegment, seats_available: int) -> FailedPreconditionError:
    fare_id = segment.priced.fare_id or 0
    field = f"offer_ids[{segment.offer_index}]"
    return FailedPreconditionError(
        f"{field}: flight {segment.priced.leg.flight_designator} has {seats_available} seat(s) "
        f"left, {segment.seats} needed",
        reason="SOLD_OUT",
        metadata={
            "field": field,
            "offer_index": str(segment.offer_index),
            "segment_index": str(segment.segment_index),
            "flight": segment.priced.leg.flight_designator,
            "fare_id": str(fare_id),
            "seats_requested": str(segment.seats),
            "seats_available": str(seats_available),
        },
    )


def check_price(plan: BookingPlan) -> None:
    """Before holding: the revalidated price may be booked, and every offer still
    reports seats (the hold itself is what decides)."""
    for segment in plan.segments:
        # A provider offer that no longer prices has no seats, whatever its (stale)
        # seat counts say.
        if (
            segment.priced.fare_id is None
            and segment.segment_index == 0
            and not plan.offers[segment.offer_index].available
        ):
            raise segment_sold_out(segment, 0)
    changed = [i for i, o in enumerate(plan.offers) if o.price_changed]
    if plan.hotel is not None and plan.hotel.price_changed:
        changed.append(-1)
    accept_total(plan, plan.total, changed)
    for segment in plan.segments:
        if segment.priced.seats_available < segment.seats:
            raise segment_sold_out(segment, segment.priced.seats_available)


def final_prices(plan: BookingPlan, held: Mapping[int, HeldFare], now: datetime) -> list[Decimal]:
    """Each planned segment's price, given the fares' prices read under the hold's
    locks. A price guaranteed by the price source (still running) is kept; otherwise a
    fare whose price moved since revalidation reprices its segment, and the new total
    must pass ``accept_total``."""
    prices: list[Decimal] = []
    changed: set[int] = set()
    for segment in plan.segments:
        offer = plan.offers[segment.offer_index]
        fare_id = segment.priced.fare_id
        if fare_id is None or (offer.guaranteed_until is not None and offer.guaranteed_until > now):
            prices.append(segment.priced.price)
            continue
        fare = held[fare_id]
        if fare.currency != plan.currency:
            raise ValidationError.field(
                f"offer_ids[{segment.offer_index}]", "the fare's currency changed"
            )
        cost = plan.party.fare_cost(fare.price)
        if cost != segment.priced.price:
            changed.add(segment.offer_index)
        prices.append(cost)
    if changed:
        # The total is the whole booking's: the flights as held plus the hotel stay.
        accept_total(plan, sum(prices, plan.hotel_total), sorted(changed))
    return prices
