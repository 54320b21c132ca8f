"""A validated hotel search (destination resolved) and its canonical form.

Two requests that mean the same search (a city by code or by name, amenities or hotel
ids in another order, an explicit default) have the same ``canonical()`` text, so they
share one cache entry and accept each other's page tokens.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.providers.hotels import HotelQuery as SupplierQuery


class HotelSort(StrEnum):
    PRICE = "price"
    STARS = "stars"
    DISTANCE = "distance"
    RATING = "rating"


@dataclass(frozen=True, slots=True)
class HotelQuery:
    check_in: date
    check_out: date
    adults: int
    rooms: int
    child_ages: tuple[int, ...] = ()
    # A city (code) or a point, or given hotels (sorted, distinct).
    city_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    radius_km: int = 5
    hotel_ids: tuple[str, ...] = ()
    currency: str = ""
    # Filters; a price cap only matches offers priced in its currency.
    max_night_cents: int | None = None
    max_night_currency: str = ""
    max_total_cents: int | None = None
    max_total_currency: str = ""
    min_stars: int = 0
    amenities: tuple[str, ...] = ()
    refundable_only: bool = False
    boards: tuple[str, ...] = ()  # supplier board types; empty: any
    sort: HotelSort = HotelSort.PRICE

    @property
    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    def canonical(self) -> str:
        # hotel_ids only when given: a destination search keeps the text (and so the
        # cache entry and page tokens) it had before searches by ids existed.
        ids = [list(self.hotel_ids)] if self.hotel_ids else []
        return json.dumps(
            [
                "hotels",
                1,
                self.city_code,
                self.latitude,
                self.longitude,
                self.radius_km,
                self.check_in.isoformat(),
                self.check_out.isoformat(),
                self.adults,
                list(self.child_ages),
                self.rooms,
                self.currency,
                self.max_night_cents,
                self.max_night_currency,
                self.max_total_cents,
                self.max_total_currency,
                self.min_stars,
                list(self.amenities),
                self.refundable_only,
                list(self.boards),
                self.sort.value,
                *ids,
            ],
            separators=(",", ":"),
        )

    def digest(self) -> str:
        return _digest(self)

    def supplier_query(self) -> SupplierQuery:
        """What the supplier is asked: the stay, and the narrowing it can apply."""
        return SupplierQuery(
            check_in=self.check_in,
            check_out=self.check_out,
            adults=self.adults,
            rooms=self.rooms,
            child_ages=self.child_ages,
            city_code=self.city_code,
            latitude=self.latitude,
            longitude=self.longitude,
            radius_km=self.radius_km,
            hotel_ids=self.hotel_ids,
            currency=self.currency,
            stars=tuple(range(self.min_stars, 6)) if self.min_stars > 1 else (),
            amenities=self.amenities,
            board_type=self.boards[0] if len(self.boards) == 1 else "",
        )


@functools.lru_cache(maxsize=4096)
def _digest(query: HotelQuery) -> str:
    # Memoized: a popular search is asked for its digest on every cache hit, and
    # hashing the frozen query costs a fraction of encoding and hashing its canonical form.
    return hashlib.sha256(query.canonical().encode()).hexdigest()
