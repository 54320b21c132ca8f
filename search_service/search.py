"""SearchFlights: cache lookup, inventory (+ provider) computation, one page out.

The cached value for a query is the whole sorted result list (at most ``max_results``
itineraries) as a serialised SearchFlightsResponse, so a cache hit is one Redis look
(the bytes only if this replica does not hold them already, search_service/cache.py),
one parse and a slice; pages of one query share one cache entry. A page answered from a
cached result is kept serialized beside it and sent as it is while Redis holds the same
result (services/preserialized.py), as hotel pages are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from search_service.airports import AirportDirectory, local_midnight
from search_service.cache import ResultCache
from search_service.convert import itinerary_pb, proto_sort_key
from search_service.itineraries import build_inventory_options
from search_service.normalise import merge_provider_options
from search_service.offers import OfferIds, ProviderOfferStore
from search_service.pagination import Cursor, PageTokens, page_start
from search_service.parsed import ParsedResults
from search_service.providers import ProviderResult, SearchProviders
from search_service.query import SearchQuery, SortOrder
from search_service.repository import DirectionQuery, InventoryRepository, LegFilter
from search_service.settings import SearchPolicy
from search_service.validation import ValidatedSearch
from services.db import DatabaseUnavailableError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.preserialized import Serialized

log = logging.getLogger("skyroute.search")

# Parsed results kept per query, reused while Redis returns the same bytes.
PARSED_CACHE_ENTRIES = 64


class SearchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.partial = Counter(
            "skyroute_search_partial_results_total",
            "Searches answered from inventory alone because the provider failed, by reason",
            ["reason"],
            registry=registry,
        )


class FlightSearch:
    def __init__(
        self,
        repository: InventoryRepository,
        airports: AirportDirectory,
        cache: ResultCache,
        page_tokens: PageTokens,
        offer_ids: OfferIds,
        policy: SearchPolicy,
        metrics: SearchMetrics,
        *,
        provider: SearchProviders | None = None,
        provider_offers: ProviderOfferStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repository = repository
        self._airports = airports
        self._cache = cache
        self._page_tokens = page_tokens
        self._offer_ids = offer_ids
        self._policy = policy
        self._metrics = metrics
        self._provider = provider
        self._provider_offers = provider_offers
        self._clock = clock
        self._parsed = ParsedResults(pb.SearchFlightsResponse.FromString, PARSED_CACHE_ENTRIES)

    async def search(self, request: ValidatedSearch) -> Serialized:
        """One page of the search, serialized (a SearchFlightsResponse)."""
        query = request.query
        digest = query.digest()
        data = await self._cache.get_or_compute(digest, lambda: self._compute(query))
        parsed = self._parsed.get(digest, data)
        result = parsed.result
        items = result.itineraries
        if not items:
            # Not kept: the inventory dates hint is read from the database each time.
            return Serialized((await self._empty_page(query, result)).SerializeToString())
        order = query.sort
        start = page_start(items, request.cursor, lambda it: proto_sort_key(order, it))
        end = min(start + request.page_size, len(items))
        page = parsed.pages.get((start, end))
        if page is None:
            page = Serialized(self._page(digest, order, result, start, end).SerializeToString())
            parsed.keep_page(start, end, page)
        return page

    def _page(
        self,
        digest: str,
        order: SortOrder,
        result: pb.SearchFlightsResponse,
        start: int,
        end: int,
    ) -> pb.SearchFlightsResponse:
        items = result.itineraries
        response = pb.SearchFlightsResponse(
            itineraries=items[start:end],
            total_size=len(items),
            partial=result.partial,
            partial_reason=result.partial_reason,
        )
        if end < len(items):
            response.next_page_token = self._page_tokens.encode(
                Cursor(digest, end, proto_sort_key(order, items[end - 1]))
            )
        return response

    async def _empty_page(
        self, query: SearchQuery, result: pb.SearchFlightsResponse
    ) -> pb.SearchFlightsResponse:
        """The answer when nothing was found: the hint where to look instead."""
        response = pb.SearchFlightsResponse(
            total_size=0, partial=result.partial, partial_reason=result.partial_reason
        )
        hint = await self.inventory_dates(query.origin, query.destination)
        if hint is not None:
            response.inventory_dates.CopyFrom(hint)
        return response

    async def inventory_dates(self, origin: str, destination: str) -> pb.InventoryDates | None:
        """For a search that found nothing: the dates with upcoming flights non-stop on
        the route, else from the origin (two index probes, run only then). A database
        that fails here costs the hint, not the answer."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            found = await self._repository.departure_range(origin, destination, now)
            nonstop = found is not None
            if found is None:
                found = await self._repository.departure_range(origin, None, now)
        except DatabaseUnavailableError as exc:
            log.warning("no inventory dates hint", extra={"error": str(exc)})
            return None
        if found is None:
            return None
        zone = self._airports.zone(origin)
        first, last = (moment.astimezone(zone).date().isoformat() for moment in found)
        return pb.InventoryDates(first_date=first, last_date=last, nonstop_to_destination=nonstop)

    def directions(self, query: SearchQuery, now: datetime) -> list[DirectionQuery]:
        """The UTC departure ranges to search: local dates at each direction's origin,
        never before now."""
        out = []
        legs = [(0, query.origin, query.destination, query.departure_dates())]
        if query.round_trip:
            legs.append((1, query.destination, query.origin, query.return_dates()))
        for direction, origin, destination, dates in legs:
            zone = self._airports.zone(origin)
            earliest = max(local_midnight(dates[0], zone), now)
            latest = local_midnight(dates[-1] + timedelta(days=1), zone)
            out.append(
                DirectionQuery(
                    direction, origin, destination, earliest.astimezone(UTC), latest.astimezone(UTC)
                )
            )
        return out

    async def _compute(self, query: SearchQuery) -> tuple[bytes, float]:
        policy = self._policy
        now = datetime.fromtimestamp(self._clock(), UTC)
        leg_filter = LegFilter(
            cabin=query.cabin.value,
            seats=query.party.seats,
            max_stops=query.max_stops,
            included_airlines=query.included_airlines,
            excluded_airlines=query.excluded_airlines,
            min_connection_minutes=policy.min_connection_minutes,
            max_layover_minutes=policy.max_layover_minutes,
        )
        provider_task = None
        if query.include_provider and self._provider is not None:
            provider_task = asyncio.ensure_future(self._provider.search(query))
        try:
            rows = await self._repository.search_legs(self.directions(query, now), leg_filter)
        except BaseException:
            if provider_task is not None:
                provider_task.cancel()
            raise
        options = build_inventory_options(
            query,
            rows,
            self._airports,
            min_connection_minutes=policy.min_connection_minutes,
            max_layover_minutes=policy.max_layover_minutes,
            limit=policy.max_results,
        )
        result = pb.SearchFlightsResponse()
        ttl = policy.cache_ttl_seconds
        if provider_task is not None:
            outcome: ProviderResult = await provider_task
            if outcome.failure:
                result.partial = True
                result.partial_reason = outcome.failure
                self._metrics.partial.labels(outcome.failure).inc()
                ttl = policy.partial_cache_ttl_seconds
            # With several providers one may fail while others answer: theirs are kept.
            if not outcome.failure or outcome.options:
                options = merge_provider_options(
                    query,
                    options,
                    outcome.options,
                    self._airports,
                    now,
                    min_connection_minutes=policy.min_connection_minutes,
                    max_layover_minutes=policy.max_layover_minutes,
                    limit=policy.max_results,
                )
        cabin, party = query.cabin, query.party
        ids = self._offer_ids
        items = []
        stored = []
        for option in options:
            item = itinerary_pb(
                option, cabin, party, self._airports, offer_id=ids.for_option(option, cabin, party)
            )
            items.append(item)
            if option.provider_ref:
                stored.append(
                    (
                        option.provider_ref,
                        option.extra.get("raw", {}),
                        item.SerializeToString(),
                        option.departure_ts,
                    )
                )
        if stored and self._provider_offers is not None:
            try:
                await self._provider_offers.put_many(stored)
            except RedisError as exc:
                # The search still answers; those offer ids will not resolve.
                log.warning("cannot store provider offers", extra={"error": str(exc)})
        result.itineraries.extend(items)
        return result.SerializeToString(), ttl
