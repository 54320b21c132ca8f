"""What search and booking need from an upstream flight provider, in provider-neutral
terms: the interface (``FlightProvider``), its value types and its errors.

An adapter (e.g. ``services.providers.amadeus``) turns these into one provider's URLs,
JSON shapes and error codes. Search and booking see only this module, and map its
errors to their status codes (search_service/providers.py, booking_service/
flows/upstream_orders.py). Every call carries the provider's shared token from the token
service (``TokenCaller``); token values never reach logs or error messages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from services.config import NAME_PATTERN
from services.errors import FailedPreconditionError

T = TypeVar("T")

# A configured provider's name: in offer ids, bookings, token-service provider names
# and PROVIDER_<NAME>_* settings.
PROVIDER_NAME = NAME_PATTERN

# Reasons a provider call failed (search's partial_reason, error reasons).
UNAVAILABLE = "PROVIDER_UNAVAILABLE"
RATE_LIMITED = "PROVIDER_RATE_LIMITED"
UNAUTHORIZED = "PROVIDER_UNAUTHORIZED"


# -- configuration and collaborators ----------------------------------------------------


@dataclass(frozen=True)
class ProviderConfig:
    """One configured provider as an adapter sees it (each service builds it from its
    own settings)."""

    name: str
    base_url: str
    timeout_seconds: float
    # Retries after a 429 (each honouring Retry-After, capped by the timeout).
    rate_limit_retries: int = 2
    # The currency offers are asked in.
    currency: str = "USD"
    # How an order whose create had an unknown outcome is found: "sim" (the stand-in's
    # order listing at lookup_url) or "none".
    lookup: str = "sim"
    lookup_url: str = ""


class TokenCaller(Protocol):
    """What an adapter needs from the token client (TokenClient fits): call with the
    provider's shared token; on ``UpstreamUnauthorized`` report it and retry once."""

    async def call_with_token(self, provider: str, call: Callable[[str], Awaitable[T]]) -> T: ...


class RequestCounter(Protocol):
    """Counts HTTP requests to a provider by endpoint and outcome (ok, unauthorized,
    rate_limited, error, rejected, unreachable)."""

    def count(self, endpoint: str, outcome: str) -> None: ...


class NoCount:
    def count(self, endpoint: str, outcome: str) -> None:
        pass


class Permits(Protocol):
    """The provider's shared request budget (services/rate_budget.py's RateBudget fits):
    one permit before every HTTP request; a 429's Retry-After pauses every caller."""

    async def acquire(self, time_left: float | None = None) -> None:
        """Waits for a permit (at most ``time_left`` seconds); raises ``BudgetExhausted`` (with
        ``retry_after`` seconds) when none comes in time."""

    async def pause(self, seconds: float) -> None: ...


class Zones(Protocol):
    """Time zones of the airports we know (search's AirportDirectory fits), for
    providers that give local wall-clock times."""

    def __contains__(self, code: object) -> bool: ...

    def zone(self, code: str) -> dt.tzinfo: ...


# -- searching and pricing --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferQuery:
    """One departure date (and return date) of a search, as a provider is asked it."""

    origin: str
    destination: str
    departure_date: dt.date
    return_date: dt.date | None
    adults: int
    children: int
    infants: int
    cabin: str  # ECONOMY, PREMIUM_ECONOMY, BUSINESS, FIRST
    non_stop: bool = False
    included_airlines: tuple[str, ...] = ()
    excluded_airlines: tuple[str, ...] = ()
    # A price cap in the query's currency, exact; a provider may round it up.
    max_total_cents: int | None = None
    max_total_currency: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One flight of a provider offer; times are aware instants."""

    airline_code: str
    flight_number: int
    origin: str
    destination: str
    departure_at: dt.datetime
    arrival_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Offer:
    """A provider offer, normalised. ``raw`` is the provider's own offer, kept so it can
    be priced and ordered later; ``ref`` is a stable key of it."""

    ref: str
    raw: Mapping[str, Any]
    journeys: tuple[tuple[Segment, ...], ...]
    total_cents: int
    currency: str
    seats_available: int
    refundable: bool
    cabins: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ProviderQuote:
    """A provider offer priced again: the priced offer, its total, and whether every
    segment still has seats (when not, total and currency are not known)."""

    raw: dict[str, Any]
    total_cents: int
    currency: str
    available: bool


class ProviderFailure(Exception):
    """A call did not get a usable answer; ``reason`` is one of the reasons above;
    ``retry_after``: seconds after which asking again may succeed, when known."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after = retry_after


class UnreadablePrice(ProviderFailure):
    """A pricing answer whose total cannot be read."""


class OfferGone(Exception):
    """The provider no longer knows the offer (it must be searched again)."""


# -- ordering ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderTraveller:
    passenger_type: str  # ADULT, CHILD, INFANT (on a lap)
    given_name: str
    family_name: str
    birth_date: dt.date
    document_type: str  # PASSPORT, NATIONAL_ID
    document_number: str
    document_country: str
    document_expire_date: dt.date


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order for a booking's provider offers (as priced), its passengers in the
    booking's order, the contact, and the remark unique to this attempt."""

    offers: tuple[Mapping[str, Any], ...]
    travellers: tuple[OrderTraveller, ...]
    email: str
    remark: str


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order_id: str  # opaque, as the provider wrote it
    record_locator: str  # the airline / GDS PNR


class OrderNotBookable(FailedPreconditionError):
    """The request cannot be ordered as it is (e.g. the offer is priced for other
    passengers); raised before anything is sent."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, reason="OFFER_NOT_BOOKABLE", metadata={"field": field})


class OrderRejected(Exception):
    """The provider refused the order: nothing was created. ``codes`` are the
    provider's own; ``price_changed`` / ``sold_out`` say what they mean."""

    def __init__(
        self,
        status: int,
        codes: list[int],
        *,
        price_changed: bool = False,
        sold_out: bool = False,
        current_total: str | None = None,
    ) -> None:
        super().__init__(f"provider refused the order: HTTP {status} {codes}")
        self.status = status
        self.codes = codes
        self.price_changed = price_changed
        self.sold_out = sold_out
        # On a price change: the provider's current total, if it said it.
        self.current_total = current_total


class OrderNotSent(Exception):
    """The request never reached the provider, or was refused before any processing:
    nothing was created."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.retry_after = retry_after


class OrderOutcomeUnknown(Exception):
    """The create may or may not have happened: look the order up by its remark,
    never create it again."""


class ProviderUnavailable(Exception):
    """A retrieve or delete did not get an answer."""


class LookupUnavailable(Exception):
    """An order lookup could not be answered now; try again later."""


# -- the interface ----------------------------------------------------------------------


class FlightProvider(Protocol):
    """One configured upstream provider. Raises only the errors of this module."""

    @property
    def name(self) -> str: ...

    async def search_offers(self, query: OfferQuery, zones: Zones) -> list[Offer]:
        """Offers for one date; offers it cannot understand are left out. Raises
        ProviderFailure."""

    async def price_offer(self, raw: Mapping[str, Any]) -> ProviderQuote:
        """An offer (``Offer.raw``) priced again. Raises OfferGone, ProviderFailure
        (UnreadablePrice when the answer's total cannot be read)."""

    async def create_order(self, request: OrderRequest) -> PlacedOrder:
        """Creates the order (not idempotent). Raises OrderNotBookable (nothing sent),
        OrderRejected, OrderNotSent or OrderOutcomeUnknown."""

    async def get_order(self, order_id: str) -> PlacedOrder | None:
        """The order, or None if the provider does not (any longer) have it. Raises
        ProviderUnavailable."""

    async def cancel_order(self, order_id: str) -> bool:
        """Cancels the order; False if it was already gone. Raises ProviderUnavailable."""

    async def find_order(self, remark: str) -> PlacedOrder | None:
        """The live order tagged with ``remark``, or None. Raises LookupUnavailable."""
