"""SearchFlightsRequest -> SearchQuery, collecting every violation, not just the first.

Each violation names the request field as a path (``passengers.infants``,
``filters.included_airline_codes[1]``), as BadRequest field violations do (AIP-193).
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from search_service.airports import AirportDirectory
from search_service.pagination import Cursor, InvalidPageToken, PageTokens, clamp_page_size
from search_service.pricing import Party, money_cents, money_is_valid
from search_service.query import Cabin, SearchQuery, SortOrder
from search_service.settings import SearchPolicy
from services.errors import FieldViolation, ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

AIRPORT_CODE = re.compile(r"^[A-Z]{3}$")
AIRLINE_CODE = re.compile(r"^[A-Z0-9]{2}$")
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_PASSENGERS = 9
MAX_ADULTS = 9
MAX_FLEXIBLE_DAYS = 3
MAX_STOPS = 1
# Schedules are not sold further ahead than this.
MAX_DAYS_AHEAD = 366
MAX_AIRLINE_CODES = 20
# The earliest local date anywhere on Earth is that of UTC-12.
EARLIEST_ZONE_OFFSET = timedelta(hours=-12)

CABINS = {
    pb.CABIN_ECONOMY: Cabin.ECONOMY,
    pb.CABIN_PREMIUM_ECONOMY: Cabin.PREMIUM_ECONOMY,
    pb.CABIN_BUSINESS: Cabin.BUSINESS,
    pb.CABIN_FIRST: Cabin.FIRST,
}
CABIN_ENUMS = {v: k for k, v in CABINS.items()}
SORT_ORDERS = {
    pb.SORT_ORDER_UNSPECIFIED: SortOrder.PRICE,
    pb.SORT_ORDER_PRICE: SortOrder.PRICE,
    pb.SORT_ORDER_DURATION: SortOrder.DURATION,
    pb.SORT_ORDER_DEPARTURE_TIME: SortOrder.DEPARTURE,
}


@dataclass(frozen=True, slots=True)
class ValidatedSearch:
    query: SearchQuery
    page_size: int
    cursor: Cursor | None


T = TypeVar("T")
# Requests longer than this are validated every time (a search is ~50 bytes).
MEMO_MAX_REQUEST_BYTES = 512
MEMO_ENTRIES = 1024


class ValidationMemo(Generic[T]):
    """Requests validated lately, by their serialized bytes, each with the ``basis`` of
    its validation: everything besides the request that the outcome depends on (the
    dates it was judged against, the airport directory it was checked in). A popular
    search repeats the same bytes; while its basis is unchanged, validating it again
    would give the same result, so the memo answers it instead. Only successes are
    kept: a request that fails is validated (and its error built) every time.
    """

    def __init__(self, entries: int = MEMO_ENTRIES) -> None:
        self._entries: collections.OrderedDict[bytes, tuple[Hashable, T]] = (
            collections.OrderedDict()
        )
        self._max = entries

    def get(self, key: bytes, basis: Callable[[T], Hashable]) -> T | None:
        """The validated request for ``key`` if its basis is still ``basis(it)``."""
        known = self._entries.get(key)
        if known is None or known[0] != basis(known[1]):
            return None
        self._entries.move_to_end(key)
        return known[1]

    def put(self, key: bytes, basis: Hashable, validated: T) -> None:
        if len(key) > MEMO_MAX_REQUEST_BYTES:
            return
        self._entries[key] = (basis, validated)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)


def search_basis(airports: AirportDirectory, now: datetime, origin: str) -> Hashable:
    """What ``validate_search`` read besides the request, for a valid one: the
    directory (which airports exist) and the origin's local date (past, too far
    ahead)."""
    return (airports.generation, airports.today(origin, now))


class _Violations:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def validate_search(
    request: pb.SearchFlightsRequest,
    airports: AirportDirectory,
    now: datetime,
    policy: SearchPolicy,
    page_tokens: PageTokens,
    provider_enabled: bool,
) -> ValidatedSearch:
    v = _Violations()
    origin = _airport(v, "origin", request.origin, airports)
    destination = _airport(v, "destination", request.destination, airports)
    if origin and destination and origin == destination:
        v.add("destination", "must differ from origin")

    # "Today" is the origin's local date; an unknown origin is judged by the
    # earliest date anywhere, so a valid date is never called past.
    today = airports.today(origin, now) if origin else (now + EARLIEST_ZONE_OFFSET).date()
    departure = _date(v, "departure_date", request.departure_date, required=True)
    if departure is not None:
        if departure < today:
            v.add("departure_date", "is in the past")
        elif departure > today + timedelta(days=MAX_DAYS_AHEAD):
            v.add("departure_date", f"is more than {MAX_DAYS_AHEAD} days ahead")
    return_date = _date(v, "return_date", request.return_date, required=False)
    if return_date is not None:
        if departure is not None and return_date < departure:
            v.add("return_date", "is before departure_date")
        elif return_date > today + timedelta(days=MAX_DAYS_AHEAD + MAX_FLEXIBLE_DAYS):
            v.add("return_date", f"is more than {MAX_DAYS_AHEAD} days ahead")

    party = _party(v, request)
    cabin = CABINS.get(request.cabin)
    if cabin is None:
        v.add(
            "cabin",
            f"is required (one of {', '.join(map(pb.Cabin.Name, CABINS))})"
            if request.cabin == pb.CABIN_UNSPECIFIED
            else "is not a known cabin",
        )
    sort = SORT_ORDERS.get(request.sort_order)
    if sort is None:
        v.add("sort_order", "is not a known sort order")
    if not 0 <= request.flexible_days <= MAX_FLEXIBLE_DAYS:
        v.add("flexible_days", f"must be between 0 and {MAX_FLEXIBLE_DAYS}")
    if request.page_size < 0:
        v.add("page_size", "must not be negative")

    filters = request.filters
    max_stops = filters.max_stops if filters.HasField("max_stops") else MAX_STOPS
    if not 0 <= max_stops <= MAX_STOPS:
        v.add("filters.max_stops", f"must be between 0 and {MAX_STOPS}")
    included = _airlines(v, "filters.included_airline_codes", filters.included_airline_codes)
    excluded = _airlines(v, "filters.excluded_airline_codes", filters.excluded_airline_codes)
    if included and excluded:
        v.add("filters.excluded_airline_codes", "cannot be combined with included_airline_codes")
    window = _window(v, filters)
    max_cents, max_currency = _max_price(v, filters)

    cursor = None
    if request.page_token:
        try:
            cursor = page_tokens.decode(request.page_token)
        except InvalidPageToken as exc:
            v.add("page_token", str(exc))
    v.raise_if_any()

    assert departure is not None and cabin is not None and sort is not None
    query = SearchQuery(
        origin=origin,
        destination=destination,
        departure_date=departure,
        return_date=return_date,
        party=party,
        cabin=cabin,
        max_stops=max_stops,
        included_airlines=included,
        excluded_airlines=excluded,
        window_start_minute=window[0],
        window_end_minute=window[1],
        max_total_cents=max_cents,
        max_total_currency=max_currency,
        flexible_days=request.flexible_days,
        sort=sort,
        include_provider=request.include_provider_offers and provider_enabled,
    )
    if cursor is not None:
        try:
            page_tokens.check_query(cursor, query.digest())
        except InvalidPageToken as exc:
            raise ValidationError.field("page_token", str(exc)) from None
    page_size = clamp_page_size(request.page_size, policy.default_page_size, policy.max_page_size)
    return ValidatedSearch(query, page_size, cursor)


def _airport(v: _Violations, field: str, raw: str, airports: AirportDirectory) -> str:
    code = raw.upper()
    if not raw:
        v.add(field, "is required (an IATA airport code)")
    elif not AIRPORT_CODE.match(code):
        v.add(field, "must be a three-letter IATA airport code")
    elif code not in airports:
        v.add(field, f"unknown airport {code}")
    else:
        return code
    return ""


def _date(v: _Violations, field: str, raw: str, *, required: bool) -> date | None:
    if not raw:
        if required:
            v.add(field, "is required (YYYY-MM-DD)")
        return None
    if not ISO_DATE.match(raw):
        v.add(field, "must be a date as YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        v.add(field, "is not a valid calendar date")
        return None


def _party(v: _Violations, request: pb.SearchFlightsRequest) -> Party:
    if not request.HasField("passengers"):
        return Party()
    p = request.passengers
    ok = True
    if not 1 <= p.adults <= MAX_ADULTS:
        v.add("passengers.adults", f"must be between 1 and {MAX_ADULTS}")
        ok = False
    if p.children < 0:
        v.add("passengers.children", "must not be negative")
        ok = False
    if p.infants < 0:
        v.add("passengers.infants", "must not be negative")
        ok = False
    elif p.infants > max(p.adults, 0):
        v.add("passengers.infants", "at most one infant per adult")
        ok = False
    if ok and p.adults + p.children + p.infants > MAX_PASSENGERS:
        v.add("passengers", f"at most {MAX_PASSENGERS} passengers in total")
    return Party(p.adults, p.children, p.infants)


def _airlines(v: _Violations, field: str, raw: Iterable[str]) -> tuple[str, ...]:
    codes = list(raw)
    if len(codes) > MAX_AIRLINE_CODES:
        v.add(field, f"at most {MAX_AIRLINE_CODES} airline codes")
        return ()
    out = set()
    for i, code in enumerate(codes):
        upper = str(code).upper()
        if not AIRLINE_CODE.match(upper):
            v.add(f"{field}[{i}]", "must be a two-character IATA airline code")
        else:
            out.add(upper)
    return tuple(sorted(out))


def _minute(v: _Violations, field: str, raw: str, default: int) -> int | None:
    if not raw:
        return default
    match = TIME_OF_DAY.match(raw)
    if match is None:
        v.add(field, "must be a time of day as HH:MM (24-hour)")
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def _window(v: _Violations, filters: pb.SearchFilters) -> tuple[int, int]:
    field = "filters.departure_time_window"
    w = filters.departure_time_window
    start = _minute(v, f"{field}.start_time", w.start_time, 0)
    end = _minute(v, f"{field}.end_time", w.end_time, 24 * 60 - 1)
    if start is not None and end is not None and start > end:
        v.add(f"{field}.end_time", "must not be before start_time")
    return (start or 0, 24 * 60 - 1 if end is None else end)


def _max_price(v: _Violations, filters: pb.SearchFilters) -> tuple[int | None, str | None]:
    if not filters.HasField("max_total_price"):
        return None, None
    field = "filters.max_total_price"
    price = filters.max_total_price
    ok = True
    if not CURRENCY_CODE.match(price.currency_code):
        v.add(f"{field}.currency_code", "must be a three-letter ISO 4217 code")
        ok = False
    if not money_is_valid(price):
        v.add(f"{field}.nanos", "must be within +-999,999,999 and have the sign of units")
        ok = False
    elif price.units < 0 or price.nanos < 0:
        v.add(field, "must not be negative")
        ok = False
    if not ok:
        return None, None
    return money_cents(price), price.currency_code
