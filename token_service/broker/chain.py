"""The refresh-token chain of a provider with a chained grant, under the refresh lease.

Timeline of one rotation (the holder has the fenced lease, kept alive):

    take_chain      one script: read the refresh token, leave "sent by fence F"
    POST refresh    the provider spends the old refresh token and answers
    fenced write    one script: access token + new refresh token, marker cleared

Between the provider's answer and the write's acknowledgement nothing else runs
(the redactor learns the new values after the write): that window, which no design
closes, is measured (``skyroute_token_chain_store_window_seconds`` and the log). A
successor that finds a marker left by another fence knows the chain may be broken:
with a bootstrap grant (password) it logs in again rather than risk a reuse; without
one it tries the refresh token, and on ``invalid_grant`` raises the fleet-wide
REAUTHORIZATION_REQUIRED flag.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from services.logs import Redactor
from token_service.broker.local_copy import LocalCopy
from token_service.lock import Lease
from token_service.metrics import TokenMetrics
from token_service.settings import GRANT_REFRESH_TOKEN, ProviderConfig
from token_service.store import TokenStore
from token_service.upstream import (
    FetchedToken,
    TokenEndpoint,
    UpstreamInvalidGrant,
    UpstreamUnavailable,
)

log = logging.getLogger("skyroute.token.chain")

REAUTH_NO_CHAIN = "no refresh token held: an operator must run `token authorize`"
REAUTH_BROKEN = (
    "the refresh token was rejected (invalid_grant): an operator must run "
    "`token authorize` or `token install-refresh-token`"
)


class Chain:
    def __init__(
        self,
        provider: ProviderConfig,
        local: LocalCopy,
        store: TokenStore,
        endpoint: TokenEndpoint,
        metrics: TokenMetrics,
        redactor: Redactor,
    ) -> None:
        self.name = provider.name
        self._bootstrap = provider.has_bootstrap
        # The secret first refresh token; the store hands it out once, while no chain exists.
        self._seed = provider.refresh_token if provider.grant == GRANT_REFRESH_TOKEN else None
        self._local = local
        self._store = store
        self._endpoint = endpoint
        self._metrics = metrics
        self._redactor = redactor
        self.windows_ms: list[float] = []  # recent store windows, for status and tests
        metrics.reauth.labels(self.name).set_function(lambda: 1 if local.reauth else 0)

    async def refresh(
        self, lease: Lease, expected_generation: int, refresh_after: Callable[[int], int]
    ) -> tuple[int, str, int] | None:
        """The next token of the chain, written with the next refresh token; None if the
        lease was lost first. Raises UpstreamError (recorded by the caller)."""
        link = await self._store.take_chain(lease, self._seed)
        if link is None:
            return None
        if link.refresh_token:
            self._redactor.add(link.refresh_token)
        if link.unacknowledged_fence:
            self._event("suspect")
            log.warning(
                "refresh-token chain may be broken: a holder sent the refresh token "
                "and never stored the answer",
                extra={"provider": self.name, "fence": link.unacknowledged_fence},
            )
        sent = time.monotonic()
        if link.unacknowledged_fence and self._bootstrap:
            fetched, used = await self._endpoint.fetch(), None  # no reuse: log in again
            await self._recovered()
        elif link.refresh_token:
            try:
                fetched, used = await self._endpoint.refresh(link.refresh_token), link.refresh_token
            except UpstreamInvalidGrant:
                self._event("broken")
                log.error(
                    "refresh-token chain broken (invalid_grant)",
                    extra={"provider": self.name, "bootstrap": self._bootstrap},
                )
                if not self._bootstrap:
                    await self._reauthorization_required(REAUTH_BROKEN)
                    raise
                sent = time.monotonic()
                fetched, used = await self._endpoint.fetch(), None
                await self._recovered()
        elif self._bootstrap:
            fetched, used = await self._endpoint.fetch(), None  # the first login
        else:
            await self._reauthorization_required(REAUTH_NO_CHAIN)
            raise UpstreamInvalidGrant(REAUTH_NO_CHAIN)
        return await self._store_answer(
            lease, expected_generation, refresh_after, fetched, used, sent
        )

    async def install(
        self,
        lease: Lease,
        expected_generation: int,
        refresh_after: Callable[[int], int],
        code: str | None,
        redirect_uri: str | None,
        refresh_token: str | None,
    ) -> tuple[int, str, int]:
        """An operator's grant: exchange ``code`` or refresh with ``refresh_token``, and
        store the result as the chain's new head (UpstreamInvalidGrant if refused)."""
        if refresh_token:
            self._redactor.add(refresh_token)
        if await self._store.take_chain(lease, None) is None:
            raise UpstreamUnavailable("the refresh lease was lost; try again")
        sent = time.monotonic()
        if code:
            fetched, used = await self._endpoint.exchange_code(code, redirect_uri), None
        else:
            assert refresh_token
            fetched, used = await self._endpoint.refresh(refresh_token), refresh_token
        self._event("installed")
        return await self._store_answer(
            lease, expected_generation, refresh_after, fetched, used, sent
        )

    async def _store_answer(
        self,
        lease: Lease,
        expected_generation: int,
        refresh_after: Callable[[int], int],
        fetched: FetchedToken,
        used: str | None,
        sent: float,
    ) -> tuple[int, str, int]:
        # Nothing may run between the answer and the fenced write: this is the window.
        received = time.monotonic()
        lifetime = fetched.expires_in_ms
        try:
            # Shielded: a cancellation now (shutdown) must not drop the spent chain's
            # successor; the write completes even if we stop waiting for it.
            generation, why = await asyncio.shield(
                self._store.fenced_write(
                    lease,
                    expected_generation,
                    fetched.access_token,
                    fetched.token_type,
                    lifetime,
                    refresh_after(lifetime),
                    int((received - sent) * 1000),
                    chained=True,
                    refresh_token=fetched.refresh_token or used,
                )
            )
        finally:
            window = time.monotonic() - received
            self._redactor.add(fetched.access_token)
            if fetched.refresh_token:
                self._redactor.add(fetched.refresh_token)
        self._metrics.store_window.labels(self.name).observe(window)
        self.windows_ms = [*self.windows_ms[-999:], window * 1000]
        if generation:
            self._event("rotated")
            log.info(
                "refresh-token chain advanced",
                extra={
                    "provider": self.name,
                    "generation": generation,
                    "store_window_ms": round(window * 1000, 3),
                    "rotated": bool(fetched.refresh_token),
                },
            )
        else:
            log.error(
                "rotated refresh token not stored: the chain is broken",
                extra={"provider": self.name, "why": why, "fence": lease.fence},
            )
        return generation, why, lifetime

    async def _reauthorization_required(self, reason: str) -> None:
        self._event("reauthorization_required")
        self._local.reauth = reason
        await self._store.break_chain(reason)

    async def _recovered(self) -> None:
        self._event("recovered")
        await self._store.count("chain_recoveries")

    def _event(self, event: str) -> None:
        self._metrics.chain.labels(self.name, event).inc()
