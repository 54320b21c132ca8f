"""One upstream rate budget per provider, shared by every replica of every service that
calls the provider: GCRA in one Redis script (one round trip per permit, time from
Redis ``TIME`` so replicas' clocks do not matter).

Why a client library over Redis rather than permits handed out by the token service:
every caller already shares Redis, so a permit costs one Redis round trip and no extra
RPC, and the token service (whose token is cached in each caller) stays off the path of
every upstream call. See docs/architecture.md.

Priorities: an interactive call (search, booking RPCs) may reserve a slot up to its
wait limit ahead and then sleeps until it; a background call (``background()``, e.g.
the booking sweeper) only takes a permit that is free *now* and leaves ``reserve``
slots of the burst to interactive calls, else it sleeps and asks again. So background
work never queues ahead of interactive work.

A 429 from the provider (``pause``) sets a shared "paused until" that the script
honours: the whole fleet waits, not one pod. Timeline (rate 10/s, burst 5)::

    t=0     5 calls at once: all granted (the burst)       tat = t + 0.5 s
    t=0     6th interactive call, may wait 1 s: granted     sleeps 0.1 s
    t=0.1   429, Retry-After: 2  -> paused until t=2.1 for every replica
    t=0.2   a call that may wait 1 s: refused, retry after 1.9 s

If Redis cannot be asked, the call goes ahead unlimited (counted as ``unlimited``): a
Redis outage must not stop searches, and the provider's own 429s still protect it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from services.config import setting

log = logging.getLogger("skyroute.rate_budget")


class Priority(enum.Enum):
    INTERACTIVE = "interactive"
    BACKGROUND = "background"


_priority: contextvars.ContextVar[Priority] = contextvars.ContextVar(
    "rate_budget_priority", default=Priority.INTERACTIVE
)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Upstream calls made inside are background calls (they yield to interactive ones)."""
    token = _priority.set(Priority.BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    return _priority.get()


@dataclass(frozen=True)
class RateBudgetSettings:
    """One provider's shared budget (read through ``ProviderEnv``:
    ``PROVIDER_<NAME>_RATE_LIMIT_*`` first)."""

    per_second: float = field(
        default=0.0,
        metadata=setting(
            "PROVIDER_RATE_LIMIT_PER_SECOND",
            "upstream requests per second for the whole fleet "
            "(every replica of search and booking); 0 = no limit",
            minimum=0.0,
        ),
    )
    burst: int = field(
        default=10,
        metadata=setting(
            "PROVIDER_RATE_LIMIT_BURST",
            "requests the fleet may send at once above the rate",
            minimum=1,
        ),
    )
    interactive_reserve: int = field(
        default=5,
        metadata=setting(
            "PROVIDER_RATE_LIMIT_INTERACTIVE_RESERVE",
            "slots of the burst background calls leave to interactive ones (at most burst - 1)",
            minimum=0,
        ),
    )
    max_wait_seconds: float = field(
        default=1.0,
        metadata=setting(
            "PROVIDER_RATE_LIMIT_MAX_WAIT_SECONDS",
            "longest a call waits for a permit (and never "
            "past its own deadline); then it fails with RetryInfo",
            minimum=0.0,
        ),
    )

    @property
    def enabled(self) -> bool:
        return self.per_second > 0


# KEYS[1] the theoretical arrival time (TAT, µs of Redis TIME), KEYS[2] paused-until (µs)
# ARGV[1] emission interval µs, ARGV[2] slots of the burst this call may use,
# ARGV[3] longest wait µs this call accepts (0 for background: only a free slot now)
# Returns one integer (the cheapest reply to parse): >= 0 granted, the µs to wait before
# sending; < 0 refused, minus the µs after which to ask again (always > 0 then).
PERMIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local v = redis.call('MGET', KEYS[1], KEYS[2])
local paused = tonumber(v[2] or '0')
local tat = math.max(tonumber(v[1] or '0'), now, paused)
local allowed_at = math.max(tat + interval - tolerance, paused)
local wait = allowed_at - now
if wait > tonumber(ARGV[3]) then
  return -wait
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
           math.floor((new_tat - now) / 1000) + 1000)
return math.max(wait, 0)
"""

# KEYS[1] paused-until (µs); ARGV[1] pause µs. Extends, never shortens, a pause.
# Returns the pause left µs.
PAUSE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = math.max(now + tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], string.format('%d', untl), 'PX',
           math.floor((untl - now) / 1000) + 1000)
return untl - now
"""


class RateBudgetMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.permits = Counter(
            "skyroute_rate_budget_permits_total",
            "Upstream permits by provider, priority and outcome (granted at once, waited, "
            "refused, unlimited = Redis not answering)",
            ["provider", "priority", "outcome"],
            registry=registry,
        )
        self.wait = Histogram(
            "skyroute_rate_budget_wait_seconds",
            "Time a call waited for its permit",
            ["provider", "priority"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.pauses = Counter(
            "skyroute_rate_budget_pauses_total",
            "429 answers that paused the provider for the whole fleet",
            ["provider"],
            registry=registry,
        )


class BudgetExhausted(Exception):
    """No permit within the call's wait limit; ``retry_after`` seconds is when to ask again."""

    def __init__(self, provider: str, retry_after: float) -> None:
        super().__init__(f"upstream rate budget of {provider} exhausted")
        self.retry_after = retry_after


class RateBudget:
    """The shared budget of one provider."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        provider: str,
        settings: RateBudgetSettings,
        metrics: RateBudgetMetrics | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        # A hash tag per provider: both keys live in one Redis Cluster slot.
        base = f"{prefix}:rate:{{{provider}}}"
        self._keys = (f"{base}:tat", f"{base}:paused")
        self._redis = redis
        self._permit = redis.register_script(PERMIT_SCRIPT)
        # Asked with EVALSHA directly, not through the Script object: on the hot path its
        # argument juggling costs as much as Redis running the script (benchmarks).
        self._permit_command = ("EVALSHA", self._permit.sha, 2, *self._keys)
        self._pause = redis.register_script(PAUSE_SCRIPT)
        self._metrics = metrics
        self._interval_us = round(1_000_000 / settings.per_second) if settings.enabled else 0
        reserve = min(settings.interactive_reserve, settings.burst - 1)
        self._slots = {
            Priority.INTERACTIVE: settings.burst,
            Priority.BACKGROUND: settings.burst - reserve,
        }
        self.counts: dict[str, int] = {}

    def _count(self, priority: Priority, outcome: str, waited: float | None = None) -> None:
        key = f"{priority.value}_{outcome}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self._metrics is not None:
            self._metrics.permits.labels(self.provider, priority.value, outcome).inc()
            if waited is not None:
                self._metrics.wait.labels(self.provider, priority.value).observe(waited)

    async def try_permit(self, priority: Priority, max_wait: float) -> tuple[bool, float]:
        """One round trip: (granted, seconds). Granted: sleep that long, then send.
        Refused: ask again after that long."""
        wait_us = 0 if priority is Priority.BACKGROUND else max(0, int(max_wait * 1e6))
        args = (self._interval_us, self._slots[priority], wait_us)
        try:
            micros = int(await self._redis.execute_command(*self._permit_command, *args))
        except NoScriptError:
            # A restarted or failed-over Redis has lost the script: load it, ask again.
            micros = int(await self._permit(keys=self._keys, args=args))
        return micros >= 0, abs(micros) / 1e6

    async def acquire(self, time_left: float | None = None) -> None:
        """Waits for a permit, at most ``max_wait_seconds`` (and ``time_left``, the
        call's own). Raises BudgetExhausted."""
        if not self.settings.enabled:
            return
        priority = current_priority()
        limit = self.settings.max_wait_seconds
        if time_left is not None:
            limit = min(limit, max(0.0, time_left))
        start = time.monotonic()
        deadline = start + limit
        asked = 0
        while True:
            asked += 1
            try:
                granted, seconds = await self.try_permit(priority, deadline - time.monotonic())
            except RedisError as exc:
                log.warning(
                    "rate budget unavailable; calling unlimited",
                    extra={"provider": self.provider, "error": type(exc).__name__},
                )
                self._count(priority, "unlimited")
                return
            if granted:
                if seconds > 0:
                    await asyncio.sleep(seconds)
                waited = seconds > 0 or asked > 1
                self._count(priority, "waited" if waited else "granted", time.monotonic() - start)
                return
            # Background, or a wait too long: ask again when a slot may be free.
            if time.monotonic() + seconds > deadline:
                self._count(priority, "refused")
                raise BudgetExhausted(self.provider, seconds)
            await asyncio.sleep(seconds + 0.001)

    async def pause(self, seconds: float) -> None:
        """The provider answered 429 with Retry-After: no permits for anyone until then."""
        if not self.settings.enabled or seconds <= 0:
            return
        if self._metrics is not None:
            self._metrics.pauses.labels(self.provider).inc()
        self.counts["pauses"] = self.counts.get("pauses", 0) + 1
        try:
            await self._pause(keys=self._keys[1:], args=[math.ceil(seconds * 1e6)])
        except RedisError as exc:
            log.warning(
                "cannot record the provider's pause",
                extra={"provider": self.provider, "error": type(exc).__name__},
            )

    async def status(self) -> dict[str, Any]:
        """For the status page: the settings, this replica's counts, the shared state."""
        out: dict[str, Any] = {
            "per_second": self.settings.per_second,
            "burst": self.settings.burst,
            "background_slots": self._slots[Priority.BACKGROUND],
            "replica_counts": dict(sorted(self.counts.items())),
        }
        if not self.settings.enabled:
            return {**out, "enabled": False}
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.time()
            pipe.mget(self._keys)
            (sec, usec), (tat, paused) = await pipe.execute()
        except RedisError as exc:
            return {**out, "shared": f"unavailable ({type(exc).__name__})"}
        now = sec * 1_000_000 + usec
        backlog = max(0, int(tat or 0) - now)
        out["free_slots_now"] = max(0, self.settings.burst - math.ceil(backlog / self._interval_us))
        out["paused_for_seconds"] = round(max(0, int(paused or 0) - now) / 1e6, 3)
        return out
