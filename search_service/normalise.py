"""Provider (Amadeus) flight offers in our itinerary shape, filtered and de-duplicated.

Amadeus gives segment times as local wall-clock times without an offset. We convert
them with the airport's zone from our inventory; for an airport we do not know (a
connection point outside our network) the offset is inferred from the previous
segment (its arrival local time against departure plus flight duration), and the
segment then carries that fixed offset instead of a zone name.

A provider offer is dropped when it flies exactly the same flights (carrier, flight
number and departure of every segment) as an inventory itinerary in the results, and
of several provider offers for the same flights only the cheapest is kept. Provider
offers pass the same filters as inventory ones (cabin, seats, stops, connection times,
airlines, departure window, dates, price).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

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
from search_service.pricing import to_cents
from search_service.query import SearchQuery
from search_service.repository import Leg

_DURATION = re.compile(r"^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def parse_duration(text: str) -> timedelta | None:
    """ISO 8601 durations as Amadeus writes them: ``PT2H10M``, ``P1DT1H``."""
    match = _DURATION.match(text or "")
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _naive(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=None)


def _journey(raw: dict[str, Any], airports: AirportDirectory, currency: str, seats: int
             ) -> Journey | None:
    legs: list[Leg] = []
    offset: timedelta | None = None
    for seg in raw["segments"]:
        dep, arr = seg["departure"], seg["arrival"]
        origin, destination = str(dep["iataCode"]), str(arr["iataCode"])
        dep_local, arr_local = _naive(dep["at"]), _naive(arr["at"])
        if origin in airports:
            departure = dep_local.replace(tzinfo=airports.zone(origin))
        elif offset is not None:
            departure = dep_local.replace(tzinfo=timezone(offset))
        else:
            return None  # cannot place the first departure in time
        flown = parse_duration(seg.get("duration", ""))
        if destination in airports:
            arrival = arr_local.replace(tzinfo=airports.zone(destination))
            offset = arrival.utcoffset()
        elif flown is not None:
            landed = departure.astimezone(UTC) + flown
            offset = arr_local - landed.replace(tzinfo=None)
            if abs(offset) >= timedelta(hours=18):
                return None
            arrival = arr_local.replace(tzinfo=timezone(offset))
        else:
            return None
        legs.append(Leg(
            fare_id=0, fare_version=0, airline_code=str(seg["carrierCode"]),
            flight_number=int(seg["number"]), origin=origin, destination=destination,
            departure_at=departure, arrival_at=arrival, price_cents=None, currency=currency,
            seats_available=seats, refundable=False, change_fee_cents=None))
    if not legs:
        return None
    return Journey(tuple(legs))


def _cabins(raw: dict[str, Any]) -> set[str]:
    cabins = set()
    for traveler in raw.get("travelerPricings") or ():
        for detail in traveler.get("fareDetailsBySegment") or ():
            if detail.get("cabin"):
                cabins.add(str(detail["cabin"]))
    return cabins


def _refundable(raw: dict[str, Any]) -> bool:
    """Amadeus marks refundability per fare as an amenity or a fare rule; absent
    means not refundable."""
    rules = (raw.get("fareRules") or {}).get("rules") or ()
    for rule in rules:
        if rule.get("category") == "REFUND" and rule.get("notApplicable") is not True:
            return True
    return False


def offer_ref(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def normalise_offer(raw: dict[str, Any], airports: AirportDirectory, provider: str
                    ) -> Option | None:
    """An Amadeus flight-offer as an Option, or None if it cannot be understood."""
    try:
        price = raw["price"]
        currency = str(price["currency"])
        total = to_cents(Decimal(str(price.get("grandTotal") or price["total"])))
        seats = int(raw.get("numberOfBookableSeats") or 0)
        journeys = []
        for itinerary in raw["itineraries"]:
            journey = _journey(itinerary, airports, currency, seats)
            if journey is None:
                return None
            journeys.append(journey)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    if not journeys:
        return None
    cabins = _cabins(raw)
    return Option(
        source=PROVIDER, journeys=tuple(journeys), total_cents=total, currency=currency,
        seats_available=seats, refundable=_refundable(raw),
        identity=provider_identity(journeys), provider=provider, provider_ref=offer_ref(raw),
        extra={"raw": raw, "cabins": cabins})


def _local_date(leg: Leg, airports: AirportDirectory) -> date:
    return leg.departure_at.astimezone(airports.zone(leg.origin)).date()


def provider_matches(option: Option, query: SearchQuery, airports: AirportDirectory,
                     now: datetime, *, min_connection_minutes: int,
                     max_layover_minutes: int) -> bool:
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
            query.destination):
        return False
    if outbound.legs[0].departure_at <= now:
        return False
    if _local_date(outbound.legs[0], airports) not in query.departure_dates():
        return False
    if query.round_trip:
        inbound = option.journeys[1]
        if inbound.legs[0].origin != query.destination or inbound.legs[-1].destination != (
                query.origin):
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
        option.currency == query.max_total_currency
        and option.total_cents <= query.max_total_cents)


def merge_provider_options(query: SearchQuery, inventory: Sequence[Option],
                           provider: Iterable[Option], airports: AirportDirectory,
                           now: datetime, *, min_connection_minutes: int,
                           max_layover_minutes: int, limit: int) -> list[Option]:
    """Inventory and matching, de-duplicated provider options, sorted, at most
    ``limit``."""
    seen = {option.signature() for option in inventory}
    kept: list[Option] = []
    order = query.sort
    # Cheapest first, so that of several offers for the same flights the cheapest stays.
    for option in sorted(provider, key=lambda o: (o.total_cents, o.identity)):
        if not provider_matches(option, query, airports, now,
                                min_connection_minutes=min_connection_minutes,
                                max_layover_minutes=max_layover_minutes):
            continue
        signature = option.signature()
        if signature in seen:
            continue
        seen.add(signature)
        kept.append(option)
    merged = [*inventory, *kept]
    merged.sort(key=lambda o: option_key(order, o))
    return merged[:limit]
