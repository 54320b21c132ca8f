"""The shared rate budget's cost (services/rate_budget.py): permits per second from one
process and from several, and one permit's latency against a plain Redis GET in the same
run. The budget is set far above what is asked, so every permit is granted at once.

    .venv/bin/python -m benchmarks.rate_budget_bench [--redis-url URL] [--seconds 3]

``make bench-token`` runs the same measurement (``limiter_figures``) and reports it.
Every key it writes is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from services.parent_death import die_with_spawning_process
from services.rate_budget import Priority, RateBudget, RateBudgetSettings

UNBOUNDED = RateBudgetSettings(per_second=10_000_000, burst=1_000_000)


@dataclass(frozen=True)
class LimiterFigures:
    """One permit against one plain GET (sequential, interleaved), and permits/s."""

    permit_p50_ms: float
    permit_p99_ms: float
    get_p50_ms: float
    get_p99_ms: float
    samples: int
    seconds: float
    tasks: int
    one_process: float  # permits/s from one process
    processes: int
    processes_rate: float  # permits/s from ``processes`` processes together

    @property
    def p50_ratio(self) -> float:
        return self.permit_p50_ms / self.get_p50_ms if self.get_p50_ms else float("nan")


async def _throughput(url: str, prefix: str, seconds: float, tasks: int) -> int:
    redis = Redis.from_url(url, max_connections=tasks + 4)
    budget = RateBudget(redis, prefix, "bench", UNBOUNDED)
    done = 0
    end = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        while time.monotonic() < end:
            granted, _ = await budget.try_permit(Priority.INTERACTIVE, 0)
            done += granted

    try:
        await asyncio.gather(*(one() for _ in range(tasks)))
    finally:
        await redis.aclose()
    return done


def _process(
    url: str, prefix: str, seconds: float, tasks: int, out: multiprocessing.queues.Queue[int]
) -> None:
    die_with_spawning_process()
    out.put(asyncio.run(_throughput(url, prefix, seconds, tasks)))


def several(url: str, prefix: str, seconds: float, processes: int, tasks: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process, args=(url, prefix, seconds, tasks, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    total: int = sum(int(out.get(timeout=seconds + 60)) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


async def latencies(url: str, prefix: str, samples: int) -> dict[str, tuple[float, float]]:
    """p50, p99 in ms of one call, sequential, interleaved so both see the same load."""
    redis = Redis.from_url(url)
    budget = RateBudget(redis, prefix, "bench", UNBOUNDED)
    await redis.set(f"{prefix}:plain", b"x" * 64)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "permit": lambda: budget.try_permit(Priority.INTERACTIVE, 0),
        "get": lambda: redis.get(f"{prefix}:plain"),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    try:
        for _ in range(samples):
            for name, call in calls.items():
                began = time.perf_counter()
                await call()
                times[name].append((time.perf_counter() - began) * 1000)
    finally:
        await redis.aclose()
    return {
        name: (statistics.median(t), statistics.quantiles(t, n=100)[98])
        for name, t in times.items()
    }


async def cleanup(url: str, prefix: str) -> None:
    redis = Redis.from_url(url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def limiter_figures(
    url: str,
    prefix: str,
    seconds: float = 3.0,
    processes: int = 2,
    tasks: int = 32,
    samples: int = 3000,
) -> LimiterFigures:
    """Measures the limiter under ``prefix`` and deletes its keys."""
    try:
        lat = asyncio.run(latencies(url, prefix, samples))
        one = asyncio.run(_throughput(url, prefix, seconds, tasks))
        many = several(url, prefix, seconds, processes, tasks)
    finally:
        asyncio.run(cleanup(url, prefix))
    (p50, p99), (g50, g99) = lat["permit"], lat["get"]
    return LimiterFigures(
        p50, p99, g50, g99, samples, seconds, tasks, one / seconds, processes, many
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args(argv)
    prefix = f"skyroute-bench-{secrets.token_hex(4)}"
    f = limiter_figures(
        args.redis_url, prefix, args.seconds, args.processes, args.tasks, args.samples
    )
    print(f"permit  p50 {f.permit_p50_ms:.3f} ms  p99 {f.permit_p99_ms:.3f} ms")
    print(
        f"GET     p50 {f.get_p50_ms:.3f} ms  p99 {f.get_p99_ms:.3f} ms  "
        f"(permit p50 = {f.p50_ratio:.2f}x GET)"
    )
    print(f"permits/s, 1 process x {args.tasks} tasks: {f.one_process:,.0f}")
    print(f"permits/s, {args.processes} processes x {args.tasks} tasks: {f.processes_rate:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
