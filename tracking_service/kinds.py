"""What a tracker can track: a flight search (here) or a hotel search
(tracking_service/hotels.py). Each kind has its validation, its canonical form, its
end date and its proto; the store, scheduler, triggers and alerts do not depend on it.

A search's canonical form is plain JSON (stored in ``price_trackers.search``); its
``search_key`` is a digest of the kind and that form, so trackers with equal searches
share one search per period (tracking_service/prices.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.errors import FieldViolation, ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service import hotels, zones
from tracking_service.models import TrackerKind

IATA = re.compile(r"^[A-Z]{3}$")
CABINS = {
    search_pb.CABIN_ECONOMY: "ECONOMY",
    search_pb.CABIN_PREMIUM_ECONOMY: "PREMIUM_ECONOMY",
    search_pb.CABIN_BUSINESS: "BUSINESS",
    search_pb.CABIN_FIRST: "FIRST",
}
CABIN_VALUES = {name: value for value, name in CABINS.items()}
MAX_PARTY = 9


@dataclass(frozen=True)
class TrackedSearch:
    kind: TrackerKind
    params: dict[str, Any]

    @property
    def key(self) -> str:
        body = json.dumps([self.kind.value, self.params], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


def _date(value: str, name: str, problems: list[FieldViolation]) -> date | None:
    """``value`` as a date, or None with a problem naming ``name``."""
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(FieldViolation(name, "must be a date YYYY-MM-DD"))
    return None


def flight_search(message: pb.FlightSearch, now: datetime, field: str) -> TrackedSearch:
    """The canonical flight search, or ValidationError naming ``field``.<sub-field>.
    The departure date is past once it is past at the origin (as SearchFlights judges
    it)."""
    problems: list[FieldViolation] = []
    for name in ("origin", "destination"):
        if not IATA.match(getattr(message, name)):
            problems.append(FieldViolation(f"{field}.{name}", "must be a 3-letter IATA code"))
    today = zones.today(zones.airport_zone(message.origin), now)
    if message.origin and message.origin == message.destination:
        problems.append(FieldViolation(f"{field}.destination", "must differ from origin"))
    departure = None
    if not message.departure_date:
        problems.append(FieldViolation(f"{field}.departure_date", "is required"))
    else:
        departure = _date(message.departure_date, f"{field}.departure_date", problems)
        if departure is not None and departure < today:
            problems.append(FieldViolation(f"{field}.departure_date", "is in the past"))
            departure = None
        elif departure is not None and departure > today + timedelta(days=366):
            problems.append(FieldViolation(f"{field}.departure_date", "is over 366 days ahead"))
    if message.return_date:
        back = _date(message.return_date, f"{field}.return_date", problems)
        if back is not None and departure is not None and back < departure:
            problems.append(FieldViolation(f"{field}.return_date", "is before departure_date"))
    party = message.passengers
    adults = party.adults if message.HasField("passengers") else 1
    if not 1 <= adults <= MAX_PARTY:
        problems.append(FieldViolation(f"{field}.passengers.adults", "must be 1 to 9"))
    if party.children < 0:
        problems.append(FieldViolation(f"{field}.passengers.children", "must not be negative"))
    if not 0 <= party.infants <= max(adults, 0):
        problems.append(FieldViolation(f"{field}.passengers.infants", "at most one per adult"))
    if adults + party.children + party.infants > MAX_PARTY:
        problems.append(FieldViolation(f"{field}.passengers", "at most 9 travellers"))
    if message.cabin not in CABINS:
        problems.append(FieldViolation(f"{field}.cabin", "is required (CABIN_ECONOMY, ...)"))
    stops = message.max_stops if message.HasField("max_stops") else 1
    if stops not in (0, 1):
        problems.append(FieldViolation(f"{field}.max_stops", "must be 0 or 1"))
    if problems:
        raise ValidationError(problems)
    params = {
        "origin": message.origin,
        "destination": message.destination,
        "departure_date": message.departure_date,
        "return_date": message.return_date,
        "adults": adults,
        "children": party.children,
        "infants": party.infants,
        "cabin": CABINS[message.cabin],
        "max_stops": stops,
    }
    return TrackedSearch(TrackerKind.FLIGHT, params)


def hotel_search(message: pb.HotelSearch, now: datetime, field: str) -> TrackedSearch:
    """The canonical hotel search, or ValidationError naming ``field``.<sub-field>."""
    return TrackedSearch(TrackerKind.HOTEL, hotels.hotel_params(message, now, field))


def tracked_search(tracker: pb.Tracker, now: datetime) -> TrackedSearch:
    which = tracker.WhichOneof("search")
    if which == "flight":
        return flight_search(tracker.flight, now, "tracker.flight")
    if which == "hotel":
        return hotel_search(tracker.hotel, now, "tracker.hotel")
    raise ValidationError.field("tracker.flight", "is required (or tracker.hotel: the search)")


def ends_at(search: TrackedSearch) -> datetime:
    """The tracker ends when its last travel day ends where that day's travel happens
    (tracking_service/zones.py): a flight tracker's last flight departs on the return
    date from the destination (or on the departure date from the origin, one way); a
    hotel tracker's day is check-in, in the hotel's city (a point: its nearest
    airport's zone)."""
    p = search.params
    if search.kind is TrackerKind.HOTEL:
        last = p["check_in_date"]
        if p["city_code"]:
            zone = zones.city_zone(p["city_code"])
        else:
            zone = zones.point_zone(p["latitude"], p["longitude"])
    elif p["return_date"]:
        last, zone = p["return_date"], zones.airport_zone(p["destination"])
    else:
        last, zone = p["departure_date"], zones.airport_zone(p["origin"])
    return zones.end_of_day(date.fromisoformat(last), zone)


def set_search(tracker: pb.Tracker, kind: str, params: dict[str, Any]) -> None:
    """Fills the tracker's ``search`` oneof from a stored canonical search."""
    if kind == TrackerKind.HOTEL.value:
        tracker.hotel.CopyFrom(hotels.to_proto(params))
    else:
        tracker.flight.CopyFrom(flight_proto(params))


def airports(search: TrackedSearch) -> list[tuple[str, str]]:
    """(field, code) of the airports a search names, to check they exist."""
    if search.kind is not TrackerKind.FLIGHT:
        return []
    return [(f"tracker.flight.{n}", search.params[n]) for n in ("origin", "destination")]


def flight_proto(params: dict[str, Any]) -> pb.FlightSearch:
    return pb.FlightSearch(
        origin=params["origin"],
        destination=params["destination"],
        departure_date=params["departure_date"],
        return_date=params["return_date"],
        passengers=search_pb.Passengers(
            adults=params["adults"], children=params["children"], infants=params["infants"]
        ),
        cabin=CABIN_VALUES[params["cabin"]],
        max_stops=params["max_stops"],
    )


def search_request(
    params: dict[str, Any], include_provider_offers: bool
) -> search_pb.SearchFlightsRequest:
    """The cheapest itinerary of a flight search: one result, sorted by price."""
    flight = flight_proto(params)
    return search_pb.SearchFlightsRequest(
        origin=flight.origin,
        destination=flight.destination,
        departure_date=flight.departure_date,
        return_date=flight.return_date,
        passengers=flight.passengers,
        cabin=flight.cabin,
        filters=search_pb.SearchFilters(max_stops=flight.max_stops),
        sort_order=search_pb.SORT_ORDER_PRICE,
        page_size=1,
        include_provider_offers=include_provider_offers,
    )
