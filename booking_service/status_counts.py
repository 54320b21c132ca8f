"""The bookings held and confirmed that the status section (the cluster dashboard) shows.

Every replica's heartbeat asks for them every 2 seconds. Counting every booking by
status scans the whole table (0.54 s of PostgreSQL at 1M bookings; at about 5M it
passes the heartbeat's 1 s limit and is never shown), and 50 replicas would ask 25 times
a second: the dashboard alone would need more cores than the bookings. So:

- **held** bookings are counted on every call, exactly, through the partial index of held
  bookings (``ix_bookings_held_hold_expires_at``): as many entries as holds are open now,
  however many bookings are stored;
- **confirmed** bookings are counted for the whole fleet at most once per ``interval``:
  the replica that wins a Redis lock counts them in the background (its own statement
  timeout, never in the heartbeat's way) and stores the count in Redis, and every replica
  shows the stored count. When Redis does not answer, a replica counts at most once per
  interval on its own. The confirmed count is thus up to an interval old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
from redis.exceptions import RedisError

from services.db import pooled
from services.redis_client import RedisClient
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.booking.status_counts")

# Held bookings: answered from the partial index of held bookings.
HELD_COUNT = "SELECT count(*) FROM bookings WHERE status = 'HELD'"
CONFIRMED_COUNT = "SELECT count(*) FROM bookings WHERE status = 'CONFIRMED'"
INTERVAL_SECONDS = 60.0
# The recount's own cap (a server-side statement timeout): a slow count is given up.
COUNT_TIMEOUT_MS = 30_000


def counts_key(prefix: str) -> str:
    return f"{prefix}:booking:confirmed-count"


class BookingCounts:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: RedisClient | None,
        prefix: str,
        owner: str,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._key = counts_key(prefix)
        self._lock = f"{self._key}:lock"
        self._owner = owner
        self._interval = interval
        self._confirmed: int | None = None
        self._read_at = -interval  # monotonic time of the last stored or counted value
        self._task: asyncio.Task[None] | None = None
        self.recounts = 0  # confirmed counts this replica ran (tests)

    async def read(self) -> dict[str, int]:
        """{"HELD": n, "CONFIRMED": m}; CONFIRMED left out until a count is known."""
        held = int(await self._pool.fetchval(HELD_COUNT))
        counts = {"HELD": held}
        confirmed = await self._confirmed_count()
        if confirmed is not None:
            counts["CONFIRMED"] = confirmed
        return counts

    async def _confirmed_count(self) -> int | None:
        if time.monotonic() - self._read_at < self._interval / 4:
            return self._confirmed  # read a moment ago: Redis is not asked each heartbeat
        stored = await self._stored()
        if stored is not None:
            self._confirmed, self._read_at = stored, time.monotonic()
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._recount())
        return self._confirmed

    async def _stored(self) -> int | None:
        if self._redis is None:
            return None
        try:
            value = await self._redis.get(self._key)
        except RedisError:
            return None
        return None if value is None else int(value)

    async def _recount(self) -> None:
        """Counts the confirmed bookings if no replica did within the interval."""
        ttl_ms = int(self._interval * 1000)
        try:
            if self._redis is not None:
                try:
                    if not await self._redis.set(self._lock, self._owner, nx=True, px=ttl_ms):
                        return  # another replica counts (or did, within the interval)
                    shared = True
                except RedisError:
                    shared = False
            else:
                shared = False
            if not shared and time.monotonic() - self._read_at < self._interval:
                return
            async with pooled(self._pool, 10.0) as conn, conn.transaction():
                await conn.execute(f"SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}")
                confirmed = int(await conn.fetchval(CONFIRMED_COUNT))
            self.recounts += 1
            self._confirmed, self._read_at = confirmed, time.monotonic()
            if shared and self._redis is not None:
                with contextlib.suppress(RedisError):
                    await self._redis.set(self._key, confirmed, px=ttl_ms)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the dashboard shows the last count meanwhile
            self._read_at = time.monotonic()  # not again before the interval
            log.warning("cannot count confirmed bookings", extra={"error": type(exc).__name__})

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
