"""Grants that yield refresh tokens, shared by every provider profile's token endpoint.

The HTTP modules (``oauth`` for Amadeus, ``hotel`` for the hotel supplier) parse the form
and authenticate the client; these functions decide and issue, and raise ``GrantError``
with the RFC 6749 §5.2 error for the endpoint to render in its own shape. Access tokens
issued here belong to a refresh-token family, so revoking the family (a reuse, see
``refresh``) kills them too, and the API (``bearer``) accepts them until then.
"""

from __future__ import annotations

import dataclasses

from provider_sim.refresh import InvalidGrant, RefreshToken
from provider_sim.state import IssuedToken, SimState


class GrantError(Exception):
    """An RFC 6749 §5.2 error: HTTP status, ``error`` code, safe description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a token endpoint answers with: an access token and maybe a refresh token."""

    access: IssuedToken
    refresh: RefreshToken | None


def require_refresh_client(state: SimState, client_id: str, grant_type: str) -> None:
    """Only clients whose grant policy allows refresh tokens may use these grants."""
    if not state.refresh_tokens.policy(client_id).refresh:
        raise GrantError(
            400,
            "unauthorized_client",
            f"The client is not authorized to use the {grant_type} grant type",
        )


def start_family(state: SimState, client_id: str) -> Grant:
    """A first login: a new family with its first refresh token and access token."""
    refresh = state.refresh_tokens.start_family(client_id)
    return Grant(state.issue_token(client_id, family=refresh.family), refresh)


def password_login(state: SimState, client_id: str, username: str, password: str) -> Grant:
    """``grant_type=password`` (RFC 6749 §4.3): a user's login starts a new family."""
    require_refresh_client(state, client_id, "password")
    if not state.check_hotel_user(username, password):
        state.refresh_tokens.count(client_id, "invalid_grant")
        raise GrantError(400, "invalid_grant", "The username or password is incorrect")
    state.refresh_tokens.count(client_id, "password_grants")
    return start_family(state, client_id)


def exchange_code(state: SimState, client_id: str, code: str, redirect_uri: str | None) -> Grant:
    """``grant_type=authorization_code``: a one-time code starts a new family."""
    require_refresh_client(state, client_id, "authorization_code")
    try:
        redeemed = state.codes.redeem(client_id, code, redirect_uri)
    except InvalidGrant as exc:
        state.refresh_tokens.count(client_id, "invalid_grant")
        if exc.revoked_family is not None:
            state.refresh_tokens.count(client_id, "codes_replayed")
            state.revoke_family(exc.revoked_family)
        raise GrantError(400, "invalid_grant", exc.description) from None
    grant = start_family(state, client_id)
    redeemed.family = grant.access.family
    state.refresh_tokens.count(client_id, "code_grants")
    return grant


def refresh(state: SimState, client_id: str, refresh_token: str) -> Grant:
    """``grant_type=refresh_token`` for an authenticated client."""
    require_refresh_client(state, client_id, "refresh_token")
    try:
        refreshed = state.refresh_tokens.refresh(client_id, refresh_token)
    except InvalidGrant as exc:
        if exc.revoked_family is not None:
            state.revoke_family(exc.revoked_family)
        raise GrantError(400, "invalid_grant", exc.description) from None
    access = state.issue_token(client_id, family=refreshed.family)
    return Grant(access, refreshed.refresh_token)
