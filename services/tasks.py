"""Background task helpers shared by the services."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

# How often a task that is still running is told again to stop.
CANCEL_AGAIN_SECONDS = 0.05


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancels every task and waits until each has finished, ignoring how it ended
    (shutdown must not stop half-way because one background loop had failed).

    A task still running after a cancellation is cancelled again every
    ``CANCEL_AGAIN_SECONDS``: redis-py's asyncio client can swallow a cancellation
    that lands while a command is in flight (the command returns as if nothing had
    happened; redis/redis-py#2028), and a loop that only ends when cancelled would
    then go on for ever, and whoever waits for it with it."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_SECONDS)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a failed loop is not reported again at exit
