"""Flight offers: searching the inventory, pricing, and the Amadeus ``flight-offer`` JSON.

Pricing (all amounts exact, computed in integer cents):

- per segment and traveler, the base fare is the market's current cabin fare in euros
  (ADULT 100%, CHILD 75%, HELD_INFANT 10%, rounded half up to the cent) and the fees are
  the departure airport's charge (none for HELD_INFANT); each component is converted to
  the offer currency on its own, so every sum below is exact;
- a traveler's ``price``: ``base`` = sum of base fares, ``total`` = base + fees;
- the offer's ``price``: ``base`` and ``total`` are sums over travelers, ``fees`` holds
  the charges as one ``SUPPLIER`` fee (plus a zero ``TICKETING`` fee), so
  ``total == base + sum(fees)``; ``grandTotal == total``.

Search semantics (shared by GET and POST ``/v2/shopping/flight-offers``):

- each originDestination is served by the inventory's itineraries for that date (one-stop
  only when the route has no non-stop flight); ``nonStop`` / ``maxNumberOfConnections: 0``
  keeps non-stop ones only;
- cabin: the requested class if the flight sells it, else the next higher one it sells
  (Amadeus: "this quality or higher"); without a class, ECONOMY;
- a flight is offered only if every segment has seats for all seated travelers (adults
  and children; held infants need none); ``numberOfBookableSeats`` is the smallest
  availability over the segments, capped at 9;
- included/excluded airlines apply to every segment; ``maxPrice`` (whole units of the
  currency) bounds every ``travelerPricings[].price.total``;
- offers are sorted by grandTotal, then total duration, then departure times, then
  flight numbers, numbered "1".."n", and cut at ``max``. Round trips and multi-city
  searches combine the cheapest itineraries of each originDestination.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from provider_sim.body import (
    array,
    field,
    invalid_data,
    invalid_format,
    missing,
    obj,
    required_string,
    string,
)
from provider_sim.inventory import MAX_BOOKABLE, Flight
from provider_sim.market import Market, SeatKey, seat_key
from provider_sim.world import (
    AIRCRAFT,
    AIRPORTS_BY_CODE,
    BOOKING_CLASS,
    CABINS,
    CARRIERS_BY_CODE,
    CURRENCIES,
)

TRAVELER_TYPES: Final = ("ADULT", "CHILD", "HELD_INFANT")
MAX_SEATED_TRAVELERS: Final = 9
MAX_OFFERS: Final = 250
MAX_LEGS: Final = 6
LAST_TICKETING_DAYS: Final = 7
_FARE_PERCENT: Final = {"ADULT": 100, "CHILD": 75, "HELD_INFANT": 10}
_AT_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


@dataclasses.dataclass(frozen=True)
class Segment:
    flight: Flight
    cabin: str


Leg = tuple[Segment, ...]


@dataclasses.dataclass(frozen=True)
class Traveler:
    id: str
    type: str  # one of TRAVELER_TYPES
    associated_adult_id: str | None = None

    @property
    def seated(self) -> bool:
        return self.type != "HELD_INFANT"


@dataclasses.dataclass(frozen=True)
class Fare:
    """Amounts in cents of the offer currency."""

    base: int
    fees: int

    @property
    def total(self) -> int:
        return self.base + self.fees

    def __add__(self, other: Fare) -> Fare:
        return Fare(self.base + other.base, self.fees + other.fees)


ZERO: Final = Fare(0, 0)


@dataclasses.dataclass(frozen=True)
class PricedOffer:
    legs: tuple[Leg, ...]
    travelers: tuple[Traveler, ...]
    currency: str
    fares: Mapping[str, Fare]  # per traveler type
    bookable_seats: int

    @property
    def price(self) -> Fare:
        total = ZERO
        for traveler in self.travelers:
            total += self.fares[traveler.type]
        return total

    @property
    def segments(self) -> list[Segment]:
        return [segment for leg in self.legs for segment in leg]


# -- money -----------------------------------------------------------------------------


def money(cents: int) -> str:
    """Cents as an exact decimal string with two places ("1234.50")."""
    return f"{cents // 100}.{cents % 100:02d}"


def convert(eur_cents: int, currency: str) -> int:
    rate = CURRENCIES[currency][1]
    if rate == 1:
        return eur_cents
    return int((Decimal(eur_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(cents: int, percent: int) -> int:
    return (cents * percent + 50) // 100


def fares_for(
    market: Market, legs: Iterable[Leg], types: Iterable[str], currency: str
) -> dict[str, Fare]:
    segments = [segment for leg in legs for segment in leg]
    fares: dict[str, Fare] = {}
    for traveler_type in types:
        fare = ZERO
        for segment in segments:
            base = _percent(
                market.fare_cents(segment.flight, segment.cabin), _FARE_PERCENT[traveler_type]
            )
            fees = 0
            if traveler_type != "HELD_INFANT":
                fees = market.inventory.airport_charge_cents(segment.flight.origin)
            fare += Fare(convert(base, currency), convert(fees, currency))
        fares[traveler_type] = fare
    return fares


def bookable_seats(market: Market, legs: Iterable[Leg]) -> int:
    seats = [market.available(s.flight, s.cabin) for leg in legs for s in leg]
    return min([MAX_BOOKABLE, *seats])


def price_offer(
    market: Market, legs: Sequence[Leg], travelers: Sequence[Traveler], currency: str
) -> PricedOffer:
    """The offer at the market's current prices and availability."""
    fares = fares_for(market, legs, {t.type for t in travelers}, currency)
    return PricedOffer(tuple(legs), tuple(travelers), currency, fares, bookable_seats(market, legs))


def seat_needs(offer: PricedOffer) -> dict[SeatKey, int]:
    """Seats to sell per flight and cabin: one per seated traveler per segment."""
    seated = sum(1 for t in offer.travelers if t.seated)
    needs: dict[SeatKey, int] = {}
    for segment in offer.segments:
        key = seat_key(segment.flight, segment.cabin)
        needs[key] = needs.get(key, 0) + seated
    return needs


# -- search ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LegQuery:
    origin: str
    destination: str
    date: date
    cabin: str | None = None


@dataclasses.dataclass(frozen=True)
class SearchQuery:
    legs: tuple[LegQuery, ...]
    travelers: tuple[Traveler, ...]
    currency: str = "EUR"
    non_stop: bool = False
    included_carriers: frozenset[str] = frozenset()
    excluded_carriers: frozenset[str] = frozenset()
    max_price: int | None = None  # whole currency units per traveler
    max_offers: int = MAX_OFFERS


@dataclasses.dataclass(frozen=True)
class _Candidate:
    legs: tuple[Leg, ...]
    fares: Mapping[str, Fare]
    seats: int
    total: int
    minutes: int
    order: tuple[tuple[datetime, str, int], ...]

    def sort_key(self) -> tuple[int, int, tuple[tuple[datetime, str, int], ...]]:
        return (self.total, self.minutes, self.order)


def search(market: Market, query: SearchQuery) -> list[PricedOffer]:
    types = sorted({t.type for t in query.travelers})
    seated = sum(1 for t in query.travelers if t.seated)
    counts = {kind: sum(1 for t in query.travelers if t.type == kind) for kind in types}
    cap = None if query.max_price is None else query.max_price * 100
    partial = [_Candidate((), {kind: ZERO for kind in types}, MAX_BOOKABLE, 0, 0, ())]
    for leg_query in query.legs:
        options = _leg_options(market, query, leg_query, types, counts, seated, cap)
        combined = []
        for head in partial:
            for option in options:
                fares = {kind: head.fares[kind] + option.fares[kind] for kind in types}
                if cap is not None and any(fare.total > cap for fare in fares.values()):
                    continue
                combined.append(
                    _Candidate(
                        head.legs + option.legs,
                        fares,
                        min(head.seats, option.seats),
                        head.total + option.total,
                        head.minutes + option.minutes,
                        head.order + option.order,
                    )
                )
        combined.sort(key=_Candidate.sort_key)
        partial = combined[: query.max_offers]
    return [PricedOffer(c.legs, query.travelers, query.currency, c.fares, c.seats) for c in partial]


def _leg_options(
    market: Market,
    query: SearchQuery,
    leg_query: LegQuery,
    types: list[str],
    counts: Mapping[str, int],
    seated: int,
    cap: int | None,
) -> list[_Candidate]:
    itineraries = market.inventory.itineraries(
        leg_query.origin, leg_query.destination, leg_query.date, 0 if query.non_stop else 1
    )
    now = market.now_utc()
    options = []
    for flights in itineraries:
        if flights[0].departure_utc <= now:
            continue
        carriers = {f.carrier for f in flights}
        if query.included_carriers and not carriers <= query.included_carriers:
            continue
        if carriers & query.excluded_carriers:
            continue
        cabins = [choose_cabin(f, leg_query.cabin) for f in flights]
        if None in cabins:
            continue
        leg = tuple(Segment(f, c) for f, c in zip(flights, cabins, strict=True) if c)
        seats = bookable_seats(market, [leg])
        if seats < seated or seats == 0:
            continue
        fares = fares_for(market, [leg], types, query.currency)
        if cap is not None and any(fare.total > cap for fare in fares.values()):
            continue
        minutes = (flights[-1].arrival_utc - flights[0].departure_utc) // timedelta(minutes=1)
        options.append(
            _Candidate(
                (leg,),
                fares,
                seats,
                sum(fares[kind].total * counts[kind] for kind in types),
                minutes,
                tuple((f.departure_utc, f.carrier, int(f.number)) for f in flights),
            )
        )
    options.sort(key=_Candidate.sort_key)
    return options[: query.max_offers]


def choose_cabin(flight: Flight, requested: str | None) -> str | None:
    """The requested cabin or the next higher one the flight sells (ECONOMY if none
    was requested); None if it sells nothing that good."""
    start = CABINS.index(requested) if requested else 0
    for cabin in CABINS[start:]:
        if cabin in flight.service.cabins:
            return cabin
    return None


# -- JSON ------------------------------------------------------------------------------


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration in hours and minutes only ("PT7H40M", "PT26H5M", "PT45M")."""
    hours, minutes = divmod(int(delta // timedelta(minutes=1)), 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes or not hours else "")


def local_at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def last_ticketing_date(offer: PricedOffer, today: date) -> date:
    return min(offer.legs[0][0].flight.date, today + timedelta(days=LAST_TICKETING_DAYS))


def offer_json(
    offer_id: str,
    offer: PricedOffer,
    today: date,
    segment_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    ids = list(segment_ids) if segment_ids else [str(n + 1) for n in range(len(offer.segments))]
    numbered = iter(ids)
    itineraries = []
    for leg in offer.legs:
        itineraries.append(
            {
                "duration": iso_duration(leg[-1].flight.arrival_utc - leg[0].flight.departure_utc),
                "segments": [_segment_json(segment, next(numbered)) for segment in leg],
            }
        )
    price = offer.price
    last = last_ticketing_date(offer, today).isoformat()
    return {
        "type": "flight-offer",
        "id": offer_id,
        "source": "GDS",
        "instantTicketingRequired": False,
        "nonHomogeneous": False,
        "oneWay": False,
        "isUpsellOffer": False,
        "lastTicketingDate": last,
        "lastTicketingDateTime": last,
        "numberOfBookableSeats": offer.bookable_seats,
        "itineraries": itineraries,
        "price": {
            "currency": offer.currency,
            "total": money(price.total),
            "base": money(price.base),
            "fees": [
                {"amount": money(price.fees), "type": "SUPPLIER"},
                {"amount": "0.00", "type": "TICKETING"},
            ],
            "grandTotal": money(price.total),
        },
        "pricingOptions": {"fareType": ["PUBLISHED"], "includedCheckedBagsOnly": True},
        "validatingAirlineCodes": [offer.legs[0][0].flight.carrier],
        "travelerPricings": [_traveler_json(t, offer, ids) for t in offer.travelers],
    }


def _segment_json(segment: Segment, segment_id: str) -> dict[str, Any]:
    flight, service = segment.flight, segment.flight.service
    departure: dict[str, Any] = {"iataCode": flight.origin}
    if service.departure_terminal:
        departure["terminal"] = service.departure_terminal
    departure["at"] = local_at(flight.departure)
    arrival: dict[str, Any] = {"iataCode": flight.destination}
    if service.arrival_terminal:
        arrival["terminal"] = service.arrival_terminal
    arrival["at"] = local_at(flight.arrival)
    return {
        "departure": departure,
        "arrival": arrival,
        "carrierCode": flight.carrier,
        "number": flight.number,
        "aircraft": {"code": service.aircraft},
        "operating": {"carrierCode": flight.carrier},
        "duration": iso_duration(flight.arrival_utc - flight.departure_utc),
        "id": segment_id,
        "numberOfStops": 0,
        "blacklistedInEU": False,
    }


def _traveler_json(traveler: Traveler, offer: PricedOffer, ids: list[str]) -> dict[str, Any]:
    fare = offer.fares[traveler.type]
    entry: dict[str, Any] = {
        "travelerId": traveler.id,
        "fareOption": "STANDARD",
        "travelerType": traveler.type,
    }
    if traveler.associated_adult_id is not None:
        entry["associatedAdultId"] = traveler.associated_adult_id
    entry["price"] = {
        "currency": offer.currency,
        "total": money(fare.total),
        "base": money(fare.base),
    }
    entry["fareDetailsBySegment"] = [
        {
            "segmentId": segment_id,
            "cabin": segment.cabin,
            "fareBasis": f"{BOOKING_CLASS[segment.cabin]}STD{segment.flight.carrier}",
            "class": BOOKING_CLASS[segment.cabin],
            "includedCheckedBags": {"quantity": _checked_bags(segment)},
        }
        for segment, segment_id in zip(offer.segments, ids, strict=True)
    ]
    return entry


def _checked_bags(segment: Segment) -> int:
    if segment.cabin == "ECONOMY":
        return 1 if segment.flight.service.distance_km >= 2500 else 0
    return {"PREMIUM_ECONOMY": 2, "BUSINESS": 2, "FIRST": 3}[segment.cabin]


def dictionaries(offers: Iterable[PricedOffer], currency: str) -> dict[str, Any]:
    locations: set[str] = set()
    aircraft: set[str] = set()
    carriers: set[str] = set()
    for offer in offers:
        for segment in offer.segments:
            locations |= {segment.flight.origin, segment.flight.destination}
            aircraft.add(segment.flight.service.aircraft)
            carriers.add(segment.flight.carrier)
    return {
        "locations": {
            code: {
                "cityCode": AIRPORTS_BY_CODE[code].city_code,
                "countryCode": AIRPORTS_BY_CODE[code].country_code,
            }
            for code in sorted(locations)
        },
        "aircraft": {code: AIRCRAFT[code] for code in sorted(aircraft)},
        "currencies": {currency: CURRENCIES[currency][0]},
        "carriers": {code: CARRIERS_BY_CODE[code].name for code in sorted(carriers)},
    }


# -- reading offers sent back by clients (pricing, orders) -----------------------------


@dataclasses.dataclass(frozen=True)
class ClientOffer:
    """A flight offer a client sent back, matched against the inventory."""

    id: str
    legs: tuple[Leg, ...]
    segment_ids: tuple[str, ...]
    travelers: tuple[Traveler, ...]
    currency: str
    grand_total: Decimal | None

    def seat_keys(self) -> list[SeatKey]:
        return [seat_key(s.flight, s.cabin) for leg in self.legs for s in leg]


def read_offer(market: Market, raw: Any, pointer: str) -> ClientOffer:
    """Parse and verify an offer: every segment must be a flight of the inventory with
    the same airports and local times, the cabins ones the flights sell, the travelers
    consistent. Its price is read, not trusted: callers re-price with ``price_offer``."""
    offer = obj(raw, pointer)
    if offer.get("type", "flight-offer") != "flight-offer":
        raise invalid_data("type must be flight-offer", f"{pointer}/type")
    offer_id = required_string(offer, "id", pointer)
    raw_itineraries = array(offer, "itineraries", pointer)
    if len(raw_itineraries) > MAX_LEGS:
        raise invalid_data(f"At most {MAX_LEGS} itineraries", f"{pointer}/itineraries")
    flights: list[list[Flight]] = []
    segment_ids: list[str] = []
    for i, raw_itinerary in enumerate(raw_itineraries):
        where = f"{pointer}/itineraries[{i}]"
        itinerary = obj(raw_itinerary, where)
        leg: list[Flight] = []
        for j, raw_segment in enumerate(array(itinerary, "segments", where)):
            flight, segment_id = _read_segment(market, raw_segment, f"{where}/segments[{j}]")
            if leg and (
                leg[-1].destination != flight.origin or flight.departure_utc < leg[-1].arrival_utc
            ):
                raise invalid_data(
                    f"Segment {segment_id} does not connect with the previous segment",
                    f"{where}/segments[{j}]",
                )
            leg.append(flight)
            segment_ids.append(segment_id)
        flights.append(leg)
    if len(set(segment_ids)) != len(segment_ids):
        raise invalid_data("Segment ids must be unique", f"{pointer}/itineraries")
    price = obj(field(offer, "price", pointer), f"{pointer}/price")
    currency = required_string(price, "currency", f"{pointer}/price")
    if currency not in CURRENCIES:
        raise invalid_data(f"Unsupported currency {currency}", f"{pointer}/price/currency")
    grand_total = _read_amount(price, f"{pointer}/price")
    travelers, cabins = _read_traveler_pricings(offer, pointer, segment_ids)
    legs: list[Leg] = []
    position = 0
    for leg_flights in flights:
        segments = []
        for flight in leg_flights:
            cabin = cabins[segment_ids[position]]
            if cabin not in flight.service.cabins:
                raise invalid_data(
                    f"Flight {flight.service.flight_number} has no {cabin} cabin",
                    f"{pointer}/travelerPricings",
                )
            segments.append(Segment(flight, cabin))
            position += 1
        legs.append(tuple(segments))
    return ClientOffer(offer_id, tuple(legs), tuple(segment_ids), travelers, currency, grand_total)


def _read_segment(market: Market, raw: Any, pointer: str) -> tuple[Flight, str]:
    segment = obj(raw, pointer)
    segment_id = required_string(segment, "id", pointer)
    carrier = required_string(segment, "carrierCode", pointer)
    number = required_string(segment, "number", pointer)
    ends = {}
    for end in ("departure", "arrival"):
        place = obj(field(segment, end, pointer), f"{pointer}/{end}")
        iata = required_string(place, "iataCode", f"{pointer}/{end}")
        at = required_string(place, "at", f"{pointer}/{end}")
        if not _AT_RE.match(at):
            raise invalid_format(
                "Expected a local date-time YYYY-MM-DDTHH:MM:SS", f"{pointer}/{end}/at"
            )
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise invalid_format("Not a valid date-time", f"{pointer}/{end}/at") from None
        ends[end] = (iata, moment)
    (origin, departure), (destination, arrival) = ends["departure"], ends["arrival"]
    flight = market.inventory.flight(carrier, number, departure.date())
    if (
        flight is None
        or flight.origin != origin
        or flight.destination != destination
        or flight.departure != departure
        or flight.arrival != arrival
    ):
        raise invalid_data(
            f"Segment {segment_id} ({carrier}{number} {origin}-{destination} "
            f"{departure.isoformat()}) does not match any scheduled flight",
            pointer,
        )
    if flight.departure_utc <= market.now_utc():
        raise invalid_data(f"Segment {segment_id} has already departed", pointer)
    return flight, segment_id


def _read_amount(price: dict[str, Any], pointer: str) -> Decimal | None:
    for name in ("grandTotal", "total"):
        value = price.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise invalid_format("Expected a decimal string", f"{pointer}/{name}")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise invalid_format("Expected a decimal string", f"{pointer}/{name}") from None
        if not amount.is_finite():
            raise invalid_format("Expected a decimal string", f"{pointer}/{name}")
        return amount
    return None


def _read_traveler_pricings(
    offer: dict[str, Any], pointer: str, segment_ids: list[str]
) -> tuple[tuple[Traveler, ...], dict[str, str]]:
    travelers: list[Traveler] = []
    cabins: dict[str, str] = {}
    for k, raw in enumerate(array(offer, "travelerPricings", pointer)):
        where = f"{pointer}/travelerPricings[{k}]"
        pricing = obj(raw, where)
        traveler_id = required_string(pricing, "travelerId", where)
        traveler_type = required_string(pricing, "travelerType", where)
        if traveler_type not in TRAVELER_TYPES:
            raise invalid_data(
                f"travelerType must be one of {', '.join(TRAVELER_TYPES)}",
                f"{where}/travelerType",
            )
        adult = string(pricing, "associatedAdultId", where, required=False)
        if traveler_type == "HELD_INFANT" and adult is None:
            raise missing(f"{where}/associatedAdultId")
        travelers.append(Traveler(traveler_id, traveler_type, adult))
        seen: set[str] = set()
        for n, raw_detail in enumerate(array(pricing, "fareDetailsBySegment", where)):
            detail_where = f"{where}/fareDetailsBySegment[{n}]"
            detail = obj(raw_detail, detail_where)
            segment_id = required_string(detail, "segmentId", detail_where)
            cabin = required_string(detail, "cabin", detail_where)
            if segment_id not in segment_ids:
                raise invalid_data(f"Unknown segment {segment_id}", f"{detail_where}/segmentId")
            if cabin not in CABINS:
                raise invalid_data(
                    f"cabin must be one of {', '.join(CABINS)}", f"{detail_where}/cabin"
                )
            if cabins.setdefault(segment_id, cabin) != cabin:
                raise invalid_data(
                    f"All travelers must fly segment {segment_id} in the same cabin",
                    f"{detail_where}/cabin",
                )
            seen.add(segment_id)
        if seen != set(segment_ids):
            raise invalid_data(
                "fareDetailsBySegment must cover every segment once",
                f"{where}/fareDetailsBySegment",
            )
    check_travelers(travelers, f"{pointer}/travelerPricings")
    return tuple(travelers), cabins


def check_travelers(travelers: Sequence[Traveler], pointer: str) -> None:
    """Unique ids, at most 9 seated travelers, each held infant on its own adult."""
    ids = [t.id for t in travelers]
    if len(set(ids)) != len(ids):
        raise invalid_data("Traveler ids must be unique", pointer)
    if sum(1 for t in travelers if t.seated) > MAX_SEATED_TRAVELERS:
        raise invalid_data(
            f"At most {MAX_SEATED_TRAVELERS} seated travelers (adults and children)", pointer
        )
    if not any(t.type == "ADULT" for t in travelers):
        raise invalid_data("At least one ADULT traveler is required", pointer)
    adults = {t.id for t in travelers if t.type == "ADULT"}
    carried = [t.associated_adult_id for t in travelers if t.type == "HELD_INFANT"]
    if any(a not in adults for a in carried) or len(set(carried)) != len(carried):
        raise invalid_data("Every HELD_INFANT needs its own ADULT in associatedAdultId", pointer)
