"""The OAuth2 token endpoint and token info, as Amadeus serves them.

``POST /v1/security/oauth2/token`` takes a form body (``grant_type``, ``client_id``,
``client_secret``) and answers with a new token every time:

- ``grant_type=client_credentials``: Amadeus' own contract, an access token only.
- ``grant_type=refresh_token`` (+ ``refresh_token``), for clients whose grant policy
  allows refresh tokens (``grant_control``): the stand-in models a rotating-refresh-token
  provider (see ``refresh``); the body adds ``refresh_token`` when a new one is issued.
  Errors follow RFC 6749 §5.2 in Amadeus' flat shape: ``invalid_grant`` (400; unknown,
  expired, revoked, other client's or reused token), ``unauthorized_client`` (400; client
  not configured for refresh tokens).
- ``grant_type=authorization_code`` (+ ``code``, ``redirect_uri`` if the code was issued
  with one), same clients: exchanges a one-time code from ``POST /_sim/authorization-code``
  (see ``codes``) for an access token and a first refresh token, starting a family.

Any other grant type is ``unsupported_grant_type`` with Amadeus' own message.
``GET /v1/security/oauth2/token/{access_token}`` reports a token's state.

Order of checks on a token request: configured latency first (a slow identity provider
is slow whatever it answers), then injected faults, then request validation, then the
credentials. Every request is counted; failures under the client id when it is a known
client, else under ``"unknown"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from provider_sim import grants
from provider_sim.errors import (
    CODE_INVALID_TOKEN,
    OAUTH_CONTENT_TYPE,
    injected_failure,
    json_response,
    oauth_error,
)
from provider_sim.keys import STATE_KEY
from provider_sim.latency import sleep_ms
from provider_sim.state import IssuedToken, SimState, TokenStatus

TOKEN_PATH: Final = "/v1/security/oauth2/token"
TOKEN_INFO_PATH: Final = TOKEN_PATH + "/{access_token}"
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
GRANT_TYPE: Final = "client_credentials"
# Form fields each grant needs beside client_id and client_secret.
_GRANT_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    GRANT_TYPE: (),
    "refresh_token": ("refresh_token",),
    "authorization_code": ("code",),
}

# Fixed account details the real service echoes back with every token.
USERNAME: Final = "sim@example.com"
APPLICATION_NAME: Final = "skyroute-sim"


async def issue_token(request: web.Request) -> web.Response:
    """``POST /v1/security/oauth2/token``."""
    state = request.app[STATE_KEY]
    await sleep_ms(state.config.token_latency_ms)
    form = await _read_form(request)
    fault = state.take_token_fault()
    if fault is not None:
        response = injected_failure(fault, OAUTH_CONTENT_TYPE)
    else:
        response = _grant(state, form)
    failed_for = None if response.status == 200 else state.failure_key(_field(form, "client_id"))
    state.record_token_request(failed_for)
    return response


async def token_info(request: web.Request) -> web.Response:
    """``GET /v1/security/oauth2/token/{access_token}``: state and remaining lifetime."""
    state = request.app[STATE_KEY]
    status, token = state.lookup(request.match_info["access_token"])
    if token is None:
        return oauth_error(
            401,
            "invalid_token",
            "The access token provided is invalid",
            code=CODE_INVALID_TOKEN,
            title="Invalid access token",
        )
    if status is TokenStatus.VALID:
        remaining = int(state.remaining_seconds(token))
        return json_response(_token_body(token, remaining, "approved"), 200, OAUTH_CONTENT_TYPE)
    return json_response(_token_body(token, 0, status.value), 200, OAUTH_CONTENT_TYPE)


@dataclasses.dataclass(frozen=True)
class _Credentials:
    client_id: str
    client_secret: str
    grant_type: str
    fields: Mapping[str, str]


def _grant(state: SimState, form: Mapping[str, str] | None) -> web.Response:
    """Validate a token request and, if it is acceptable, issue a token."""
    credentials = _parse_form(form)
    if isinstance(credentials, web.Response):
        return credentials
    if not state.check_client(credentials.client_id, credentials.client_secret):
        return oauth_error(401, "invalid_client", "Client credentials are invalid")
    if credentials.grant_type == GRANT_TYPE:
        grant = grants.Grant(state.issue_token(credentials.client_id), None)
    else:
        try:
            grant = _refresh_grant(state, credentials)
        except grants.GrantError as exc:
            return oauth_error(exc.status, exc.error, exc.description)
    token = grant.access
    expires_in = max(1, round(token.expires_at - token.issued_at))
    body = _token_body(token, expires_in, "approved")
    if grant.refresh is not None:
        body["refresh_token"] = grant.refresh.value
    return json_response(body, 200, OAUTH_CONTENT_TYPE)


def _refresh_grant(state: SimState, credentials: _Credentials) -> grants.Grant:
    fields = credentials.fields
    if credentials.grant_type == "authorization_code":
        redirect_uri = fields.get("redirect_uri")
        return grants.exchange_code(state, credentials.client_id, fields["code"], redirect_uri)
    return grants.refresh(state, credentials.client_id, fields["refresh_token"])


def _parse_form(form: Mapping[str, str] | None) -> _Credentials | web.Response:
    """The client credentials, or the 400 answer for a malformed request."""
    if form is None:
        return oauth_error(
            400,
            "invalid_request",
            f"Request body must be {FORM_CONTENT_TYPE} with a mandatory grant_type parameter",
        )
    if not form.get("grant_type"):
        return _missing("grant_type")
    grant_type = form["grant_type"]
    if grant_type not in _GRANT_FIELDS:
        return oauth_error(
            400,
            "unsupported_grant_type",
            "Only client_credentials value is allowed for the body parameter grant_type",
        )
    for name in ("client_id", "client_secret", *_GRANT_FIELDS[grant_type]):
        if not form.get(name):
            return _missing(name)
    return _Credentials(form["client_id"], form["client_secret"], grant_type, form)


def _missing(name: str) -> web.Response:
    return oauth_error(400, "invalid_request", f"Mandatory {name} form parameter missing")


def _token_body(token: IssuedToken, expires_in: int, token_state: str) -> dict[str, Any]:
    return {
        "type": "amadeusOAuth2Token",
        "username": USERNAME,
        "application_name": APPLICATION_NAME,
        "client_id": token.client_id,
        "token_type": "Bearer",
        "access_token": token.access_token,
        "expires_in": expires_in,
        "state": token_state,
        "scope": "",
    }


async def _read_form(request: web.Request) -> dict[str, str] | None:
    """The form fields, or None when the body is not URL-encoded form data."""
    if request.content_type != FORM_CONTENT_TYPE:
        return None
    form = await request.post()
    # First value wins; file parts cannot occur in a URL-encoded body.
    return {key: value for key, value in reversed(list(form.items())) if isinstance(value, str)}


def _field(form: Mapping[str, str] | None, name: str) -> str | None:
    return None if form is None else form.get(name)
