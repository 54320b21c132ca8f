"""Server bootstrap shared by every service.

``create_server`` builds a real ``grpc.aio`` server (health, reflection,
interceptors) bound to an address, so tests can use port 0; ``run_service``
is the process entry: logging, metrics endpoint, start, graceful SIGTERM.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from services import event_loop
from services.cluster_view import ClusterView
from services.config import ConfigError, RedisSettings, ServerSettings, TlsSettings
from services.errors import UnavailableError
from services.heartbeat import Heartbeat
from services.http_status import ServingState, start_http
from services.interceptors import Authenticator, ServerInterceptor
from services.logs import Redactor, configure_logging
from services.metrics import ServerMetrics
from services.redis_client import create_redis
from services.reflection import enable_reflection
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.server")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# Keep connections healthy behind load balancers and detect dead peers quickly.
SERVER_OPTIONS = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_connection_age_ms", 300_000),  # lets clients re-balance onto new replicas
    ("grpc.max_connection_age_grace_ms", 30_000),
)


class StartupError(Exception):
    """Raised by ``App.start`` when the service cannot run; the message says why."""


class App(Protocol):
    """What a service plugs into the bootstrap."""

    service_names: Sequence[str]
    authenticator: Authenticator | None

    def register(self, server: grpc.aio.Server) -> None: ...

    async def start(self, health_servicer: health.aio.HealthServicer, /) -> None:
        """Connect dependencies, start background work, set health statuses."""

    async def close(self) -> None: ...

    # Optional: ``async def status(self) -> dict`` adds a section to /status;
    # ``def http_routes(self) -> list[Route]`` adds GET routes to the HTTP port.


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    key = Path(tls.key_file).read_bytes()
    cert = Path(tls.cert_file).read_bytes()
    client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def create_server(
    address: str,
    app: App,
    metrics: ServerMetrics,
    *,
    tls: TlsSettings | None = None,
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """A server with the app's services, health and reflection, bound to ``address``."""
    server = grpc.aio.server(
        interceptors=[ServerInterceptor(metrics, app.authenticator)], options=SERVER_OPTIONS
    )
    app.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection([*app.service_names, health.SERVICE_NAME], server)
    if tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, server_credentials(tls))
    if port == 0:
        raise OSError(f"cannot bind {address}")
    return server, port, health_servicer


def freeze_startup_heap() -> None:
    """Moves what the process built before serving (modules, the app, its clients and
    pools: ~100,000 objects, alive until exit) out of the cyclic collector's reach
    (``gc.freeze``). The garbage of requests sets off a full collection now and then, and
    each walked all of it: ~20 ms of CPU in one go in a search replica (two in 10,000
    cached searches, ~4 us per search on average, and a 20 ms pause for the calls in
    flight). Startup garbage is collected first; a frozen object that became cyclic
    garbage later would not be reclaimed, which concerns only what startup built."""
    gc.collect()
    gc.freeze()


def write_port_file(path: str, ports: dict[str, int | None]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    Path(tmp).write_text(json.dumps(ports))
    os.replace(tmp, path)


async def serve(
    settings: ServerSettings,
    app: App,
    registry: CollectorRegistry,
    redis: RedisSettings | None = None,
) -> None:
    """Runs the service until SIGTERM/SIGINT. With ``redis``, the replica writes its
    heartbeat there and serves the cluster dashboard (its own client: a service may use
    Redis for nothing else)."""
    metrics = ServerMetrics(registry)
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    server, port, health_servicer = create_server(address, app, metrics, tls=settings.tls)
    # Not serving until the app's dependencies answer.
    await health_servicer.set("", NOT_SERVING)
    await server.start()
    state = ServingState(settings.service_name, settings.replica_id)
    status = getattr(app, "status", None)
    dashboard_redis = create_redis(redis) if redis is not None else None
    cluster = None
    if redis is not None and dashboard_redis is not None:
        cluster = ClusterView(dashboard_redis, redis.key_prefix).snapshot
    routes = getattr(app, "http_routes", None)
    runner, metrics_port = await start_http(
        registry,
        state,
        status,
        settings.grpc_host,
        settings.metrics_port,
        cluster,
        routes() if routes is not None else (),
    )
    try:
        await app.start(health_servicer)
    except (StartupError, ConfigError, UnavailableError) as exc:
        # A dependency is missing, down or wrong (no database, unmigrated schema...):
        # say so plainly and exit non-zero, without a traceback.
        log.error("cannot start", extra={"error": str(exc)})
        await server.stop(0)
        if runner is not None:
            await runner.cleanup()
        if dashboard_redis is not None:
            await dashboard_redis.aclose()
        raise SystemExit(1) from None
    await health_servicer.set("", SERVING)
    freeze_startup_heap()
    state.serving = True
    beat_task: asyncio.Task[None] | None = None
    heartbeat: Heartbeat | None = None
    if redis is not None and dashboard_redis is not None:
        addresses = {"grpc": f"{settings.grpc_host}:{port}"}
        if metrics_port is not None:
            addresses["http"] = f"{settings.grpc_host}:{metrics_port}"
        heartbeat = Heartbeat(dashboard_redis, redis.key_prefix, state, status, addresses)
        beat_task = asyncio.get_running_loop().create_task(heartbeat.run())
    if settings.port_file:
        write_port_file(settings.port_file, {"grpc": port, "metrics": metrics_port})
    log.info(
        "serving", extra={"address": f"{settings.grpc_host}:{port}", "metrics_port": metrics_port}
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
    state.serving = False
    # NOT_SERVING first: health checkers and Watch streams learn of the shutdown at once,
    # whatever the rest of it waits for.
    await health_servicer.enter_graceful_shutdown()
    if beat_task is not None and heartbeat is not None:
        await cancel_and_wait([beat_task])
        await heartbeat.stop()
    await server.stop(settings.shutdown_grace_seconds)
    await app.close()
    if runner is not None:
        await runner.cleanup()
    if dashboard_redis is not None:
        await dashboard_redis.aclose()
    log.info("stopped")


class HasServerSettings(Protocol):
    @property
    def server(self) -> ServerSettings: ...

    @property
    def redis(self) -> RedisSettings: ...


S = TypeVar("S", bound=HasServerSettings)


def run_service(
    load_settings: Callable[[], S],
    build_app: Callable[[S, CollectorRegistry, Redactor], App],
) -> None:
    """Process entry point: settings errors exit 2 with a clear message."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    server = settings.server
    redactor = configure_logging(server.service_name, server.replica_id, server.log_level)
    registry = CollectorRegistry()

    async def main() -> None:
        # The app is built inside the loop: its clients bind to this loop.
        await serve(server, build_app(settings, registry, redactor), registry, settings.redis)

    event_loop.run(main())
