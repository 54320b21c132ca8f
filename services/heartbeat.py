"""Each replica's heartbeat in Redis: what the cluster dashboard (services/cluster_view.py)
knows of it.

Every ``interval`` seconds a replica writes ``<prefix>:heartbeat:{<prefix>}:<service>:<replica>``, a
small JSON object with a TTL of a few intervals, so a stopped replica drops out on its own:
who it is, where it listens, whether it serves, its dependencies' health, its status
section (the app's ``status()``, which never holds a token value or a secret), a short
history of the numbers worth a chart and a ring of the token refreshes it has seen.

Timeline (interval 2 s, TTL 7 s)::

    t=0 write (TTL 7) . t=2 write . t=4 write . [killed] ............ t=11 key gone
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Mapping
from typing import Any

from redis.exceptions import RedisError

from services.http_status import ServingState, StatusSource, snapshot
from services.redis_client import RedisClient

log = logging.getLogger("skyroute.heartbeat")

INTERVAL_SECONDS = 2.0
TTL_SECONDS = 7
HISTORY_SAMPLES = 60  # two minutes at the default interval
REFRESH_RING = 10
# The numeric leaves of a status section kept as history (by their key's name).
TREND_KEYS = frozenset(
    {
        "expires_in_seconds",
        "upstream_ok",
        "upstream_failed",
        "hit",
        "miss",
        "coalesced",
        "bypass",
        "free_slots_now",
        "HELD",
        "CONFIRMED",
        "runs_stored",
        "due_now",
    }
)


def heartbeat_key(prefix: str, service: str, replica: str) -> str:
    # The hash tag puts a deployment's heartbeats in one Redis Cluster slot: the
    # dashboard reads them all with one MGET.
    return f"{prefix}:heartbeat:{{{prefix}}}:{service}:{replica}"


def heartbeat_pattern(prefix: str) -> str:
    return f"{prefix}:heartbeat:*"


async def probe(check: Awaitable[Any], timeout: float = 1.0) -> str:  # noqa: ASYNC109
    """A dependency's health for the dashboard: "ok" or "down (<error type>)"."""
    try:
        await asyncio.wait_for(check, timeout)
    except Exception as exc:  # any failure is "down"; the type says which
        return f"down ({type(exc).__name__})"
    return "ok"


def trend(section: Mapping[str, Any], path: str = "") -> dict[str, float]:
    """The TREND_KEYS leaves of a status section, by dotted path."""
    out: dict[str, float] = {}
    for key, value in section.items():
        name = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            out.update(trend(value, name))
        elif key in TREND_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


class Heartbeat:
    """Writes this replica's heartbeat; ``run`` until cancelled. Redis being down only
    makes the replica vanish from the dashboard (logged once per outage)."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        state: ServingState,
        status: StatusSource | None,
        addresses: Mapping[str, str],
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._redis = redis
        self._key = heartbeat_key(prefix, state.service, state.replica)
        self._state = state
        self._status = status
        self._addresses = dict(addresses)
        self._interval = interval
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_SAMPLES)
        self._refreshes: deque[dict[str, Any]] = deque(maxlen=REFRESH_RING)
        self._generations: dict[str, int] = {}

    async def record(self) -> dict[str, Any]:
        now = time.time()
        snap = await snapshot(self._state, self._status)
        dependencies = snap.pop("dependencies", {})
        # No PING of its own: a heartbeat is seen only once written, so the Redis that
        # carries it answered (a write that fails is logged and the replica drops out).
        dependencies["redis"] = "ok"
        self._history.append({"t": round(now, 1), "v": trend(snap)})
        self._note_refreshes(snap.get("providers"), now)
        return {
            "service": self._state.service,
            "replica": self._state.replica,
            "addresses": self._addresses,
            "serving": snap.pop("serving"),
            "uptime_seconds": snap.pop("uptime_seconds"),
            "at": round(now, 1),
            "interval": self._interval,
            "dependencies": dependencies,
            "status": snap,
            "history": list(self._history),
            "refreshes": list(self._refreshes),
        }

    def _note_refreshes(self, providers: Any, now: float) -> None:
        """A new generation of a provider's token (token service status) is a refresh."""
        if not isinstance(providers, Mapping):
            return
        for name, entry in providers.items():
            generation = entry.get("generation") if isinstance(entry, Mapping) else None
            if not isinstance(generation, int) or self._generations.get(name) == generation:
                continue
            self._generations[name] = generation
            cluster = entry.get("cluster_counters") or {}
            self._refreshes.append(
                {
                    "provider": name,
                    "generation": generation,
                    "seen": round(now, 1),
                    "issued_at": entry.get("issued_at"),
                    "upstream": int(cluster.get("upstream_ok", 0))
                    + int(cluster.get("upstream_failed", 0)),
                }
            )

    async def beat(self) -> None:
        body = json.dumps(await self.record(), default=str, separators=(",", ":"))
        await self._redis.set(self._key, body, ex=TTL_SECONDS)

    async def run(self) -> None:
        failing = False
        while True:
            try:
                await self.beat()
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("cannot write heartbeat", extra={"error": type(exc).__name__})
                failing = True
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        """Leave the dashboard at once on a clean shutdown."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._key)
