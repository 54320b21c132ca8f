"""Wires the search service together: PostgreSQL, Redis, provider client, servicer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from search_service.airports import AirportDirectory
from search_service.cache import CacheMetrics, ResultCache
from search_service.hotels.offer_ids import HotelOfferIds, HotelOfferStore
from search_service.hotels.service import HotelService
from search_service.offers import OfferIds, OfferService, ProviderOfferStore
from search_service.pagination import PageTokens
from search_service.price_items import ItemErrors
from search_service.providers import (
    ProviderMetrics,
    ProviderSearch,
    SearchProviders,
    adapter_config,
)
from search_service.repository import InventoryRepository, RepositoryMetrics
from search_service.search import FlightSearch, SearchMetrics
from search_service.servicer import SearchServicer
from search_service.settings import SearchServiceSettings
from services.clients.token_client import TokenClient
from services.db import PooledDatabase
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from services.heartbeat import probe
from services.interceptors import Authenticator
from services.logs import Redactor
from services.providers.registry import create_hotel_provider, create_provider
from services.rate_budget import RateBudget, RateBudgetMetrics
from services.redis_client import create_redis
from services.server import SERVING
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.search.app")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SearchService"].full_name
AIRPORTS_RELOAD_SECONDS = 60.0


class SearchApp:
    service_names: Sequence[str] = (SERVICE_NAME,)
    # End users reach search through the edge (gateway, booking); no caller auth.
    authenticator: Authenticator | None = None

    def __init__(
        self, settings: SearchServiceSettings, registry: CollectorRegistry, redactor: Redactor
    ) -> None:
        self.settings = settings
        redactor.add(settings.page_token_secret)
        self._redis = create_redis(settings.redis)
        self._database = PooledDatabase(settings.database, "skyroute-search")
        self.repository = InventoryRepository(
            self._database.pool, RepositoryMetrics(registry), settings.database.pool_timeout_seconds
        )
        self.airports = AirportDirectory()
        page_tokens = PageTokens(settings.page_token_secret)
        offer_ids = OfferIds(settings.page_token_secret)
        policy = settings.policy
        prefix = settings.redis.key_prefix
        self._session: aiohttp.ClientSession | None = None
        self._tokens: TokenClient | None = None
        provider_search = None
        provider_store = None
        pricer = None
        self.budgets: dict[str, RateBudget] = {}
        metrics: ProviderMetrics | None = None
        budget_metrics: RateBudgetMetrics | None = None
        if settings.providers:
            first = settings.providers[0]  # the token client's settings are shared
            redactor.add(first.caller_key)
            self._session = aiohttp.ClientSession()
            self._tokens = TokenClient(
                first.token_service_addresses, first.caller_id, first.caller_key
            )
            metrics = ProviderMetrics(registry)
            budget_metrics = RateBudgetMetrics(registry)
            self.budgets = {
                p.name: RateBudget(self._redis, prefix, p.name, p.rate_budget, budget_metrics)
                for p in settings.providers
                if p.rate_budget.enabled
            }
            provider_search = SearchProviders(
                [
                    ProviderSearch(
                        create_provider(
                            p.kind,
                            adapter_config(p),
                            self._session,
                            self._tokens,
                            metrics,
                            budget=self.budgets.get(p.name),
                        ),
                        self.airports,
                        p,
                    )
                    for p in settings.providers
                ]
            )
            provider_store = ProviderOfferStore(
                self._redis, prefix, max(p.offer_ttl_seconds for p in settings.providers)
            )
            pricer = provider_search.price
        self._cache_metrics = CacheMetrics(registry)
        self.cache = ResultCache(
            self._redis,
            prefix,
            self._cache_metrics,
            lock_seconds=policy.cache_lock_seconds,
            trust_seconds=policy.cache_local_staleness_seconds,
        )
        self.hotels: HotelService | None = None
        hotel = settings.hotel_provider
        if hotel is not None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            if self._tokens is None:
                redactor.add(hotel.caller_key)
                self._tokens = TokenClient(
                    hotel.token_service_addresses, hotel.caller_id, hotel.caller_key
                )
            if hotel.rate_budget.enabled:
                self.budgets[hotel.name] = RateBudget(
                    self._redis,
                    prefix,
                    hotel.name,
                    hotel.rate_budget,
                    budget_metrics or RateBudgetMetrics(registry),
                )
            supplier = create_hotel_provider(
                hotel.kind,
                adapter_config(hotel),
                self._session,
                self._tokens,
                metrics or ProviderMetrics(registry),
                budget=self.budgets.get(hotel.name),
            )
            self.hotels = HotelService(
                supplier,
                self.cache,
                HotelOfferStore(
                    self._redis, prefix, hotel.offer_ttl_seconds, policy.hotel_offer_store
                ),
                HotelOfferIds(settings.page_token_secret),
                page_tokens,
                policy,
                hotel.timeout_seconds,
            )
        self.search = FlightSearch(
            self.repository,
            self.airports,
            self.cache,
            page_tokens,
            offer_ids,
            policy,
            SearchMetrics(registry),
            provider=provider_search,
            provider_offers=provider_store,
        )
        self.offers = OfferService(
            self.repository,
            self.airports,
            offer_ids,
            policy.price_guarantee_seconds,
            provider_store,
            pricer,
        )
        self._servicer = SearchServicer(
            self.search,
            self.offers,
            self.airports,
            page_tokens,
            policy,
            provider_enabled=provider_search is not None,
            hotels=self.hotels,
            item_errors=ItemErrors(registry),
        )
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_SearchServiceServicer_to_server(self._servicer, server)

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        await self._database.open()
        self.airports.replace(await self.repository.airports())
        try:
            await self._redis.ping()
        except RedisError as exc:
            # Searches still work, uncached, until Redis answers.
            log.warning(
                "redis unavailable at start; searching without cache", extra={"error": str(exc)}
            )
        if self._tokens is not None:
            for provider in self.settings.providers:
                self._tokens.watch(provider.name)
            if self.settings.hotel_provider is not None:
                self._tokens.watch(self.settings.hotel_provider.name)
        self._tasks.append(asyncio.get_running_loop().create_task(self._reload_airports()))
        log.info(
            "search ready",
            extra={
                "airports": len(self.airports),
                "provider": bool(self.settings.providers),
                "providers": [p.name for p in self.settings.providers],
                "hotel_provider": self.hotels.provider if self.hotels else None,
            },
        )
        await health_servicer.set(SERVICE_NAME, SERVING)

    async def status(self) -> dict[str, Any]:
        """The providers' shared rate budgets (services/rate_budget.py), the cache's
        lookups and the dependencies' health (the cluster dashboard)."""
        dependencies = {"postgres": await probe(self._database.pool.fetchval("SELECT 1"))}
        if self._tokens is not None and self.settings.providers:
            name = self.settings.providers[0].name
            dependencies["token service"] = await probe(self._tokens.status(name))
        return {
            "rate_budget": {name: await budget.status() for name, budget in self.budgets.items()}
            or "off",
            "cache": self._cache_metrics.lookup_counts(),
            "dependencies": dependencies,
        }

    async def _reload_airports(self) -> None:
        while True:
            await asyncio.sleep(AIRPORTS_RELOAD_SECONDS)
            try:
                self.airports.replace(await self.repository.airports())
            except Exception as exc:  # keep the directory we have
                log.warning("cannot reload airports", extra={"error": str(exc)})

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        if self._tokens is not None:
            await self._tokens.close()
        if self._session is not None:
            await self._session.close()
        await self._database.close()
        await self._redis.aclose()
