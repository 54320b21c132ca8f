"""The dashboard's summary of heartbeats (services/cluster_view.py) and what a
heartbeat keeps (services/heartbeat.py), without servers."""

from __future__ import annotations

from typing import Any

from services.cluster_view import summarize
from services.heartbeat import Heartbeat, trend
from services.http_status import ServingState


def token_beat(
    replica: str,
    *,
    valid: bool = True,
    error: str = "-",
    backoff: float = 0,
    generation: int = 3,
    expires: float = 1500.0,
    refreshes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    entry = {
        "has_valid_token": valid,
        "degraded": False,
        "last_error": error,
        "backoff_seconds": backoff,
        "generation": generation,
        "lock_holder": "",
        "expires_in_seconds": expires,
        "refresh_in_seconds": expires - 300,
        "cluster_counters": {"upstream_ok": 3},
    }
    return {
        "service": "token",
        "replica": replica,
        "at": 100.0,
        "serving": True,
        "status": {"providers": {"amadeus": entry}},
        "dependencies": {"redis": "ok"},
        "history": [],
        "refreshes": refreshes or [],
    }


def state(beats: list[dict[str, Any]]) -> str:
    return str(summarize(beats, 101.0)["providers"][0]["state"])


def test_green_amber_red() -> None:
    assert state([token_beat("t1"), token_beat("t2")]) == "green"
    assert state([token_beat("t1"), token_beat("t2", valid=False, error="boom")]) == "amber"
    assert state([token_beat("t1", backoff=2.0), token_beat("t2")]) == "amber"
    assert state([token_beat("t1", expires=30.0)]) == "amber"
    assert state([token_beat("t1", valid=False), token_beat("t2", valid=False)]) == "red"
    # A stale error on a replica that holds a valid token is shown, not amber.
    tile = summarize([token_beat("t1", error="old"), token_beat("t2")], 101.0)["providers"][0]
    assert tile["state"] == "green" and tile["last_error"] == "old"


def test_refresh_history_counts_upstream_requests_per_lifetime() -> None:
    ring = [
        {"provider": "amadeus", "generation": g, "seen": 10.0 * g, "upstream": up}
        for g, up in ((1, 1), (2, 4), (3, 5))
    ]
    tile = summarize([token_beat("t1", refreshes=ring)], 101.0)["providers"][0]
    assert [r["generation"] for r in tile["refreshes"]] == [3, 2, 1]
    assert [r.get("upstream_requests") for r in tile["refreshes"]] == [None, 1, 3]


def test_services_listed_in_stack_order_with_every_replica() -> None:
    beats = [
        {"service": s, "replica": r, "at": 100.0, "status": {}}
        for s, r in (("booking", "b1"), ("search", "s2"), ("search", "s1"), ("token", "t1"))
    ]
    services = summarize(beats, 101.0)["services"]
    assert [(s["name"], [r["replica"] for r in s["replicas"]]) for s in services] == [
        ("token", ["t1"]),
        ("search", ["s1", "s2"]),
        ("booking", ["b1"]),
    ]


def test_cache_hit_rate_over_replicas() -> None:
    beats = [
        {"service": "search", "replica": f"s{i}", "status": {"cache": c}}
        for i, c in enumerate(({"hit": 3, "miss": 1}, {"hit": 1, "miss": 3}))
    ]
    assert summarize(beats, 0.0)["cache"]["hit_rate"] == 0.5


def test_trend_keeps_only_chart_worthy_numbers() -> None:
    status = {
        "providers": {
            "amadeus": {
                "expires_in_seconds": 12.5,
                "generation": 4,
                "degraded": False,
                "last_error": "-",
            }
        },
        "bookings": {"HELD": 2},
    }
    assert trend(status) == {"providers.amadeus.expires_in_seconds": 12.5, "bookings.HELD": 2}


async def test_heartbeat_record_has_no_token_value() -> None:
    async def status() -> dict[str, Any]:
        return {
            "providers": {
                "amadeus": {
                    "generation": 2,
                    "has_valid_token": True,
                    "cluster_counters": {"upstream_ok": 2},
                }
            }
        }

    class NoRedis:
        async def ping(self) -> bool:
            return True

    state_ = ServingState("token", "t1")
    beat = Heartbeat(NoRedis(), "p", state_, status, {"grpc": "127.0.0.1:1"})  # type: ignore[arg-type]
    record = await beat.record()
    assert record["dependencies"] == {"redis": "ok"}
    assert record["refreshes"][0]["generation"] == 2
    assert "access_token" not in str(record)
