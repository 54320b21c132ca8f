"""Access JWTs: minted here (ES256, ``kid`` in the header), verified here for the
session RPCs and elsewhere through the JWKS (booking_service/api/auth.py).

Claims: ``iss``, ``aud``, ``sub`` (the account id), ``sid`` (the session: revoking it
revokes the token, services/session_revocation.py), ``iat``, ``exp``, ``jti``."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

from account_service.auth.keys import ALGORITHM, SigningKeys
from account_service.settings import TokenSettings
from services.errors import UnauthenticatedError

LEEWAY_SECONDS = 10


@dataclass(frozen=True)
class AccessClaims:
    account_id: uuid.UUID
    session_id: uuid.UUID


class AccessTokens:
    def __init__(self, settings: TokenSettings, keys: SigningKeys) -> None:
        self._settings = settings
        self._keys = keys

    def mint(self, account_id: uuid.UUID, session_id: uuid.UUID) -> tuple[str, int]:
        """(the token, its exp in epoch seconds)."""
        now = int(time.time())
        exp = now + int(self._settings.access_ttl_seconds)
        claims = {
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "sub": str(account_id),
            "sid": str(session_id),
            "iat": now,
            "exp": exp,
            "jti": secrets.token_hex(8),
        }
        return self._keys.sign(claims), exp

    def verify_metadata(self, metadata: Mapping[str, str]) -> AccessClaims:
        header = metadata.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError(
                "send metadata 'authorization: Bearer <access token>'", reason="TOKEN_MISSING"
            )
        return self.verify(token.strip())

    def verify(self, token: str) -> AccessClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.public_key(kid) if isinstance(kid, str) else None
            if key is None:
                raise UnauthenticatedError(
                    "the token is not signed with a known key", reason="TOKEN_KEY_UNKNOWN"
                )
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub", "sid"]},
            )
            return AccessClaims(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["sid"])))
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError("the token has expired", reason="TOKEN_EXPIRED") from None
        except (jwt.PyJWTError, ValueError):
            raise UnauthenticatedError("the token is invalid", reason="TOKEN_INVALID") from None
