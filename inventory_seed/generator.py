"""Deterministic generator of realistic inventory: the same options give the same rows.

Pure Python, no database: ``generate(options)`` returns the rows that
``inventory_seed.seed`` bulk-loads. The pieces, in order:

- airports: the first N of a ranked list of real airports, with coordinates and IANA
  time zones from ``airportsdata``;
- network: each airline flies from its hubs; every airport first gets one route to a
  nearby hub (so none is isolated), then hub-to-airport routes are drawn, weighted by
  airport size, distance and domestic preference, until the scale's daily departures
  are reached. Routes are flown both ways, at fixed local times, daily or on some
  weekdays;
- schedules: block time from great-circle distance (cruise speed + taxi overhead,
  rounded to 5 minutes); local departure times converted to UTC per date, so
  daylight-saving changes are honoured;
- fares: 2-4 cabins by aircraft, seats by aircraft and cabin, load (seats sold) rising
  towards departure, price by cabin, distance, carrier, day of week, days to departure
  and load. Money is Decimal, rounded to cents.

Every random draw comes from ``random.Random`` seeded with a string made from the seed
and what is being drawn (the network, one date), so adding days does not change the
days before, and the network does not depend on dates at all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inventory_seed.data import AIRLINES, RANKED_AIRPORTS, AirlineSpec, Carrier
from search_service.models import Cabin

EARTH_RADIUS_KM = 6371.0088
CRUISE_KMH = 800.0
TAXI_OVERHEAD_MINUTES = 35.0  # taxi, climb and approach, added to every flight
MIN_ROUTE_KM = 150.0
MAX_ROUTE_KM = 14_000.0
LOW_COST_MAX_KM = 4_500.0
LONG_HAUL_KM = 4_500.0
CURRENCY = "USD"
FIRST_FLIGHT_NUMBER = 101
CENT = Decimal("0.01")

FARE_COLUMNS = (
    "id",
    "flight_id",
    "cabin",
    "price",
    "currency",
    "seats_total",
    "seats_available",
    "refundable",
    "change_fee",
    "version",
    "updated_at",
)
FLIGHT_COLUMNS = (
    "id",
    "airline_code",
    "flight_number",
    "origin",
    "destination",
    "departure_at",
    "arrival_at",
)
AIRPORT_COLUMNS = ("iata_code", "name", "city", "country", "latitude", "longitude", "timezone")
AIRLINE_COLUMNS = ("iata_code", "name")

T = TypeVar("T")

FlightRow = tuple[int, str, int, str, str, datetime, datetime]
FareRow = tuple[int, int, str, Decimal, str, int, int, bool, Decimal, int, datetime]


@dataclass(frozen=True)
class Scale:
    name: str
    airports: int
    airlines: int
    days: int  # default for --days
    daily_departures: int  # target, reached approximately


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", airports=20, airlines=8, days=3, daily_departures=100),
        Scale("small", airports=80, airlines=24, days=14, daily_departures=360),
        Scale("default", airports=400, airlines=len(AIRLINES), days=60, daily_departures=2000),
    )
}


@dataclass(frozen=True)
class SeedOptions:
    scale: Scale
    seed: int
    days: int
    start_date: date

    @property
    def as_of(self) -> datetime:
        """When the generated prices and loads were "observed": midnight UTC before
        the first day. It is every fare's updated_at, so reruns are identical."""
        return datetime.combine(self.start_date - timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Airport:
    code: str
    name: str
    city: str
    country: str
    latitude: float
    longitude: float
    timezone: str
    rank: int

    def row(self) -> tuple[str, str, str, str, float, float, str]:
        return (
            self.code,
            self.name,
            self.city,
            self.country,
            self.latitude,
            self.longitude,
            self.timezone,
        )


@dataclass(frozen=True)
class Aircraft:
    name: str
    seats: tuple[tuple[Cabin, int], ...]  # cabins in ECONOMY..FIRST order


E, W, J, F = Cabin.ECONOMY, Cabin.PREMIUM_ECONOMY, Cabin.BUSINESS, Cabin.FIRST
REGIONAL_JET = Aircraft("E175", ((E, 64), (J, 12)))
NARROWBODY = Aircraft("A320", ((E, 150), (J, 12)))
NARROWBODY_3_CABIN = Aircraft("A321", ((E, 160), (W, 24), (J, 16)))
LOW_COST_NARROWBODY = Aircraft("A320neo", ((E, 168), (W, 18)))  # "extra legroom" rows
LOW_COST_WIDEBODY = Aircraft("A330", ((E, 310), (W, 35)))
WIDEBODY = Aircraft("B787", ((E, 220), (W, 28), (J, 30)))
WIDEBODY_FIRST = Aircraft("B777", ((E, 260), (W, 40), (J, 42), (F, 8)))


@dataclass(frozen=True)
class Service:
    """One scheduled departure per operating day: a flight number at a local time."""

    airline: AirlineSpec
    flight_number: int
    origin: Airport
    destination: Airport
    local_departure: time
    block_minutes: int
    distance_km: float
    weekdays: frozenset[int]  # date.weekday() values the service operates on
    aircraft: Aircraft


@dataclass
class Inventory:
    airports: list[Airport]
    airlines: list[AirlineSpec]
    services: list[Service]
    flights: list[FlightRow] = field(default_factory=list)
    fares: list[FareRow] = field(default_factory=list)


# ----------------------------------------------------------------------------- geometry


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a spherical Earth."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_km(a: Airport, b: Airport) -> float:
    return great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)


def block_minutes(distance: float) -> int:
    """Gate-to-gate time for a distance: cruise plus overhead, to the nearest 5 minutes."""
    minutes = TAXI_OVERHEAD_MINUTES + distance / CRUISE_KMH * 60.0
    return max(5, math.floor(minutes / 5.0 + 0.5) * 5)


# ----------------------------------------------------------------------------- airports


def load_airports(count: int) -> list[Airport]:
    """The first ``count`` usable airports of the ranked list."""
    import airportsdata

    data = airportsdata.load("IATA")
    chosen: list[Airport] = []
    for code in RANKED_AIRPORTS:
        info = data.get(code)
        if info is None or not info["tz"]:
            continue
        try:
            ZoneInfo(info["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            continue
        city = (info["city"] or "").strip()
        if not city or len(info["country"]) != 2:
            continue
        chosen.append(
            Airport(
                code=code,
                name=info["name"].strip(),
                city=city,
                country=info["country"],
                latitude=float(info["lat"]),
                longitude=float(info["lon"]),
                timezone=info["tz"],
                rank=len(chosen),
            )
        )
        if len(chosen) == count:
            break
    return chosen


def select_airlines(airports: Sequence[Airport], count: int) -> list[AirlineSpec]:
    """The first ``count`` airlines with a hub among ``airports``, hubs narrowed to them."""
    codes = {a.code for a in airports}
    chosen = []
    for spec in AIRLINES:
        hubs = tuple(h for h in spec.hubs if h in codes)
        if hubs:
            chosen.append(AirlineSpec(spec.code, spec.name, hubs, spec.carrier))
        if len(chosen) == count:
            break
    return chosen


# ----------------------------------------------------------------------------- network


@dataclass(frozen=True)
class _Route:
    airline: AirlineSpec
    hub: Airport
    other: Airport
    distance_km: float


def _size(airport: Airport) -> float:
    """Relative traffic weight from the airport's rank."""
    return 1.0 / (1.0 + airport.rank / 25.0)


def _distance_preference(d: float) -> float:
    if d <= 1500:
        return 1.0
    if d <= 3500:
        return 0.7
    if d <= 7000:
        return 0.35
    return 0.25


def _route_allowed(airline: AirlineSpec, hub: Airport, other: Airport, d: float) -> bool:
    if hub.code == other.code or not MIN_ROUTE_KM <= d <= MAX_ROUTE_KM:
        return False
    if airline.carrier is Carrier.LOW_COST and d > LOW_COST_MAX_KM:
        return False
    # Long-haul only to big airports: nobody flies a widebody to a small field.
    return d <= 7000 or other.rank < 150


def _frequency(d: float, rng: random.Random) -> int:
    """Departures per operating day, each way."""
    if d < 1500:
        return _weighted(rng, (1, 2, 3, 4), (0.35, 0.35, 0.2, 0.1))
    if d < LONG_HAUL_KM:
        return _weighted(rng, (1, 2), (0.7, 0.3))
    return 1


def _weekdays(d: float, rng: random.Random) -> frozenset[int]:
    roll = rng.random()
    if d > LONG_HAUL_KM and roll < 0.35:
        count = 3 + int(rng.random() * 4)  # 3..6 days a week
    elif roll < 0.1:
        count = 5 + int(rng.random() * 2)  # 5..6
    else:
        return frozenset(range(7))
    days = list(range(7))
    rng.shuffle(days)
    return frozenset(days[:count])


def _weighted(rng: random.Random, values: Sequence[T], weights: Sequence[float]) -> T:
    roll = rng.random() * sum(weights)
    for value, weight in zip(values, weights, strict=True):
        roll -= weight
        if roll < 0:
            return value
    return values[-1]


def _aircraft(airline: AirlineSpec, d: float, rng: random.Random) -> Aircraft:
    if airline.carrier is Carrier.LOW_COST:
        return LOW_COST_WIDEBODY if d > 3500 else LOW_COST_NARROWBODY
    if d >= LONG_HAUL_KM:
        if airline.carrier is Carrier.PREMIUM and (d > 7000 or rng.random() < 0.3):
            return WIDEBODY_FIRST
        return WIDEBODY
    if d < 900 and rng.random() < 0.4:
        return REGIONAL_JET
    return NARROWBODY_3_CABIN if rng.random() < 0.3 else NARROWBODY


def _departure_times(frequency: int, rng: random.Random) -> list[time]:
    """``frequency`` local times between 06:00 and 22:55, one per equal window."""
    first, last = 6 * 60, 23 * 60  # minutes after local midnight
    window = (last - first) // frequency
    times = []
    for i in range(frequency):
        slot = first + i * window + 5 * int(rng.random() * (window // 5))
        times.append(time(slot // 60, slot % 60))
    return times


def build_network(
    airports: Sequence[Airport], airlines: Sequence[AirlineSpec], daily_departures: int, seed: int
) -> list[Service]:
    rng = random.Random(f"skyroute-seed:{seed}:network")
    by_code = {a.code: a for a in airports}
    hubs = [(airline, by_code[h]) for airline in airlines for h in airline.hubs]
    hub_codes = {hub.code for _, hub in hubs}
    routes: dict[tuple[str, frozenset[str]], _Route] = {}

    def add(airline: AirlineSpec, hub: Airport, other: Airport, d: float) -> bool:
        key = (airline.code, frozenset((hub.code, other.code)))
        if key in routes:
            return False
        routes[key] = _Route(airline, hub, other, d)
        return True

    # 1. Coverage: every airport (hubs included) gets at least one route, to a nearby hub.
    served: set[str] = set()
    for airport in airports:
        if airport.code in served:
            continue
        options = []
        for airline, hub in hubs:
            d = distance_km(hub, airport)
            if _route_allowed(airline, hub, airport, d):
                domestic = 2.0 if hub.country == airport.country else 1.0
                options.append(((airline, hub, d), domestic / (d + 400.0) ** 2))
        if options:
            airline, hub, d = _weighted(rng, [o for o, _ in options], [w for _, w in options])
            add(airline, hub, airport, d)
            served.update((hub.code, airport.code))

    # 2. Fill: draw weighted hub routes without replacement (Efraimidis-Spirakis keys).
    candidates: list[tuple[float, str, str, str, _Route]] = []
    for airline, hub in hubs:
        for other in airports:
            d = distance_km(hub, other)
            if not _route_allowed(airline, hub, other, d):
                continue
            weight = _size(other) * _distance_preference(d)
            if other.country == hub.country:
                weight *= 2.0
            if other.code in hub_codes:
                weight *= 1.5
            key = rng.random() ** (1.0 / weight)
            candidates.append(
                (key, airline.code, hub.code, other.code, _Route(airline, hub, other, d))
            )
    candidates.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))

    services: list[Service] = []
    numbers: dict[str, int] = {}
    planned = 0.0

    def schedule(route: _Route) -> float:
        """Services for both directions of ``route``; returns its daily departures."""
        frequency = _frequency(route.distance_km, rng)
        weekdays = _weekdays(route.distance_km, rng)
        aircraft = _aircraft(route.airline, route.distance_km, rng)
        minutes = block_minutes(route.distance_km)
        for origin, destination in ((route.hub, route.other), (route.other, route.hub)):
            for local in _departure_times(frequency, rng):
                number = numbers.get(route.airline.code, FIRST_FLIGHT_NUMBER - 1) + 1
                if number > 9999:
                    raise ValueError(f"airline {route.airline.code} ran out of flight numbers")
                numbers[route.airline.code] = number
                services.append(
                    Service(
                        route.airline,
                        number,
                        origin,
                        destination,
                        local,
                        minutes,
                        route.distance_km,
                        weekdays,
                        aircraft,
                    )
                )
        return 2 * frequency * len(weekdays) / 7

    for route in list(routes.values()):
        planned += schedule(route)
    for _key, _airline, _hub, _other, route in candidates:
        if planned >= daily_departures:
            break
        if add(route.airline, route.hub, route.other, route.distance_km):
            planned += schedule(route)
    return services


# ----------------------------------------------------------------------------- fares

CABIN_MULTIPLIER = {E: 1.0, W: 1.75, J: 4.2, F: 7.0}
SHORT_HAUL_BUSINESS_MULTIPLIER = 2.4  # under 2,000 km business is a better seat, not a bed
CARRIER_FACTOR = {Carrier.LOW_COST: 0.62, Carrier.FULL_SERVICE: 1.0, Carrier.PREMIUM: 1.12}
WEEKDAY_FACTOR = (1.05, 0.92, 0.94, 1.02, 1.12, 0.96, 1.10)  # Monday .. Sunday
ECONOMY_CHANGE_FEE = {
    Carrier.LOW_COST: Decimal("60.00"),
    Carrier.FULL_SERVICE: Decimal("0.00"),
    Carrier.PREMIUM: Decimal("0.00"),
}


def economy_base_price(d: float) -> float:
    """Full-service economy fare for a distance before demand effects, in USD."""
    return 39.0 + 0.09 * d


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def to_money(x: float) -> Decimal:
    """Round to cents exactly (half up), via integer cents: no float in the result."""
    return Decimal(math.floor(x * 100 + 0.5)).scaleb(-2).quantize(CENT)


def _fares_for(
    service: Service, departure_local: date, days_to_departure: int, rng: random.Random
) -> Iterator[tuple[Cabin, Decimal, int, int, bool, Decimal]]:
    carrier = service.airline.carrier
    # Seats sold: flights fill up towards departure; some sell out.
    load = _clamp(0.42 + 0.45 * math.exp(-days_to_departure / 12.0) + rng.gauss(0, 0.12), 0.0, 1.0)
    demand = WEEKDAY_FACTOR[departure_local.weekday()] * (
        0.92 + 0.55 * math.exp(-days_to_departure / 6.0)
    )
    base = economy_base_price(service.distance_km) * CARRIER_FACTOR[carrier]
    for cabin, total in service.aircraft.seats:
        cabin_load = _clamp(
            load + rng.uniform(-0.15, 0.15) - (0.2 if cabin is F else 0.0), 0.0, 1.0
        )
        available = total - math.floor(total * cabin_load + 0.5)
        multiplier = CABIN_MULTIPLIER[cabin]
        if cabin is J and service.distance_km < 2000:
            multiplier = SHORT_HAUL_BUSINESS_MULTIPLIER
        scarcity = 1.0 + 0.6 * max(0.0, cabin_load - 0.6)
        price = max(19.0, base * multiplier * demand * scarcity * rng.uniform(0.96, 1.04))
        refundable = cabin in (J, F) or (cabin is W and carrier is Carrier.PREMIUM)
        if cabin is E:
            change_fee = ECONOMY_CHANGE_FEE[carrier]
        elif cabin is W and carrier is Carrier.LOW_COST:
            change_fee = Decimal("30.00")
        else:
            change_fee = Decimal("0.00")
        yield cabin, to_money(price), total, available, refundable, change_fee


# ----------------------------------------------------------------------------- schedules


def dates(options: SeedOptions) -> list[date]:
    return [options.start_date + timedelta(days=i) for i in range(options.days)]


def generate_day(inventory: Inventory, options: SeedOptions, day: date) -> None:
    """Append one local date's flights and fares to ``inventory``."""
    rng = random.Random(f"skyroute-seed:{options.seed}:{day.isoformat()}")
    as_of = options.as_of
    days_to_departure = (day - as_of.date()).days
    weekday = day.weekday()
    zones: dict[str, ZoneInfo] = {}
    flight_id = len(inventory.flights)
    fare_id = len(inventory.fares)
    for service in inventory.services:
        if weekday not in service.weekdays:
            continue
        tz = zones.get(service.origin.timezone)
        if tz is None:
            tz = zones[service.origin.timezone] = ZoneInfo(service.origin.timezone)
        departure = datetime.combine(day, service.local_departure, tzinfo=tz).astimezone(UTC)
        arrival = departure + timedelta(minutes=service.block_minutes)
        flight_id += 1
        inventory.flights.append(
            (
                flight_id,
                service.airline.code,
                service.flight_number,
                service.origin.code,
                service.destination.code,
                departure,
                arrival,
            )
        )
        for cabin, price, total, available, refundable, change_fee in _fares_for(
            service, day, days_to_departure, rng
        ):
            fare_id += 1
            inventory.fares.append(
                (
                    fare_id,
                    flight_id,
                    cabin.value,
                    price,
                    CURRENCY,
                    total,
                    available,
                    refundable,
                    change_fee,
                    1,
                    as_of,
                )
            )


def plan(options: SeedOptions) -> Inventory:
    """Airports, airlines and the route network; no flights yet."""
    airports = load_airports(options.scale.airports)
    airlines = select_airlines(airports, options.scale.airlines)
    services = build_network(airports, airlines, options.scale.daily_departures, options.seed)
    return Inventory(airports=airports, airlines=airlines, services=services)


def generate(options: SeedOptions) -> Inventory:
    """Everything, in memory (tests and small scales)."""
    inventory = plan(options)
    for day in dates(options):
        generate_day(inventory, options, day)
    return inventory
