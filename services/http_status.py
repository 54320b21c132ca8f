"""The operator HTTP endpoint of every service: ``/metrics`` (Prometheus),
``/status`` (this replica, a small HTML page) and ``/status.json`` (the same as JSON),
``/dashboard`` (the whole cluster, the same page on every replica; ``/`` leads there) and
``/cluster.json`` (its data, from the replicas' heartbeats), and ``/healthz``. Status
never contains secrets or token values."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

StatusSource = Callable[[], Awaitable[dict[str, Any]]]
ClusterSource = Callable[[], Awaitable[dict[str, Any]]]
# An app's own GET route on this port (the account service's JWKS): path, handler.
Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


class ServingState:
    """What the bootstrap knows about the process, shown on the status page."""

    def __init__(self, service: str, replica: str) -> None:
        self.service = service
        self.replica = replica
        self.started = time.time()
        self.serving = False


async def snapshot(state: ServingState, status: StatusSource | None) -> dict[str, Any]:
    """This replica: who, whether serving, and the app's status section."""
    out: dict[str, Any] = {
        "service": state.service,
        "replica": state.replica,
        "serving": state.serving,
        "uptime_seconds": round(time.time() - state.started, 1),
    }
    if status is not None:
        out.update(await status())
    return out


def dashboard_page() -> str:
    return resources.files("services").joinpath("dashboard.html").read_text("utf-8")


def _json(data: dict[str, Any]) -> web.Response:
    return web.json_response(data, dumps=lambda o: json.dumps(o, default=str))


def build_app(
    registry: CollectorRegistry,
    state: ServingState,
    status: StatusSource | None,
    cluster: ClusterSource | None = None,
    routes: Sequence[Route] = (),
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status_json(_: web.Request) -> web.Response:
        return _json(await snapshot(state, status))

    async def status_html(_: web.Request) -> web.Response:
        return web.Response(text=render(await snapshot(state, status)), content_type="text/html")

    async def dashboard(_: web.Request) -> web.Response:
        return web.Response(
            text=dashboard_page(), content_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    async def cluster_json(_: web.Request) -> web.Response:
        if cluster is None:
            return _json({"error": "no cluster view on this replica"})
        return _json(await cluster())

    async def root(_: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(
            text="SERVING" if state.serving else "NOT_SERVING", status=200 if state.serving else 503
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status_html)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/cluster.json", cluster_json)
    app.router.add_get("/", root)
    app.router.add_get("/healthz", healthz)
    for path, handler in routes:
        app.router.add_get(path, handler)
    return app


def render(data: dict[str, Any]) -> str:
    """A dependency-free page: one table per section, refreshed every 5 s."""

    def table(values: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in values.items()
        )
        return f"<table>{rows}</table>"

    def _cell(value: Any) -> str:
        if isinstance(value, dict):
            return table(value)
        return html.escape(str(value))

    title = html.escape(f"{data.get('service', '')} {data.get('replica', '')}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='5'>"
        f"<title>{title} status</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        f"</style></head><body><h1>{title}</h1><p><a href='/dashboard'>cluster dashboard</a>"
        f"</p>{table(data)}</body></html>"
    )


async def start_http(
    registry: CollectorRegistry,
    state: ServingState,
    status: StatusSource | None,
    host: str,
    port: int,
    cluster: ClusterSource | None = None,
    routes: Sequence[Route] = (),
) -> tuple[web.AppRunner | None, int | None]:
    """Serves the endpoint on ``port`` (0 = ephemeral, negative = disabled)."""
    if port < 0:
        return None, None
    runner = web.AppRunner(build_app(registry, state, status, cluster, routes), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound socket only here
    sockets = getattr(server, "sockets", None)  # an asyncio.Server's
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
