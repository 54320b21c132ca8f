"""Wires the booking service together: database, price source, auth, token service
client (provider token, itinerary links), provider orders, sweeper, servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
import grpc
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.api.auth import PublicMethods, build_auth
from booking_service.api.servicer import PUBLIC_METHODS, BookingServicer
from booking_service.flows.bookings import Bookings
from booking_service.flows.packages import PackageConfig, PackageMetrics, Packages
from booking_service.flows.sweeper import HoldSweeper, SweeperMetrics
from booking_service.flows.upstream_orders import OrderMetrics, ProviderOrdering
from booking_service.itinerary.links import ItineraryLinks
from booking_service.pricing.checker import PriceChecker
from booking_service.pricing.from_database import DatabasePriceChecker
from booking_service.pricing.from_search import SearchPriceChecker
from booking_service.pricing.hotels import HotelPricer
from booking_service.settings import (
    PRICE_SOURCE_SEARCH,
    BookingServiceSettings,
    ProviderOrderSettings,
)
from booking_service.status_counts import BookingCounts
from booking_service.store.hotels import HotelStore
from booking_service.store.repository import BookingStore
from services.clients.token_client import TokenClient
from services.config import ConfigError
from services.db import PooledDatabase
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.heartbeat import probe
from services.interceptors import Authenticator
from services.logs import Redactor
from services.providers.base import ProviderConfig
from services.providers.lookup import OrderLookup
from services.providers.registry import create_hotel_provider, create_provider
from services.rate_budget import RateBudget, RateBudgetMetrics
from services.redis_client import create_redis
from services.server import SERVING
from services.session_revocation import RevocationCache
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.booking.app")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BookingService"].full_name


def price_checker(settings: BookingServiceSettings, store: BookingStore) -> PriceChecker:
    if settings.price_source == PRICE_SOURCE_SEARCH:
        return SearchPriceChecker(settings.search_addresses, settings.search_timeout_seconds)
    return DatabasePriceChecker(store)


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve on a database that was not migrated (alembic upgrade head): the
    bookings table, with the provider order columns of revision 0003, the package
    table of 0006 and the optional travel documents of 0007."""
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT to_regclass('bookings')"))).scalar()
        current = (
            found is not None
            and (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                        "current_schema() AND table_name = 'bookings' AND column_name = "
                        "'provider_remark'"
                    )
                )
            ).scalar()
            == 1
        )
        packages = (await conn.execute(text("SELECT to_regclass('booking_packages')"))).scalar()
        # Revision 0007: a hotel guest's travel document may be missing.
        optional_documents = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'booking_passengers' AND column_name = "
                    "'document_type' AND is_nullable = 'YES'"
                )
            )
        ).scalar() == 1
    if found is None:
        raise ConfigError(
            "the database has no bookings table: run migrations first (python -m migrations)"
        )
    if not current or packages is None or not optional_documents:
        raise ConfigError(
            "the bookings schema is out of date: run migrations first (python -m migrations)"
        )


def adapter_config(settings: ProviderOrderSettings) -> ProviderConfig:
    return ProviderConfig(
        name=settings.name,
        base_url=settings.base_url,
        timeout_seconds=settings.timeout_seconds,
        lookup=settings.lookup,
        lookup_url=settings.lookup_url,
    )


class BookingApp:
    service_names: Sequence[str] = (SERVICE_NAME,)

    def __init__(
        self,
        settings: BookingServiceSettings,
        registry: CollectorRegistry,
        redactor: Redactor,
        *,
        prices: PriceChecker | None = None,
        lookup: OrderLookup | None = None,
    ) -> None:
        """``prices`` and ``lookup`` replace the configured price source and provider
        order lookup (tests)."""
        self.settings = settings
        if settings.jwt.secret:
            redactor.add(settings.jwt.secret)
        if settings.database.url.password:
            redactor.add(settings.database.url.password)
        # Redis for the providers' shared rate budgets, the revoked sessions and the
        # fleet's one count of confirmed bookings (status_counts.py).
        limited = [p for p in settings.providers if p.rate_budget.enabled]
        self._redis = create_redis(settings.redis)
        self.revocations: RevocationCache | None = None
        if settings.jwt.session_revocation:
            self.revocations = RevocationCache(
                self._redis, settings.redis.key_prefix, settings.revocation
            )
        authenticator, self._jwks = build_auth(
            settings.jwt, self.revocations.is_revoked if self.revocations else None
        )
        self.authenticator: Authenticator | None = PublicMethods(authenticator, PUBLIC_METHODS)
        application_name = f"booking-{settings.server.replica_id}"
        # The service's SQL runs on the asyncpg pool (booking_service/store/repository.py).
        self._database = PooledDatabase(settings.database, application_name)
        self.store = BookingStore(self._database.pool, settings.database.pool_timeout_seconds)
        self._prices = prices or price_checker(settings, self.store)
        self._tokens: TokenClient | None = None
        if settings.tokens is not None:
            redactor.add(settings.tokens.caller_key)
            self._tokens = TokenClient(
                settings.tokens.addresses,
                settings.tokens.caller_id,
                settings.tokens.caller_key,
                timeout=settings.tokens.timeout_seconds,
            )
        self._session: aiohttp.ClientSession | None = None
        self.ordering: ProviderOrdering | None = None
        # The fleet's one count of confirmed bookings (status_counts.py).
        self.counts = BookingCounts(
            self._database.pool,
            self._redis,
            settings.redis.key_prefix,
            settings.server.replica_id,
        )
        self.budgets: dict[str, RateBudget] = {}
        if limited:
            budget_metrics = RateBudgetMetrics(registry)
            self.budgets = {
                p.name: RateBudget(
                    self._redis, settings.redis.key_prefix, p.name, p.rate_budget, budget_metrics
                )
                for p in limited
            }
        if settings.providers and self._tokens is not None:
            self._session = aiohttp.ClientSession()
            tokens = self._tokens
            session = self._session
            self.ordering = ProviderOrdering(
                self.store,
                {
                    p.name: create_provider(
                        p.kind,
                        adapter_config(p),
                        session,
                        tokens,
                        lookup=lookup,
                        budget=self.budgets.get(p.name),
                    )
                    for p in settings.providers
                },
                max(p.lease_seconds for p in settings.providers),
                OrderMetrics(registry),
            )
        self.packages: Packages | None = None
        self._pricer: HotelPricer | None = None
        hotel = settings.hotel
        if hotel is not None and self._tokens is not None:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            self._pricer = HotelPricer(settings.search_addresses, settings.search_timeout_seconds)
            self.packages = Packages(
                self.store,
                HotelStore(self._database.pool, settings.database.pool_timeout_seconds),
                self._pricer,
                create_hotel_provider(
                    hotel.kind,
                    adapter_config(hotel),
                    self._session,
                    self._tokens,
                    budget=self.budgets.get(hotel.name),
                ),
                PackageConfig(
                    settings.policy.package_lease_seconds,
                    settings.policy.ticket_prefix,
                    settings.policy.sweep_batch_size,
                ),
                ordering=self.ordering,
                metrics=PackageMetrics(registry),
            )
        self.bookings = Bookings(
            self.store,
            self._prices,
            settings.policy,
            ordering=self.ordering,
            packages=self.packages,
        )
        self.links = ItineraryLinks(
            self.store,
            self._tokens,
            settings.links,
            details=self.packages.with_stay if self.packages is not None else None,
        )
        self._servicer = BookingServicer(self.bookings, self.links)
        self._sweeper = HoldSweeper(
            self.store,
            settings.policy.sweep_interval_seconds,
            settings.policy.sweep_batch_size,
            SweeperMetrics(registry),
            self.ordering,
            self.packages,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_BookingServiceServicer_to_server(self._servicer, server)

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        await self._database.open(check_schema)
        if self.settings.jwt.jwks_url:
            try:
                await self._jwks.refresh()
            except Exception as exc:  # serve anyway; calls get UNAVAILABLE until keys load
                log.warning(
                    "jwks not loaded at start",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:200]},
                )
        if self.revocations is not None:
            try:  # the revoked sessions before the first call; Redis down: fail open
                await asyncio.wait_for(self.revocations.sync(), 2.0)
            except Exception as exc:
                log.warning(
                    "revoked sessions not read at start",
                    extra={"error": type(exc).__name__},
                )
            self.revocations.start()
        if self._tokens is not None:
            # The providers' tokens in memory from the token service's stream, so an
            # order call makes no token RPC (as search does).
            for provider in self.settings.providers:
                self._tokens.watch(provider.name)
            if self.settings.hotel is not None:
                self._tokens.watch(self.settings.hotel.name)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sweeper.run())]
        if self._jwks.configured:
            self._tasks.append(loop.create_task(self._jwks.run()))
        await health_servicer.set(SERVICE_NAME, SERVING)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        await self.links.close()  # unused early links' revocations, before the client goes
        if self.revocations is not None:
            await self.revocations.stop()
        await self._prices.close()
        if self._pricer is not None:
            await self._pricer.close()
        if self._tokens is not None:
            await self._tokens.close()
        if self._session is not None:
            await self._session.close()
        await self.counts.close()
        await self._redis.aclose()
        await self._database.close()

    async def status(self) -> dict[str, Any]:
        """The providers' shared rate budgets (services/rate_budget.py), the bookings
        held and confirmed, and the dependencies' health (the cluster dashboard)."""
        pool = self._database.pool
        dependencies = {"postgres": await probe(pool.fetchval("SELECT 1"))}
        if self._tokens is not None and self.settings.providers:
            name = self.settings.providers[0].name
            dependencies["token service"] = await probe(self._tokens.status(name))
        bookings: dict[str, int] = {}
        with contextlib.suppress(Exception):  # the dependency shows as down above
            bookings = await asyncio.wait_for(self.counts.read(), 1.0)
        return {
            "rate_budget": {name: await budget.status() for name, budget in self.budgets.items()}
            or "off",
            "session_revocation": self.revocations.status() if self.revocations else "off",
            "bookings": bookings,
            "dependencies": dependencies,
        }
