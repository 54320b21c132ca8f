"""A popular hotel search's resolution (destination, check-in judged at the city's date,
digest) is kept per request object (search_service/hotels/service.py, ``_query``), but
never past what it was judged against: the city's day ending turns the same request
into a past check-in, and a city lookup made again is what the next search uses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from search_service.hotels.destinations import DestinationResolver
from search_service.hotels.offer_ids import HotelOfferIds
from search_service.hotels.query import HotelSort
from search_service.hotels.service import HotelService
from search_service.hotels.validation import HotelSearchRequest
from search_service.pagination import PageTokens
from search_service.settings import SearchPolicy
from services.errors import ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.hotels import City

SECRET = "unit-test-secret-0123456789"
PARIS = City("PAR", "Paris", "FR", 48.86, 2.35, 120)
CHECK_IN = date(2026, 6, 10)
# 21:00 UTC on the check-in day: 23:00 in Paris (UTC+2), still the 10th.
BEFORE_MIDNIGHT = datetime(2026, 6, 10, 21, 0, tzinfo=UTC).timestamp()
# 22:30 UTC, still the 10th in UTC: 00:30 on the 11th in Paris, after the check-in day.
NEXT_DAY = datetime(2026, 6, 10, 22, 30, tzinfo=UTC).timestamp()


class Supplier:
    name = "hotelsim"

    def __init__(self) -> None:
        self.cities: list[City] = [PARIS]
        self.lookups = 0

    async def find_cities(self, keyword: str) -> list[City]:
        self.lookups += 1
        return [c for c in self.cities if keyword in (c.code, c.name.upper())]


class Cache:
    """Answers every lookup with an empty result; records the digests asked for."""

    def __init__(self) -> None:
        self.digests: list[str] = []

    async def get_or_compute(self, digest: str, compute: Any) -> bytes:
        self.digests.append(digest)
        return pb.SearchHotelsResponse().SerializeToString()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def service(
    supplier: Supplier, cache: Cache, clock: Clock, lookup_clock: Clock | None = None
) -> HotelService:
    hotels = HotelService(
        supplier,  # type: ignore[arg-type]
        cache,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # the offer store: no search is computed here
        HotelOfferIds(SECRET),
        PageTokens(SECRET),
        SearchPolicy(),
        5.0,
        clock=clock,
    )
    if lookup_clock is not None:
        hotels._destinations = DestinationResolver(
            hotels._find_cities, ttl_seconds=60.0, clock=lookup_clock
        )
    return hotels


def search_request(**fields: Any) -> HotelSearchRequest:
    base: dict[str, Any] = {
        "city_code": "PAR",
        "city_name": "",
        "latitude": None,
        "longitude": None,
        "radius_km": 5,
        "hotel_ids": (),
        "check_in": CHECK_IN,
        "check_out": date(2026, 6, 12),
        "adults": 2,
        "child_ages": (),
        "rooms": 1,
        "currency": "EUR",
        "max_night": None,
        "max_total": None,
        "min_stars": 0,
        "amenities": (),
        "refundable_only": False,
        "boards": (),
        "sort": HotelSort.PRICE,
        "page_size": 10,
    }
    return HotelSearchRequest(**{**base, **fields})


async def test_a_repeated_request_searches_the_query_a_fresh_resolution_gives() -> None:
    cache = Cache()
    hotels = service(Supplier(), cache, Clock(BEFORE_MIDNIGHT))
    request = search_request()
    for _ in range(3):
        await hotels.search(request)
    await hotels.search(search_request())  # equal, another object
    expected = (await hotels.resolve(request)).digest()
    assert cache.digests == [expected] * 4


@pytest.mark.parametrize("by", ["code", "name"])
async def test_the_same_request_is_past_once_the_city_day_of_its_check_in_ends(by: str) -> None:
    clock = Clock(BEFORE_MIDNIGHT)
    hotels = service(Supplier(), Cache(), clock)
    destination = {"city_code": "PAR"} if by == "code" else {"city_code": "", "city_name": "paris"}
    request = search_request(**destination)
    await hotels.search(request)
    await hotels.search(request)
    clock.now = NEXT_DAY
    with pytest.raises(ValidationError) as raised:
        await hotels.search(request)
    assert raised.value.violations[0].field == "check_in_date"


async def test_a_city_looked_up_again_is_what_the_same_request_searches() -> None:
    supplier = Supplier()
    lookup_clock = Clock(0.0)
    hotels = service(supplier, Cache(), Clock(BEFORE_MIDNIGHT), lookup_clock)
    request = search_request()
    await hotels.search(request)
    await hotels.search(request)
    assert supplier.lookups == 1
    supplier.cities = []  # the supplier no longer knows the city
    lookup_clock.now = 61.0  # the resolver's lookup expired
    with pytest.raises(ValidationError) as raised:
        await hotels.search(request)
    assert raised.value.violations[0].field == "destination.code"
    assert supplier.lookups == 2


async def test_a_point_search_is_resolved_once_and_never_expires() -> None:
    clock = Clock(BEFORE_MIDNIGHT)
    cache = Cache()
    hotels = service(Supplier(), cache, clock)
    request = search_request(city_code="", latitude=48.86, longitude=2.35)
    await hotels.search(request)
    clock.now = NEXT_DAY  # no city: the check-in was judged against UTC-12 (validation)
    await hotels.search(request)
    assert cache.digests[0] == cache.digests[1]
