"""Calls to the Amadeus Self-Service APIs with the shared token.

``call`` (shopping APIs): a 401 reports the token and retries once (the token
client's ``call_with_token``); a 429 waits for ``Retry-After`` (or a short jittered
backoff) and retries a bounded number of times within the call's time budget; every
other failure becomes ``ProviderFailure``. ``send`` (order APIs) answers the status
and body as they are, for the caller to classify (a create is not idempotent).

With a shared rate budget (``Permits``), every HTTP request first takes a permit
(waiting at most until the call's deadline; none in time -> ``ProviderFailure``
RATE_LIMITED with ``retry_after``, or ``BudgetExhausted`` from ``send``), and a 429's
Retry-After pauses the provider for every caller of the fleet.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import grpc

from services.clients.token_client import UpstreamUnauthorized
from services.http_timeout import exact_timeout
from services.providers.base import (
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    NoCount,
    Permits,
    ProviderConfig,
    ProviderFailure,
    RequestCounter,
    TokenCaller,
)
from services.rate_budget import BudgetExhausted

log = logging.getLogger("skyroute.provider.amadeus")

ACCEPT = "application/vnd.amadeus+json, application/json"
BACKOFF_INITIAL_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 2.0


class Rejected(ProviderFailure):
    """A 4xx other than 401/429: Amadeus refused this request (its error codes in
    ``codes``)."""

    def __init__(self, status: int, codes: list[int]) -> None:
        super().__init__(UNAVAILABLE, f"provider answered HTTP {status} {codes}")
        self.status = status
        self.codes = codes


class RateLimited(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any


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


def errors(body: Any) -> tuple[list[int], list[str]]:
    """Amadeus ``errors[]``: their codes and details."""
    try:
        found = list(body.get("errors") or ())
        return ([int(e.get("code", 0)) for e in found], [str(e.get("detail") or "") for e in found])
    except (TypeError, ValueError, AttributeError):
        return [], []


async def _error_codes(response: aiohttp.ClientResponse) -> list[int]:
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return []
    return errors(body)[0]


class AmadeusApi:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: ProviderConfig,
        tokens: TokenCaller,
        counter: RequestCounter | None = None,
        budget: Permits | None = None,
    ) -> None:
        self._session = session
        self._config = config
        self._tokens = tokens
        self._counter = counter or NoCount()
        self._budget = budget

    async def _permit(self, deadline: float) -> None:
        """A permit of the shared budget before one HTTP request (BudgetExhausted)."""
        if self._budget is not None:
            await self._budget.acquire(deadline - time.monotonic())

    async def _paused(self, retry_after: float | None) -> None:
        if self._budget is not None and retry_after:
            await self._budget.pause(retry_after)

    @property
    def config(self) -> ProviderConfig:
        return self._config

    async def _request(
        self,
        endpoint: str,
        method: str,
        path: str,
        token: str,
        *,
        deadline: float,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        count = self._counter.count
        await self._permit(deadline)
        headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if method == "POST" and endpoint == "search":
                headers["X-HTTP-Method-Override"] = "GET"
        try:
            async with self._session.request(
                method,
                self._config.base_url + path,
                params=params,
                json=body,
                headers=headers,
                timeout=exact_timeout(self._config.timeout_seconds),
            ) as response:
                status = response.status
                if status == 401:
                    count(endpoint, "unauthorized")
                    raise UpstreamUnauthorized()
                if status == 429:
                    count(endpoint, "rate_limited")
                    raise RateLimited(parse_retry_after(response.headers.get("Retry-After")))
                if status >= 500:
                    count(endpoint, "error")
                    raise ProviderFailure(UNAVAILABLE, f"provider answered HTTP {status}")
                if status >= 400:
                    count(endpoint, "rejected")
                    raise Rejected(status, await _error_codes(response))
                data = await response.json(content_type=None)
                count(endpoint, "ok")
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            count(endpoint, "unreachable")
            raise ProviderFailure(
                UNAVAILABLE, f"provider unreachable ({type(exc).__name__})"
            ) from None

    async def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """One API call with the shared token: 401 -> report + retry once (token
        client), 429 -> back off and retry. Raises ProviderFailure."""
        deadline = time.monotonic() + self._config.timeout_seconds
        attempt = 0
        while True:
            try:
                return await self._tokens.call_with_token(
                    self._config.name,
                    lambda token: self._request(
                        endpoint, method, path, token, deadline=deadline, params=params, body=body
                    ),
                )
            except BudgetExhausted as exc:
                raise ProviderFailure(
                    RATE_LIMITED, "upstream rate budget exhausted", retry_after=exc.retry_after
                ) from None
            except RateLimited as exc:
                await self._paused(exc.retry_after)
                attempt += 1
                delay = exc.retry_after
                if delay is None:
                    delay = min(
                        BACKOFF_INITIAL_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS
                    ) * random.uniform(0.5, 1.0)
                if attempt > self._config.rate_limit_retries or (
                    time.monotonic() + delay > deadline
                ):
                    raise ProviderFailure(RATE_LIMITED, "provider rate limit") from None
                log.info(
                    "provider rate limited; backing off",
                    extra={"delay_seconds": round(delay, 3), "attempt": attempt},
                )
                await asyncio.sleep(delay)
            except UpstreamUnauthorized:
                raise ProviderFailure(UNAUTHORIZED, "provider rejected a fresh token") from None
            except grpc.aio.AioRpcError as exc:
                raise ProviderFailure(UNAVAILABLE, f"token service: {exc.code().name}") from None

    async def _send(self, method: str, url: str, token: str, body: Any = None) -> Answer:
        await self._permit(time.monotonic() + self._config.timeout_seconds)
        headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        if body is not None:
            headers["Content-Type"] = "application/vnd.amadeus+json"
        timeout = exact_timeout(self._config.timeout_seconds)
        async with self._session.request(
            method, url, json=body, headers=headers, timeout=timeout
        ) as response:
            if response.status == 401:
                raise UpstreamUnauthorized()
            if response.status == 429:
                await self._paused(parse_retry_after(response.headers.get("Retry-After")))
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = None
            return Answer(response.status, data)

    async def send(self, method: str, url: str, body: Any = None) -> Answer:
        """One call with the shared token (401 -> report + retry once), answered as it
        is. Raises UpstreamUnauthorized (a fresh token refused), BudgetExhausted (no
        permit in time: nothing sent), grpc.aio.AioRpcError (token service),
        aiohttp.ClientError or TimeoutError."""
        return await self._tokens.call_with_token(
            self._config.name, lambda token: self._send(method, url, token, body)
        )
