"""SearchHotelsRequest -> a hotel search, collecting every violation, each naming its
field (``check_out_date``, ``rooms[1].children_ages[0]``, ``filters.min_stars``).

The destination is only checked for shape here; ``destinations`` resolves it at the
supplier (an unknown city is a violation of ``destination.code`` / ``destination.name``)
and ``check_in_date`` is then judged at the city's local date. Before that, a date is
past only if it is past everywhere on Earth (UTC-12).

Instead of a destination, ``hotel_ids`` (1 to ``MAX_HOTEL_IDS`` supplier ids, each
shaped like one: a violation names ``hotel_ids[i]``); kept sorted and distinct, so the
same hotels in another order are the same search. A search by ids has no centre, so a
distance sort is refused (``sort_order``). Whether an id exists is the supplier's to
say (an unknown hotel has no results); its check-in is judged by the supplier at the
hotel's city's date (a refused date is a violation of ``check_in_date``).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from search_service.hotels.query import HotelSort
from search_service.pagination import Cursor, InvalidPageToken, PageTokens, clamp_page_size
from search_service.pricing import money_cents, money_is_valid
from search_service.settings import SearchPolicy
from search_service.validation import CURRENCY_CODE, _Violations
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.hotel_stay import HOTEL_ID, destination, occupancy, stars_and_boards, stay_dates

AMENITY = re.compile(r"^[A-Z][A-Z_-]{1,39}$")
MAX_AMENITIES = 20
# As many as one supplier offers call takes comfortably (it allows 100); a search by
# ids is for a short list the caller already knows, not a city's worth.
MAX_HOTEL_IDS = 20
EARLIEST_ZONE_OFFSET = timedelta(hours=-12)

SORTS = {
    pb.HOTEL_SORT_ORDER_UNSPECIFIED: HotelSort.PRICE,
    pb.HOTEL_SORT_ORDER_PRICE: HotelSort.PRICE,
    pb.HOTEL_SORT_ORDER_STARS: HotelSort.STARS,
    pb.HOTEL_SORT_ORDER_DISTANCE: HotelSort.DISTANCE,
    pb.HOTEL_SORT_ORDER_RATING: HotelSort.RATING,
}


@dataclass(frozen=True, slots=True)
class HotelSearchRequest:
    """Everything but the destination's resolution, validated."""

    city_code: str  # destination.code, upper case
    city_name: str  # destination.name
    hotel_ids: tuple[str, ...]  # sorted, distinct, upper case; () with a destination
    latitude: float | None
    longitude: float | None
    radius_km: int
    check_in: date
    check_out: date
    adults: int
    child_ages: tuple[int, ...]
    rooms: int
    currency: str
    max_night: tuple[int, str] | None
    max_total: tuple[int, str] | None
    min_stars: int
    amenities: tuple[str, ...]
    refundable_only: bool
    boards: tuple[str, ...]
    sort: HotelSort
    page_size: int
    cursor: Cursor | None = field(default=None)


def hotel_search_basis(now: datetime) -> Hashable:
    """What ``validate_hotel_search`` read besides the request: the dates a check-in
    is judged against (search_service/validation.py's ValidationMemo)."""
    return ((now + EARLIEST_ZONE_OFFSET).date(), now.date())


def validate_hotel_search(
    request: pb.SearchHotelsRequest, now: datetime, policy: SearchPolicy, page_tokens: PageTokens
) -> HotelSearchRequest:
    v = _Violations()
    hotel_ids: tuple[str, ...] = ()
    code, name, lat, lon, radius = "", "", None, None, 0
    if request.hotel_ids:
        hotel_ids = _codes(
            v,
            list(request.hotel_ids),
            "hotel_ids",
            HOTEL_ID,
            (MAX_HOTEL_IDS, "hotel ids"),
            "must be a supplier hotel id such as HVPAR018",
        )
        if request.HasField("destination"):
            v.add("destination", "must be unset with hotel_ids (one or the other)")
    else:
        code, name, lat, lon, radius = destination(
            v.add, request.destination if request.HasField("destination") else None
        )
    check_in, check_out = stay_dates(
        v.add,
        request.check_in_date,
        request.check_out_date,
        (now + EARLIEST_ZONE_OFFSET).date(),
        now.date(),
    )
    adults, ages, rooms = occupancy(v.add, list(request.rooms))
    currency = request.currency_code.upper()
    if currency and not CURRENCY_CODE.match(currency):
        v.add("currency_code", "must be a three-letter ISO 4217 code")
    filters = request.filters
    max_night = _money(v, "filters.max_price_per_night", filters, "max_price_per_night")
    max_total = _money(v, "filters.max_total_price", filters, "max_total_price")
    amenities = _codes(
        v,
        list(filters.amenities),
        "filters.amenities",
        AMENITY,
        (MAX_AMENITIES, "amenities"),
        "must be an amenity code such as WIFI or SPA",
    )
    boards = stars_and_boards(v.add, filters.min_stars, list(filters.board_types))
    sort = SORTS.get(request.sort_order)
    if sort is None:
        v.add("sort_order", "is not a known sort order")
    elif sort is HotelSort.DISTANCE and request.hotel_ids:
        v.add("sort_order", "distance needs a destination (hotel_ids have no centre)")
    if request.page_size < 0:
        v.add("page_size", "must not be negative")
    cursor = None
    if request.page_token:
        try:
            cursor = page_tokens.decode(request.page_token)
        except InvalidPageToken as exc:
            v.add("page_token", str(exc))
    v.raise_if_any()
    assert check_in is not None and check_out is not None and sort is not None
    return HotelSearchRequest(
        city_code=code,
        city_name=name,
        hotel_ids=hotel_ids,
        latitude=lat,
        longitude=lon,
        radius_km=radius,
        check_in=check_in,
        check_out=check_out,
        adults=adults,
        child_ages=ages,
        rooms=rooms,
        currency=currency,
        max_night=max_night,
        max_total=max_total,
        min_stars=filters.min_stars,
        amenities=amenities,
        refundable_only=filters.refundable_only,
        boards=boards,
        sort=sort,
        page_size=clamp_page_size(
            request.page_size, policy.default_page_size, policy.max_page_size
        ),
        cursor=cursor,
    )


def _money(
    v: _Violations, name: str, filters: pb.HotelFilters, attr: str
) -> tuple[int, str] | None:
    if not filters.HasField(attr):
        return None
    price: money_pb2.Money = getattr(filters, attr)
    ok = True
    if not CURRENCY_CODE.match(price.currency_code):
        v.add(f"{name}.currency_code", "must be a three-letter ISO 4217 code")
        ok = False
    if not money_is_valid(price):
        v.add(f"{name}.nanos", "must be within +-999,999,999 and have the sign of units")
        ok = False
    elif price.units < 0 or price.nanos < 0:
        v.add(name, "must not be negative")
        ok = False
    return (money_cents(price), price.currency_code) if ok else None


def _codes(
    v: _Violations,
    raw: list[str],
    field: str,
    pattern: re.Pattern[str],
    limit: tuple[int, str],
    what: str,
) -> tuple[str, ...]:
    """Codes of a repeated field (hotel ids, amenities): at most ``limit`` (a count and
    what they are), each upper case matching ``pattern`` (else a violation naming
    ``field[i]``: ``what``); kept sorted and distinct, so the same codes in another
    order are the same search."""
    most, plural = limit
    if len(raw) > most:
        v.add(field, f"at most {most} {plural}")
        return ()
    out = set()
    for i, code in enumerate(raw):
        upper = code.strip().upper()
        if not pattern.match(upper):
            v.add(f"{field}[{i}]", what)
        else:
            out.add(upper)
    return tuple(sorted(out))
