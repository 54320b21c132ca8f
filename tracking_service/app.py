"""Wires the tracking service together: database, user auth, the price source (search
service), the alert hub (Redis pub/sub), the scheduler and the servicer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.config import ConfigError
from services.db import PooledDatabase
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2_grpc as pb_grpc
from services.heartbeat import probe
from services.interceptors import Authenticator
from services.logs import Redactor
from services.redis_client import create_redis
from services.server import SERVING
from services.session_revocation import RevocationCache
from services.tasks import cancel_and_wait
from services.user_auth import build_auth
from tracking_service.metrics import TrackingMetrics
from tracking_service.prices import PriceSource
from tracking_service.scheduler import Scheduler
from tracking_service.servicer import TrackingServicer
from tracking_service.settings import TrackingServiceSettings
from tracking_service.store import TrackingStore
from tracking_service.watch import AlertHub
from tracking_service.zones import load_zones

log = logging.getLogger("skyroute.tracking.app")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrackingService"].full_name


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve on a database without the tracking tables (revision 0005)."""
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT to_regclass('tracker_alerts')"))).scalar()
    if found is None:
        raise ConfigError(
            "the database has no tracking tables: run migrations first (python -m migrations)"
        )


class TrackingApp:
    service_names: Sequence[str] = (SERVICE_NAME,)

    def __init__(
        self, settings: TrackingServiceSettings, registry: CollectorRegistry, redactor: Redactor
    ) -> None:
        self.settings = settings
        if settings.jwt.secret:
            redactor.add(settings.jwt.secret)
        if settings.database.url.password:
            redactor.add(settings.database.url.password)
        self._redis = create_redis(settings.redis, timeout=5.0)
        # A signed-out session's tokens are refused here too, within a second
        # (services/session_revocation.py: a local copy, no read per call).
        self.revocations: RevocationCache | None = None
        if settings.jwt.session_revocation:
            self.revocations = RevocationCache(
                self._redis, settings.redis.key_prefix, settings.revocation
            )
        authenticator, self._jwks = build_auth(
            settings.jwt, self.revocations.is_revoked if self.revocations else None
        )
        self.authenticator: Authenticator | None = authenticator
        replica = settings.server.replica_id
        self._database = PooledDatabase(settings.database, f"tracking-{replica}")
        # Half a lease: a stopped replica's open transaction ends before its claims do.
        self.store = TrackingStore(
            self._database.pool,
            settings.database.pool_timeout_seconds,
            transaction_idle_seconds=max(1.0, settings.policy.lease_seconds / 2),
        )
        self.hub = AlertHub(self._redis, settings.redis.key_prefix, self.store)
        policy = settings.policy
        self.metrics = TrackingMetrics(registry)
        self.prices = PriceSource(
            settings.search_addresses,
            settings.search_timeout_seconds,
            policy.search_concurrency,
            policy.include_provider_offers,
        )
        self.scheduler = Scheduler(self.store, self.prices, self.hub, policy, replica, self.metrics)
        self._servicer = TrackingServicer(self.store, self.hub, policy, self.metrics, self.prices)
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_TrackingServiceServicer_to_server(self._servicer, server)

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        await self._database.open(check_schema)
        if self.settings.jwt.jwks_url:
            try:
                await self._jwks.refresh()
            except Exception as exc:  # serve anyway; calls get UNAVAILABLE until keys load
                log.warning("jwks not loaded at start", extra={"error": type(exc).__name__})
        if self.revocations is not None:
            try:  # the revoked sessions before the first call; Redis down: fail open
                await asyncio.wait_for(self.revocations.sync(), 2.0)
            except Exception as exc:
                log.warning(
                    "revoked sessions not read at start", extra={"error": type(exc).__name__}
                )
            self.revocations.start()
        loop = asyncio.get_running_loop()
        # Before serving: reading the airports' zones takes ~0.3 s, not the first create's.
        await loop.run_in_executor(None, load_zones)
        self._tasks = [loop.create_task(self.hub.run()), loop.create_task(self.scheduler.run())]
        if self._jwks.configured:
            self._tasks.append(loop.create_task(self._jwks.run()))
        await health_servicer.set(SERVICE_NAME, SERVING)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        if self.revocations is not None:
            await self.revocations.stop()
        if self._tasks:
            try:
                await self.store.release(self.settings.server.replica_id)
            except Exception as exc:  # the claims expire on their own
                log.warning("cannot release claims", extra={"error": type(exc).__name__})
        await self.prices.close()
        await self._redis.aclose()
        await self._database.close()

    async def status(self) -> dict[str, Any]:
        """For the dashboard: this replica's runs, the fleet's due and claimed trackers,
        the dependencies."""
        dependencies = {"postgres": await probe(self._database.pool.fetchval("SELECT 1"))}
        fleet: dict[str, int] = {}
        with contextlib.suppress(Exception):  # the dependency shows as down above
            fleet["due_now"] = await asyncio.wait_for(self.store.due_now(), 1.0)
        return {
            "tracking": {
                "runs_stored": self.scheduler.counts["runs"],
                "runs_lost": self.scheduler.counts["lost"],
                "runs_deferred": self.scheduler.counts["deferred"],
                "alerts_raised": self.scheduler.counts["alerts"],
                "searches": self.prices.counts["searches"],
                "searches_reused": self.prices.counts["reused"],
                **fleet,
            },
            "dependencies": dependencies,
        }
