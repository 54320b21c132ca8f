"""AIP-158 pagination: every result exactly once across pages in a stable order, page
sizes defaulted and clamped, tampered tokens rejected; and the connection rules hold
for every one-stop result."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from search_service.signing import Signer
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.respell import respell
from tests.utils.search_cluster import (
    PAGE_TOKEN_SECRET,
    InProcessSearch,
    error_details,
    in_process_search,
    search_env,
)

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


@pytest.fixture
async def search(
    search_db_url: str, redis_url: str, key_prefix: str
) -> AsyncIterator[InProcessSearch]:
    async with in_process_search(search_env(search_db_url, redis_url, key_prefix)) as s:
        yield s


def big_query(sort: int = pb.SORT_ORDER_PRICE) -> pb.SearchFlightsRequest:
    """A round trip with flexible dates: well over 100 itineraries."""
    return pb.SearchFlightsRequest(
        origin="ORD",
        destination="ATL",
        departure_date=TOMORROW.isoformat(),
        return_date=(TOMORROW + timedelta(days=1)).isoformat(),
        flexible_days=1,
        cabin=pb.CABIN_ECONOMY,
        sort_order=sort,
    )


async def pages(
    search: InProcessSearch, request: pb.SearchFlightsRequest, sizes: itertools.cycle[int]
) -> list[list[pb.Itinerary]]:
    out = []
    request = pb.SearchFlightsRequest.FromString(request.SerializeToString())
    while True:
        request.page_size = next(sizes)
        response = await search.stub.SearchFlights(request, timeout=10)
        out.append(list(response.itineraries))
        if not response.next_page_token:
            return out
        request.page_token = response.next_page_token


@pytest.mark.parametrize(
    "sort", [pb.SORT_ORDER_PRICE, pb.SORT_ORDER_DURATION, pb.SORT_ORDER_DEPARTURE_TIME]
)
async def test_pages_together_are_the_whole_result_once(search: InProcessSearch, sort: int) -> None:
    big = await pages(search, big_query(sort), itertools.cycle([100]))
    whole = [i.offer_id for page in big for i in page]
    assert len(whole) > 100
    for sizes in ([1, 7, 3], [13], [50, 2]):
        small = await pages(search, big_query(sort), itertools.cycle(sizes))
        ids = [i.offer_id for page in small for i in page]
        assert ids == whole  # same items, same order
        assert len(set(ids)) == len(ids)
        assert all(len(p) == s for p, s in zip(small[:-1], itertools.cycle(sizes), strict=False))


async def test_order_is_stable_across_recomputation(
    search_db_url: str, redis_url: str, key_prefix: str
) -> None:
    """Two servers with separate caches compute the same order (ties included)."""
    orders = []
    for prefix in (key_prefix + "-a", key_prefix + "-b"):
        async with in_process_search(search_env(search_db_url, redis_url, prefix)) as s:
            request = big_query(pb.SORT_ORDER_DEPARTURE_TIME)
            request.page_size = 100
            orders.append(
                [i.offer_id for i in (await s.stub.SearchFlights(request, timeout=10)).itineraries]
            )
    assert orders[0] == orders[1]


async def test_sort_orders(search: InProcessSearch) -> None:
    def cents(i: pb.Itinerary) -> int:
        return i.total_price.units * 100 + i.total_price.nanos // 10_000_000

    checks = {
        pb.SORT_ORDER_PRICE: cents,
        pb.SORT_ORDER_DURATION: lambda i: i.total_duration.seconds,
        pb.SORT_ORDER_DEPARTURE_TIME: lambda i: i.journeys[0].segments[0].departure_time.seconds,
    }
    for sort, key in checks.items():
        items = [i for p in await pages(search, big_query(sort), itertools.cycle([100])) for i in p]
        values = [key(i) for i in items]
        assert values == sorted(values)


async def test_page_size_default_and_clamp(search: InProcessSearch) -> None:
    request = big_query()
    response = await search.stub.SearchFlights(request, timeout=10)
    assert len(response.itineraries) == 20  # 0 means the default
    request.page_size = 10_000
    response = await search.stub.SearchFlights(request, timeout=10)
    assert len(response.itineraries) == 100  # clamped
    assert response.total_size > 100


async def test_page_size_may_change_between_pages(search: InProcessSearch) -> None:
    request = big_query()
    request.page_size = 5
    first = await search.stub.SearchFlights(request, timeout=10)
    request.page_size = 9
    request.page_token = first.next_page_token
    second = await search.stub.SearchFlights(request, timeout=10)
    everything = big_query()
    everything.page_size = 14
    both = await search.stub.SearchFlights(everything, timeout=10)
    assert [i.offer_id for i in [*first.itineraries, *second.itineraries]] == [
        i.offer_id for i in both.itineraries
    ]


async def test_tampered_page_token(search: InProcessSearch) -> None:
    request = big_query()
    request.page_size = 3
    token = (await search.stub.SearchFlights(request, timeout=10)).next_page_token
    body, mac = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for forged in (flipped + "." + mac, body + "." + mac[::-1], token + "x", token[1:]):
        request.page_token = forged
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await search.stub.SearchFlights(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(err.value)[0] == ["page_token"]


async def test_another_spelling_of_a_page_token_is_rejected(search: InProcessSearch) -> None:
    """A lenient base64 decoder reads both parts' unused bits as nothing: the same token
    had several spellings. One spelling only."""
    request = big_query()
    request.page_size = 3
    token = (await search.stub.SearchFlights(request, timeout=10)).next_page_token
    body, mac = token.split(".")
    for other in (f"{respell(body)}.{mac}", f"{body}.{respell(mac)}"):
        request.page_token = other
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await search.stub.SearchFlights(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(err.value)[0] == ["page_token"]


async def test_token_signed_with_another_secret_is_rejected(search: InProcessSearch) -> None:
    request = big_query()
    request.page_size = 3
    token = (await search.stub.SearchFlights(request, timeout=10)).next_page_token
    payload = Signer(PAGE_TOKEN_SECRET, "page-token").verify(token)
    assert payload is not None
    request.page_token = Signer("some-other-secret-entirely", "page-token").sign(payload)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await search.stub.SearchFlights(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_every_one_stop_result_respects_connection_rules(search: InProcessSearch) -> None:
    seen = 0
    for origin, destination in [
        ("ORD", "ATL"),
        ("LHR", "JFK"),
        ("DEN", "CDG"),
        ("SFO", "HND"),
        ("DXB", "HND"),
        ("DEN", "ATL"),
    ]:
        request = pb.SearchFlightsRequest(
            origin=origin,
            destination=destination,
            departure_date=TOMORROW.isoformat(),
            return_date=(TOMORROW + timedelta(days=1)).isoformat(),
            flexible_days=1,
            cabin=pb.CABIN_ECONOMY,
        )
        for page in await pages(search, request, itertools.cycle([100])):
            for item in page:
                for journey in item.journeys:
                    segments = journey.segments
                    assert journey.stops == len(segments) - 1 <= 1
                    for a, b in itertools.pairwise(segments):
                        seen += 1
                        assert a.destination == b.origin
                        layover = b.departure_time.seconds - a.arrival_time.seconds
                        assert 45 * 60 <= layover <= 6 * 3600
                        assert b.layover.seconds == layover
                    assert journey.duration.seconds == (
                        segments[-1].arrival_time.seconds - segments[0].departure_time.seconds
                    )
                out, back = item.journeys
                assert back.segments[0].departure_time.seconds >= (
                    out.segments[-1].arrival_time.seconds + 45 * 60
                )
    assert seen > 0, "no one-stop itinerary was checked"


async def test_connection_rules_come_from_settings(
    search_db_url: str, redis_url: str, key_prefix: str
) -> None:
    env = search_env(
        search_db_url,
        redis_url,
        key_prefix,
        {"SEARCH_MIN_CONNECTION_MINUTES": "120", "SEARCH_MAX_LAYOVER_MINUTES": "180"},
    )
    async with in_process_search(env) as s:
        request = pb.SearchFlightsRequest(
            origin="DEN",
            destination="ATL",
            departure_date=TOMORROW.isoformat(),
            flexible_days=1,
            cabin=pb.CABIN_ECONOMY,
            page_size=100,
        )
        response = await s.stub.SearchFlights(request, timeout=10)
        for item in response.itineraries:
            for a, b in itertools.pairwise(item.journeys[0].segments):
                assert 120 * 60 <= b.departure_time.seconds - a.arrival_time.seconds <= 180 * 60


async def test_local_times_carry_zone_and_offset(search: InProcessSearch) -> None:
    request = pb.SearchFlightsRequest(
        origin="LHR",
        destination="JFK",
        departure_date=TOMORROW.isoformat(),
        cabin=pb.CABIN_ECONOMY,
        flexible_days=1,
    )
    response = await search.stub.SearchFlights(request, timeout=10)
    assert response.itineraries
    for item in response.itineraries:
        for segment in item.journeys[0].segments:
            for zone_name, local, instant in (
                (segment.departure_time_zone, segment.departure_local_time, segment.departure_time),
                (segment.arrival_time_zone, segment.arrival_local_time, segment.arrival_time),
            ):
                parsed = datetime.fromisoformat(local)
                assert parsed.utcoffset() is not None
                assert int(parsed.timestamp()) == instant.seconds
                assert zone_name
        first = item.journeys[0].segments[0]
        assert first.departure_time_zone == "Europe/London"
        assert item.journeys[0].segments[-1].arrival_time_zone == "America/New_York"
