"""Property: for random queries over the seeded tiny inventory, SearchFlights (all
pages together) returns exactly what a plain Python reference filter over the same
rows returns, in the same order: direct and one-stop, every filter, every sort."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.search_cluster import InProcessSearch, in_process_search, search_env
from tests.utils.search_reference import FareRow, RefQuery, load_inventory, reference_search

CABINS = {
    "ECONOMY": pb.CABIN_ECONOMY,
    "PREMIUM_ECONOMY": pb.CABIN_PREMIUM_ECONOMY,
    "BUSINESS": pb.CABIN_BUSINESS,
    "FIRST": pb.CABIN_FIRST,
}
SORTS = {
    "price": pb.SORT_ORDER_PRICE,
    "duration": pb.SORT_ORDER_DURATION,
    "departure": pb.SORT_ORDER_DEPARTURE_TIME,
}


@pytest.fixture
async def search(
    search_db_url: str, redis_url: str, key_prefix: str
) -> AsyncIterator[InProcessSearch]:
    async with in_process_search(search_env(search_db_url, redis_url, key_prefix)) as s:
        yield s


@pytest.fixture
async def inventory(
    search_engine: AsyncEngine,
) -> tuple[list[FareRow], dict, list[tuple[str, str]]]:
    rows, zones = await load_inventory(search_engine)
    return rows, zones, _viable_pairs(rows, zones)


def _viable_pairs(rows: list[FareRow], zones: dict) -> list[tuple[str, str]]:
    """Origin/destination pairs with at least one economy itinerary in the seeded days
    (so that random queries are not mostly empty)."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    direct = {(r.origin, r.destination) for r in rows}
    via = {(a, d) for (a, b) in direct for (c, d) in direct if b == c and a != d}
    now = datetime.now(UTC)
    one_way = {
        pair
        for pair in direct | via
        if reference_search(
            rows,
            zones,
            RefQuery(
                *pair,
                tomorrow + timedelta(days=1),
                None,
                1,
                0,
                0,
                "ECONOMY",
                1,
                frozenset(),
                frozenset(),
                (0, 1439),
                None,
                None,
                1,
                "price",
            ),
            now,
        )
    }
    return sorted(pair for pair in one_way if (pair[1], pair[0]) in one_way)


@st.composite
def queries(draw: st.DrawFn, rows: list[FareRow], viable: list[tuple[str, str]]) -> RefQuery:
    """Mostly pairs that have flights, with at most two narrowing filters at a time, so
    that most queries have results to compare."""
    airports = sorted({r.origin for r in rows})
    airlines = sorted({r.airline for r in rows})
    if draw(st.integers(0, 19)) == 0:
        origin, destination = draw(
            st.sampled_from([(a, b) for a in airports for b in airports if a != b])
        )
    else:
        origin, destination = draw(st.sampled_from(viable))
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    # The seed covers tomorrow and the two days after (UTC).
    last = tomorrow + timedelta(days=2)
    departure = tomorrow + timedelta(days=draw(st.sampled_from([1, 0, 2])))
    return_date = None
    if draw(st.booleans()):
        return_date = min(departure + timedelta(days=draw(st.sampled_from([1, 0, 2]))), last)
    narrowing = set(
        draw(
            st.lists(
                st.sampled_from(["party", "airlines", "window", "price", "cabin", "nonstop"]),
                max_size=2,
            )
        )
    )
    adults, children, infants = 1, 0, 0
    if "party" in narrowing:
        adults = draw(st.integers(1, 4))
        children = draw(st.integers(0, 2))
        # At most one infant per adult, and at most 9 travellers in all.
        infants = draw(st.integers(0, min(adults, 9 - adults - children)))
    included: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    if "airlines" in narrowing:
        chosen = frozenset(draw(st.lists(st.sampled_from(airlines), min_size=1, max_size=4)))
        if draw(st.booleans()):
            included = chosen
        else:
            excluded = chosen
    window = (0, 24 * 60 - 1)
    if "window" in narrowing:
        start = draw(st.integers(0, 18 * 60))
        window = (start, draw(st.integers(start, 24 * 60 - 1)))
    max_price = None
    if "price" in narrowing:
        max_price = Decimal(draw(st.integers(100_00, 4000_00))).scaleb(-2)
    cabin = "ECONOMY"
    if "cabin" in narrowing:
        cabin = draw(st.sampled_from(["PREMIUM_ECONOMY", "BUSINESS", "FIRST"]))
    return RefQuery(
        origin=origin,
        destination=destination,
        departure_date=departure,
        return_date=return_date,
        adults=adults,
        children=children,
        infants=infants,
        cabin=cabin,
        max_stops=0 if "nonstop" in narrowing else 1,
        included=included,
        excluded=excluded,
        window=window,
        max_price=max_price,
        max_currency="USD" if max_price else None,
        flexible_days=draw(st.sampled_from([1, 0, 2, 3])),
        sort=draw(st.sampled_from(sorted(SORTS))),
    )


def to_request(q: RefQuery, page_size: int) -> pb.SearchFlightsRequest:
    request = pb.SearchFlightsRequest(
        origin=q.origin,
        destination=q.destination,
        departure_date=q.departure_date.isoformat(),
        return_date=q.return_date.isoformat() if q.return_date else "",
        passengers=pb.Passengers(adults=q.adults, children=q.children, infants=q.infants),
        cabin=CABINS[q.cabin],
        flexible_days=q.flexible_days,
        sort_order=SORTS[q.sort],
        page_size=page_size,
    )
    f = request.filters
    f.max_stops = q.max_stops
    f.included_airline_codes.extend(sorted(q.included))
    f.excluded_airline_codes.extend(sorted(q.excluded))
    if q.window != (0, 24 * 60 - 1):
        f.departure_time_window.start_time = f"{q.window[0] // 60:02d}:{q.window[0] % 60:02d}"
        f.departure_time_window.end_time = f"{q.window[1] // 60:02d}:{q.window[1] % 60:02d}"
    if q.max_price is not None:
        units = int(q.max_price)
        f.max_total_price.CopyFrom(
            money_pb2.Money(
                currency_code="USD", units=units, nanos=int((q.max_price - units) * 1_000_000_000)
            )
        )
    return request


async def all_pages(
    search: InProcessSearch, request: pb.SearchFlightsRequest
) -> list[pb.Itinerary]:
    items: list[pb.Itinerary] = []
    while True:
        response = await search.stub.SearchFlights(request, timeout=10)
        items.extend(response.itineraries)
        assert response.total_size >= len(items)
        if not response.next_page_token:
            assert response.total_size == len(items)
            return items
        request.page_token = response.next_page_token


def identity(item: pb.Itinerary) -> str:
    return "I:" + "/".join("-".join(str(s.fare_id) for s in j.segments) for j in item.journeys)


def cents(money: money_pb2.Money) -> int:
    return money.units * 100 + money.nanos // 10_000_000


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_search_matches_reference(search: InProcessSearch, inventory, data) -> None:
    rows, zones, viable = inventory
    q = data.draw(queries(rows, viable))
    page_size = data.draw(st.sampled_from([0, 1, 3, 7, 100]))
    now = datetime.now(UTC)
    expected = reference_search(rows, zones, q, now)
    got = await all_pages(search, to_request(q, page_size))
    event("results: " + ("none" if not expected else "1-9" if len(expected) < 10 else "10+"))
    event("has one-stop" if any("-" in r.identity for r in expected) else "no one-stop")
    assert [identity(i) for i in got] == [r.identity for r in expected]
    assert [cents(i.total_price) for i in got] == [int(r.total * 100) for r in expected]
    assert [i.total_duration.seconds for i in got] == [r.duration_s for r in expected]
    assert [i.seats_available for i in got] == [r.seats for r in expected]
    for item in got:
        assert item.source == pb.SOURCE_INVENTORY
        assert len(item.journeys) == (2 if q.return_date else 1)


async def test_some_queries_have_connections_and_round_trips(inventory) -> None:
    """The property is not vacuous: the tiny inventory yields one-stop itineraries and
    round trips for some pairs."""
    rows, zones, viable = inventory
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    found_connection = found_round_trip = False
    for origin, destination in viable:
        q = RefQuery(
            origin,
            destination,
            tomorrow + timedelta(days=1),
            tomorrow + timedelta(days=1),
            1,
            0,
            0,
            "ECONOMY",
            1,
            frozenset(),
            frozenset(),
            (0, 1439),
            None,
            None,
            1,
            "price",
        )
        results = reference_search(rows, zones, q, datetime.now(UTC))
        found_round_trip |= bool(results)
        found_connection |= any("-" in r.identity for r in results)
    assert found_connection and found_round_trip
    assert len(viable) >= 20
