"""The upstream provider's order API (Amadeus Flight Create Orders and Flight Order
Management shapes): create, retrieve and delete a flight order.

Every call carries the provider's shared token from the token service
(``TokenClient.call_with_token``): a 401 reports that token and retries once with the
new one. Token values never reach logs or error messages.

Creating an order is not idempotent (at Amadeus or the stand-in), so a failed create is
classified by what it proves:

- ``OrderRejected``: the provider answered with a refusal (4xx other than 401/429):
  nothing was created.
- ``OrderNotSent``: the request never reached the provider, or was refused before any
  processing (token service down, connection refused, a fresh token rejected): nothing
  was created.
- ``OrderOutcomeUnknown``: the request may have been processed (5xx, 429, a timeout or a
  connection lost after sending). The caller must look the order up (order_lookup.py)
  and never simply create it again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import grpc

from booking_service.settings import ProviderOrderSettings
from services.clients.token_client import UpstreamUnauthorized
from services.http_timeout import exact_timeout

log = logging.getLogger("skyroute.booking.provider")

T = TypeVar("T")
ORDERS_PATH = "/v1/booking/flight-orders"
# Amadeus error codes.
PRICE_DISCREPANCY = 37200
SEGMENT_SELL_FAILURE = 34651

UNAVAILABLE = "PROVIDER_UNAVAILABLE"
UNAUTHORIZED = "PROVIDER_UNAUTHORIZED"
_CURRENT_TOTAL = re.compile(r"Current grandTotal price \(([0-9]+(?:\.[0-9]+)?)\)")


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order_id: str  # opaque, as the provider wrote it (percent-encoded at Amadeus)
    record_locator: str  # associatedRecords[0].reference: the airline / GDS PNR


class OrderRejected(Exception):
    def __init__(self, status: int, codes: list[int], details: list[str] | None = None
                 ) -> None:
        super().__init__(f"provider refused the order: HTTP {status} {codes}")
        self.status = status
        self.codes = codes
        self.details = details or []

    @property
    def current_total(self) -> str | None:
        """The provider's current price from a PRICE DISCREPANCY's detail ("Current
        grandTotal price (612.40) is different from request one (577.34)")."""
        for detail in self.details:
            match = _CURRENT_TOTAL.search(detail)
            if match:
                return match.group(1)
        return None


class OrderNotSent(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class OrderOutcomeUnknown(Exception):
    """The create may or may not have happened."""


class ProviderUnavailable(Exception):
    """A retrieve or delete did not get an answer."""


class TokenCaller(Protocol):
    async def call_with_token(self, provider: str,
                              call: Callable[[str], Awaitable[T]]) -> T: ...


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Any


def _errors(body: Any) -> tuple[list[int], list[str]]:
    """Amadeus ``errors[]``: their codes and details."""
    try:
        errors = list(body.get("errors") or ())
        return ([int(e.get("code", 0)) for e in errors],
                [str(e.get("detail") or "") for e in errors])
    except (TypeError, ValueError, AttributeError):
        return [], []


def placed_order(body: Any) -> PlacedOrder:
    """The order id and record locator of a flight-order response; ValueError if the
    body does not have them."""
    try:
        data = body["data"]
        order_id = str(data["id"])
        records = data.get("associatedRecords") or []
        locator = str(records[0]["reference"]) if records else ""
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not a flight order ({type(exc).__name__})") from None
    if not order_id:
        raise ValueError("not a flight order (no id)")
    return PlacedOrder(order_id, locator)


class ProviderOrders:
    def __init__(self, session: aiohttp.ClientSession, settings: ProviderOrderSettings,
                 tokens: TokenCaller) -> None:
        self._session = session
        self._settings = settings
        self._tokens = tokens

    @property
    def provider(self) -> str:
        return self._settings.name

    def _url(self, order_id: str | None = None) -> str:
        if order_id is None:
            return self._settings.base_url + ORDERS_PATH
        # Amadeus ids are already percent-encoded ("...%3D"); encoding once more is what
        # it (and the stand-in) expect of a path segment.
        return f"{self._settings.base_url}{ORDERS_PATH}/{quote(order_id, safe='')}"

    async def _send(self, method: str, url: str, token: str, body: Any = None) -> _Answer:
        headers = {"Authorization": f"Bearer {token}",
                   "Accept": "application/vnd.amadeus+json, application/json"}
        if body is not None:
            headers["Content-Type"] = "application/vnd.amadeus+json"
        timeout = exact_timeout(self._settings.timeout_seconds)
        async with self._session.request(method, url, json=body, headers=headers,
                                         timeout=timeout) as response:
            if response.status == 401:
                raise UpstreamUnauthorized()
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
            return _Answer(response.status, data)

    async def _call(self, method: str, url: str, body: Any = None) -> _Answer:
        return await self._tokens.call_with_token(
            self._settings.name, lambda token: self._send(method, url, token, body))

    async def create(self, request: dict[str, Any]) -> PlacedOrder:
        """POST the order; raises OrderRejected, OrderNotSent or OrderOutcomeUnknown."""
        try:
            answer = await self._call("POST", self._url(), request)
        except UpstreamUnauthorized:
            raise OrderNotSent(UNAUTHORIZED, "the provider rejected a fresh token") from None
        except grpc.aio.AioRpcError as exc:
            raise OrderNotSent(UNAVAILABLE, f"token service: {exc.code().name}") from None
        except aiohttp.ClientConnectorError:
            raise OrderNotSent(UNAVAILABLE, "provider unreachable") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OrderOutcomeUnknown(f"no answer ({type(exc).__name__})") from None
        if answer.status in (200, 201):
            try:
                return placed_order(answer.body)
            except ValueError as exc:
                # Created, but we cannot tell which order it is: look it up.
                raise OrderOutcomeUnknown(str(exc)) from None
        if answer.status >= 500 or answer.status == 429:
            raise OrderOutcomeUnknown(f"provider answered HTTP {answer.status}")
        raise OrderRejected(answer.status, *_errors(answer.body))

    async def get(self, order_id: str) -> PlacedOrder | None:
        """The order, or None if the provider does not (any longer) have it."""
        answer = await self._checked("GET", order_id)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise ProviderUnavailable(f"provider answered HTTP {answer.status}")
        try:
            return placed_order(answer.body)
        except ValueError as exc:
            raise ProviderUnavailable(str(exc)) from None

    async def delete(self, order_id: str) -> bool:
        """Cancels the order; False if it was already gone (404), which is as good."""
        answer = await self._checked("DELETE", order_id)
        if answer.status == 404:
            return False
        if answer.status not in (200, 204):
            raise ProviderUnavailable(f"provider answered HTTP {answer.status}")
        return True

    async def _checked(self, method: str, order_id: str) -> _Answer:
        try:
            return await self._call(method, self._url(order_id))
        except UpstreamUnauthorized:
            raise ProviderUnavailable("the provider rejected a fresh token") from None
        except grpc.aio.AioRpcError as exc:
            raise ProviderUnavailable(f"token service: {exc.code().name}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"no answer ({type(exc).__name__})") from None
