"""The token service on one Redis and on a Redis Cluster, side by side:
``python -m benchmarks.redis_backends_bench`` (about a minute).

Starts a private redis-server and a 6-node Redis Cluster (3 primaries, 3 replicas) on
loopback, the provider stand-in and two token replicas per backend, and measures from
concurrent Python callers: GetToken latency (served from the replica's memory between
refreshes), IssueDownloadToken + ValidateDownloadToken latency (Redis scripts on every
call; on the Cluster each waits for a replica, ``REDIS_WAIT_REPLICAS`` = 1 by default)
and the Redis commands each costs (INFO commandstats summed over the primaries:
the commands a script runs count too, a replica's replay does not). Prints
a table; docs/operations.md quotes it. Everything started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import redis

from benchmarks.procs import ProcessGroup
from benchmarks.services_up import CALLER, PROVIDER, ProviderSim, TokenCluster
from services.clients.token_client import TokenClient
from tests.utils.redis_server import PrivateRedis, RedisClusterSetup


def _commands(ports: Sequence[int]) -> Counter[str]:
    """Commands processed so far by these servers, by name (INFO commandstats)."""
    total: Counter[str] = Counter()
    for port in ports:
        client = redis.Redis(port=port)
        try:
            for name, stats in client.info("commandstats").items():
                total[name.removeprefix("cmdstat_")] += int(stats["calls"])
        finally:
            client.close()
    total.pop("info", None)  # ours
    return total


async def _measure(
    call: Callable[[int], Awaitable[None]], callers: int, seconds: float
) -> tuple[int, list[float]]:
    """``callers`` loops of ``call`` for ``seconds``: (calls, latencies in ms)."""
    stop = time.monotonic() + seconds
    latencies: list[float] = []

    async def loop(worker: int) -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            started = time.perf_counter()
            await call(worker * 1_000_000 + i)
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(loop(w) for w in range(callers)))
    return len(latencies), latencies


def _p(latencies: list[float], q: float) -> float:
    return statistics.quantiles(latencies, n=100)[int(q) - 1]


async def _bench(
    name: str, cluster: TokenCluster, ports: Sequence[int], callers: int, seconds: float
) -> list[str]:
    client = TokenClient(cluster.addresses, CALLER, cluster.caller_key, timeout=10.0)
    rows = []
    try:
        await client.get_token(PROVIDER)  # warm: the first token fetched

        async def get_token(_: int) -> None:
            await client.get_token(PROVIDER)

        async def download(i: int) -> None:
            resource = f"itinerary/B{i}"
            issued = await client.issue_download_token(resource, 60, max_uses=1)
            await client.validate_download_token(issued.download_token, resource=resource)

        for label, call in (("GetToken", get_token), ("issue+validate", download)):
            before = _commands(ports)
            calls, latencies = await _measure(call, callers, seconds)
            used = _commands(ports) - before
            top = ", ".join(f"{n} {c / calls:.2f}" for n, c in used.most_common(4))
            rows.append(
                f"| {name} | {label} | {callers} | {calls / seconds:,.0f}/s | "
                f"{_p(latencies, 50):.2f} | {_p(latencies, 99):.2f} | "
                f"{used.total() / calls:.2f} ({top}) |"
            )
    finally:
        await client.close()
    return rows


async def _run(args: argparse.Namespace, workdir: Path) -> list[str]:
    (workdir / "single").mkdir()
    single = PrivateRedis(workdir / "single").start()
    cluster_setup = RedisClusterSetup(workdir / "cluster")
    group = ProcessGroup(workdir)
    rows: list[str] = []
    try:
        cluster_setup.start()
        client_id = "bench-redis-backends"
        sim = ProviderSim(group, [client_id], args.token_ttl)
        backends = (
            ("single", single.url, [single.port]),
            ("cluster", cluster_setup.url, cluster_setup.primary_ports()),
        )
        for name, url, ports in backends:
            prefix = f"bench-{name}-{secrets.token_hex(4)}"
            tokens = TokenCluster(group, sim, client_id, url, prefix, args.replicas)
            try:
                rows += await _bench(name, tokens, ports, args.callers, args.seconds)
            finally:
                tokens.stop()
    finally:
        group.close()
        cluster_setup.stop()
        single.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.redis_backends_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument("--replicas", type=int, default=2, help="token replicas")
    parser.add_argument("--token-ttl", type=float, default=5.0, help="stand-in token lifetime")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="redis-backends-") as tmp:
        rows = asyncio.run(_run(args, Path(tmp)))
    print("| Redis | call | callers | throughput | p50 ms | p99 ms | commands per call (top 4) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
