"""``make bench-tracking``: tracker runs per second, scheduling lag and the searches
coalescing saves, with the stack as processes on this machine.

A scratch database (tiny inventory), the provider stand-in, one token replica, two
search replicas (provider on) and three tracking replicas. N trackers (default 10,000)
on K distinct flight searches (default 500) are inserted due at one instant T0; the
benchmark waits until every tracker's run for that period is stored and reports, from
``tracker_runs``:

- runs/s: N / (last run stored - T0) (with ``--spread``, capped by how fast runs fall
  due);
- scheduling lag p50/p99: claim time - due time, per run;
- SearchFlights calls the tracking replicas made and upstream (stand-in) search
  requests, against N: what grouping by search key and the caches saved;
- CPU per run: CPU seconds used from T0 until the last run was stored by the tracking
  replicas, the search replicas and PostgreSQL (this database's backends; not the
  server's shared WAL writer or checkpointer, which work for every database on a shared
  machine), read from /proc, over N. Unlike runs/s it hardly
  moves with the load other work puts on the machine.

``--warm`` first asks search for every distinct search once (interactive), so the runs
find results cached (the issue's "search results cached" case); by default the cache is
cold and every distinct search reaches the provider once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import redis as redis_lib

from benchmarks.cpu import pid_seconds
from benchmarks.procs import ProcessGroup
from benchmarks.scratch_db import ScratchDatabase
from benchmarks.service_clusters import ServiceCluster
from benchmarks.services_up import ProviderSim
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.stack import SEARCH, TOKEN, TRACKING, Facts, Jwt, Upstream
from tracking_service.kinds import TrackedSearch, ends_at, search_request
from tracking_service.models import TrackerKind

REDIS_URL = "redis://127.0.0.1:6379/0"
SEARCH_FLIGHTS = "/skyroute.search.v1.SearchService/SearchFlights"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracking_bench")
    parser.add_argument("--trackers", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=500, help="distinct searches")
    parser.add_argument("--replicas", type=int, default=3, help="tracking replicas")
    parser.add_argument("--warm", action="store_true", help="search results cached first")
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="due times spread evenly over this long after T0 (default 0: all at T0)",
    )
    parser.add_argument(
        "--claim-batch", type=int, default=200, help="TRACKING_CLAIM_BATCH of the replicas"
    )
    parser.add_argument("--workers", type=int, default=1, help="TRACKING_WORKERS of the replicas")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def searches(routes: list[tuple[str, str]], count: int) -> list[TrackedSearch]:
    today = datetime.now(UTC).date()
    out = []
    for n in range(count):
        origin, destination = routes[n % len(routes)]
        rest = n // len(routes)
        params = {
            "origin": origin,
            "destination": destination,
            "departure_date": (today + timedelta(days=2 + rest % 60)).isoformat(),
            "return_date": "",
            "adults": 1 + (rest // 60) % 4,
            "children": 0,
            "infants": 0,
            "cabin": "ECONOMY",
            "max_stops": 1,
        }
        out.append(TrackedSearch(TrackerKind.FLIGHT, params))
    return out


async def insert_trackers(
    dsn: str, distinct: list[TrackedSearch], count: int, due: datetime, spread: float
) -> None:
    rows = []
    for n in range(count):
        s = distinct[n % len(distinct)]
        rows.append(
            (
                f"bench-{n % 1000}",
                "FLIGHT",
                json.dumps(s.params),
                s.key,
                3600,
                True,
                ends_at(s),
                due + timedelta(seconds=spread * n / count),
            )
        )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "price_trackers",
            records=rows,
            columns=[
                "user_id",
                "kind",
                "search",
                "search_key",
                "frequency_seconds",
                "back_in_stock",
                "ends_at",
                "next_run_at",
            ],
        )
    finally:
        await conn.close()


async def routes_known(dsn: str, sim: ProviderSim) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        known = {r[0] for r in await conn.fetch("SELECT iata_code FROM airports")}
    finally:
        await conn.close()
    network = json.loads(_get(f"{sim.base_url}/_sim/inventory"))["routes"]
    return [
        (r["origin"], r["destination"])
        for r in network
        if r["origin"] in known and r["destination"] in known
    ]


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


async def warm(addresses: list[str], distinct: list[TrackedSearch]) -> None:
    channel = grpc.aio.insecure_channel(addresses[0])
    stub = search_grpc.SearchServiceStub(channel)
    slots = asyncio.Semaphore(16)

    async def one(s: TrackedSearch) -> None:
        async with slots:
            await stub.SearchFlights(search_request(s.params, True), timeout=60)

    try:
        await asyncio.gather(*(one(s) for s in distinct))
    finally:
        await channel.close()


Parts = dict[str, list[int]]


def cpu_seconds(parts: Parts) -> dict[str, float]:
    """CPU seconds each part's live processes have used so far."""
    return {name: sum(pid_seconds(pid) or 0.0 for pid in pids) for name, pids in parts.items()}


async def wait_for_runs(
    dsn: str, count: int, due: datetime, wait_seconds: float, parts: Callable[[], Parts]
) -> tuple[list[asyncpg.Record], dict[str, float]]:
    """The stored runs once ``count`` are, and the CPU each part used from ``due`` until
    then (this connection's backend left out)."""
    conn = await asyncpg.connect(dsn)
    try:
        own = conn.get_server_pid()

        def measured() -> Parts:
            return {name: [p for p in pids if p != own] for name, pids in parts().items()}

        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        before = cpu_seconds(measured())
        deadline = time.monotonic() + wait_seconds
        done = 0
        while time.monotonic() < deadline:
            done = await conn.fetchval("SELECT count(*) FROM tracker_runs")
            if done >= count:
                break
            await asyncio.sleep(0.2)
        after = cpu_seconds(measured())
        rows = list(
            await conn.fetch(
                "SELECT period_start, claimed_at, finished_at, replica FROM tracker_runs"
            )
        )
        return rows, {name: after[name] - before.get(name, 0.0) for name in after}
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict[str, object]:
    db = ScratchDatabase()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    group = ProcessGroup(workdir)
    prefix = f"bench-tracking-{secrets.token_hex(4)}"
    try:
        db.create("tiny")
        sim = ProviderSim(group, ["skyroute-bench"], token_ttl=1799)
        caller_key = secrets.token_urlsafe(24)
        facts = Facts(
            redis_url=REDIS_URL,
            key_prefix=prefix,
            database_url=db.url,
            upstreams=(
                Upstream("amadeus", sim.base_url, "skyroute-bench", sim.clients["skyroute-bench"]),
            ),
            callers={"search": ("amadeus",)},
            caller_keys={"search": caller_key},
            page_token_secret=secrets.token_urlsafe(32),
            jwt=Jwt(secrets.token_urlsafe(40), "bench", "skyroute"),
        )
        token = ServiceCluster(group, TOKEN, facts, 1)
        facts = Facts(**{**facts.__dict__, "addresses": {"token": tuple(token.addresses)}})
        search = ServiceCluster(group, SEARCH, facts, 2)
        facts = Facts(
            **{
                **facts.__dict__,
                "addresses": {**facts.addresses, "search": tuple(search.addresses)},
            }
        )
        distinct = searches(asyncio.run(routes_known(db.dsn, sim)), args.searches)
        if args.warm:
            asyncio.run(warm(search.addresses, distinct))
        upstream_before = int(sim.stats()["api_requests"])
        searched_before = sum(search.handled(SEARCH_FLIGHTS).values())
        tracking = ServiceCluster(
            group,
            TRACKING,
            facts,
            args.replicas,
            env={
                "TRACKING_SEARCH_CONCURRENCY": "16",
                "TRACKING_CLAIM_BATCH": str(args.claim_batch),
                "TRACKING_WORKERS": str(args.workers),
            },
        )
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        asyncio.run(insert_trackers(db.dsn, distinct, args.trackers, due, args.spread))

        def parts() -> Parts:
            # Backends only: the server's shared processes also work for other databases.
            backends = db.server_pids(background=False)
            return {"tracking": tracking.pids, "search": search.pids, "postgres": backends}

        rows, cpu = asyncio.run(wait_for_runs(db.dsn, args.trackers, due, 300, parts))
        upstream = int(sim.stats()["api_requests"]) - upstream_before
        searched = sum(search.handled(SEARCH_FLIGHTS).values()) - searched_before
        tracking.stop()
        lags = [(r["claimed_at"] - r["period_start"]).total_seconds() for r in rows]
        last = max(r["finished_at"] for r in rows)
        elapsed = (last - due).total_seconds()
        return {
            "trackers": args.trackers,
            "distinct_searches": len({s.key for s in distinct}),
            "tracking_replicas": args.replicas,
            "claim_batch": args.claim_batch,
            "workers_per_replica": args.workers,
            "warm_cache": args.warm,
            "due_spread_seconds": args.spread,
            "runs_stored": len(rows),
            "seconds_due_to_last_run": round(elapsed, 2),
            "runs_per_second": round(len(rows) / elapsed, 1) if elapsed > 0 else None,
            "lag_p50_seconds": round(statistics.median(lags), 3) if lags else None,
            "lag_p99_seconds": round(percentile(lags, 99), 3) if lags else None,
            "search_calls_by_tracking": int(searched),
            "upstream_search_requests": upstream,
            "upstream_requests_saved": len(rows) - upstream,
            "cpu_ms_per_run": round(sum(cpu.values()) * 1000 / len(rows), 3) if rows else None,
            "cpu_ms_per_run_by_part": {
                name: round(seconds * 1000 / len(rows), 3) if rows else None
                for name, seconds in cpu.items()
            },
            "load_average_1m": round(os.getloadavg()[0], 2),
            "runs_per_replica": {
                name: sum(1 for r in rows if r["replica"] == name)
                for name in sorted({r["replica"] for r in rows})
            },
        }
    finally:
        group.close()
        db.drop()
        client = redis_lib.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
