"""The upstream provider's flight-offers API (Amadeus Self-Service shapes).

Every call carries the token from the token service (``TokenClient``): a 401 reports
that token and retries once with the new one (``call_with_token``); a 429 waits for
``Retry-After`` (or a short jittered backoff) and retries a bounded number of times,
within the request's time budget. A search never fails because of the provider:
whatever goes wrong becomes a ``failure`` reason, and the caller returns inventory
results flagged partial. Token values never reach logs or error messages.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

import aiohttp
import grpc
from prometheus_client import CollectorRegistry, Counter

from search_service.airports import AirportDirectory
from search_service.itineraries import Option
from search_service.normalise import normalise_offer
from search_service.offers import ProviderQuote
from search_service.pricing import to_cents
from search_service.query import SearchQuery
from search_service.settings import ProviderSettings
from services.clients.token_client import UpstreamUnauthorized
from services.errors import NotFoundError, UnavailableError
from services.http_timeout import exact_timeout

log = logging.getLogger("skyroute.search.upstream")
T = TypeVar("T")

SEARCH_PATH = "/v2/shopping/flight-offers"
PRICING_PATH = "/v1/shopping/flight-offers/pricing"
MAX_OFFERS = 250
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0

UNAVAILABLE = "PROVIDER_UNAVAILABLE"
RATE_LIMITED = "PROVIDER_RATE_LIMITED"
UNAUTHORIZED = "PROVIDER_UNAUTHORIZED"
# Amadeus error codes.
SEGMENT_SELL_FAILURE = 34651
INVALID_DATA = 4926


class ProviderFailure(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ProviderRejected(ProviderFailure):
    """A 4xx other than 401/429: the provider refused this request (Amadeus error codes
    in ``codes``)."""

    def __init__(self, status: int, codes: list[int]) -> None:
        super().__init__(UNAVAILABLE, f"provider answered HTTP {status} {codes}")
        self.status = status
        self.codes = codes


class RateLimited(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


@dataclass
class ProviderResult:
    options: list[Option] = field(default_factory=list)
    failure: str = ""  # empty when the provider answered


class ProviderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("skyroute_search_provider_requests_total",
                                "HTTP requests to the provider, by endpoint and outcome",
                                ["endpoint", "outcome"], registry=registry)


class TokenCaller(Protocol):
    """What the provider client needs from the token client (TokenClient fits)."""

    async def call_with_token(self, provider: str,
                              call: Callable[[str], Awaitable[T]]) -> T: ...


async def _error_codes(response: aiohttp.ClientResponse) -> list[int]:
    try:
        body = await response.json(content_type=None)
        return [int(e.get("code", 0)) for e in body.get("errors") or ()]
    except (ValueError, TypeError, AttributeError, aiohttp.ClientError):
        return []


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class AmadeusClient:
    def __init__(self, session: aiohttp.ClientSession, settings: ProviderSettings,
                 tokens: TokenCaller, metrics: ProviderMetrics) -> None:
        self._session = session
        self._settings = settings
        self._tokens = tokens
        self._metrics = metrics

    async def _request(self, endpoint: str, method: str, path: str, token: str, *,
                       params: dict[str, str] | None = None,
                       body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}",
                   "Accept": "application/vnd.amadeus+json, application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if method == "POST" and endpoint == "search":
                headers["X-HTTP-Method-Override"] = "GET"
        try:
            async with self._session.request(
                    method, self._settings.base_url + path, params=params, json=body,
                    headers=headers,
                    timeout=exact_timeout(self._settings.timeout_seconds)
            ) as response:
                status = response.status
                if status == 401:
                    self._metrics.requests.labels(endpoint, "unauthorized").inc()
                    raise UpstreamUnauthorized()
                if status == 429:
                    self._metrics.requests.labels(endpoint, "rate_limited").inc()
                    raise RateLimited(parse_retry_after(response.headers.get("Retry-After")))
                if status >= 500:
                    self._metrics.requests.labels(endpoint, "error").inc()
                    raise ProviderFailure(UNAVAILABLE, f"provider answered HTTP {status}")
                if status >= 400:
                    self._metrics.requests.labels(endpoint, "rejected").inc()
                    raise ProviderRejected(status, await _error_codes(response))
                data = await response.json(content_type=None)
                self._metrics.requests.labels(endpoint, "ok").inc()
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._metrics.requests.labels(endpoint, "unreachable").inc()
            raise ProviderFailure(UNAVAILABLE,
                                  f"provider unreachable ({type(exc).__name__})") from None

    async def call(self, endpoint: str, method: str, path: str, *,
                   params: dict[str, str] | None = None,
                   body: dict[str, Any] | None = None) -> Any:
        """One API call with the shared token: 401 -> report + retry once (token
        client), 429 -> back off and retry. Raises ProviderFailure."""
        deadline = time.monotonic() + self._settings.timeout_seconds
        attempt = 0
        while True:
            try:
                return await self._tokens.call_with_token(
                    self._settings.name,
                    lambda token: self._request(endpoint, method, path, token,
                                                params=params, body=body))
            except RateLimited as exc:
                attempt += 1
                delay = exc.retry_after
                if delay is None:
                    delay = min(BACKOFF_INITIAL_SECONDS * 2 ** (attempt - 1),
                                BACKOFF_MAX_SECONDS) * random.uniform(0.5, 1.0)
                if attempt > self._settings.rate_limit_retries or (
                        time.monotonic() + delay > deadline):
                    raise ProviderFailure(RATE_LIMITED, "provider rate limit") from None
                log.info("provider rate limited; backing off",
                         extra={"delay_seconds": round(delay, 3), "attempt": attempt})
                await asyncio.sleep(delay)
            except UpstreamUnauthorized:
                raise ProviderFailure(UNAUTHORIZED, "provider rejected a fresh token") from None
            except grpc.aio.AioRpcError as exc:
                raise ProviderFailure(UNAVAILABLE,
                                      f"token service: {exc.code().name}") from None

    async def flight_offers(self, params: dict[str, str]) -> dict[str, Any]:
        data = await self.call("search", "GET", SEARCH_PATH, params=params)
        if not isinstance(data, dict):
            raise ProviderFailure(UNAVAILABLE, "unexpected flight-offers response")
        return data

    async def price(self, offer: dict[str, Any]) -> dict[str, Any]:
        body = {"data": {"type": "flight-offers-pricing", "flightOffers": [offer]}}
        data = await self.call("pricing", "POST", PRICING_PATH, body=body)
        try:
            priced = data["data"]["flightOffers"][0]
        except (KeyError, IndexError, TypeError):
            raise ProviderFailure(UNAVAILABLE, "unexpected pricing response") from None
        if not isinstance(priced, dict):
            raise ProviderFailure(UNAVAILABLE, "unexpected pricing response")
        return priced


def search_params(query: SearchQuery, day: date, return_day: date | None,
                  currency: str) -> dict[str, str]:
    params = {
        "originLocationCode": query.origin,
        "destinationLocationCode": query.destination,
        "departureDate": day.isoformat(),
        "adults": str(query.party.adults),
        "travelClass": query.cabin.value,
        "currencyCode": currency,
        "max": str(MAX_OFFERS),
    }
    if return_day is not None:
        params["returnDate"] = return_day.isoformat()
    if query.party.children:
        params["children"] = str(query.party.children)
    if query.party.infants:
        params["infants"] = str(query.party.infants)
    if query.max_stops == 0:
        params["nonStop"] = "true"
    if query.included_airlines:
        params["includedAirlineCodes"] = ",".join(query.included_airlines)
    if query.excluded_airlines:
        params["excludedAirlineCodes"] = ",".join(query.excluded_airlines)
    if query.max_total_cents is not None and query.max_total_currency == currency:
        # Amadeus takes a whole number; we filter exactly afterwards.
        params["maxPrice"] = str(max(1, -(-query.max_total_cents // 100)))
    return params


class ProviderSearch:
    """Provider offers for a query, normalised. One request per departure date of the
    flexible window (a round trip keeps the requested trip length on each)."""

    def __init__(self, client: AmadeusClient, airports: AirportDirectory,
                 settings: ProviderSettings) -> None:
        self._client = client
        self._airports = airports
        self._settings = settings

    @property
    def name(self) -> str:
        return self._settings.name

    async def search(self, query: SearchQuery) -> ProviderResult:
        now = datetime.now(UTC)
        # Providers reject dates before their "today" (UTC for Amadeus), and we have no
        # use for dates before the origin's today.
        today = max(self._airports.today(query.origin, now), now.date())
        trip = (query.return_date - query.departure_date) if query.return_date else None
        calls = []
        for day in query.departure_dates():
            if day < today:
                continue
            calls.append(self._client.flight_offers(search_params(
                query, day, day + trip if trip is not None else None,
                self._settings.currency)))
        try:
            async with asyncio.timeout(self._settings.timeout_seconds):
                responses = await asyncio.gather(*calls)
        except ProviderFailure as exc:
            log.warning("provider search failed; answering from inventory",
                        extra={"reason": exc.reason, "error": str(exc)})
            return ProviderResult(failure=exc.reason)
        except TimeoutError:
            log.warning("provider search timed out; answering from inventory")
            return ProviderResult(failure=UNAVAILABLE)
        options = []
        for response in responses:
            for raw in response.get("data") or ():
                option = normalise_offer(raw, self._airports, self._settings.name)
                if option is not None:
                    options.append(option)
        return ProviderResult(options=options)

    async def price(self, raw: dict[str, Any]) -> ProviderQuote:
        """Revalidate a stored provider offer at the provider."""
        try:
            priced = await self._client.price(raw)
            total = priced["price"]["grandTotal"]
            currency = str(priced["price"]["currency"])
            return ProviderQuote(priced, to_cents(Decimal(str(total))), currency, True)
        except ProviderRejected as exc:
            if SEGMENT_SELL_FAILURE in exc.codes:
                return ProviderQuote(raw, 0, "", False)
            if INVALID_DATA in exc.codes:
                raise NotFoundError("the provider no longer has this offer",
                                    reason="OFFER_NOT_FOUND") from None
            raise UnavailableError("the provider could not price the offer",
                                   reason=exc.reason) from None
        except ProviderFailure as exc:
            raise UnavailableError("the provider could not price the offer",
                                   reason=exc.reason) from None
        except (KeyError, TypeError, InvalidOperation):
            raise UnavailableError("the provider answered an unexpected price",
                                   reason=UNAVAILABLE) from None
