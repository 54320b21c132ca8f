"""OAuth2 requests to a provider's token endpoint: the configured grant
(client credentials or password), refresh with a refresh token, and the one-off
authorization-code exchange an operator runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TypeGuard

import aiohttp

from services.http_timeout import exact_timeout
from token_service.settings import GRANT_PASSWORD, GRANT_REFRESH_TOKEN, ProviderConfig

log = logging.getLogger("skyroute.token.upstream")

MAX_LIFETIME_SECONDS = 366 * 24 * 3600


@dataclass(frozen=True)
class FetchedToken:
    access_token: str
    token_type: str
    expires_in_ms: int
    # The next link of the chain, if the provider sent one (rotating or first issue).
    refresh_token: str | None = None

    def __repr__(self) -> str:  # never the token values
        return (
            f"FetchedToken(token_type={self.token_type!r}, "
            f"expires_in_ms={self.expires_in_ms}, "
            f"refresh_token={'yes' if self.refresh_token else 'no'})"
        )


class UpstreamError(Exception):
    """The token endpoint did not give us a token. Messages carry no secrets."""

    recoverable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class UpstreamUnavailable(UpstreamError):
    """Down, slow, rate limited or broken: retry later with backoff."""


class UpstreamRejectedClient(UpstreamError):
    """invalid_client / unauthorized_client: retrying will not help."""

    recoverable = False


class UpstreamInvalidGrant(UpstreamError):
    """invalid_grant for a refresh token or an authorization code: the chain is broken
    (used, revoked or expired); only a new grant helps."""

    recoverable = False


class TokenEndpoint:
    """Fetches a new token; one instance per provider, sharing an HTTP session."""

    def __init__(
        self, provider: ProviderConfig, session: aiohttp.ClientSession, timeout_seconds: float
    ) -> None:
        self._provider = provider
        self._session = session
        self._timeout = exact_timeout(timeout_seconds)

    async def fetch(self) -> FetchedToken:
        """A token by the provider's own grant (client credentials, or a password login).
        A ``refresh_token`` provider has none: its chain needs Redis and the lease."""
        p = self._provider
        if p.grant == GRANT_REFRESH_TOKEN:
            raise UpstreamUnavailable("no grant without the shared refresh-token chain")
        if p.grant == GRANT_PASSWORD:
            return await self._post(
                {
                    "grant_type": "password",
                    "username": p.username or "",
                    "password": p.password or "",
                },
                chain=False,
            )
        return await self._post({"grant_type": "client_credentials"}, chain=False)

    async def refresh(self, refresh_token: str) -> FetchedToken:
        """The next token of the chain; ``UpstreamInvalidGrant`` if the chain is broken."""
        return await self._post(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, chain=True
        )

    async def exchange_code(self, code: str, redirect_uri: str | None) -> FetchedToken:
        """An operator's authorization code for the first link of a chain."""
        form = {"grant_type": "authorization_code", "code": code}
        if redirect_uri:
            form["redirect_uri"] = redirect_uri
        return await self._post(form, chain=True)

    async def _post(self, grant: dict[str, str], chain: bool) -> FetchedToken:
        form = dict(
            grant, client_id=self._provider.client_id, client_secret=self._provider.client_secret
        )
        if self._provider.scope and grant["grant_type"] != "refresh_token":
            form["scope"] = self._provider.scope
        try:
            async with self._session.post(
                self._provider.token_url,
                data=form,
                timeout=self._timeout,
                headers={"Accept": "application/json"},
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except TimeoutError:
            raise UpstreamUnavailable("token endpoint timed out") from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(
                f"token endpoint unreachable ({type(exc).__name__})"
            ) from None
        return _parse(status, body, retry_after, chain)


def _parse(
    status: int, body: object, retry_after: float | None, chain: bool = False
) -> FetchedToken:
    if status == 200 and isinstance(body, dict):
        token = body.get("access_token")
        expires_in = body.get("expires_in")
        refresh = body.get("refresh_token")
        if isinstance(token, str) and token and _sane_lifetime(expires_in):
            return FetchedToken(
                token,
                str(body.get("token_type") or "Bearer"),
                int(expires_in * 1000),
                refresh if isinstance(refresh, str) and refresh else None,
            )
        raise UpstreamUnavailable("token endpoint returned a malformed token response")
    error = body.get("error") if isinstance(body, dict) else None
    if chain and status in (400, 401) and error == "invalid_grant":
        raise UpstreamInvalidGrant(
            "token endpoint rejected the refresh token or code (invalid_grant)"
        )
    if status in (400, 401) and error == "invalid_grant":
        raise UpstreamRejectedClient("token endpoint rejected the login (invalid_grant)")
    if status in (400, 401) and error in (
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ):
        # Only the OAuth2 error code: the description may echo request data.
        raise UpstreamRejectedClient(f"token endpoint rejected the client credentials ({error})")
    if status == 429:
        raise UpstreamUnavailable("token endpoint rate limited (HTTP 429)", retry_after)
    if status >= 500 or status in (408, 425):
        raise UpstreamUnavailable(f"token endpoint failed (HTTP {status})", retry_after)
    if status in (400, 401, 403):
        raise UpstreamRejectedClient(f"token endpoint refused the request (HTTP {status})")
    raise UpstreamUnavailable(f"token endpoint answered HTTP {status}", retry_after)


def _sane_lifetime(expires_in: object) -> TypeGuard[int | float]:
    """A positive, finite lifetime of at most a year (bool is not a number here)."""
    return (
        isinstance(expires_in, int | float)
        and not isinstance(expires_in, bool)
        and 0 < expires_in <= MAX_LIFETIME_SECONDS
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
