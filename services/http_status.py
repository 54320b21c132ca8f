"""The operator HTTP endpoint of every service: ``/metrics`` (Prometheus),
``/status`` (a small HTML page) and ``/status.json`` (the same as JSON), and
``/healthz``. Status never contains secrets or token values."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

StatusSource = Callable[[], Awaitable[dict[str, Any]]]


class ServingState:
    """What the bootstrap knows about the process, shown on the status page."""

    def __init__(self, service: str, replica: str) -> None:
        self.service = service
        self.replica = replica
        self.started = time.time()
        self.serving = False


def build_app(registry: CollectorRegistry, state: ServingState,
              status: StatusSource | None) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def snapshot() -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": state.service, "replica": state.replica, "serving": state.serving,
            "uptime_seconds": round(time.time() - state.started, 1),
        }
        if status is not None:
            out.update(await status())
        return out

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(await snapshot(), dumps=lambda o: json.dumps(o, default=str))

    async def status_html(_: web.Request) -> web.Response:
        return web.Response(text=render(await snapshot()), content_type="text/html")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="SERVING" if state.serving else "NOT_SERVING",
                            status=200 if state.serving else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status_html)
    app.router.add_get("/status.json", status_json)
    app.router.add_get("/healthz", healthz)
    return app


def render(data: dict[str, Any]) -> str:
    """A dependency-free page: one table per section, refreshed every 5 s."""
    def table(values: dict[str, Any]) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>"
            for k, v in values.items())
        return f"<table>{rows}</table>"

    def _cell(value: Any) -> str:
        if isinstance(value, dict):
            return table(value)
        return html.escape(str(value))

    title = html.escape(f"{data.get('service', '')} {data.get('replica', '')}")
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='5'>"
            f"<title>{title} status</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
            f"</style></head><body><h1>{title}</h1>{table(data)}</body></html>")


async def start_http(registry: CollectorRegistry, state: ServingState,
                     status: StatusSource | None, host: str, port: int
                     ) -> tuple[web.AppRunner | None, int | None]:
    """Serves the endpoint on ``port`` (0 = ephemeral, negative = disabled)."""
    if port < 0:
        return None, None
    runner = web.AppRunner(build_app(registry, state, status), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound socket only here
    sockets = getattr(server, "sockets", None)  # an asyncio.Server's
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
