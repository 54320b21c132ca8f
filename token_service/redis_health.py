"""Tracks whether Redis answers; while it does not, brokers run degraded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError

from services.redis_client import RedisClient

log = logging.getLogger("skyroute.token.redis")


class RecoveryPending(Exception):
    """Raised by a recover step that cannot finish yet (another replica is handing its
    token back to Redis): the replica stays degraded and tries again at the next probe."""


class RedisHealth:
    def __init__(self, redis: RedisClient, probe_interval: float = 0.5) -> None:
        self._redis = redis
        self._interval = probe_interval
        self.degraded = False
        self._down = asyncio.Event()
        self._listeners: list[Callable[[bool], Coroutine[Any, Any, None]]] = []
        self._notifications: set[asyncio.Task[None]] = set()  # referenced until done

    def on_change(self, listener: Callable[[bool], Coroutine[Any, Any, None]]) -> None:
        """``listener(degraded)`` runs after every transition."""
        self._listeners.append(listener)

    def mark_down(self, exc: BaseException) -> None:
        if not self.degraded:
            log.warning("redis unreachable; serving degraded", extra={"error": type(exc).__name__})
            self.degraded = True
            self._down.set()
            self._notify(True)

    def _notify(self, degraded: bool) -> None:
        for listener in self._listeners:
            task = asyncio.get_running_loop().create_task(listener(degraded))
            self._notifications.add(task)
            task.add_done_callback(self._notifications.discard)

    async def run(self, recover: Callable[[], Awaitable[None]]) -> None:
        """Probes Redis while degraded; runs ``recover`` once it answers again."""
        while True:
            await self._down.wait()
            await asyncio.sleep(self._interval)
            try:
                await self._redis.ping()
                await recover()
            except (RedisError, OSError, RecoveryPending):
                continue
            self.degraded = False
            self._down.clear()
            log.info("redis reachable again; left degraded mode")
            self._notify(False)
