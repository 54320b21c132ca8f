"""The hotel supplier's token endpoint: a second provider profile beside Amadeus.

Contract (plain RFC 6749, as such suppliers' login APIs are):

``POST /hotel/v1/auth/token``, ``application/x-www-form-urlencoded``, client authenticated
by HTTP Basic (``Authorization: Basic base64(client_id:client_secret)``, §2.3.1) or by
``client_id`` and ``client_secret`` form fields:

- ``grant_type=password`` with ``username`` and ``password`` of a configured user (§4.3):
  the login; starts a refresh-token family.
- ``grant_type=refresh_token`` with ``refresh_token`` (§6): rotating, single-use refresh
  tokens with reuse detection (see ``refresh``; the client's grant policy applies, hotel
  clients have refresh tokens and rotation on by default).

Success (§5.1), 200 with ``Cache-Control: no-store``: ``{"access_token", "token_type":
"Bearer", "expires_in", "refresh_token" (omitted when rotation is off), "scope": ""}``.
Errors (§5.2), ``{"error", "error_description"}``: 400 ``invalid_request`` (malformed,
missing field, named), 401 ``invalid_client`` (bad client credentials),
400 ``invalid_grant`` (wrong username/password; unknown, expired, revoked or reused
refresh token), 400 ``unsupported_grant_type``.

Hotel clients and users are configured apart from Amadeus' (``settings``); their
counters are the per-client ones of ``/_sim/refresh-stats``. Access tokens are accepted
by the stand-in's API like any other until they expire or their family is revoked.
Amadeus' injected token faults and token counters do not apply here.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from aiohttp import hdrs, web

from provider_sim import grants
from provider_sim.keys import STATE_KEY
from provider_sim.oauth import FORM_CONTENT_TYPE, _read_form
from provider_sim.state import SimState

HOTEL_TOKEN_PATH: Final = "/hotel/v1/auth/token"
_GRANT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "password": ("username", "password"),
    "refresh_token": ("refresh_token",),
}


def add_routes(app: web.Application) -> None:
    app.router.add_post(HOTEL_TOKEN_PATH, issue_token)


async def issue_token(request: web.Request) -> web.Response:
    """``POST /hotel/v1/auth/token``."""
    state = request.app[STATE_KEY]
    form = await _read_form(request)
    try:
        grant = _grant(state, form, request.headers.get(hdrs.AUTHORIZATION))
    except grants.GrantError as exc:
        return _error(exc.status, exc.error, exc.description)
    token = grant.access
    body: dict[str, Any] = {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": max(1, round(token.expires_at - token.issued_at)),
        "scope": "",
    }
    if grant.refresh is not None:
        body["refresh_token"] = grant.refresh.value
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _grant(state: SimState, form: dict[str, str] | None, authorization: str | None) -> grants.Grant:
    if form is None:
        raise _invalid_request(f"Request body must be {FORM_CONTENT_TYPE}")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise _invalid_request("Missing grant_type")
    if grant_type not in _GRANT_FIELDS:
        raise grants.GrantError(
            400, "unsupported_grant_type", "grant_type must be password or refresh_token"
        )
    client_id, client_secret = _client_credentials(form, authorization)
    for name in _GRANT_FIELDS[grant_type]:
        if not form.get(name):
            raise _invalid_request(f"Missing {name}")
    if not state.check_hotel_client(client_id, client_secret):
        raise grants.GrantError(401, "invalid_client", "Client authentication failed")
    if grant_type == "refresh_token":
        return grants.refresh(state, client_id, form["refresh_token"])
    return grants.password_login(state, client_id, form["username"], form["password"])


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    """From HTTP Basic when present (RFC 6749 §2.3.1), else from the form."""
    if authorization is not None:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise grants.GrantError(401, "invalid_client", "Client authentication failed")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid_request("Malformed Basic authorization header") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise _invalid_request("Malformed Basic authorization header")
        return client_id, secret
    for name in ("client_id", "client_secret"):
        if not form.get(name):
            raise _invalid_request(f"Missing {name}")
    return form["client_id"], form["client_secret"]


def _invalid_request(description: str) -> grants.GrantError:
    return grants.GrantError(400, "invalid_request", description)


def _error(status: int, error: str, description: str) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers[hdrs.WWW_AUTHENTICATE] = 'Basic realm="hotel"'
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=headers)
