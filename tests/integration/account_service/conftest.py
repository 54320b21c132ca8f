"""Account fixtures: one fresh, migrated database for the session and real
in-process grpc.aio account servers on 127.0.0.1:0 with their own Redis key space."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from account_service.app import AccountApp
from account_service.settings import AccountServiceSettings
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from services.logs import Redactor
from services.metrics import ServerMetrics
from services.server import create_server
from tests.utils.account_cluster import account_env, account_facts
from tests.utils.db import temporary_database_sync


@pytest.fixture(scope="session")
def account_db_url() -> Iterator[str]:
    with temporary_database_sync() as url:
        yield url


@dataclass
class AccountServer:
    address: str
    app: AccountApp
    channel: grpc.aio.Channel
    stub: pb_grpc.AccountServiceStub


@pytest.fixture
async def account_factory(
    account_db_url: str, redis_url: str, key_prefix: str
) -> AsyncIterator[Callable[..., Any]]:
    """Starts in-process account servers sharing one database, Redis key space and
    signing keys; ``env`` overrides settings."""
    facts = account_facts(account_db_url, redis_url, key_prefix)
    started: list[tuple[grpc.aio.Server, AccountApp, grpc.aio.Channel]] = []

    async def start(**env: str) -> AccountServer:
        settings = AccountServiceSettings.from_env(account_env(facts, **env))
        registry = CollectorRegistry()
        app = AccountApp(settings, registry, Redactor())
        server, port, health = create_server("127.0.0.1:0", app, ServerMetrics(registry))
        await server.start()
        await app.start(health)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, app, channel))
        return AccountServer(f"127.0.0.1:{port}", app, channel, pb_grpc.AccountServiceStub(channel))

    yield start
    for server, app, channel in started:
        await channel.close()
        await server.stop(0)
        await app.close()


@pytest.fixture
async def account(account_factory: Callable[..., Any]) -> AccountServer:
    server: AccountServer = await account_factory()
    return server
