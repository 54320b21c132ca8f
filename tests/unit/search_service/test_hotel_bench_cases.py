"""The search benchmark's hotel searches (benchmarks/hotel_search.py): the cold ones are
all distinct (so each misses the cache), never the cached one, and every one is a valid
SearchHotels request by the service's own validation."""

from __future__ import annotations

from datetime import UTC, datetime

from benchmarks.hotel_search import HotelCaseStream, cached_case
from search_service.hotels.validation import validate_hotel_search
from search_service.pagination import PageTokens
from search_service.settings import SearchPolicy
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

TOKENS = PageTokens("unit-test-secret-0123456789")


def test_cold_cases_are_distinct_valid_and_never_the_cached_one() -> None:
    stream = HotelCaseStream()
    cases = stream.take(3000) + stream.take(2000)  # later takes never repeat earlier ones
    bodies = {case.request().SerializeToString() for case in cases}
    assert len(bodies) == len(cases)
    assert cached_case().request().SerializeToString() not in bodies
    now = datetime.now(UTC)
    searched = [validate_hotel_search(c.request(), now, SearchPolicy(), TOKENS) for c in cases]
    assert {s.city_code for s in searched} == {c.city for c in cases}
    assert len({c.city for c in cases}) > 20  # spread over the stand-in's cities
    assert all(1 <= (s.check_out - s.check_in).days <= 7 for s in searched)


def test_cached_case_is_valid_and_described() -> None:
    case = cached_case()
    got = validate_hotel_search(case.request(), datetime.now(UTC), SearchPolicy(), TOKENS)
    assert (got.city_code, got.adults, got.rooms) == ("PAR", 2, 1)
    assert case.request().sort_order == pb.HOTEL_SORT_ORDER_PRICE
    assert str(case).startswith("PAR, check-in ") and str(case).endswith("by price")
