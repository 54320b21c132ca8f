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
from dataclasses import dataclass, field
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


@dataclass
class Sample:
    """One backend's measurements of one call, summed over rounds."""

    calls: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    commands: Counter[str] = field(default_factory=Counter)

    def row(self, backend: str, label: str, callers: int) -> str:
        top = ", ".join(f"{n} {c / self.calls:.2f}" for n, c in self.commands.most_common(4))
        return (
            f"| {backend} | {label} | {callers} | {self.calls / self.seconds:,.0f}/s | "
            f"{_p(self.latencies, 50):.2f} | {_p(self.latencies, 99):.2f} | "
            f"{self.commands.total() / self.calls:.2f} ({top}) |"
        )


class Backend:
    """Token replicas on one Redis setup, and a client of theirs."""

    def __init__(self, name: str, ports: Sequence[int], tokens: TokenCluster) -> None:
        self.name = name
        self.ports = ports
        self.tokens = tokens
        self.client = TokenClient(tokens.addresses, CALLER, tokens.caller_key, timeout=10.0)
        self.samples: dict[str, Sample] = {}

    async def get_token(self, _: int) -> None:
        await self.client.get_token(PROVIDER)

    async def download(self, i: int) -> None:
        resource = f"itinerary/B{i}"
        issued = await self.client.issue_download_token(resource, 60, max_uses=1)
        await self.client.validate_download_token(issued.download_token, resource=resource)

    async def measure(self, callers: int, seconds: float) -> None:
        for label, call in (("GetToken", self.get_token), ("issue+validate", self.download)):
            sample = self.samples.setdefault(label, Sample())
            before = _commands(self.ports)
            calls, latencies = await _measure(call, callers, seconds)
            sample.commands += _commands(self.ports) - before
            sample.calls += calls
            sample.seconds += seconds
            sample.latencies += latencies


async def _run(args: argparse.Namespace, workdir: Path) -> list[str]:
    (workdir / "single").mkdir()
    single = PrivateRedis(workdir / "single").start()
    cluster_setup = RedisClusterSetup(workdir / "cluster")
    group = ProcessGroup(workdir)
    backends: list[Backend] = []
    try:
        cluster_setup.start()
        client_id = "bench-redis-backends"
        sim = ProviderSim(group, [client_id], args.token_ttl)
        for name, url, ports in (
            ("single", single.url, [single.port]),
            ("cluster", cluster_setup.url, cluster_setup.primary_ports()),
        ):
            prefix = f"bench-{name}-{secrets.token_hex(4)}"
            tokens = TokenCluster(group, sim, client_id, url, prefix, args.replicas)
            backends.append(Backend(name, ports, tokens))
            await backends[-1].get_token(0)  # warm: the first token fetched
        # Alternating order (single, cluster, cluster, single, ...): the machine's
        # load drifts, and neither backend always goes first.
        for r in range(args.rounds):
            for backend in backends if r % 2 == 0 else reversed(backends):
                await backend.measure(args.callers, args.seconds)
        return [
            sample.row(b.name, label, args.callers)
            for label in ("GetToken", "issue+validate")
            for b in backends
            for sample in [b.samples[label]]
        ]
    finally:
        for backend in backends:
            await backend.client.close()
        group.close()
        cluster_setup.stop()
        single.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.redis_backends_bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=4, help="measurements per backend")
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
