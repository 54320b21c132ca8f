"""What clients send a Redis, seen through MONITOR: to count the round trips an
operation costs. Scripts' inner commands are left out (they cost none)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

from redis.asyncio import Redis


@contextlib.asynccontextmanager
async def client_commands(url: str) -> AsyncIterator[list[str]]:
    """Every command clients send the Redis at ``url`` while the block runs (the shared
    test Redis: other tests' too, so filter by key prefix), as MONITOR prints it
    (``"EVALSHA" "<sha>" "2" "<key>" ...``), in the order Redis ran them. On leaving it
    waits for an ``ECHO`` of its own, sent after the block: every command the block ran
    has been seen by then."""
    seen: list[str] = []
    marker = f"monitor-end-{secrets.token_hex(8)}"
    ready = asyncio.Event()
    # No read timeout: MONITOR is silent while Redis is idle.
    monitor_client = Redis.from_url(url, socket_timeout=None)

    async def capture() -> None:
        async with monitor_client.monitor() as monitor:  # MONITOR answered OK
            ready.set()
            async for command in monitor.listen():
                if marker in command["command"]:
                    return
                if command["client_type"] != "lua":
                    seen.append(command["command"])

    task = asyncio.create_task(capture())
    try:
        await asyncio.wait_for(ready.wait(), 5)
        yield seen
        async with Redis.from_url(url) as client:
            await client.echo(marker)
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await monitor_client.aclose()
