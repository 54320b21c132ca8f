"""Wires the account service together: database, Redis (throttle, revocations),
password hasher, signing keys (and their JWKS on the HTTP status port), servicer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from account_service.api.servicer import AccountServicer
from account_service.auth.access import AccessTokens
from account_service.auth.keys import SigningKeys
from account_service.auth.passwords import Passwords
from account_service.flows.accounts import Accounts
from account_service.flows.throttle import Throttle
from account_service.metrics import AccountMetrics
from account_service.settings import AccountServiceSettings
from account_service.store.repository import AccountStore
from services.config import ConfigError
from services.db import PooledDatabase
from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from services.heartbeat import probe
from services.http_status import Route
from services.interceptors import Authenticator
from services.logs import Redactor
from services.redis_client import create_redis
from services.server import SERVING
from services.session_revocation import RevocationPublisher
from services.stack import JWKS_PATH
from services.tasks import cancel_and_wait

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["AccountService"].full_name


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to serve on a database without the accounts tables (revision 0004)."""
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT to_regclass('account_refresh_tokens')"))).scalar()
    if found is None:
        raise ConfigError(
            "the database has no account tables: run migrations first (python -m migrations)"
        )


class AccountApp:
    service_names: Sequence[str] = (SERVICE_NAME,)
    # Every method is public to the interceptor; the servicer checks access tokens.
    authenticator: Authenticator | None = None

    def __init__(
        self, settings: AccountServiceSettings, registry: CollectorRegistry, redactor: Redactor
    ) -> None:
        self.settings = settings
        if settings.database.url.password:
            redactor.add(settings.database.url.password)
        for entry in settings.signing_keys.split(","):  # each key, and the whole value
            redactor.add(entry.partition(":")[2].strip())
        redactor.add(settings.signing_keys)
        self.keys = SigningKeys(settings.signing_keys, settings.tokens.signing_key_id)
        application_name = f"account-{settings.server.replica_id}"
        self._database = PooledDatabase(settings.database, application_name)
        self.store = AccountStore(self._database.pool, settings.database.pool_timeout_seconds)
        self._redis = create_redis(settings.redis)
        self.metrics = metrics = AccountMetrics(registry)
        self.passwords = Passwords(settings.passwords, metrics=metrics)
        self.access = AccessTokens(settings.tokens, self.keys)
        self.accounts = Accounts(
            settings,
            self.store,
            self.passwords,
            self.access,
            Throttle(self._redis, settings.redis.key_prefix, settings.throttle, metrics),
            RevocationPublisher(self._redis, settings.redis.key_prefix),
            metrics,
        )
        self._servicer = AccountServicer(
            self.accounts,
            self.access,
            trust_forwarded_for=settings.throttle.trust_forwarded_for,
            outbox_rpc=settings.dev_outbox_rpc,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_AccountServiceServicer_to_server(self._servicer, server)

    def http_routes(self) -> list[Route]:
        """The JWKS, on the status port: verifiers cache it for max-age seconds."""
        max_age = self.settings.tokens.jwks_max_age_seconds

        async def jwks(_: web.Request) -> web.Response:
            return web.Response(
                body=self.keys.jwks_body,
                content_type="application/json",
                headers={"Cache-Control": f"public, max-age={max_age}"},
            )

        return [(JWKS_PATH, jwks)]

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        await self._database.open(check_schema)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.accounts.republish())]
        await health_servicer.set(SERVICE_NAME, SERVING)

    async def close(self) -> None:
        await cancel_and_wait(self._tasks)
        await self._redis.aclose()
        await self._database.close()

    async def status(self) -> dict[str, Any]:
        pool = self._database.pool
        return {
            "signing_key": self.keys.signing_kid,
            "published_keys": ", ".join(self.keys.kids),
            "argon2": {
                "time_cost": self.settings.passwords.time_cost,
                "memory_kib": self.settings.passwords.memory_kib,
            },
            "dependencies": {
                "postgres": await probe(pool.fetchval("SELECT 1")),
                "redis": await probe(self._redis.ping()),
            },
        }
