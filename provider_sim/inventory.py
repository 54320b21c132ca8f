"""The stand-in's own flight inventory: deterministic, in memory, for any date.

Everything is derived from a seed (default 7; ``--inventory-seed`` or
``SIM_INVENTORY_SEED``) through a keyed hash, never through ``random`` or Python's
salted ``hash()``: the same seed gives the same network, schedules, seats and fares in
every process, on every machine, whatever the order of queries.

- **Network** (built once): every carrier flies from its hubs to airports of its own
  region (80% of them for European carriers, 90% for North American ones, chosen by the
  hash) and to its long-haul destinations (85% of them), and always between its own hubs.
  Routes are flown in both directions.
- **Schedules**: each carrier route has 1-4 daily rotations depending on distance; a
  rotation is a flight number (``BA117``) with a fixed local departure time, block time
  from the great-circle distance (about 780 km/h plus 40 minutes, 5% faster eastbound),
  aircraft, terminals and cabins (ECONOMY and BUSINESS everywhere; PREMIUM_ECONOMY on most
  long-haul flights; FIRST on the largest widebodies of a few carriers). Every flight
  operates every day; times are local wall-clock times at each airport.
- **Per date, lazily**: the seats initially available per cabin (0 for about 4% of
  flights, 1-9 for about a quarter, more for the rest; FIRST 1-8) and the base fare per
  cabin in euro cents (distance-based, times a per-flight-and-date demand factor of
  0.70-1.80 and the cabin's multiple: higher cabins always cost more).
- **Itineraries**: non-stop flights; when no carrier flies a route non-stop, one-stop
  itineraries through any airport served from both ends (60 minutes to 8 hours to
  connect, no detour of more than 50% plus 800 km).

What changes at run time (seats sold, price shifts, orders) lives in ``market``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Final

from provider_sim.world import (
    AIRPORTS,
    AIRPORTS_BY_CODE,
    CABINS,
    CARRIERS,
    FIRST_CLASS_AIRCRAFT,
    FIRST_CLASS_CARRIERS,
    NARROWBODIES,
    Airport,
    Carrier,
    distance_km,
    local_to_utc,
    utc_to_local,
)

DEFAULT_SEED: Final = 7
LONG_HAUL_KM: Final = 2500
MIN_ROUTE_KM: Final = 150
MIN_CONNECTION: Final = timedelta(minutes=60)
MAX_CONNECTION: Final = timedelta(hours=8)
# The largest seat count Amadeus reports in numberOfBookableSeats.
MAX_BOOKABLE: Final = 9

_REGIONAL_SHARE: Final = {"EU": 0.80, "NA": 0.90}
_LONG_HAUL_SHARE: Final = 0.85
_CABIN_PERMILLE_SHORT: Final = {"ECONOMY": 1000, "BUSINESS": 2600}
_CABIN_PERMILLE_LONG: Final = {
    "ECONOMY": 1000,
    "PREMIUM_ECONOMY": 1800,
    "BUSINESS": 3800,
    "FIRST": 6500,
}
_LARGE_CABIN_SEATS: Final = {"ECONOMY": (10, 90), "PREMIUM_ECONOMY": (10, 24), "BUSINESS": (10, 30)}


@dataclasses.dataclass(frozen=True)
class Service:
    """A scheduled flight number, flown every day."""

    carrier: str
    number: str
    origin: str
    destination: str
    departure_minute: int  # local time at the origin, minutes after midnight
    duration_minutes: int
    aircraft: str
    cabins: tuple[str, ...]
    distance_km: int
    departure_terminal: str | None
    arrival_terminal: str | None

    @property
    def flight_number(self) -> str:
        return f"{self.carrier}{self.number}"


@dataclasses.dataclass(frozen=True)
class Flight:
    """A service on one date (the local departure date at its origin)."""

    service: Service
    date: date
    departure: datetime  # naive local time at the origin
    arrival: datetime  # naive local time at the destination
    departure_utc: datetime
    arrival_utc: datetime

    @property
    def carrier(self) -> str:
        return self.service.carrier

    @property
    def number(self) -> str:
        return self.service.number

    @property
    def origin(self) -> str:
        return self.service.origin

    @property
    def destination(self) -> str:
        return self.service.destination

    @property
    def key(self) -> tuple[str, str, dt.date]:
        return (self.service.carrier, self.service.number, self.date)


Itinerary = tuple[Flight, ...]


class Inventory:
    """Immutable once built; safe to share between states, apps and threads."""

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        routes = self._build_network()
        self._routes: dict[tuple[str, str], tuple[Service, ...]] = {}
        self._services: dict[tuple[str, str], Service] = {}
        for carrier in CARRIERS:
            for index, (a, b) in enumerate(sorted(routes.get(carrier.code, ()))):
                for service in self._schedule(carrier, index, a, b):
                    self._services[(service.carrier, service.number)] = service
                    pair = (service.origin, service.destination)
                    self._routes[pair] = (*self._routes.get(pair, ()), service)
        neighbours: dict[str, set[str]] = {a.iata: set() for a in AIRPORTS}
        for origin, destination in self._routes:
            neighbours[origin].add(destination)
        self._neighbours = {code: frozenset(n) for code, n in neighbours.items()}

    # -- queries -----------------------------------------------------------------------

    def knows_airport(self, iata: str) -> bool:
        return iata in AIRPORTS_BY_CODE

    def has_direct(self, origin: str, destination: str) -> bool:
        return (origin, destination) in self._routes

    def route_carriers(self, origin: str, destination: str) -> list[str]:
        return sorted({s.carrier for s in self._routes.get((origin, destination), ())})

    def routes(self) -> list[tuple[str, str]]:
        """Every directed airport pair flown non-stop, sorted."""
        return sorted(self._routes)

    def services(self) -> list[Service]:
        return sorted(self._services.values(), key=lambda s: (s.carrier, int(s.number)))

    def service(self, carrier: str, number: str) -> Service | None:
        return self._services.get((carrier, number))

    def flights(self, origin: str, destination: str, day: date) -> list[Flight]:
        """Non-stop flights departing ``day`` (local date at the origin)."""
        services = self._routes.get((origin, destination), ())
        flights = [self._operate(service, day) for service in services]
        return sorted(flights, key=lambda f: (f.departure_utc, f.carrier, int(f.number)))

    def flight(self, carrier: str, number: str, day: date) -> Flight | None:
        service = self._services.get((carrier, number))
        return None if service is None else self._operate(service, day)

    def itineraries(
        self, origin: str, destination: str, day: date, max_connections: int = 1
    ) -> list[Itinerary]:
        """Non-stop flights; one-stop ones only when there is no non-stop route."""
        direct = self.flights(origin, destination, day)
        if direct or self.has_direct(origin, destination) or max_connections < 1:
            return [(flight,) for flight in direct]
        if origin not in self._neighbours or destination not in self._neighbours:
            return []
        limit = distance_km(_airport(origin), _airport(destination)) * 3 // 2 + 800
        found: list[Itinerary] = []
        hubs = (self._neighbours[origin] & self._reverse(destination)) - {origin, destination}
        for hub in sorted(hubs):
            detour = distance_km(_airport(origin), _airport(hub)) + distance_km(
                _airport(hub), _airport(destination)
            )
            if detour > limit:
                continue
            for first in self.flights(origin, hub, day):
                for onward_day in (first.arrival.date(), first.arrival.date() + timedelta(1)):
                    for second in self.flights(hub, destination, onward_day):
                        wait = second.departure_utc - first.arrival_utc
                        if MIN_CONNECTION <= wait <= MAX_CONNECTION:
                            found.append((first, second))
        return sorted(found, key=lambda it: (it[0].departure_utc, it[-1].arrival_utc, _keys(it)))

    def initial_seats(self, flight: Flight, cabin: str) -> int:
        """Seats for sale in ``cabin`` before anything was sold; 0 if not offered."""
        if cabin not in flight.service.cabins:
            return 0
        parts = ("seats", flight.carrier, flight.number, flight.date.isoformat(), cabin)
        if cabin == "FIRST":
            return 1 + self._int(*parts) % 8
        share = self._unit(*parts)
        if share < 0.04:
            return 0
        if share < 0.30:
            return 1 + self._int(*parts, "few") % MAX_BOOKABLE
        low, high = _LARGE_CABIN_SEATS[cabin]
        return low + self._int(*parts, "many") % (high - low + 1)

    def base_fare_cents(self, flight: Flight, cabin: str) -> int:
        """Adult base fare in euro cents for one segment, before any price shift.

        Distance-based economy fare, times a demand factor of the flight and date
        (0.70-1.80, shared by its cabins so a higher cabin always costs more), times the
        cabin's multiple, times a small per-cabin variation (0.95-1.05)."""
        km = flight.service.distance_km
        economy = 3500 + km * 85 // 10 if km < LONG_HAUL_KM else 11000 + km * 55 // 10
        table = _CABIN_PERMILLE_SHORT if km < LONG_HAUL_KM else _CABIN_PERMILLE_LONG
        day = flight.date.isoformat()
        demand = 700 + self._int("fare", flight.carrier, flight.number, day) % 1101
        variation = 950 + self._int("fare", flight.carrier, flight.number, day, cabin) % 101
        return economy * demand * table[cabin] * variation // 1_000_000_000

    def airport_charge_cents(self, iata: str) -> int:
        """Taxes and charges per departing (seated) passenger, in euro cents."""
        return 800 + self._int("charge", iata) % 4701

    # -- construction ------------------------------------------------------------------

    def _build_network(self) -> dict[str, set[tuple[str, str]]]:
        routes: dict[str, set[tuple[str, str]]] = {}
        for carrier in CARRIERS:
            pairs = routes.setdefault(carrier.code, set())
            for hub in carrier.hubs:
                for other in carrier.hubs:
                    if other != hub:
                        pairs.add(_pair(hub, other))
                for airport in AIRPORTS:
                    if airport.iata == hub or distance_km(_airport(hub), airport) < MIN_ROUTE_KM:
                        continue
                    if airport.iata in carrier.long_haul:
                        share = _LONG_HAUL_SHARE
                    elif airport.region == carrier.region:
                        share = _REGIONAL_SHARE.get(carrier.region, 0.0)
                    else:
                        continue
                    if self._unit("route", carrier.code, hub, airport.iata) < share:
                        pairs.add(_pair(hub, airport.iata))
        return routes

    def _schedule(self, carrier: Carrier, index: int, a: str, b: str) -> Iterable[Service]:
        km = distance_km(_airport(a), _airport(b))
        long_haul = km >= LONG_HAUL_KM
        draw = self._int("frequency", carrier.code, a, b)
        if km < 1000:
            frequency = 2 + draw % 3
        elif not long_haul:
            frequency = 1 + draw % 2
        else:
            frequency = 1 + (draw % 4 == 0)
        fleet = carrier.widebodies if long_haul else NARROWBODIES[carrier.region]
        aircraft = fleet[self._int("aircraft", carrier.code, a, b) % len(fleet)]
        cabins = self._cabins(carrier, aircraft, long_haul, a, b)
        hub = a if a in carrier.hubs else b
        for origin, destination in ((a, b), (b, a)):
            start, end = _departure_window(_airport(origin), _airport(destination), long_haul)
            span = (end - start) // frequency
            for slot in range(frequency):
                jitter = self._int("slot", carrier.code, origin, destination, slot) % max(
                    1, span - 30
                )
                minute = (start + slot * span + jitter) // 5 * 5
                yield Service(
                    carrier=carrier.code,
                    number=str(100 + 10 * index + 2 * slot + (1 if origin == hub else 2)),
                    origin=origin,
                    destination=destination,
                    departure_minute=minute,
                    duration_minutes=_block_minutes(_airport(origin), _airport(destination), km),
                    aircraft=aircraft,
                    cabins=cabins,
                    distance_km=km,
                    departure_terminal=self._terminal(carrier.code, origin),
                    arrival_terminal=self._terminal(carrier.code, destination),
                )

    def _cabins(
        self, carrier: Carrier, aircraft: str, long_haul: bool, a: str, b: str
    ) -> tuple[str, ...]:
        if not long_haul:
            return ("ECONOMY", "BUSINESS")
        offered = {"ECONOMY", "BUSINESS"}
        if self._unit("premium", carrier.code, a, b) < 0.75:
            offered.add("PREMIUM_ECONOMY")
        if carrier.code in FIRST_CLASS_CARRIERS and aircraft in FIRST_CLASS_AIRCRAFT:
            offered.add("FIRST")
        return tuple(c for c in CABINS if c in offered)

    def _terminal(self, carrier: str, iata: str) -> str | None:
        terminals = _airport(iata).terminals
        if not terminals:
            return None
        return terminals[self._int("terminal", carrier, iata) % len(terminals)]

    def _operate(self, service: Service, day: date) -> Flight:
        departure = datetime.combine(day, time()) + timedelta(minutes=service.departure_minute)
        departure_utc = local_to_utc(_airport(service.origin).time_zone, departure)
        arrival_utc = departure_utc + timedelta(minutes=service.duration_minutes)
        arrival = utc_to_local(_airport(service.destination).time_zone, arrival_utc)
        return Flight(service, day, departure, arrival, departure_utc, arrival_utc)

    def _reverse(self, destination: str) -> frozenset[str]:
        """Airports with a non-stop flight to ``destination`` (routes are symmetric)."""
        return self._neighbours.get(destination, frozenset())

    # -- keyed hash --------------------------------------------------------------------

    def _int(self, *parts: object) -> int:
        key = "|".join(str(p) for p in (self.seed, *parts)).encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")

    def _unit(self, *parts: object) -> float:
        """A number in [0, 1), fixed for the seed and ``parts``."""
        return self._int(*parts) / 2**64


@functools.lru_cache(maxsize=8)
def inventory_for_seed(seed: int = DEFAULT_SEED) -> Inventory:
    """A shared inventory per seed: it is immutable, and building one takes ~50 ms."""
    return Inventory(seed)


def _airport(iata: str) -> Airport:
    return AIRPORTS_BY_CODE[iata]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _keys(itinerary: Itinerary) -> tuple[tuple[str, int], ...]:
    return tuple((f.carrier, int(f.number)) for f in itinerary)


def _departure_window(origin: Airport, destination: Airport, long_haul: bool) -> tuple[int, int]:
    """Local departure window (minutes after midnight) for a route's rotations."""
    if long_haul and origin.region == "EU" and destination.region == "NA":
        return 9 * 60, 16 * 60 + 30
    if long_haul and origin.region == "NA":
        return 16 * 60 + 30, 22 * 60 + 30
    if long_haul:
        return 8 * 60, 23 * 60
    return 6 * 60 + 30, 21 * 60 + 30


def _block_minutes(origin: Airport, destination: Airport, km: int) -> int:
    minutes = 40 + km / 13
    eastbound = (destination.longitude - origin.longitude) % 360 < 180
    minutes *= 0.95 if eastbound else 1.05
    return max(45, round(minutes / 5) * 5)
