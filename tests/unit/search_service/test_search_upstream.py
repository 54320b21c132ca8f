"""The provider client against a scripted in-process HTTP server: 401 reports the token
and retries once, 429 backs off (honouring Retry-After, within the time budget),
failures and timeouts become a partial-result reason, never an exception."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from search_service.airports import AirportDirectory
from search_service.pricing import Party
from search_service.providers import ProviderMetrics, ProviderSearch, adapter_config, offer_query
from search_service.query import Cabin, SearchQuery
from search_service.settings import ProviderSettings
from services.clients.token_client import UpstreamUnauthorized
from services.errors import NotFoundError
from services.providers.amadeus import AmadeusProvider
from services.providers.amadeus.http import parse_retry_after
from services.providers.amadeus.offers import search_params as amadeus_search_params
from tests.utils.redis_server import free_port

T = TypeVar("T")
DAY = date(2031, 3, 10)


def offer(total: str = "100.00", number: str = "117") -> dict[str, Any]:
    return {
        "type": "flight-offer",
        "id": "1",
        "numberOfBookableSeats": 9,
        "itineraries": [
            {
                "duration": "PT8H",
                "segments": [
                    {
                        "departure": {"iataCode": "LHR", "at": "2031-03-10T10:00:00"},
                        "arrival": {"iataCode": "JFK", "at": "2031-03-10T13:00:00"},
                        "carrierCode": "BA",
                        "number": number,
                        "duration": "PT8H",
                    }
                ],
            }
        ],
        "price": {"currency": "USD", "total": total, "grandTotal": total},
        "travelerPricings": [{"fareDetailsBySegment": [{"cabin": "ECONOMY"}]}],
    }


class FakeTokens:
    """TokenClient.call_with_token's contract: on UpstreamUnauthorized report the
    token (here: rotate it) and retry once."""

    def __init__(self) -> None:
        self.generation = 1
        self.reports: list[str] = []

    @property
    def current(self) -> str:
        return f"token-{self.generation}"

    async def call_with_token(self, provider: str, call: Callable[[str], Awaitable[T]]) -> T:
        token = self.current
        try:
            return await call(token)
        except UpstreamUnauthorized:
            self.reports.append(token)
            self.generation += 1
            return await call(self.current)


class Script:
    """Responses the fake provider gives, in order; the last one repeats."""

    def __init__(self) -> None:
        self.responses: list[Callable[[web.Request], Awaitable[web.StreamResponse]]] = []
        self.requests: list[web.Request] = []
        self.tokens: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        self.tokens.append(request.headers.get("Authorization", ""))
        respond = self.responses[min(len(self.requests), len(self.responses)) - 1]
        return await respond(request)


def status(
    code: int, headers: dict[str, str] | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"errors": [{"status": code, "code": 1}]}, status=code, headers=headers
        )

    return respond


def ok(*offers: dict[str, Any]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"data": list(offers)}, content_type="application/vnd.amadeus+json"
        )

    return respond


def slow(seconds: float) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"data": []})

    return respond


@pytest.fixture
async def script() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield script, f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def provider(
    session: aiohttp.ClientSession,
    base_url: str,
    tokens: FakeTokens,
    *,
    timeout: float = 2.0,
    retries: int = 2,
) -> ProviderSearch:
    settings = ProviderSettings(
        "amadeus",
        base_url,
        ("127.0.0.1:1",),
        "search",
        "key",
        timeout_seconds=timeout,
        rate_limit_retries=retries,
    )
    airports = AirportDirectory([("LHR", "Europe/London"), ("JFK", "America/New_York")])
    client = AmadeusProvider(
        adapter_config(settings), session, tokens, ProviderMetrics(CollectorRegistry())
    )
    return ProviderSearch(client, airports, settings)


def search_params(
    q: SearchQuery, day: date, return_day: date | None, currency: str
) -> dict[str, str]:
    return amadeus_search_params(offer_query(q, day, return_day), currency)


def query(**changes: Any) -> SearchQuery:
    values: dict[str, Any] = {
        "origin": "LHR",
        "destination": "JFK",
        "departure_date": DAY,
        "return_date": None,
        "party": Party(),
        "cabin": Cabin.ECONOMY,
    }
    values.update(changes)
    return SearchQuery(**values)


async def test_offers_are_normalised(script, session) -> None:
    script_, url = script
    script_.responses = [ok(offer())]
    result = await provider(session, url, FakeTokens()).search(query())
    assert result.failure == ""
    [option] = result.options
    assert option.total_cents == 10000 and option.currency == "USD"
    assert option.journeys[0].legs[0].designator == "BA117"
    assert script_.tokens == ["Bearer token-1"]
    params = script_.requests[0].query
    assert params["originLocationCode"] == "LHR" and params["departureDate"] == "2031-03-10"
    assert params["travelClass"] == "ECONOMY" and params["currencyCode"] == "USD"


async def test_401_reports_the_token_and_retries_once(script, session) -> None:
    script_, url = script
    script_.responses = [status(401), ok(offer())]
    tokens = FakeTokens()
    result = await provider(session, url, tokens).search(query())
    assert result.failure == "" and len(result.options) == 1
    assert tokens.reports == ["token-1"]
    assert script_.tokens == ["Bearer token-1", "Bearer token-2"]


async def test_401_twice_is_a_partial_result(script, session) -> None:
    script_, url = script
    script_.responses = [status(401)]
    tokens = FakeTokens()
    result = await provider(session, url, tokens).search(query())
    assert result.failure == "PROVIDER_UNAUTHORIZED" and not result.options
    assert len(script_.requests) == 2 and tokens.reports == ["token-1"]


async def test_429_honours_retry_after(script, session) -> None:
    script_, url = script
    script_.responses = [status(429, {"Retry-After": "0.3"}), ok(offer())]
    started = time.monotonic()
    result = await provider(session, url, FakeTokens()).search(query())
    assert result.failure == "" and len(result.options) == 1
    assert time.monotonic() - started >= 0.3
    assert len(script_.requests) == 2


async def test_429_without_retry_after_backs_off_then_gives_up(script, session) -> None:
    script_, url = script
    script_.responses = [status(429)]
    started = time.monotonic()
    result = await provider(session, url, FakeTokens(), retries=2).search(query())
    assert result.failure == "PROVIDER_RATE_LIMITED"
    assert len(script_.requests) == 3  # the call and two retries
    assert 0.15 <= time.monotonic() - started < 2.0


async def test_429_retry_after_beyond_the_budget_fails_at_once(script, session) -> None:
    script_, url = script
    script_.responses = [status(429, {"Retry-After": "30"})]
    started = time.monotonic()
    result = await provider(session, url, FakeTokens(), timeout=2.0).search(query())
    assert result.failure == "PROVIDER_RATE_LIMITED"
    assert time.monotonic() - started < 1.0 and len(script_.requests) == 1


@pytest.mark.parametrize("code", [500, 502, 503])
async def test_server_errors_are_partial(script, session, code: int) -> None:
    script_, url = script
    script_.responses = [status(code)]
    result = await provider(session, url, FakeTokens()).search(query())
    assert result.failure == "PROVIDER_UNAVAILABLE"


async def test_unreachable_provider_is_partial(session) -> None:
    result = await provider(session, f"http://127.0.0.1:{free_port()}", FakeTokens()).search(
        query()
    )
    assert result.failure == "PROVIDER_UNAVAILABLE"


async def test_slow_provider_is_cut_off_at_the_timeout(script, session) -> None:
    script_, url = script
    script_.responses = [slow(5)]
    started = time.monotonic()
    result = await provider(session, url, FakeTokens(), timeout=0.3).search(query())
    assert result.failure == "PROVIDER_UNAVAILABLE"
    assert time.monotonic() - started < 1.5


async def test_one_request_per_flexible_date(script, session) -> None:
    script_, url = script
    script_.responses = [ok(offer())]
    await provider(session, url, FakeTokens()).search(
        query(flexible_days=2, return_date=date(2031, 3, 14))
    )
    sent = sorted((r.query["departureDate"], r.query["returnDate"]) for r in script_.requests)
    assert sent == [
        ("2031-03-08", "2031-03-12"),
        ("2031-03-09", "2031-03-13"),
        ("2031-03-10", "2031-03-14"),
        ("2031-03-11", "2031-03-15"),
        ("2031-03-12", "2031-03-16"),
    ]


def test_search_params() -> None:
    q = query(
        party=Party(2, 1, 1),
        max_stops=0,
        included_airlines=("AA", "BA"),
        max_total_cents=12_345,
        max_total_currency="USD",
    )
    params = search_params(q, DAY, None, "USD")
    assert params["adults"] == "2" and params["children"] == "1" and params["infants"] == "1"
    assert params["nonStop"] == "true"
    assert params["includedAirlineCodes"] == "AA,BA"
    assert params["maxPrice"] == "124"  # whole units, rounded up; exact filter afterwards
    assert "maxPrice" not in search_params(
        query(max_total_cents=100, max_total_currency="EUR"), DAY, None, "USD"
    )


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


async def test_price_sell_failure_and_stale_offer(script, session) -> None:
    script_, url = script

    async def sold_out(request: web.Request) -> web.StreamResponse:
        return web.json_response({"errors": [{"status": 400, "code": 34651}]}, status=400)

    async def stale(request: web.Request) -> web.StreamResponse:
        return web.json_response({"errors": [{"status": 400, "code": 4926}]}, status=400)

    async def priced(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        sent = body["data"]["flightOffers"][0]
        sent["price"]["grandTotal"] = "123.40"
        return web.json_response({"data": {"flightOffers": [sent]}})

    search = provider(session, url, FakeTokens())
    script_.responses = [priced]
    quote = await search.price(offer())
    assert quote.available and quote.total_cents == 12340 and quote.currency == "USD"
    script_.responses = [sold_out]
    script_.requests.clear()
    assert not (await search.price(offer())).available
    script_.responses = [stale]
    script_.requests.clear()
    with pytest.raises(NotFoundError):
        await search.price(offer())
