"""What search and booking need from a hotel supplier, in supplier-neutral terms: the
interface (``HotelProvider``), its value types and its errors.

It sits beside ``base`` (flights) and shares its failure and order errors: a call that
got no usable answer raises ``ProviderFailure`` (with a reason of ``base``); an order
create is classified like a flight order's (``OrderRejected``, ``OrderNotSent``,
``OrderOutcomeUnknown``), and an unknown outcome is reconciled by looking the order up by
the attempt's remark, never by creating it again. Adapters (``amadeus_hotels``) turn
these into one supplier's URLs and JSON; every call carries the supplier's shared token
from the token service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.providers.base import PlacedOrder


@dataclass(frozen=True, slots=True)
class City:
    """A destination the supplier knows."""

    code: str  # IATA city code
    name: str
    country_code: str
    latitude: float
    longitude: float
    utc_offset_minutes: int  # now


@dataclass(frozen=True, slots=True)
class HotelQuery:
    """One search as the supplier is asked it: a city (``city_code``) or a point and a
    radius, or given hotels (``hotel_ids``); the stay, and ``rooms`` rooms each for
    ``adults`` and ``child_ages``."""

    check_in: dt.date
    check_out: dt.date
    adults: int
    rooms: int = 1
    child_ages: tuple[int, ...] = ()
    city_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    radius_km: int = 5
    # These hotels instead of a place (distinct); an unknown id has no results.
    hotel_ids: tuple[str, ...] = ()
    currency: str = ""  # empty: the supplier's choice
    # Narrowing the supplier may apply (the caller filters exactly again).
    stars: tuple[int, ...] = ()
    amenities: tuple[str, ...] = ()
    board_type: str = ""


@dataclass(frozen=True, slots=True)
class Hotel:
    hotel_id: str
    name: str
    chain_code: str
    city_code: str
    latitude: float
    longitude: float
    stars: int  # 0 when unknown
    amenities: tuple[str, ...]
    distance_km: float  # from the city centre or the point searched; 0 by hotel ids
    area: str = ""
    rating: int = 0  # guest rating 0-100; 0 when unknown


@dataclass(frozen=True, slots=True)
class HotelRate:
    """One bookable offer: a room type at a rate plan for the whole stay and every room."""

    offer_id: str  # the supplier's, opaque
    hotel_id: str
    room_type: str
    room_category: str
    room_description: str
    board_type: str  # ROOM_ONLY, BREAKFAST, HALF_BOARD, FULL_BOARD, ALL_INCLUSIVE
    refundable: bool
    # Free cancellation until then (refundable rates); None when not refundable.
    cancellation_deadline: dt.datetime | None
    total_cents: int  # every room and night, taxes included
    currency: str
    nights: int
    rooms: int
    rate_code: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class HotelOffers:
    hotel: Hotel
    rates: tuple[HotelRate, ...]


@dataclass(frozen=True, slots=True)
class HotelQuote:
    """An offer priced again: the rate as it is now (its offer id may be new), or None
    when its rooms are gone."""

    rate: HotelRate | None


@dataclass(frozen=True, slots=True)
class HotelGuest:
    given_name: str
    family_name: str


@dataclass(frozen=True, slots=True)
class HotelOrderRequest:
    """An order for one priced offer (all its rooms), the guests (the first is the lead
    guest, an adult, who carries the contact), the contact, and the remark unique to
    this attempt (how an unknown outcome is looked up)."""

    offer_id: str
    rooms: int
    guests: tuple[HotelGuest, ...]
    email: str
    remark: str
    phone: str = ""  # E.164; empty when the booking has none


class UnknownDestination(Exception):
    """The supplier knows no such city."""


class QueryRejected(Exception):
    """The supplier refused the search as asked; ``field`` is ours (e.g. check_in_date)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class HotelProvider(Protocol):
    """One configured hotel supplier. Raises only the errors of this module and of
    ``base``."""

    @property
    def name(self) -> str: ...

    async def find_cities(self, keyword: str) -> list[City]:
        """Cities whose code is ``keyword`` or whose name contains it. Raises
        ProviderFailure."""

    async def search(self, query: HotelQuery) -> list[HotelOffers]:
        """Hotels with at least one available rate. Raises UnknownDestination,
        QueryRejected, ProviderFailure."""

    async def price_offer(self, offer_id: str) -> HotelQuote:
        """Prices an offer again. Raises OfferGone (not an offer any more),
        ProviderFailure (UnreadablePrice when the price cannot be read)."""

    async def create_order(self, request: HotelOrderRequest) -> PlacedOrder:
        """Books the offer (not idempotent); ``PlacedOrder.record_locator`` is the hotel's
        confirmation number. Raises OrderRejected (``price_changed``, ``sold_out``),
        OrderNotSent or OrderOutcomeUnknown."""

    async def get_order(self, order_id: str) -> PlacedOrder | None:
        """The order, or None when the supplier has no such order. Raises
        ProviderUnavailable."""

    async def cancel_order(self, order_id: str) -> bool:
        """Cancels; False if it was already gone. Raises ProviderUnavailable."""

    async def find_order(self, remark: str) -> PlacedOrder | None:
        """The live order made with ``remark``, or None. Raises LookupUnavailable."""
