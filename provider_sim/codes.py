"""One-time authorization codes (RFC 6749 §4.1.2, §4.1.3). No aiohttp.

A test or operator obtains a code through ``POST /_sim/authorization-code`` (standing in
for the user's visit to the provider's login page and the redirect back with ``code=``).
A code lives ``CODE_TTL_S`` seconds and may be exchanged once, by the client it was issued
to, with the same ``redirect_uri`` if one was given. A second exchange is refused and, as
§4.1.2 advises, revokes the family the first exchange started.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Final

from provider_sim.refresh import InvalidGrant

CODE_TTL_S: Final = 60.0  # RFC 6749 §4.1.2 recommends at most 10 minutes; providers use less


@dataclasses.dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str | None
    expires_at: float
    family: int | None = None  # set once exchanged


class AuthorizationCodes:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._codes: dict[str, AuthorizationCode] = {}

    def issue(self, client_id: str, redirect_uri: str | None) -> str:
        value = secrets.token_urlsafe(24)
        self._codes[value] = AuthorizationCode(client_id, redirect_uri, self._clock() + CODE_TTL_S)
        return value

    def redeem(self, client_id: str, value: str, redirect_uri: str | None) -> AuthorizationCode:
        """The code, once; raises ``InvalidGrant`` (with the family to revoke on a replay)."""
        code = self._codes.get(value)
        if code is None or code.client_id != client_id:
            raise InvalidGrant("The authorization code is invalid")
        if code.family is not None:
            raise InvalidGrant("The authorization code was already used", code.family)
        if self._clock() >= code.expires_at:
            raise InvalidGrant("The authorization code is expired")
        if code.redirect_uri is not None and redirect_uri != code.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        return code
