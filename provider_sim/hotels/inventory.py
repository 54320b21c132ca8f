"""The stand-in's hotel world: deterministic, in memory, for any date.

Everything comes from the seed through a keyed hash (``_Hash``), as the flight
inventory does, so every process on every machine sees the same hotels and prices:

- **Hotels** (built once): 12-24 per city, each in one of the city's areas, with a
  chain, stars (1-5, mostly 3-4), coordinates within about a kilometre of its area's
  centre, amenities (more with more stars), a guest rating (0-100, by stars and
  reviews), room types (every hotel has standard rooms; superior rooms from 3 stars,
  suites from 4) with a number of rooms each, and rate plans (flexible and
  non-refundable everywhere; with breakfast from 2 stars; half board from 4).
- **Per night, lazily**: the rooms of a type still free (none for about 8% of nights,
  else up to the type's room count) and the price per room: the hotel's base by stars
  and city, times the room type's and the rate plan's factors, a weekend and season
  factor, a per-night demand factor of 0.85-1.30 and the occupancy (each extra adult
  +20%, each child from 3 +10%); plus 10% tax.

What changes at run time (rooms sold, price shift, orders) lives in ``market``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from datetime import date
from typing import Final

from provider_sim.hotels.world import (
    AMENITIES,
    CITIES,
    CITIES_BY_CODE,
    Area,
    City,
    areas,
    distance_km,
    offset,
)

DEFAULT_SEED: Final = 7
TAX_PERMILLE: Final = 100
MAX_NIGHTS: Final = 30
MAX_ROOMS: Final = 9
MAX_ADULTS: Final = 9


@dataclasses.dataclass(frozen=True)
class RoomType:
    code: str  # Amadeus room type code: three characters
    category: str  # typeEstimated.category
    beds: int
    bed_type: str
    max_guests: int  # adults and children from 2 years
    description: str
    permille: int  # price against a standard room


@dataclasses.dataclass(frozen=True)
class RatePlan:
    code: str  # rateCode
    refundable: bool
    board_type: str
    permille: int
    # A refundable rate is cancelled free until 18:00 local this many days before arrival.
    deadline_days: int


# fmt: off
ROOM_TYPES: Final = (
    RoomType("A1D", "STANDARD_ROOM", 1, "DOUBLE", 2, "Standard room, one double bed", 1000),
    RoomType("A2T", "STANDARD_ROOM", 2, "TWIN", 2, "Standard room, two single beds", 1000),
    RoomType("B1K", "SUPERIOR_ROOM", 1, "KING", 3, "Superior room, one king bed, sofa", 1300),
    RoomType("C2Q", "FAMILY_ROOM", 2, "QUEEN", 4, "Family room, two queen beds", 1550),
    RoomType("S1K", "SUITE", 1, "KING", 4, "Suite, one king bed, living room", 2400),
)
RATE_PLANS: Final = (
    RatePlan("FLX", True, "ROOM_ONLY", 1000, 1),
    RatePlan("FBB", True, "BREAKFAST", 1150, 1),
    RatePlan("NRF", False, "ROOM_ONLY", 850, 0),
    RatePlan("HBD", True, "HALF_BOARD", 1400, 3),
)
CHAINS: Final = (
    ("GH", "GRAND HOTEL"), ("CP", "CITY PLAZA"), ("RI", "RIVERSIDE INN"), ("PK", "PARK HOTEL"),
    ("ML", "METRO LODGE"), ("RY", "ROYAL RESIDENCE"), ("HV", "HARBOUR VIEW"),
    ("BQ", "BOUTIQUE HOUSE"),
)
# fmt: on
ROOM_TYPES_BY_CODE: Final = {r.code: r for r in ROOM_TYPES}
RATE_PLANS_BY_CODE: Final = {r.code: r for r in RATE_PLANS}
_STAR_BASE_CENTS: Final = {1: 4500, 2: 6500, 3: 9500, 4: 14500, 5: 26000}
# Month -> price factor in permille (high season in summer and December).
_SEASON: Final = (900, 900, 950, 1000, 1050, 1150, 1250, 1250, 1100, 1000, 950, 1150)


@dataclasses.dataclass(frozen=True)
class Hotel:
    hotel_id: str  # Amadeus-shaped: chain code, city code, three digits (GHPAR004)
    chain_code: str
    name: str
    city: City
    area: Area
    stars: int
    latitude: float
    longitude: float
    amenities: tuple[str, ...]
    rating: int  # overall guest rating, 0-100
    reviews: int
    rooms: tuple[tuple[RoomType, int], ...]  # room types and how many rooms of each
    rate_plans: tuple[RatePlan, ...]
    base_cents: int  # EUR, one adult in a standard room, before factors and tax

    def room_count(self, room: RoomType) -> int:
        return next((n for r, n in self.rooms if r == room), 0)

    def distance_km(self, latitude: float, longitude: float) -> float:
        return distance_km(latitude, longitude, self.latitude, self.longitude)


@dataclasses.dataclass(frozen=True)
class Occupancy:
    """Guests of one room; every room of an offer has the same."""

    adults: int
    child_ages: tuple[int, ...] = ()

    @property
    def guests(self) -> int:
        """Guests who need a bed (children under 2 sleep in a cot)."""
        return self.adults + sum(1 for age in self.child_ages if age >= 2)


class HotelInventory:
    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed
        self._hotels: dict[str, Hotel] = {}
        self._by_city: dict[str, list[Hotel]] = {}
        for city in CITIES:
            built = self._city_hotels(city)
            self._by_city[city.code] = built
            self._hotels.update((h.hotel_id, h) for h in built)

    # -- lookups -----------------------------------------------------------------------

    def hotel(self, hotel_id: str) -> Hotel | None:
        return self._hotels.get(hotel_id)

    def city_hotels(self, city_code: str) -> list[Hotel]:
        return list(self._by_city.get(city_code, ()))

    def hotels(self) -> list[Hotel]:
        return list(self._hotels.values())

    @staticmethod
    def city(code: str) -> City | None:
        return CITIES_BY_CODE.get(code)

    # -- per night ---------------------------------------------------------------------

    def initial_rooms(self, hotel: Hotel, room: RoomType, night: date) -> int:
        count = hotel.room_count(room)
        if count == 0 or self._unit("full", hotel.hotel_id, room.code, night) < 0.08:
            return 0
        return 1 + self._int("rooms", hotel.hotel_id, room.code, night) % count

    def night_cents(
        self, hotel: Hotel, room: RoomType, rate: RatePlan, night: date, occupancy: Occupancy
    ) -> int:
        """One room for one night, before tax, in euro cents."""
        demand = 850 + self._int("demand", hotel.hotel_id, night) % 451  # 0.85 - 1.30
        weekend = 1120 if night.weekday() in (4, 5) else 1000
        children = sum(1 for age in occupancy.child_ages if age >= 3)
        guests = 1000 + 200 * (occupancy.adults - 1) + 100 * children
        value = hotel.base_cents
        for permille in (room.permille, rate.permille, _SEASON[night.month - 1], weekend):
            value = value * permille // 1000
        value = value * demand // 1000
        return value * guests // 1000

    # -- building ----------------------------------------------------------------------

    def _city_hotels(self, city: City) -> list[Hotel]:
        places = areas(city)
        count = 12 + self._int("count", city.code) % 13
        hotels = []
        for n in range(count):
            key = (city.code, n)
            chain_code, chain_name = CHAINS[self._int("chain", *key) % len(CHAINS)]
            area = places[self._int("area", *key) % len(places)]
            stars = _stars(self._unit("stars", *key))
            lat, lon = offset(
                area.latitude,
                area.longitude,
                self._unit("north", *key) * 2.0 - 1.0,
                self._unit("east", *key) * 2.0 - 1.0,
            )
            amenities = tuple(
                a
                for a in AMENITIES
                if a == "WIFI" or self._unit("amenity", a, *key) < 0.15 + 0.15 * stars
            )
            reviews = 20 + self._int("reviews", *key) % 2000
            rating = min(99, 38 + 9 * stars + self._int("rating", *key) % 16)
            rooms = tuple(
                (room, 2 + self._int("count", room.code, *key) % 19)
                for room in ROOM_TYPES
                if _offers_room(room, stars, self._unit("room", room.code, *key))
            )
            plans = tuple(
                plan
                for plan in RATE_PLANS
                if plan.code in ("FLX", "NRF")
                or (plan.code == "FBB" and stars >= 2)
                or (plan.code == "HBD" and stars >= 4)
            )
            base = _STAR_BASE_CENTS[stars] * (850 + self._int("base", *key) % 351) // 1000
            hotels.append(
                Hotel(
                    hotel_id=f"{chain_code}{city.code}{n + 1:03d}",
                    chain_code=chain_code,
                    name=f"{chain_name} {city.name} {area.name}",
                    city=city,
                    area=area,
                    stars=stars,
                    latitude=lat,
                    longitude=lon,
                    amenities=amenities,
                    rating=rating,
                    reviews=reviews,
                    rooms=rooms,
                    rate_plans=plans,
                    base_cents=int(base * city.cost),
                )
            )
        return hotels

    # -- keyed hash --------------------------------------------------------------------

    def _int(self, *parts: object) -> int:
        key = "|".join(str(p) for p in (self.seed, "hotel", *parts)).encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")

    def _unit(self, *parts: object) -> float:
        return self._int(*parts) / 2**64


def _stars(unit: float) -> int:
    for stars, share in ((1, 0.05), (2, 0.20), (3, 0.60), (4, 0.90)):
        if unit < share:
            return stars
    return 5


def _offers_room(room: RoomType, stars: int, unit: float) -> bool:
    if room.code == "A1D":
        return True
    if room.code == "B1K":
        return stars >= 3
    if room.code == "S1K":
        return stars >= 4
    return unit < 0.65


@functools.lru_cache(maxsize=8)
def hotel_inventory_for_seed(seed: int = DEFAULT_SEED) -> HotelInventory:
    return HotelInventory(seed)
