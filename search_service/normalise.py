"""Provider offers in our itinerary shape, filtered and de-duplicated.

Adapters (services/providers) give offers with aware segment times; here they become
Options like inventory itineraries. A provider offer is dropped when it flies exactly
the same flights (carrier, flight number and departure of every segment) as an
inventory itinerary in the results, and of several provider offers for the same
flights (from one provider or several) only the cheapest is kept. Provider offers pass
the same filters as inventory ones (cabin, seats, stops, connection times, airlines,
departure window, dates, price).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from search_service.airports import AirportDirectory
from search_service.itineraries import (
    PROVIDER,
    Journey,
    Option,
    connection_ok,
    in_window,
    option_key,
    provider_identity,
)
from search_service.query import SearchQuery
from search_service.repository import Leg
from services.providers.base import Offer


def option_from_offer(offer: Offer, provider: str) -> Option:
    """A provider's offer as an Option tagged with the provider's name."""
    journeys = tuple(
        Journey(
            tuple(
                Leg(
                    fare_id=0,
                    fare_version=0,
                    airline_code=s.airline_code,
                    flight_number=s.flight_number,
                    origin=s.origin,
                    destination=s.destination,
                    departure_at=s.departure_at,
                    arrival_at=s.arrival_at,
                    price_cents=None,
                    currency=offer.currency,
                    seats_available=offer.seats_available,
                    refundable=False,
                    change_fee_cents=None,
                )
                for s in segments
            )
        )
        for segments in offer.journeys
    )
    return Option(
        source=PROVIDER,
        journeys=journeys,
        total_cents=offer.total_cents,
        currency=offer.currency,
        seats_available=offer.seats_available,
        refundable=offer.refundable,
        identity=provider_identity(journeys),
        provider=provider,
        provider_ref=offer.ref,
        extra={"raw": offer.raw, "cabins": set(offer.cabins)},
    )


def _local_date(leg: Leg, airports: AirportDirectory) -> date:
    return leg.departure_at.astimezone(airports.zone(leg.origin)).date()


def provider_matches(
    option: Option,
    query: SearchQuery,
    airports: AirportDirectory,
    now: datetime,
    *,
    min_connection_minutes: int,
    max_layover_minutes: int,
) -> bool:
    """The same rules the inventory search applies."""
    expected = 2 if query.round_trip else 1
    if len(option.journeys) != expected:
        return False
    cabins = option.extra.get("cabins") or set()
    if cabins and cabins != {query.cabin.value}:
        return False
    if option.seats_available < query.party.seats:
        return False
    outbound = option.journeys[0]
    if outbound.legs[0].origin != query.origin or outbound.legs[-1].destination != (
        query.destination
    ):
        return False
    if outbound.legs[0].departure_at <= now:
        return False
    if _local_date(outbound.legs[0], airports) not in query.departure_dates():
        return False
    if query.round_trip:
        inbound = option.journeys[1]
        if inbound.legs[0].origin != query.destination or inbound.legs[-1].destination != (
            query.origin
        ):
            return False
        if _local_date(inbound.legs[0], airports) not in query.return_dates():
            return False
        if inbound.departure_ts < outbound.arrival_ts + min_connection_minutes * 60:
            return False
    for journey in option.journeys:
        if journey.stops > query.max_stops:
            return False
        if not connection_ok(journey.legs, min_connection_minutes, max_layover_minutes):
            return False
        for leg in journey.legs:
            if query.included_airlines and leg.airline_code not in query.included_airlines:
                return False
            if leg.airline_code in query.excluded_airlines:
                return False
    if not in_window(outbound.legs[0], query, airports):
        return False
    return query.max_total_cents is None or (
        option.currency == query.max_total_currency and option.total_cents <= query.max_total_cents
    )


def merge_provider_options(
    query: SearchQuery,
    inventory: Sequence[Option],
    provider: Iterable[Option],
    airports: AirportDirectory,
    now: datetime,
    *,
    min_connection_minutes: int,
    max_layover_minutes: int,
    limit: int,
) -> list[Option]:
    """Inventory and matching, de-duplicated provider options, sorted, at most
    ``limit``."""
    seen = {option.signature() for option in inventory}
    kept: list[Option] = []
    order = query.sort
    # Cheapest first, so that of several offers for the same flights the cheapest stays.
    for option in sorted(provider, key=lambda o: (o.total_cents, o.identity)):
        if not provider_matches(
            option,
            query,
            airports,
            now,
            min_connection_minutes=min_connection_minutes,
            max_layover_minutes=max_layover_minutes,
        ):
            continue
        signature = option.signature()
        if signature in seen:
            continue
        seen.add(signature)
        kept.append(option)
    merged = [*inventory, *kept]
    merged.sort(key=lambda o: option_key(order, o))
    return merged[:limit]
