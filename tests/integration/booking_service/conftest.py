"""Booking fixtures: one fresh, migrated database for the session (never the
``skyroute`` database), engines bound to each test's loop, and a real in-process
grpc.aio booking server on 127.0.0.1:0. Tests make their own fares and users, so they
do not see each other's rows. ``upstream``: the provider stand-in and a token-service
replica as processes, one pair per test module."""

from __future__ import annotations

import json
import secrets
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from booking_service.app import BookingApp
from booking_service.pricing.checker import PriceChecker
from booking_service.settings import BookingServiceSettings
from booking_service.store.repository import BookingStore
from services.db import DatabaseSettings, create_pool
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.logs import Redactor
from services.metrics import ServerMetrics
from services.providers.lookup import OrderLookup
from services.server import create_server
from tests.utils.booking_cluster import bearer, jwt_env, new_secret, token_for
from tests.utils.db import temporary_database_sync
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster


@pytest.fixture(scope="session")
def booking_db_url() -> Iterator[str]:
    with temporary_database_sync() as url:
        yield url


@pytest.fixture
async def engine(booking_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(booking_db_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(booking_db_url: str) -> AsyncIterator[BookingStore]:
    """A BookingStore on its own pool (for flows driven without a server)."""
    settings = DatabaseSettings.from_env({"DATABASE_URL": booking_db_url})
    pool = await create_pool(settings, application_name="booking-tests")
    yield BookingStore(pool)
    await pool.close()


@dataclass
class BookingServer:
    address: str
    app: BookingApp
    secret: str
    channel: grpc.aio.Channel
    stub: pb_grpc.BookingServiceStub

    def token(self, user: str, **kwargs: Any) -> str:
        return token_for(user, self.secret, **kwargs)

    def auth(self, user: str) -> tuple[tuple[str, str], ...]:
        return bearer(self.token(user))


def booking_env(database_url: str, secret: str, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BOOKING_PRICE_SOURCE": "database",
        "GRPC_PORT": "0",
        "DB_POOL_SIZE": "5",
        **jwt_env(secret),
        **extra,
    }


@pytest.fixture
async def server_factory(booking_db_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Starts in-process booking servers; ``prices`` replaces the price source and
    ``lookup`` the provider order lookup."""
    started: list[tuple[grpc.aio.Server, BookingApp, grpc.aio.Channel]] = []

    async def start(
        prices: PriceChecker | None = None, lookup: OrderLookup | None = None, **env: str
    ) -> BookingServer:
        secret = new_secret()
        settings = BookingServiceSettings.from_env(booking_env(booking_db_url, secret, **env))
        registry = CollectorRegistry()
        app = BookingApp(settings, registry, Redactor(), prices=prices, lookup=lookup)
        server, port, health = create_server("127.0.0.1:0", app, ServerMetrics(registry))
        await server.start()
        await app.start(health)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, app, channel))
        return BookingServer(
            f"127.0.0.1:{port}", app, secret, channel, pb_grpc.BookingServiceStub(channel)
        )

    yield start
    for server, app, channel in started:
        await channel.close()
        await server.stop(0)
        await app.close()


@pytest.fixture
async def booking(server_factory: Callable[..., Any]) -> BookingServer:
    server: BookingServer = await server_factory()
    return server


@pytest.fixture
def user() -> str:
    return f"user-{secrets.token_hex(4)}"


@dataclass
class Upstream:
    sim: Sim
    tokens: TokenCluster

    @property
    def client_id(self) -> str:
        return self.tokens.client_ids["amadeus"]

    def sim_token(self) -> str:
        """A token of the stand-in's *other* client: the test's own searches and pricing
        do not count against the booking service's client."""
        client_id, secret = list(self.sim.clients.items())[1]
        data = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        ).encode()
        with urllib.request.urlopen(
            urllib.request.Request(self.sim.token_url, data=data), timeout=10
        ) as response:
            return str(json.loads(response.read())["access_token"])

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            self.sim.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {token or self.sim_token()}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Upstream]:
    workdir = tmp_path_factory.mktemp("booking-upstream")
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    sim = Sim(workdir, new_clients()).start()
    tokens = None
    try:
        tokens = TokenCluster(workdir, sim, redis_url, prefix, 1).start()
        yield Upstream(sim, tokens)
        tokens.assert_no_secrets_in_logs()
    finally:
        if tokens is not None:
            tokens.stop()
        sim.stop()
        client = redis_lib.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
