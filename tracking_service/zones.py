"""Where a tracker's last travel day happens, as a time zone: an airport's, a city's or
a point's, from ``airportsdata`` (the package the inventory's airports and their zones
come from: inventory_seed/generator.py), loaded once per process.

- An airport: its own IANA zone.
- A city (an IATA city code, as hotel searches and hotel ids carry): the zone of the
  city's airports for a multi-airport city code (PAR, NYC, LON, ...), else the airport
  of that code (most cities' code is their airport's: LIS, BCN, DXB).
- A point: the zone of the nearest airport (a hotel search reaches at most 50 km from
  its point; an airport's zone is its region's).
- Anything unknown: UTC-12, the last zone on Earth to finish a day, so a day is never
  taken as over while it still runs somewhere.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import airportsdata

LAST_ZONE = timezone(timedelta(hours=-12))


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def _airports() -> dict[str, Any]:
    """airportsdata's IATA table: read once (it parses its CSV on every ``load``)."""
    return airportsdata.load("IATA")


@functools.cache
def _airport_zones() -> dict[str, tzinfo]:
    zones = {}
    for code, airport in _airports().items():
        zone = _zone(airport["tz"])
        if zone is not None:
            zones[code] = zone
    return zones


@functools.cache
def _city_zones() -> dict[str, tzinfo]:
    zones = {}
    for code, city in airportsdata.load_iata_macs().items():
        for airport in city["airports"].values():
            zone = _zone(airport["tz"])
            if zone is not None:
                zones[code] = zone
                break
    return zones


@functools.cache
def _positions() -> tuple[tuple[float, float, float, str], ...]:
    """(latitude and longitude in radians, cos(latitude), code) of every airport with a
    zone, for the nearest-airport search."""
    zones = _airport_zones()
    out = []
    for code, airport in _airports().items():
        if code in zones:
            lat, lon = math.radians(airport["lat"]), math.radians(airport["lon"])
            out.append((lat, lon, math.cos(lat), code))
    return tuple(out)


def load_zones() -> None:
    """Reads the airports now (at start) rather than at the first tracker created."""
    _city_zones()
    _positions()


def airport_zone(code: str) -> tzinfo:
    return _airport_zones().get(code, LAST_ZONE)


def city_zone(code: str) -> tzinfo:
    return _city_zones().get(code) or _airport_zones().get(code) or LAST_ZONE


def point_zone(latitude: float, longitude: float) -> tzinfo:
    """The zone of the airport nearest the point (haversine)."""
    lat, lon = math.radians(latitude), math.radians(longitude)
    cos_lat = math.cos(lat)
    best, best_code = math.inf, ""
    for a_lat, a_lon, a_cos, code in _positions():
        h = math.sin((a_lat - lat) / 2) ** 2 + cos_lat * a_cos * math.sin((a_lon - lon) / 2) ** 2
        if h < best:
            best, best_code = h, code
    return airport_zone(best_code) if best_code else LAST_ZONE


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The instant ``day`` ends in ``zone`` (the next day's local midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)


def today(zone: tzinfo, now: datetime) -> date:
    return now.astimezone(zone).date()
