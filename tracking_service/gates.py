"""Per-key queues in front of the database: callers for one key (one user's creates)
wait here, in memory, one at a time, instead of each holding a pooled connection
while it waits on that key's database lock.

Timeline (pool of 2, one user's burst of 100 creates on a replica, another user's Get)::

    without     100 creates take both connections and queue on the user's advisory
                lock in PostgreSQL; the Get waits for a connection behind them
    with        the burst waits here; one of its creates at a time holds a connection
                (and the user's lock, shared by every replica); the Get takes the other
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedGate:
    """One ``asyncio.Lock`` per key, kept only while someone holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
