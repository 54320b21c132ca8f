"""Cached flight pages kept serialized (search_service/search.py): a page is the bytes a
freshly built response would have, the same bytes are reused while the cache returns the
same result, and a new result, another page or an empty result is built again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from search_service.airports import AirportDirectory
from search_service.convert import proto_sort_key
from search_service.pagination import Cursor, PageTokens
from search_service.pricing import Party, money
from search_service.query import Cabin, SearchQuery, SortOrder
from search_service.search import FlightSearch
from search_service.settings import SearchPolicy
from search_service.validation import ValidatedSearch
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

TOKENS = PageTokens("unit-test-secret-0123456789")
QUERY = SearchQuery("ORD", "ATL", date(2026, 6, 2), None, Party(), Cabin.ECONOMY)


def itinerary(fare_id: int, cents: int) -> pb.Itinerary:
    departure = timestamp_pb2.Timestamp(seconds=1_780_000_000 + fare_id)
    return pb.Itinerary(
        offer_id=f"offer-{fare_id}",
        journeys=[pb.Journey(segments=[pb.Segment(fare_id=fare_id, departure_time=departure)])],
        total_price=money(cents, "USD"),
        total_duration=duration_pb2.Duration(seconds=3600),
    )


def result(*items: pb.Itinerary, partial: bool = False) -> bytes:
    return pb.SearchFlightsResponse(itineraries=items, partial=partial).SerializeToString()


class Cache:
    """Answers every lookup with ``data``."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def get_or_compute(self, digest: str, compute: Any) -> bytes:
        return self.data


class Repository:
    def __init__(self) -> None:
        self.asked = 0

    async def departure_range(
        self, origin: str, destination: str | None, since: datetime
    ) -> tuple[datetime, datetime] | None:
        self.asked += 1
        return datetime(2026, 6, 5, 12, tzinfo=UTC), datetime(2026, 6, 9, 12, tzinfo=UTC)


def search(cache: Cache, repository: Repository | None = None) -> FlightSearch:
    return FlightSearch(
        repository or Repository(),  # type: ignore[arg-type]
        AirportDirectory([("ORD", "America/Chicago"), ("ATL", "America/New_York")]),
        cache,  # type: ignore[arg-type]
        TOKENS,
        None,  # type: ignore[arg-type]
        SearchPolicy(),
        None,  # type: ignore[arg-type]
    )


def first_page(size: int = 2, cursor: Cursor | None = None) -> ValidatedSearch:
    return ValidatedSearch(QUERY, size, cursor)


async def test_a_page_is_the_response_it_stands_for_and_is_reused() -> None:
    items = [itinerary(1, 10_000), itinerary(2, 20_000), itinerary(3, 30_000)]
    s = search(Cache(result(*items, partial=True)))
    page = await s.search(first_page())
    response = pb.SearchFlightsResponse.FromString(page.data)
    assert [it.offer_id for it in response.itineraries] == ["offer-1", "offer-2"]
    assert response.total_size == 3 and response.partial
    assert TOKENS.decode(response.next_page_token).offset == 2
    built = pb.SearchFlightsResponse(
        itineraries=items[:2],
        total_size=3,
        partial=True,
        next_page_token=TOKENS.encode(
            Cursor(QUERY.digest(), 2, proto_sort_key(SortOrder.PRICE, items[1]))
        ),
    )
    assert page.data == built.SerializeToString()
    assert await s.search(first_page()) is page  # the same bytes, not built again
    # The next page (from the token) and another page size are pages of their own.
    cursor = TOKENS.decode(response.next_page_token)
    last = pb.SearchFlightsResponse.FromString((await s.search(first_page(2, cursor))).data)
    assert [it.offer_id for it in last.itineraries] == ["offer-3"] and not last.next_page_token
    assert (await s.search(first_page(3))).data != page.data


async def test_a_new_result_is_paged_again() -> None:
    cache = Cache(result(itinerary(1, 10_000), itinerary(2, 20_000)))
    s = search(cache)
    before = await s.search(first_page())
    cache.data = result(itinerary(1, 10_000), itinerary(2, 15_000))
    after = await s.search(first_page())
    assert after is not before
    prices = [
        it.total_price.units for it in pb.SearchFlightsResponse.FromString(after.data).itineraries
    ]
    assert prices == [100, 150]


async def test_an_empty_result_asks_for_the_dates_hint_every_time() -> None:
    repository = Repository()
    s = search(Cache(result()), repository)
    for expected in (1, 2):
        response = pb.SearchFlightsResponse.FromString((await s.search(first_page())).data)
        assert not response.itineraries and response.inventory_dates.first_date == "2026-06-05"
        assert repository.asked == expected


async def test_pages_differ_by_sort_order_in_their_tokens() -> None:
    s = search(Cache(result(itinerary(1, 10_000), itinerary(2, 20_000))))
    by_price = await s.search(first_page(1))
    other = ValidatedSearch(
        SearchQuery(
            "ORD", "ATL", date(2026, 6, 2), None, Party(), Cabin.ECONOMY, sort=SortOrder.DURATION
        ),
        1,
        None,
    )
    by_duration = await s.search(other)
    # Another query: another cache entry (digest) and so another page and token.
    assert by_duration is not by_price and by_duration.data != by_price.data
