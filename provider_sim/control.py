"""The ``/_sim/`` control interface: tests observe and steer the simulator through it.

JSON in, JSON out, no authentication (the simulator only ever listens where tests run).
Invalid input (bad JSON, unknown fields, wrong types, out-of-range values) is answered
with 400 ``{"error": "<what is wrong>"}``; unknown fields are rejected so that a typo in
a test does not silently leave the simulator in its default behaviour.

``GET  /_sim/health``
    ``{"status": "ok"}``, for readiness checks.
``GET  /_sim/stats``
    ``{"tokens_issued": {client_id: n}, "token_requests_failed": {client_id|"unknown": n},
    "token_requests_total": n, "issued": [{"seq", "client_id", "issued_at", "expires_at",
    "revoked"}], "api_requests": n, "api_requests_per_token": {"<seq>": n},
    "api_401": {"38190": n, "38191": n, "38192": n, "38193": n}, "api_429": n,
    "offers_searched": n, "pricing_requests": n, "orders_created": n,
    "orders_cancelled": n, "orders_live": n}``. Never contains token values or secrets.
``GET  /_sim/tokens``
    ``{"tokens": [{"seq", "client_id", "access_token", "revoked", "issued_at",
    "expires_at"}]}``. The only place token values appear, so tests can assert that
    no log line or other output contains them.
``GET  /_sim/config``
    The current config.
``POST /_sim/config``
    Any of ``{"token_ttl": seconds > 0, "token_latency_ms": int >= 0,
    "api_latency_ms": int >= 0, "revoke_on_issue": bool}``; returns the full config.
``POST /_sim/fail-token``
    ``{"count": N, "status": 429|500|502|503|504}`` (status defaults to 500): the next N
    token requests fail with that status. Returns the pending faults.
``POST /_sim/token-endpoint``
    ``{"down": true, "status": 503}`` makes every token request fail (status defaults to
    503) until ``{"down": false}``. Returns the pending faults.
``POST /_sim/fail-api``
    ``{"count": N, "status": 429|500|502|503|504}`` (status defaults to 429): the next N
    authenticated API calls fail. Returns the pending faults.
``POST /_sim/revoke``
    ``{"client_id": optional}``: revokes every live token of that client, or of all
    clients; returns ``{"revoked": n}``.
``POST /_sim/reset``
    Forgets tokens, counters and faults and restores the start-up config; returns it.
    Also restores seats and prices and forgets orders (see ``flight_control``).

Flight inventory, price, seat and order controls live in ``flight_control``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from provider_sim.errors import BEARER_401_CODES
from provider_sim.keys import STATE_KEY

CONTROL_PREFIX: Final = "/_sim"

_ControlHandler = Callable[[web.Request], Awaitable[web.Response]]


class BadControlInput(ValueError):
    """A control request a test got wrong; answered with 400 and this message."""


def _rejects_bad_input(handler: _ControlHandler) -> _ControlHandler:
    """Turn ValueError/TypeError from parsing or from the state into a 400."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return wrapped


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def stats(request: web.Request) -> web.Response:
    body = request.app[STATE_KEY].stats()
    # Every bearer rejection code is listed, zero or not, so tests can index directly.
    body["api_401"] = {str(code): 0 for code in sorted(BEARER_401_CODES)} | body["api_401"]
    return web.json_response(body)


async def tokens(request: web.Request) -> web.Response:
    listed = [
        {**token.public_view(), "access_token": token.access_token}
        for token in request.app[STATE_KEY].tokens()
    ]
    return web.json_response({"tokens": listed})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config.as_dict())


@_rejects_bad_input
async def set_config(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"token_ttl", "token_latency_ms", "api_latency_ms", "revoke_on_issue"})
    changes: dict[str, Any] = {}
    if "token_ttl" in body:
        changes["token_ttl"] = _number(body, "token_ttl")
    for name in ("token_latency_ms", "api_latency_ms"):
        if name in body:
            changes[name] = _integer(body, name)
    if "revoke_on_issue" in body:
        changes["revoke_on_issue"] = _boolean(body, "revoke_on_issue")
    config = request.app[STATE_KEY].update_config(**changes)
    return web.json_response(config.as_dict())


@_rejects_bad_input
async def fail_token(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"count", "status"})
    state = request.app[STATE_KEY]
    state.fail_next_token_requests(_integer(body, "count"), _status(body, default=500))
    return web.json_response(state.faults_view())


@_rejects_bad_input
async def token_endpoint(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"down", "status"})
    state = request.app[STATE_KEY]
    down = _boolean(body, "down")
    state.set_token_endpoint_down(_status(body, default=503) if down else None)
    return web.json_response(state.faults_view())


@_rejects_bad_input
async def fail_api(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"count", "status"})
    state = request.app[STATE_KEY]
    state.fail_next_api_requests(_integer(body, "count"), _status(body, default=429))
    return web.json_response(state.faults_view())


@_rejects_bad_input
async def revoke(request: web.Request) -> web.Response:
    body = await _json_object(request, empty_ok=True)
    _only(body, {"client_id"})
    client_id = body.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise BadControlInput("client_id must be a string")
    return web.json_response({"revoked": request.app[STATE_KEY].revoke(client_id)})


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.reset()
    return web.json_response(state.config.as_dict())


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{CONTROL_PREFIX}/health", health)
    app.router.add_get(f"{CONTROL_PREFIX}/stats", stats)
    app.router.add_get(f"{CONTROL_PREFIX}/tokens", tokens)
    app.router.add_get(f"{CONTROL_PREFIX}/config", get_config)
    app.router.add_post(f"{CONTROL_PREFIX}/config", set_config)
    app.router.add_post(f"{CONTROL_PREFIX}/fail-token", fail_token)
    app.router.add_post(f"{CONTROL_PREFIX}/token-endpoint", token_endpoint)
    app.router.add_post(f"{CONTROL_PREFIX}/fail-api", fail_api)
    app.router.add_post(f"{CONTROL_PREFIX}/revoke", revoke)
    app.router.add_post(f"{CONTROL_PREFIX}/reset", reset)


# -- input parsing ---------------------------------------------------------------------


async def _json_object(request: web.Request, empty_ok: bool = False) -> dict[str, Any]:
    text = await request.text()
    if not text.strip():
        if empty_ok:
            return {}
        raise BadControlInput("a JSON object body is required")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadControlInput(f"body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise BadControlInput("body must be a JSON object")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadControlInput(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _required(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise BadControlInput(f"{name} is required")
    return body[name]


def _integer(body: dict[str, Any], name: str) -> int:
    value = _required(body, name)
    # bool is an int subclass in Python; true/false is never a sensible count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadControlInput(f"{name} must be an integer")
    if value < 0:
        raise BadControlInput(f"{name} must be >= 0")
    return value


def _number(body: dict[str, Any], name: str) -> float:
    value = _required(body, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadControlInput(f"{name} must be a number")
    if not math.isfinite(value):
        raise BadControlInput(f"{name} must be finite")  # json.loads accepts Infinity/NaN
    return float(value)


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = _required(body, name)
    if not isinstance(value, bool):
        raise BadControlInput(f"{name} must be true or false")
    return value


def _status(body: dict[str, Any], default: int) -> int:
    return _integer(body, "status") if "status" in body else default
