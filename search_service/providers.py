"""Provider offers for a search, from every configured upstream provider
(services/providers), and their pricing.

Each provider is asked once per departure date of the flexible window, all providers
concurrently, each within its own time budget. A search never fails because of a
provider: a provider that fails gives a ``failure`` reason, and the search returns
what the others (and the inventory) found, flagged partial with that reason (the
first failing provider's, in configured order). Token values never reach logs or
error messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from search_service.airports import AirportDirectory
from search_service.itineraries import Option
from search_service.normalise import option_from_offer
from search_service.query import SearchQuery
from search_service.settings import ProviderSettings
from services.errors import NotFoundError, UnavailableError
from services.providers.base import (
    UNAVAILABLE,
    FlightProvider,
    OfferGone,
    OfferQuery,
    ProviderConfig,
    ProviderFailure,
    ProviderQuote,
    UnreadablePrice,
)

log = logging.getLogger("skyroute.search.upstream")


@dataclass
class ProviderResult:
    options: list[Option] = field(default_factory=list)
    failure: str = ""  # empty when every provider answered


class ProviderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "skyroute_search_provider_requests_total",
            "HTTP requests to the provider, by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=registry,
        )

    def count(self, endpoint: str, outcome: str) -> None:
        self.requests.labels(endpoint, outcome).inc()


def adapter_config(settings: ProviderSettings) -> ProviderConfig:
    return ProviderConfig(
        name=settings.name,
        base_url=settings.base_url,
        timeout_seconds=settings.timeout_seconds,
        rate_limit_retries=settings.rate_limit_retries,
        currency=settings.currency,
    )


def offer_query(query: SearchQuery, day: date, return_day: date | None) -> OfferQuery:
    party = query.party
    return OfferQuery(
        origin=query.origin,
        destination=query.destination,
        departure_date=day,
        return_date=return_day,
        adults=party.adults,
        children=party.children,
        infants=party.infants,
        cabin=query.cabin.value,
        non_stop=query.max_stops == 0,
        included_airlines=query.included_airlines,
        excluded_airlines=query.excluded_airlines,
        max_total_cents=query.max_total_cents,
        max_total_currency=query.max_total_currency,
    )


class ProviderSearch:
    """One provider's offers for a query, normalised. One request per departure date of
    the flexible window (a round trip keeps the requested trip length on each)."""

    def __init__(
        self, provider: FlightProvider, airports: AirportDirectory, settings: ProviderSettings
    ) -> None:
        self._provider = provider
        self._airports = airports
        self._settings = settings

    @property
    def name(self) -> str:
        return self._settings.name

    async def search(self, query: SearchQuery) -> ProviderResult:
        now = datetime.now(UTC)
        # Providers reject dates before their "today" (UTC at most), and we have no use
        # for dates before the origin's today.
        today = max(self._airports.today(query.origin, now), now.date())
        trip = (query.return_date - query.departure_date) if query.return_date else None
        calls = []
        for day in query.departure_dates():
            if day < today:
                continue
            calls.append(
                self._provider.search_offers(
                    offer_query(query, day, day + trip if trip is not None else None),
                    self._airports,
                )
            )
        extra = {"provider": self.name}
        try:
            async with asyncio.timeout(self._settings.timeout_seconds):
                responses = await asyncio.gather(*calls)
        except ProviderFailure as exc:
            log.warning(
                "provider search failed; answering from inventory",
                extra={**extra, "reason": exc.reason, "error": str(exc)},
            )
            return ProviderResult(failure=exc.reason)
        except TimeoutError:
            log.warning("provider search timed out; answering from inventory", extra=extra)
            return ProviderResult(failure=UNAVAILABLE)
        return ProviderResult(
            options=[
                option_from_offer(offer, self.name) for offers in responses for offer in offers
            ]
        )

    async def price(self, raw: dict[str, Any]) -> ProviderQuote:
        """Revalidate a stored provider offer at the provider."""
        try:
            return await self._provider.price_offer(raw)
        except OfferGone:
            raise NotFoundError(
                "the provider no longer has this offer", reason="OFFER_NOT_FOUND"
            ) from None
        except UnreadablePrice as exc:
            raise UnavailableError(
                "the provider answered an unexpected price", reason=exc.reason
            ) from None
        except ProviderFailure as exc:
            raise UnavailableError(
                "the provider could not price the offer",
                reason=exc.reason,
                retry_after_seconds=exc.retry_after,
            ) from None


class SearchProviders:
    """Every configured provider: searched concurrently and merged; an offer is priced
    by the provider it came from (its offer id names it)."""

    def __init__(self, searches: Sequence[ProviderSearch]) -> None:
        self._searches = tuple(searches)
        self._by_name = {s.name: s for s in searches}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    async def search(self, query: SearchQuery) -> ProviderResult:
        if len(self._searches) == 1:
            return await self._searches[0].search(query)
        results = await asyncio.gather(*(s.search(query) for s in self._searches))
        failures = [r.failure for r in results if r.failure]
        return ProviderResult(
            options=[o for r in results for o in r.options], failure=failures[0] if failures else ""
        )

    async def price(self, provider: str, raw: dict[str, Any]) -> ProviderQuote:
        search = self._by_name.get(provider)
        if search is None:
            raise UnavailableError("the provider is not enabled", reason="PROVIDER_UNAVAILABLE")
        return await search.price(raw)
