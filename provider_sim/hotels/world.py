"""Static facts the hotel world is built from: real cities and their areas.

Each city is one of the flight world's cities (``provider_sim.world``: its IATA city
code, country and IANA time zone, taken from the city's first airport there), with the
real coordinates of its centre. Areas are named districts around the centre (the names
are generic, their positions are offsets from the centre) plus the main airport's
surroundings, at the airport's own coordinates.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

from provider_sim.world import AIRPORTS, Airport


class City(NamedTuple):
    code: str  # IATA city code, e.g. PAR
    name: str
    country_code: str
    time_zone: str
    latitude: float
    longitude: float
    # Price level of the city's hotels (1.0 = the average of the world).
    cost: float
    airport: Airport


class Area(NamedTuple):
    code: str  # city code + index, e.g. PAR2
    name: str
    city_code: str
    latitude: float
    longitude: float


# City code -> (name, centre latitude, centre longitude, cost level).
# fmt: off
_CENTRES: Final[dict[str, tuple[str, float, float, float]]] = {
    "LON": ("LONDON", 51.5074, -0.1278, 1.35),
    "PAR": ("PARIS", 48.8566, 2.3522, 1.30),
    "FRA": ("FRANKFURT", 50.1109, 8.6821, 1.00),
    "AMS": ("AMSTERDAM", 52.3676, 4.9041, 1.20),
    "MAD": ("MADRID", 40.4168, -3.7038, 0.90),
    "BCN": ("BARCELONA", 41.3874, 2.1686, 1.00),
    "ROM": ("ROME", 41.9028, 12.4964, 1.05),
    "MUC": ("MUNICH", 48.1351, 11.5820, 1.05),
    "ZRH": ("ZURICH", 47.3769, 8.5417, 1.40),
    "VIE": ("VIENNA", 48.2082, 16.3738, 0.95),
    "DUB": ("DUBLIN", 53.3498, -6.2603, 1.15),
    "CPH": ("COPENHAGEN", 55.6761, 12.5683, 1.20),
    "OSL": ("OSLO", 59.9139, 10.7522, 1.20),
    "STO": ("STOCKHOLM", 59.3293, 18.0686, 1.10),
    "HEL": ("HELSINKI", 60.1699, 24.9384, 1.00),
    "LIS": ("LISBON", 38.7223, -9.1393, 0.85),
    "BRU": ("BRUSSELS", 50.8503, 4.3517, 0.95),
    "NYC": ("NEW YORK", 40.7128, -74.0060, 1.50),
    "BOS": ("BOSTON", 42.3601, -71.0589, 1.25),
    "CHI": ("CHICAGO", 41.8781, -87.6298, 1.10),
    "LAX": ("LOS ANGELES", 34.0522, -118.2437, 1.20),
    "SFO": ("SAN FRANCISCO", 37.7749, -122.4194, 1.35),
    "YTO": ("TORONTO", 43.6532, -79.3832, 1.05),
    "DXB": ("DUBAI", 25.2048, 55.2708, 1.10),
    "SIN": ("SINGAPORE", 1.3521, 103.8198, 1.15),
}
# fmt: on

# District names, with their offset from the centre (km north, km east).
_DISTRICTS: Final = (
    ("CITY CENTRE", 0.0, 0.0),
    ("OLD TOWN", 1.2, -1.5),
    ("BUSINESS DISTRICT", -2.5, 2.8),
    ("WATERFRONT", -1.8, -3.2),
)


def _first_airport(city_code: str) -> Airport:
    return next(a for a in AIRPORTS if a.city_code == city_code)


CITIES: Final = tuple(
    City(code, name, a.country_code, a.time_zone, lat, lon, cost, a)
    for code, (name, lat, lon, cost) in _CENTRES.items()
    for a in (_first_airport(code),)
)
CITIES_BY_CODE: Final = {c.code: c for c in CITIES}


def offset(
    latitude: float, longitude: float, north_km: float, east_km: float
) -> tuple[float, float]:
    """The point ``north_km`` north and ``east_km`` east of a point (small distances)."""
    lat = latitude + north_km / 110.574
    lon = longitude + east_km / (111.320 * math.cos(math.radians(latitude)))
    return round(lat, 5), round(lon, 5)


def areas(city: City) -> tuple[Area, ...]:
    found = [
        Area(f"{city.code}{n + 1}", name, city.code, *offset(city.latitude, city.longitude, dn, de))
        for n, (name, dn, de) in enumerate(_DISTRICTS)
    ]
    airport = city.airport
    found.append(
        Area(
            f"{city.code}{len(found) + 1}",
            f"{airport.name} AIRPORT",
            city.code,
            airport.latitude,
            airport.longitude,
        )
    )
    return tuple(found)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((l2 - l1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


# Amadeus' hotel amenity codes (a subset), and board types.
AMENITIES: Final = (
    "WIFI",
    "PARKING",
    "SWIMMING_POOL",
    "FITNESS_CENTER",
    "SPA",
    "RESTAURANT",
    "AIR_CONDITIONING",
    "PETS_ALLOWED",
    "AIRPORT_SHUTTLE",
    "BUSINESS_CENTER",
    "KIDS_WELCOME",
    "ROOM_SERVICE",
)
BOARD_TYPES: Final = ("ROOM_ONLY", "BREAKFAST", "HALF_BOARD", "FULL_BOARD", "ALL_INCLUSIVE")
