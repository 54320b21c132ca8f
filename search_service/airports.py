"""The airports the inventory knows, with their time zones, held in memory.

Airports are reference data: loaded at start and reloaded in the background, so
validation and local-time conversion never wait for the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("skyroute.search.airports")

UTC_ZONE = ZoneInfo("UTC")


class AirportDirectory:
    def __init__(self, airports: Iterable[tuple[str, str]] = ()) -> None:
        self._zones: dict[str, ZoneInfo] = {}
        # Counts replacements: what was judged against one directory (a search's
        # validation, remembered) is judged again against the next.
        self.generation = 0
        self.replace(airports)

    def replace(self, airports: Iterable[tuple[str, str]]) -> None:
        """Take ``(iata_code, IANA zone)`` pairs as the whole directory."""
        zones: dict[str, ZoneInfo] = {}
        for code, zone_name in airports:
            try:
                zones[code.strip()] = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError):
                log.warning(
                    "airport has an unknown time zone; treated as UTC",
                    extra={"airport": code, "zone": zone_name},
                )
                zones[code.strip()] = UTC_ZONE
        self._zones = zones
        self.generation += 1

    def __contains__(self, code: object) -> bool:
        return code in self._zones

    def __len__(self) -> int:
        return len(self._zones)

    def zone(self, code: str) -> ZoneInfo:
        """The airport's zone (UTC for an airport we do not know)."""
        return self._zones.get(code, UTC_ZONE)

    def today(self, code: str, now: datetime) -> date:
        return now.astimezone(self.zone(code)).date()


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
