"""``/_sim/`` controls for refresh-token grants: per-client policy, bootstrap, counters.

Same conventions as ``control`` (JSON in and out, 400 ``{"error"}`` on bad input, unknown
fields rejected). ``client_id`` must name a configured client.

``GET  /_sim/grant-policy``
    ``{"clients": {client_id: policy}}`` for every client.
``POST /_sim/grant-policy``
    ``{"client_id", "refresh": bool, "rotation": bool, "grace_s": seconds >= 0,
    "refresh_ttl": seconds > 0 | null, "access_ttl": seconds > 0 | null}``, all but
    ``client_id`` optional: changes that client's policy (see ``refresh.GrantPolicy``);
    returns it. ``null`` lifetimes mean "never expires" (refresh) and "the simulator's
    ``token_ttl``" (access). ``/_sim/reset`` restores the start-up policies.
``POST /_sim/refresh-token``
    ``{"client_id"}``: as if the user had logged in once, starts a new family and returns
    ``{"refresh_token", "family", "seq"}`` (a refresh token an operator would install as a
    secret). The client must be configured for refresh tokens.
``POST /_sim/authorization-code``
    ``{"client_id", "redirect_uri": optional}``: a one-time code, as the provider's login
    page would redirect back with; returns ``{"code", "expires_in"}``. The client must be
    configured for refresh tokens.
``POST /_sim/revoke-family``
    ``{"family": n}``: revokes the family's refresh tokens and its live access tokens, as a
    provider does when a user logs out everywhere; returns ``{"revoked": n}`` (access tokens).
``GET  /_sim/refresh-stats``
    ``{"clients": {client_id: {"families_started", "refresh_grants", "grace_reuses",
    "reuses_detected", "families_revoked", "invalid_grant", "code_grants", "codes_replayed",
    "password_grants"}}, "refresh_tokens": [{"seq",
    "family", "client_id", "issued_at", "expires_at", "retired_at", "successor_seq",
    "revoked"}]}``. Never contains token values.
``GET  /_sim/refresh-tokens``
    ``{"refresh_tokens": [... as above plus "refresh_token"]}``: the only place refresh
    token values appear, so tests can assert that nothing else shows them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from provider_sim.codes import CODE_TTL_S
from provider_sim.control import (
    CONTROL_PREFIX,
    BadControlInput,
    _boolean,
    _json_object,
    _number,
    _only,
    _rejects_bad_input,
    _required,
)
from provider_sim.keys import STATE_KEY
from provider_sim.state import SimState

_POLICY_FIELDS = ("refresh", "rotation", "grace_s", "refresh_ttl", "access_ttl")


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{CONTROL_PREFIX}/grant-policy", get_policies)
    app.router.add_post(f"{CONTROL_PREFIX}/grant-policy", set_policy)
    app.router.add_post(f"{CONTROL_PREFIX}/refresh-token", new_refresh_token)
    app.router.add_post(f"{CONTROL_PREFIX}/authorization-code", authorization_code)
    app.router.add_post(f"{CONTROL_PREFIX}/revoke-family", revoke_family)
    app.router.add_get(f"{CONTROL_PREFIX}/refresh-stats", refresh_stats)
    app.router.add_get(f"{CONTROL_PREFIX}/refresh-tokens", refresh_tokens)


async def get_policies(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    policies = {c: state.refresh_tokens.policy(c).as_dict() for c in state.grant_clients()}
    return web.json_response({"clients": policies})


@_rejects_bad_input
async def set_policy(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"client_id", *_POLICY_FIELDS})
    state = request.app[STATE_KEY]
    client_id = _client_id(state, body)
    changes: dict[str, Any] = {}
    for name in ("refresh", "rotation"):
        if name in body:
            changes[name] = _boolean(body, name)
    if "grace_s" in body:
        changes["grace_s"] = _number(body, "grace_s")
    for name in ("refresh_ttl", "access_ttl"):
        if name in body:
            changes[name] = None if body[name] is None else _number(body, name)
    policy = state.refresh_tokens.set_policy(client_id, **changes)
    return web.json_response(policy.as_dict())


@_rejects_bad_input
async def new_refresh_token(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"client_id"})
    state = request.app[STATE_KEY]
    client_id = _refresh_client_id(state, body)
    token = state.refresh_tokens.start_family(client_id)
    return web.json_response(
        {"refresh_token": token.value, "family": token.family, "seq": token.seq}
    )


@_rejects_bad_input
async def authorization_code(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"client_id", "redirect_uri"})
    state = request.app[STATE_KEY]
    client_id = _refresh_client_id(state, body)
    redirect_uri = body.get("redirect_uri")
    if redirect_uri is not None and not isinstance(redirect_uri, str):
        raise BadControlInput("redirect_uri must be a string")
    code = state.codes.issue(client_id, redirect_uri)
    return web.json_response({"code": code, "expires_in": CODE_TTL_S})


@_rejects_bad_input
async def revoke_family(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"family"})
    family = _required(body, "family")
    if isinstance(family, bool) or not isinstance(family, int):
        raise BadControlInput("family must be an integer")
    return web.json_response({"revoked": request.app[STATE_KEY].revoke_family(family)})


async def refresh_stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    counters = state.refresh_tokens.stats(state.grant_clients())
    listed = [token.public_view() for token in state.refresh_tokens.tokens()]
    return web.json_response({"clients": counters, "refresh_tokens": listed})


async def refresh_tokens(request: web.Request) -> web.Response:
    listed = [
        {**token.public_view(), "refresh_token": token.value}
        for token in request.app[STATE_KEY].refresh_tokens.tokens()
    ]
    return web.json_response({"refresh_tokens": listed})


def _refresh_client_id(state: SimState, body: dict[str, Any]) -> str:
    client_id = _client_id(state, body)
    if not state.refresh_tokens.policy(client_id).refresh:
        raise BadControlInput(f"client {client_id} is not configured for refresh tokens")
    return client_id


def _client_id(state: SimState, body: dict[str, Any]) -> str:
    client_id = _required(body, "client_id")
    if not isinstance(client_id, str):
        raise BadControlInput("client_id must be a string")
    if client_id not in state.grant_clients():
        raise BadControlInput(f"client_id {client_id!r} is not a configured client")
    return client_id
