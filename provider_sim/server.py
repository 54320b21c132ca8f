"""Bind the simulator, announce its port, and serve until SIGTERM or SIGINT.

``start_server`` is kept apart from ``serve`` so tests can run the real server on port 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path
from typing import Final

from aiohttp import web

from provider_sim.app import create_app
from provider_sim.settings import SimSettings
from provider_sim.state import SimConfig, SimState

LOGGER: Final = logging.getLogger("provider_sim")
# Long enough for in-flight requests (even with simulated latency) to finish, short
# enough that an orchestrator's stop does not hang.
SHUTDOWN_GRACE_S: Final = 5.0


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving ``app``; returns the runner (to clean up) and the bound port."""
    # access_log=None: our middleware logs each request without secrets.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, runner.addresses[0][1]


def write_port_file(path: Path, port: int) -> None:
    """Write the port atomically, so a reader never sees an empty or partial file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(str(port))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


async def serve(settings: SimSettings) -> None:
    state = SimState(
        settings.clients,
        SimConfig(token_ttl=settings.token_ttl),
        inventory_seed=settings.inventory_seed,
        grant_policies=settings.grant_policies,
        hotel_clients=settings.hotel_clients,
        hotel_users=settings.hotel_users,
    )
    runner, port = await start_server(create_app(state), settings.host, settings.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if settings.port_file is not None:
            write_port_file(settings.port_file, port)
        LOGGER.info(
            "listening",
            extra={
                "host": settings.host,
                "port": port,
                "clients": len(settings.clients),
                "hotel_clients": len(settings.hotel_clients),
                "inventory_seed": settings.inventory_seed,
            },
        )
        await stop.wait()
        LOGGER.info("stopping", extra={"grace_s": SHUTDOWN_GRACE_S})
    finally:
        await runner.cleanup()
        if settings.port_file is not None:
            # A stale port file would point the next reader at a dead server.
            with contextlib.suppress(OSError):
                settings.port_file.unlink()
    LOGGER.info("stopped")
