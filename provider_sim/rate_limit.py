"""An API rate limit like the real provider's, off until a test turns it on: a token
bucket of ``per_second`` and ``burst`` over every API request (not the token endpoint,
not ``/_sim/``); above it, Amadeus' 429 (code 38194) with ``Retry-After``.

It also records what it saw, so tests can check a fleet's shared budget from the
provider's side: the most API requests that arrived in any ``window_seconds``, and how
many were answered 429.

``GET  /_sim/rate-limit``
    ``{"per_second", "burst", "window_seconds", "requests", "max_in_window", "api_429"}``
``POST /_sim/rate-limit``
    ``{"per_second": >= 0 (0 = off), "burst": int >= 1, "window_seconds": > 0}``; starts
    the counters afresh and returns the above.
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from provider_sim.control import (
    CONTROL_PREFIX,
    BadControlInput,
    _integer,
    _json_object,
    _number,
    _only,
    _rejects_bad_input,
)
from provider_sim.errors import injected_failure
from provider_sim.hotel import HOTEL_TOKEN_PATH
from provider_sim.oauth import TOKEN_PATH

RATE_LIMIT_PATH: Final = f"{CONTROL_PREFIX}/rate-limit"


class ApiRateLimit:
    def __init__(self) -> None:
        self.configure(0.0, 1, 1.0)

    def configure(self, per_second: float, burst: int, window_seconds: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self.window_seconds = window_seconds
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._recent: collections.deque[float] = collections.deque()
        self.requests = 0
        self.max_in_window = 0
        self.rejected = 0

    def admit(self) -> float | None:
        """Records one API request; None if it may go on, else seconds to Retry-After."""
        now = time.monotonic()
        self.requests += 1
        self._recent.append(now)
        while self._recent[0] <= now - self.window_seconds:
            self._recent.popleft()
        self.max_in_window = max(self.max_in_window, len(self._recent))
        if self.per_second <= 0:
            return None
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        self.rejected += 1
        return (1 - self._tokens) / self.per_second

    def view(self) -> dict[str, Any]:
        return {
            "per_second": self.per_second,
            "burst": self.burst,
            "window_seconds": self.window_seconds,
            "requests": self.requests,
            "max_in_window": self.max_in_window,
            "api_429": self.rejected,
        }


RATE_LIMIT_KEY: Final = web.AppKey("provider_sim.rate_limit", ApiRateLimit)


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # API requests only: control endpoints and both token endpoints are not limited.
    if request.path.startswith((CONTROL_PREFIX + "/", TOKEN_PATH, HOTEL_TOKEN_PATH)):
        return await handler(request)
    retry_after = request.app[RATE_LIMIT_KEY].admit()
    if retry_after is None:
        return await handler(request)
    response = injected_failure(429)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


async def get_rate_limit(request: web.Request) -> web.Response:
    return web.json_response(request.app[RATE_LIMIT_KEY].view())


@_rejects_bad_input
async def set_rate_limit(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"per_second", "burst", "window_seconds"})
    limit = request.app[RATE_LIMIT_KEY]
    per_second = _number(body, "per_second") if "per_second" in body else 0.0
    burst = _integer(body, "burst") if "burst" in body else 1
    window = _number(body, "window_seconds") if "window_seconds" in body else 1.0
    if per_second < 0 or burst < 1:
        raise BadControlInput("per_second must be >= 0 and burst >= 1")
    if window <= 0:
        raise BadControlInput("window_seconds must be > 0")
    limit.configure(per_second, burst, window)
    return web.json_response(limit.view())


def add_routes(app: web.Application) -> None:
    app[RATE_LIMIT_KEY] = ApiRateLimit()
    app.router.add_get(RATE_LIMIT_PATH, get_rate_limit)
    app.router.add_post(RATE_LIMIT_PATH, set_rate_limit)
