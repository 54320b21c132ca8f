"""One flight as a traveller sees it: the value type every flight segment is built on.

A priced offer's segment, an inventory fare read for booking and a stored booking
segment each hold one ``FlightLeg`` (``record.leg``) beside what is their own (fare,
price, seats). Its fields are keyword-only: two airports and two instants of the same
type are too easy to swap when passed by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class FlightLeg:
    flight_designator: str  # airline code and flight number, e.g. "SR123"
    origin: str  # IATA airport codes
    destination: str
    departure_at: datetime  # aware instants
    arrival_at: datetime
    # Local times, ISO 8601 with the UTC offset, where the source knows them.
    departure_local_time: str | None = None
    arrival_local_time: str | None = None


def local_time(moment: datetime, zone: str) -> str | None:
    """ISO 8601 with the UTC offset at ``zone`` (an IANA name), or None if unknown."""
    try:
        return moment.astimezone(ZoneInfo(zone)).isoformat()
    except (ValueError, KeyError):
        return None
