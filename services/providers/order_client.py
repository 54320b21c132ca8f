"""What every order client does the same way: create, retrieve and delete an order at
``{base_url}{path}[/{id}]``, with failures classified in provider-neutral terms.

An adapter's order client (flight orders, hotel orders) subclasses ``OrderClient``
with its path, the noun its messages use for the upstream ("provider", "supplier"),
the parser of an order response, and how it reads a refusal. ``create`` is not
idempotent upstream, so a failed create says what it proves:

- ``OrderRejected``: the upstream answered with a refusal (4xx other than 401/429).
- ``OrderNotSent``: the request never reached the upstream, or was refused before any
  processing (token service down, connection refused, a fresh token rejected).
- ``OrderOutcomeUnknown``: the request may have been processed (5xx, 429, a timeout,
  a connection lost after sending, an unreadable success): look the order up, never
  simply create it again.

``get`` and ``delete`` are safe to repeat: every failure is ``ProviderUnavailable``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import grpc

from services.clients.token_client import UpstreamUnauthorized
from services.providers.base import (
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    PlacedOrder,
    ProviderConfig,
    ProviderUnavailable,
)
from services.rate_budget import BudgetExhausted


class OrderAnswer(Protocol):
    """An upstream answer as it came: HTTP status and parsed JSON body."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> Any: ...


class OrderApi(Protocol):
    """What an order client needs of its adapter's HTTP layer: one call with the
    shared token, answered as it is (``AmadeusApi`` fits)."""

    @property
    def config(self) -> ProviderConfig: ...

    async def send(self, method: str, url: str, body: Any = None) -> OrderAnswer: ...


class OrderClient:
    def __init__(
        self,
        api: OrderApi,
        *,
        path: str,
        noun: str,
        parse: Callable[[Any], PlacedOrder],
        rejected: Callable[[OrderAnswer], OrderRejected],
    ) -> None:
        """``parse``: an order response body -> PlacedOrder (ValueError if it is not
        one); ``rejected``: a refusal (4xx) -> the OrderRejected to raise."""
        self._api = api
        self._path = path
        self._noun = noun
        self._parse = parse
        self._rejected = rejected

    def _url(self, order_id: str | None = None) -> str:
        base = self._api.config.base_url + self._path
        # Ids may already be percent-encoded (Amadeus's read "...%3D"); encoding once
        # more is what such an upstream (and the stand-in) expect of a path segment.
        return base if order_id is None else f"{base}/{quote(order_id, safe='')}"

    async def _place(self, body: Any) -> PlacedOrder:
        """POSTs a create, classified as the module docstring says."""
        noun = self._noun
        try:
            answer = await self._api.send("POST", self._url(), body)
        except UpstreamUnauthorized:
            raise OrderNotSent(UNAUTHORIZED, f"the {noun} rejected a fresh token") from None
        except BudgetExhausted as exc:
            raise OrderNotSent(
                RATE_LIMITED, "upstream rate budget exhausted", retry_after=exc.retry_after
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise OrderNotSent(UNAVAILABLE, f"token service: {exc.code().name}") from None
        except aiohttp.ClientConnectorError:
            raise OrderNotSent(UNAVAILABLE, f"{noun} unreachable") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OrderOutcomeUnknown(f"no answer ({type(exc).__name__})") from None
        if answer.status in (200, 201):
            try:
                return self._parse(answer.body)
            except ValueError as exc:
                # Created, but we cannot tell which order it is: look it up.
                raise OrderOutcomeUnknown(str(exc)) from None
        if answer.status >= 500 or answer.status == 429:
            raise OrderOutcomeUnknown(f"{noun} answered HTTP {answer.status}")
        raise self._rejected(answer)

    async def get(self, order_id: str) -> PlacedOrder | None:
        answer = await self._checked("GET", order_id)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise ProviderUnavailable(f"{self._noun} answered HTTP {answer.status}")
        try:
            return self._parse(answer.body)
        except ValueError as exc:
            raise ProviderUnavailable(str(exc)) from None

    async def delete(self, order_id: str) -> bool:
        answer = await self._checked("DELETE", order_id)
        if answer.status == 404:
            return False
        if answer.status not in (200, 204):
            raise ProviderUnavailable(f"{self._noun} answered HTTP {answer.status}")
        return True

    async def _checked(self, method: str, order_id: str) -> OrderAnswer:
        try:
            return await self._api.send(method, self._url(order_id))
        except UpstreamUnauthorized:
            raise ProviderUnavailable(f"the {self._noun} rejected a fresh token") from None
        except BudgetExhausted:
            raise ProviderUnavailable("upstream rate budget exhausted") from None
        except grpc.aio.AioRpcError as exc:
            raise ProviderUnavailable(f"token service: {exc.code().name}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"no answer ({type(exc).__name__})") from None
