"""Bearer-token checks shared by every protected API endpoint.

Decorate a handler with ``@require_bearer`` and it runs only for a live token; the token
is then available as ``request[TOKEN_KEY]``. Flight offers, pricing and orders endpoints
reuse the same decorator, so all API calls are counted and rejected identically.

Order, per call: configured API latency; the Authorization header (401 with the Amadeus
gateway code: 38191 missing/malformed, 38190 unknown, 38192 expired, 38193 revoked);
then injected faults (429 rate limit or 5xx), which only a correctly authenticated call
consumes. Every call is counted, and per token whenever the token is one the simulator
issued, even if it is expired or revoked, so tests can see a client retrying a dead token.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from provider_sim.errors import (
    CODE_INVALID_HEADER,
    CODE_INVALID_TOKEN,
    CODE_TOKEN_EXPIRED,
    CODE_TOKEN_REVOKED,
    bearer_error,
    injected_failure,
)
from provider_sim.keys import STATE_KEY, TOKEN_KEY
from provider_sim.latency import sleep_ms
from provider_sim.state import IssuedToken, SimState, TokenStatus

# RFC 6750 section 2.1: the scheme is case-insensitive, the token a b64token.
_BEARER_RE: Final = re.compile(r"^Bearer +([A-Za-z0-9\-._~+/]+=*) *$", re.IGNORECASE)

_REJECTION_CODES: Final = {
    TokenStatus.UNKNOWN: CODE_INVALID_TOKEN,
    TokenStatus.EXPIRED: CODE_TOKEN_EXPIRED,
    TokenStatus.REVOKED: CODE_TOKEN_REVOKED,
}


def require_bearer(handler: Handler) -> Handler:
    """Run ``handler`` only for requests carrying a live bearer token."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        await sleep_ms(state.config.api_latency_ms)
        code, token = authenticate(state, request.headers.get(hdrs.AUTHORIZATION))
        state.record_api_request(token)
        if code is not None:
            state.record_api_401(code)
            return bearer_error(code)
        assert token is not None  # authenticate returns a token whenever code is None
        fault = state.take_api_fault()
        if fault is not None:
            if fault == 429:
                state.record_api_429()
            return injected_failure(fault)
        request[TOKEN_KEY] = token
        return await handler(request)

    return guarded


def authenticate(
    state: SimState, authorization: str | None
) -> tuple[int | None, IssuedToken | None]:
    """(Amadeus 401 code or None, the issued token if the simulator knows it)."""
    access_token = parse_bearer(authorization)
    if access_token is None:
        return CODE_INVALID_HEADER, None
    status, token = state.lookup(access_token)
    return _REJECTION_CODES.get(status), token


def parse_bearer(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer <token>`` header, or None if malformed."""
    if authorization is None:
        return None
    match = _BEARER_RE.match(authorization)
    return match.group(1) if match else None
