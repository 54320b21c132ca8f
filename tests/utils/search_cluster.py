"""The search service for tests: in-process (a real grpc.aio server on 127.0.0.1:0 in
the test's event loop) or as replicas in separate processes; and seeded databases."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import create_async_engine

from inventory_seed.seed import options_from_args, seed
from search_service.app import SearchApp
from search_service.settings import SearchServiceSettings
from services.clients.channels import open_channel
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from services.logs import Redactor
from services.metrics import ServerMetrics
from services.server import create_server
from services.stack import HOST, SEARCH, Facts
from tests.utils.db import run_in_thread, temporary_database_sync
from tests.utils.processes import ServiceProcess
from tests.utils.token_cluster import TokenCluster

SERVICE = "skyroute.search.v1.SearchService"
PAGE_TOKEN_SECRET = "search-test-page-token-secret-" + secrets.token_hex(4)


def search_facts(
    database_url: str, redis_url: str, prefix: str, base: Facts | None = None
) -> Facts:
    """Search's own facts, on top of ``base`` (a token cluster's: the provider on)."""
    return replace(
        base or Facts(),
        database_url=database_url,
        redis_url=redis_url,
        key_prefix=prefix,
        page_token_secret=PAGE_TOKEN_SECRET,
    )


def search_env(
    database_url: str, redis_url: str, prefix: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An in-process search server's environment (no provider unless ``extra`` says)."""
    return {
        **SEARCH.env(search_facts(database_url, redis_url, prefix)),
        "SERVICE_NAME": SEARCH.name,
        "GRPC_HOST": HOST,
        "GRPC_PORT": "0",
        **(extra or {}),
    }


@dataclass
class InProcessSearch:
    app: SearchApp
    registry: CollectorRegistry
    channel: grpc.aio.Channel
    stub: pb_grpc.SearchServiceStub
    address: str

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, dict(labels or {})) or 0.0


@contextlib.asynccontextmanager
async def in_process_search(env: Mapping[str, str]) -> AsyncIterator[InProcessSearch]:
    """A search server in this event loop, with a stub; stopped on exit."""
    settings = SearchServiceSettings.from_env(env)
    registry = CollectorRegistry()
    app = SearchApp(settings, registry, Redactor())
    server, port, health = create_server("127.0.0.1:0", app, ServerMetrics(registry))
    await server.start()
    try:
        await app.start(health)
        address = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(address)
        try:
            yield InProcessSearch(
                app, registry, channel, pb_grpc.SearchServiceStub(channel), address
            )
        finally:
            await channel.close()
    finally:
        await server.stop(0)
        await app.close()


async def seed_tiny(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await seed(engine, options_from_args("tiny", seed=42), cascade=True)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def seeded_database() -> Iterator[str]:
    """A fresh database of our own, migrated and seeded ``tiny``; dropped on exit."""
    with temporary_database_sync() as url:
        run_in_thread(seed_tiny(url))
        yield url


class SearchCluster:
    """Search replicas as separate processes sharing one Redis and PostgreSQL, using
    the token cluster's token and the provider stand-in."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        redis_url: str,
        prefix: str,
        replicas: int,
        tokens: TokenCluster | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        facts = search_facts(
            database_url, redis_url, prefix, tokens.facts if tokens is not None else None
        )
        tuning = {"LOG_LEVEL": "DEBUG", "SHUTDOWN_GRACE_SECONDS": "1", **(env or {})}
        self.processes = []
        for i in range(replicas):
            rid = f"search-{i + 1}-{secrets.token_hex(3)}"
            env_i = {
                **SEARCH.replica_env(facts, rid, grpc_port=0, metrics_port=0),
                **tuning,
                "REPLICA_ID": rid,
                "PORT_FILE": str(workdir / f"{rid}.port"),
            }
            self.processes.append(ServiceProcess(rid, ["-m", SEARCH.module], env_i, workdir))
        self.addresses: list[str] = []
        self.metrics_ports: list[int] = []

    def start(self) -> SearchCluster:
        for process in self.processes:
            process.start()
        for process in self.processes:
            ports = process.wait_ready(timeout=30)
            self.addresses.append(f"127.0.0.1:{ports['grpc']}")
            self.metrics_ports.append(int(ports.get("metrics") or 0))
        return self

    def channel(self) -> grpc.aio.Channel:
        """A round-robin channel over every replica."""
        return open_channel(self.addresses, SERVICE)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)


def error_details(error: grpc.aio.AioRpcError) -> tuple[list[str], str]:
    """(BadRequest field names, ErrorInfo reason) of a failed call."""
    status = rpc_status.from_call(error)
    fields: list[str] = []
    reason = ""
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields.extend(v.field for v in bad.field_violations)
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return fields, reason


def provider_query(n: int) -> search_pb.SearchFlightsRequest:
    """Query ``n`` (LHR-JFK, its own date and party for n < 810): one provider request
    of its own unless it is cached."""
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return search_pb.SearchFlightsRequest(
        origin="LHR",
        destination="JFK",
        departure_date=(tomorrow + timedelta(days=n % 90)).isoformat(),
        passengers=search_pb.Passengers(adults=1 + (n // 90) % 9),
        cabin=search_pb.CABIN_ECONOMY,
        page_size=10,
        include_provider_offers=True,
    )
