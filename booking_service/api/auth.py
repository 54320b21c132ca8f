"""End-user authentication: ``authorization: Bearer <JWT>`` verified with PyJWT.

Keys: RS256 / ES256 public keys from a JWKS (file or URL; the token's ``kid`` picks
the key), and for local development an HS256 shared secret. The algorithm a token may
use is decided by the key it resolves to, never by the token alone: no ``none``, no
HS256 with a public key. ``exp``, ``iss``, ``aud`` and ``sub`` are required; the user id
is ``sub``, which must not contain a control character (services.text) and is kept
exactly as issued: it is an identifier, and NFC-normalising it could merge two of the
issuer's users into one. Token values never appear in errors or logs.

A token with a ``sid`` (the account service's session) is refused once that session is
revoked, on every call, cached verdict or not (BOOKING_SESSION_REVOCATION: a local
lookup in services/session_revocation.py's copy, no read per request).

Some methods carry their own credential (GetItinerary: a download token from a link);
``PublicMethods`` lets exactly those through without a JWT. The shared interceptor only
exempts probes and reflection by prefix, so the exemption lives here, by full method
name, where a new method is never public by accident.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from booking_service.settings import JwtSettings
from services.errors import UnauthenticatedError, UnavailableError
from services.http_timeout import exact_timeout
from services.text import has_control_characters

log = logging.getLogger("skyroute.booking.auth")

AUTHORIZATION_HEADER = "authorization"
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
HMAC_ALGORITHM = "HS256"
MAX_SUBJECT_CHARS = 255
MAX_TOKEN_CHARS = 8192
# An unknown kid asks for a JWKS refresh at most this often (a new signing key).
UNKNOWN_KID_REFRESH_SECONDS = 10.0


class KeySet:
    """The verification keys currently trusted."""

    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret
        self._jwks: tuple[jwt.PyJWK, ...] = ()
        self.jwks_loaded = False
        # Bumped whenever the trusted keys change: verdicts reached with other keys
        # no longer count (JwtAuthenticator's cache).
        self.version = 0

    def load_jwks(self, data: Mapping[str, Any]) -> int:
        """Replaces the JWKS keys; keys of other algorithms are ignored. Returns how
        many usable keys there are."""
        try:
            keys = jwt.PyJWKSet.from_dict(dict(data)).keys
        except jwt.PyJWKSetError:
            keys = []
        usable = tuple(k for k in keys if k.algorithm_name in ASYMMETRIC_ALGORITHMS)
        self._jwks = usable
        self.version += 1
        self.jwks_loaded = True
        return len(usable)

    def key_for(self, algorithm: str, kid: str | None) -> Any | None:
        if algorithm == HMAC_ALGORITHM:
            return self._secret
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            return None
        candidates = [k for k in self._jwks if k.algorithm_name == algorithm]
        if kid is not None:
            candidates = [k for k in candidates if k.key_id == kid]
        elif len(candidates) != 1:
            return None  # several keys and no kid: ambiguous
        return candidates[0].key if candidates else None


class JwtAuthenticator:
    """The interceptor's Authenticator: returns the token's ``sub``.

    A token that verified is remembered (up to ``cache_size`` of them) until its
    ``exp`` (plus the leeway), so a user's next calls with the same token skip the
    signature check: the token string is the key, so any change to it misses. The
    cache is dropped whenever the trusted keys change (a key rotated out takes its
    tokens with it), and failures are never cached."""

    def __init__(
        self,
        settings: JwtSettings,
        keys: KeySet,
        on_unknown_key: Any | None = None,
        *,
        cache_size: int = 10_000,
        clock: Any = time.time,
        revoked: Callable[[str], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._on_unknown_key = on_unknown_key
        self._cache_size = cache_size
        self._clock = clock
        # Is this session revoked? (services/session_revocation.py: a local lookup.)
        self._revoked = revoked
        # token -> (subject, session id or "", valid until (epoch seconds)); insertion
        # ordered.
        self._verified: dict[str, tuple[str, str, float]] = {}
        self._verified_version = keys.version

    def __call__(self, method: str, metadata: Mapping[str, str]) -> str:
        token = self._bearer(metadata)
        if self._verified_version != self._keys.version:
            self._verified.clear()
            self._verified_version = self._keys.version
        known = self._verified.get(token)
        if known is not None and self._clock() >= known[2]:
            del self._verified[token]
            known = None
        if known is None:
            subject, session, expires = self._verify(token)
            known = (subject, session, expires + self._settings.leeway_seconds)
            if self._cache_size > 0:
                if len(self._verified) >= self._cache_size:
                    del self._verified[next(iter(self._verified))]  # the oldest
                self._verified[token] = known
        # Checked on every call, cached verdict or not: a revocation takes effect at
        # once for tokens already seen.
        if known[1] and self._revoked is not None and self._revoked(known[1]):
            raise UnauthenticatedError(
                "the session of this token was signed out; sign in again",
                reason="SESSION_REVOKED",
            )
        return known[0]

    @staticmethod
    def _bearer(metadata: Mapping[str, str]) -> str:
        header = metadata.get(AUTHORIZATION_HEADER, "")
        if not header:
            raise UnauthenticatedError(
                "missing credentials: send metadata 'authorization: Bearer <JWT>'",
                reason="TOKEN_MISSING",
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
            raise UnauthenticatedError(
                "the authorization metadata must be 'Bearer <JWT>'", reason="TOKEN_MALFORMED"
            )
        return token

    def _verify(self, token: str) -> tuple[str, str, float]:
        """The token's subject, session (``sid``, "" without one) and ``exp``, after
        checking its signature and claims."""
        try:
            header_fields = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise UnauthenticatedError(
                "the bearer token is not a JWT", reason="TOKEN_MALFORMED"
            ) from None
        algorithm = str(header_fields.get("alg", ""))
        kid = header_fields.get("kid")
        key = self._keys.key_for(algorithm, kid if isinstance(kid, str) else None)
        if key is None:
            if (
                algorithm in ASYMMETRIC_ALGORITHMS
                and not self._keys.jwks_loaded
                and (self._settings.jwks_url or self._settings.jwks_file)
            ):
                raise UnavailableError(
                    "signing keys are not loaded yet; retry", reason="KEYS_UNAVAILABLE"
                )
            if algorithm in ASYMMETRIC_ALGORITHMS and self._on_unknown_key is not None:
                self._on_unknown_key()
            raise UnauthenticatedError(
                "the token is not signed with a trusted key", reason="TOKEN_KEY_UNKNOWN"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError("the token has expired", reason="TOKEN_EXPIRED") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError):
            raise UnauthenticatedError(
                "the token was not issued for this service",
                reason="TOKEN_ISSUER_OR_AUDIENCE_INVALID",
            ) from None
        except jwt.InvalidSignatureError:
            raise UnauthenticatedError(
                "the token's signature is invalid", reason="TOKEN_SIGNATURE_INVALID"
            ) from None
        except jwt.PyJWTError:
            raise UnauthenticatedError("the token is invalid", reason="TOKEN_INVALID") from None
        subject = claims.get("sub")
        if (
            not isinstance(subject, str)
            or not subject
            or len(subject) > MAX_SUBJECT_CHARS
            or has_control_characters(subject)
        ):
            raise UnauthenticatedError("the token has no usable subject", reason="TOKEN_INVALID")
        session = claims.get("sid", "")
        if not isinstance(session, str) or len(session) > MAX_SUBJECT_CHARS:
            raise UnauthenticatedError("the token's session is not usable", reason="TOKEN_INVALID")
        return subject, session, float(claims["exp"])


class JwksSource:
    """Keeps a KeySet's JWKS current from a file or URL (re-read periodically, and
    soon after a token names an unknown key: the issuer may have rotated keys)."""

    def __init__(self, settings: JwtSettings, keys: KeySet, timeout_seconds: float = 5.0) -> None:
        self._settings = settings
        self._keys = keys
        self._timeout = timeout_seconds
        self._wake = asyncio.Event()
        self._last_refresh = 0.0

    @property
    def configured(self) -> bool:
        return bool(self._settings.jwks_file or self._settings.jwks_url)

    def load_file_now(self) -> None:
        """Synchronous first load of a JWKS file (start-up); errors are fatal."""
        if self._settings.jwks_file:
            data = json.loads(Path(self._settings.jwks_file).read_text())
            count = self._keys.load_jwks(data)
            log.info("jwks loaded", extra={"keys": count, "source": "file"})
            self._last_refresh = time.monotonic()

    async def refresh(self) -> None:
        self._last_refresh = time.monotonic()
        if self._settings.jwks_file:
            text = await asyncio.to_thread(Path(self._settings.jwks_file).read_text)
            count = self._keys.load_jwks(json.loads(text))
            source = "file"
        else:
            assert self._settings.jwks_url is not None
            timeout = exact_timeout(self._timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self._settings.jwks_url) as response,
            ):
                response.raise_for_status()
                count = self._keys.load_jwks(await response.json(content_type=None))
            source = "url"
        log.debug("jwks refreshed", extra={"keys": count, "source": source})

    def request_refresh(self) -> None:
        if time.monotonic() - self._last_refresh >= UNKNOWN_KID_REFRESH_SECONDS:
            self._wake.set()

    async def run(self) -> None:
        while True:
            # No keys yet (the issuer was not up at start): ask again every second.
            wait = self._settings.jwks_refresh_seconds if self._keys.jwks_loaded else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the keys we have; try again later
                log.warning(
                    "jwks refresh failed", extra={"error": f"{type(exc).__name__}: {exc}"[:200]}
                )
                await asyncio.sleep(1.0)


class PublicMethods:
    """The interceptor's Authenticator: no caller for the listed full method names
    (``/package.Service/Method``), the wrapped authenticator for every other."""

    def __init__(self, authenticator: JwtAuthenticator, methods: Iterable[str]) -> None:
        self._authenticator = authenticator
        self.methods = frozenset(methods)
        if any(not m.startswith("/") or m.count("/") != 2 for m in self.methods):
            raise ValueError("public methods are full names: /package.Service/Method")

    def __call__(self, method: str, metadata: Mapping[str, str]) -> str | None:
        if method in self.methods:
            return None
        return self._authenticator(method, metadata)


def build_auth(
    settings: JwtSettings, revoked: Callable[[str], bool] | None = None
) -> tuple[JwtAuthenticator, JwksSource]:
    keys = KeySet(settings.secret)
    source = JwksSource(settings, keys)
    source.load_file_now()
    return JwtAuthenticator(settings, keys, source.request_refresh, revoked=revoked), source
