"""Every validation rule through a real server: INVALID_ARGUMENT with a BadRequest
field violation naming each offending field (all of them, not just the first)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.search_cluster import (
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


def valid() -> pb.SearchFlightsRequest:
    return pb.SearchFlightsRequest(
        origin="ORD",
        destination="ATL",
        departure_date=TOMORROW.isoformat(),
        passengers=pb.Passengers(adults=1),
        cabin=pb.CABIN_ECONOMY,
    )


async def violations(search: InProcessSearch, request: pb.SearchFlightsRequest) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await search.stub.SearchFlights(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields, reason = error_details(err.value)
    assert reason == "INVALID_ARGUMENT"
    return fields


def _set(**fields: object) -> Callable[[pb.SearchFlightsRequest], None]:
    def apply(request: pb.SearchFlightsRequest) -> None:
        for name, value in fields.items():
            target = request
            *path, last = name.split(".")
            for part in path:
                target = getattr(target, part)
            if isinstance(value, list):
                getattr(target, last).extend(value)
            elif isinstance(value, money_pb2.Money):
                getattr(target, last).CopyFrom(value)
            else:
                setattr(target, last, value)

    return apply


RULES: list[tuple[str, Callable[[pb.SearchFlightsRequest], None], list[str]]] = [
    ("missing origin", _set(origin=""), ["origin"]),
    ("malformed origin", _set(origin="OR1"), ["origin"]),
    ("four-letter origin", _set(origin="KORD"), ["origin"]),
    ("unknown origin", _set(origin="ZZZ"), ["origin"]),
    ("unknown destination", _set(destination="QQQ"), ["destination"]),
    ("malformed destination", _set(destination="A"), ["destination"]),
    ("origin equals destination", _set(destination="ORD"), ["destination"]),
    ("missing departure date", _set(departure_date=""), ["departure_date"]),
    ("malformed departure date", _set(departure_date="24/12/2030"), ["departure_date"]),
    ("impossible departure date", _set(departure_date="2030-02-30"), ["departure_date"]),
    (
        "past departure date",
        _set(departure_date=(TOMORROW - timedelta(days=3)).isoformat()),
        ["departure_date"],
    ),
    (
        "departure too far ahead",
        _set(departure_date=(TOMORROW + timedelta(days=400)).isoformat()),
        ["departure_date"],
    ),
    ("malformed return date", _set(return_date="soon"), ["return_date"]),
    (
        "return before departure",
        _set(return_date=(TOMORROW - timedelta(days=1)).isoformat()),
        ["return_date"],
    ),
    ("no adults", _set(**{"passengers.adults": 0}), ["passengers.adults"]),
    ("ten adults", _set(**{"passengers.adults": 10}), ["passengers.adults"]),
    ("negative children", _set(**{"passengers.children": -1}), ["passengers.children"]),
    ("negative infants", _set(**{"passengers.infants": -1}), ["passengers.infants"]),
    (
        "more infants than adults",
        _set(**{"passengers.adults": 2, "passengers.infants": 3}),
        ["passengers.infants"],
    ),
    (
        "more than nine travellers",
        _set(**{"passengers.adults": 5, "passengers.children": 3, "passengers.infants": 2}),
        ["passengers"],
    ),
    ("cabin unspecified", _set(cabin=pb.CABIN_UNSPECIFIED), ["cabin"]),
    ("unknown cabin", _set(cabin=42), ["cabin"]),
    ("unknown sort order", _set(sort_order=9), ["sort_order"]),
    ("flexible days too many", _set(flexible_days=4), ["flexible_days"]),
    ("negative flexible days", _set(flexible_days=-1), ["flexible_days"]),
    ("negative page size", _set(page_size=-1), ["page_size"]),
    ("two stops", _set(**{"filters.max_stops": 2}), ["filters.max_stops"]),
    (
        "malformed included airline",
        _set(**{"filters.included_airline_codes": ["UA", "U$A"]}),
        ["filters.included_airline_codes[1]"],
    ),
    (
        "malformed excluded airline",
        _set(**{"filters.excluded_airline_codes": ["toolong"]}),
        ["filters.excluded_airline_codes[0]"],
    ),
    (
        "included and excluded airlines",
        _set(
            **{"filters.included_airline_codes": ["UA"], "filters.excluded_airline_codes": ["DL"]}
        ),
        ["filters.excluded_airline_codes"],
    ),
    (
        "malformed window start",
        _set(**{"filters.departure_time_window.start_time": "7am"}),
        ["filters.departure_time_window.start_time"],
    ),
    (
        "window hour 24",
        _set(**{"filters.departure_time_window.end_time": "24:00"}),
        ["filters.departure_time_window.end_time"],
    ),
    (
        "window end before start",
        _set(
            **{
                "filters.departure_time_window.start_time": "18:00",
                "filters.departure_time_window.end_time": "06:00",
            }
        ),
        ["filters.departure_time_window.end_time"],
    ),
    (
        "max price without currency",
        _set(**{"filters.max_total_price": money_pb2.Money(units=100)}),
        ["filters.max_total_price.currency_code"],
    ),
    (
        "negative max price",
        _set(**{"filters.max_total_price": money_pb2.Money(currency_code="USD", units=-5)}),
        ["filters.max_total_price"],
    ),
    (
        "max price nanos out of range",
        _set(
            **{
                "filters.max_total_price": money_pb2.Money(
                    currency_code="USD", units=1, nanos=1_000_000_000
                )
            }
        ),
        ["filters.max_total_price.nanos"],
    ),
    (
        "max price nanos of the wrong sign",
        _set(
            **{"filters.max_total_price": money_pb2.Money(currency_code="USD", units=1, nanos=-5)}
        ),
        ["filters.max_total_price.nanos"],
    ),
    ("tampered page token", _set(page_token="bm90LWEtdG9rZW4.AAAA"), ["page_token"]),
    ("garbage page token", _set(page_token="%%%"), ["page_token"]),
]


@pytest.mark.parametrize(("rule", "mutate", "fields"), RULES, ids=[r[0] for r in RULES])
async def test_rule(
    search: InProcessSearch,
    rule: str,
    mutate: Callable[[pb.SearchFlightsRequest], None],
    fields: list[str],
) -> None:
    request = valid()
    mutate(request)
    assert await violations(search, request) == fields


async def test_the_valid_request_is_valid(search: InProcessSearch) -> None:
    response = await search.stub.SearchFlights(valid(), timeout=10)
    assert response.total_size > 0


async def test_all_violations_are_reported_together(search: InProcessSearch) -> None:
    request = pb.SearchFlightsRequest(
        origin="ZZZ",
        destination="12",
        departure_date="yesterday",
        return_date="2000-01-01",
        passengers=pb.Passengers(adults=0, children=-1, infants=-2),
        flexible_days=7,
        page_size=-5,
        page_token="forged",
    )
    request.filters.max_stops = 3
    fields = await violations(search, request)
    assert set(fields) == {
        "origin",
        "destination",
        "departure_date",
        "passengers.adults",
        "passengers.children",
        "passengers.infants",
        "cabin",
        "flexible_days",
        "page_size",
        "filters.max_stops",
        "page_token",
    }


async def test_enum_values_in_messages_are_spelled_as_on_the_wire(search: InProcessSearch) -> None:
    request = valid()
    request.cabin = pb.CABIN_UNSPECIFIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await search.stub.SearchFlights(request, timeout=10)
    assert err.value.details() == (
        "cabin: is required (one of CABIN_ECONOMY, CABIN_PREMIUM_ECONOMY, CABIN_BUSINESS, "
        "CABIN_FIRST)"
    )
    # Each name it gives is a value a client can send.
    for name in err.value.details().split("(one of ")[1].rstrip(")").split(", "):
        request.cabin = pb.Cabin.Value(name)
        await search.stub.SearchFlights(request, timeout=10)


async def test_a_page_token_of_another_query_is_rejected(search: InProcessSearch) -> None:
    request = valid()
    request.page_size = 1
    first = await search.stub.SearchFlights(request, timeout=10)
    assert first.next_page_token
    other = valid()
    other.destination = "DEN"
    other.page_token = first.next_page_token
    assert await violations(search, other) == ["page_token"]


async def test_codes_are_case_insensitive(search: InProcessSearch) -> None:
    request = valid()
    request.origin, request.destination = "ord", "atl"
    request.filters.included_airline_codes.extend(["ua", "dl"])
    response = await search.stub.SearchFlights(request, timeout=10)
    assert all(
        s.airline_code in {"UA", "DL"}
        for i in response.itineraries
        for j in i.journeys
        for s in j.segments
    )


async def test_offer_id_rules(search: InProcessSearch) -> None:
    for call in (search.stub.GetOffer, search.stub.PriceOffer):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(
                pb.GetOfferRequest(offer_id="")
                if call is search.stub.GetOffer
                else pb.PriceOfferRequest(offer_id=""),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(err.value)[0] == ["offer_id"]
