"""A validated, normalised flight search and its canonical form.

Two requests that mean the same search (airline codes in another order or case,
an explicit default) have the same ``canonical()`` text and so share one cache entry
and accept each other's page tokens.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from search_service.pricing import Party


class SortOrder(StrEnum):
    PRICE = "price"
    DURATION = "duration"
    DEPARTURE = "departure"


class Cabin(StrEnum):
    ECONOMY = "ECONOMY"
    PREMIUM_ECONOMY = "PREMIUM_ECONOMY"
    BUSINESS = "BUSINESS"
    FIRST = "FIRST"


MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class SearchQuery:
    origin: str
    destination: str
    departure_date: date
    return_date: date | None
    party: Party
    cabin: Cabin
    max_stops: int = 1
    included_airlines: tuple[str, ...] = ()
    excluded_airlines: tuple[str, ...] = ()
    # Minutes after local midnight at the origin, both inclusive.
    window_start_minute: int = 0
    window_end_minute: int = MINUTES_PER_DAY - 1
    max_total_cents: int | None = None
    max_total_currency: str | None = None
    flexible_days: int = 0
    sort: SortOrder = SortOrder.PRICE
    include_provider: bool = False

    @property
    def round_trip(self) -> bool:
        return self.return_date is not None

    def departure_dates(self) -> list[date]:
        return _around(self.departure_date, self.flexible_days)

    def return_dates(self) -> list[date]:
        return [] if self.return_date is None else _around(self.return_date, self.flexible_days)

    def canonical(self) -> str:
        """Everything that determines the result list, in one fixed text form."""
        return json.dumps(
            [
                1,
                self.origin,
                self.destination,
                self.departure_date.isoformat(),
                self.return_date.isoformat() if self.return_date else None,
                [self.party.adults, self.party.children, self.party.infants],
                self.cabin.value,
                self.max_stops,
                list(self.included_airlines),
                list(self.excluded_airlines),
                self.window_start_minute,
                self.window_end_minute,
                self.max_total_cents,
                self.max_total_currency,
                self.flexible_days,
                self.sort.value,
                self.include_provider,
            ],
            separators=(",", ":"),
        )

    def digest(self) -> str:
        return _digest(self)


@functools.lru_cache(maxsize=4096)
def _digest(query: SearchQuery) -> str:
    # Memoized (as a hotel query's digest is): a popular search is asked for its digest
    # on every cache hit, and hashing the frozen query costs a fraction of encoding and
    # hashing its canonical form.
    return hashlib.sha256(query.canonical().encode()).hexdigest()


def _around(day: date, days: int) -> list[date]:
    return [day + timedelta(days=d) for d in range(-days, days + 1)]
