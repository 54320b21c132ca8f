"""The cluster dashboard's data (``/cluster.json``): every live replica's heartbeat
(services/heartbeat.py) read from Redis and summed up per service and per provider.

``summarize`` is a pure function of the heartbeats, so the page's logic (green / amber /
red, refresh history, hit rates) is tested without servers. Nothing here holds a token
value: heartbeats never carry one.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from services.heartbeat import heartbeat_pattern
from services.redis_client import RedisClient

# A token expiring sooner than this is amber even when nothing failed.
AMBER_EXPIRY_SECONDS = 60.0
SERVICE_ORDER = ("token", "search", "booking", "account")


async def read_heartbeats(redis: RedisClient, prefix: str) -> list[dict[str, Any]]:
    # On a Redis Cluster the client's SCAN visits every primary; the keys share one
    # slot (heartbeat_key), so one MGET reads them.
    keys = [key async for key in redis.scan_iter(match=heartbeat_pattern(prefix), count=200)]
    if not keys:
        return []
    beats = []
    for raw in await redis.mget(keys):
        if raw:  # expired between SCAN and MGET
            beats.append(json.loads(raw))
    return beats


class ClusterView:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def snapshot(self) -> dict[str, Any]:
        try:
            beats = await read_heartbeats(self._redis, self._prefix)
        except RedisError as exc:
            return {
                "generated_at": time.time(),
                "error": f"redis: {type(exc).__name__}",
                "services": [],
                "providers": [],
            }
        return summarize(beats, time.time())


def _series(beats: Iterable[Mapping[str, Any]], path: str) -> list[list[float]]:
    """[t, value] points of one history path, merged over replicas, in time order."""
    points = sorted(
        (sample["t"], sample["v"][path])
        for beat in beats
        for sample in beat.get("history", ())
        if path in sample.get("v", {})
    )
    return [[t, v] for t, v in points]


def _summed(beats: Sequence[Mapping[str, Any]], suffixes: Sequence[str]) -> list[list[float]]:
    """Per heartbeat round (rounded to the interval), the sum over replicas of every
    history value whose path ends in one of ``suffixes``."""
    rounds: dict[float, float] = {}
    for beat in beats:
        step = float(beat.get("interval") or 2.0)
        for sample in beat.get("history", ()):
            t = round(sample["t"] / step) * step
            total = sum(v for p, v in sample.get("v", {}).items() if p.endswith(suffixes))
            rounds[t] = rounds.get(t, 0.0) + total
    return [[t, v] for t, v in sorted(rounds.items())]


def _replica(beat: Mapping[str, Any], now: float) -> dict[str, Any]:
    return {
        "replica": beat["replica"],
        "serving": beat.get("serving", False),
        "addresses": beat.get("addresses", {}),
        "uptime_seconds": beat.get("uptime_seconds"),
        "heartbeat_age_seconds": round(max(0.0, now - beat.get("at", now)), 1),
        "dependencies": beat.get("dependencies", {}),
    }


def provider_tile(name: str, token_beats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One provider's token state over the token replicas: red when none holds a valid
    token, amber on trouble (a replica without one, backoff, Redis degraded, expiry
    near), else green."""
    entries = [
        (b, b["status"]["providers"][name])
        for b in token_beats
        if name in b.get("status", {}).get("providers", {})
    ]
    newest = max(entries, key=lambda e: (e[1].get("generation", 0), e[0].get("at", 0)))[1]
    valid = any(e.get("has_valid_token") for _, e in entries)
    errors = sorted({e["last_error"] for _, e in entries if e.get("last_error", "-") != "-"})
    backoff = max((e.get("backoff_seconds", 0) for _, e in entries), default=0)
    degraded = any(e.get("degraded") for _, e in entries)
    expires = newest.get("expires_in_seconds")
    if not valid:
        state, reason = "red", "no valid token"
    elif backoff or degraded or not all(e.get("has_valid_token") for _, e in entries):
        # A replica's last error stays until it refreshes itself: shown, but only these
        # make the tile amber.
        state, reason = "amber", "backoff" if backoff else "degraded" if degraded else "partial"
    elif expires is not None and expires < AMBER_EXPIRY_SECONDS:
        state, reason = "amber", "expiring"
    else:
        state, reason = "green", "ok"
    refreshes: dict[int, dict[str, Any]] = {}
    for beat, _ in entries:
        for r in beat.get("refreshes", ()):
            if r["provider"] == name:
                seen = refreshes.get(r["generation"])
                if seen is None or r["seen"] < seen["seen"]:
                    refreshes[r["generation"]] = r
    history = [refreshes[g] for g in sorted(refreshes)][-10:]
    for before, after in itertools.pairwise(history):
        # Upstream requests (ok or failed) it took to get from one token to the next.
        before["upstream_requests"] = max(0, after["upstream"] - before["upstream"])
    beats = [b for b, _ in entries]
    return {
        "name": name,
        "state": state,
        "reason": reason,
        "generation": newest.get("generation"),
        "expires_in_seconds": expires,
        "refresh_in_seconds": newest.get("refresh_in_seconds"),
        "lock_holder": next((e["lock_holder"] for _, e in entries if e.get("lock_holder")), ""),
        "last_error": "; ".join(errors) or "-",
        "backoff_seconds": backoff,
        "degraded": degraded,
        "cluster_counters": newest.get("cluster_counters", {}),
        "refreshes": list(reversed(history)),
        "expiry_series": _series(beats[:1], f"providers.{name}.expires_in_seconds"),
        "upstream_series": _summed(
            beats[:1],
            (
                f"providers.{name}.cluster_counters.upstream_ok",
                f"providers.{name}.cluster_counters.upstream_failed",
            ),
        ),
    }


def _rate_budgets(beats: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per provider: settings, free slots now (shared) and each replica's permit counts."""
    out: dict[str, dict[str, Any]] = {}
    for beat in beats:
        budgets = beat.get("status", {}).get("rate_budget")
        if not isinstance(budgets, Mapping):
            continue
        for name, budget in budgets.items():
            tile = out.setdefault(
                name,
                {
                    "per_second": budget.get("per_second"),
                    "burst": budget.get("burst"),
                    "replicas": {},
                },
            )
            if "free_slots_now" in budget:
                tile["free_slots_now"] = budget["free_slots_now"]
            tile["replicas"][beat["replica"]] = budget.get("replica_counts", {})
    return out


def _cache(beats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    counts: dict[str, float] = {}
    for beat in beats:
        for result, n in beat.get("status", {}).get("cache", {}).items():
            counts[result] = counts.get(result, 0) + n
    lookups = sum(counts.values())
    return {
        "lookups": counts,
        "hit_rate": counts.get("hit", 0) / lookups if lookups else None,
        "lookup_series": _summed(
            beats, ("cache.hit", "cache.miss", "cache.coalesced", "cache.bypass")
        ),
        "hit_series": _summed(beats, ("cache.hit",)),
    }


def _bookings(beats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    # Every booking replica counts the same table: show the freshest count.
    latest = max(beats, key=lambda b: b.get("at", 0), default=None)
    counts = (latest or {}).get("status", {}).get("bookings", {})
    return {
        "held": counts.get("HELD"),
        "confirmed": counts.get("CONFIRMED"),
        "held_series": _series(beats[:1], "bookings.HELD"),
        "confirmed_series": _series(beats[:1], "bookings.CONFIRMED"),
    }


def summarize(beats: Sequence[Mapping[str, Any]], now: float) -> dict[str, Any]:
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for beat in sorted(beats, key=lambda b: b["replica"]):
        by_service.setdefault(beat["service"], []).append(beat)
    names = sorted(
        by_service,
        key=lambda s: (SERVICE_ORDER.index(s) if s in SERVICE_ORDER else len(SERVICE_ORDER), s),
    )
    token_beats = by_service.get("token", [])
    providers = sorted({p for b in token_beats for p in b.get("status", {}).get("providers", {})})
    searches = by_service.get("search", [])
    budget_beats = [*searches, *by_service.get("booking", [])]
    return {
        "generated_at": round(now, 1),
        "services": [
            {"name": s, "replicas": [_replica(b, now) for b in by_service[s]]} for s in names
        ],
        "providers": [provider_tile(p, token_beats) for p in providers],
        "rate_budgets": _rate_budgets(budget_beats),
        "cache": _cache(searches),
        "bookings": _bookings(by_service.get("booking", [])),
    }
