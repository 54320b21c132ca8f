"""A closed-loop driver for in-process async calls (the Redis floor, the per-call peer):
``concurrency`` tasks each await one call after another for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from benchmarks.stats import Point, point_from_latencies


async def drive(
    subject: str,
    call: Callable[[], Awaitable[bool]],
    concurrency: int,
    seconds: float,
    warmup: float,
) -> Point:
    """``call`` returns True on success; an exception also counts as a failure."""
    latencies: list[float] = []
    failed = 0
    measuring = False

    async def worker(end: float) -> None:
        nonlocal failed
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                ok = await call()
            except Exception:
                ok = False
            if not measuring:
                continue
            if ok:
                latencies.append((time.perf_counter() - t0) * 1e6)
            else:
                failed += 1

    if warmup > 0:
        end = time.monotonic() + warmup
        await asyncio.gather(*(worker(end) for _ in range(concurrency)))
    measuring = True
    started = time.monotonic()
    await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
    elapsed = time.monotonic() - started  # includes the calls in flight at the end
    return point_from_latencies(subject, 0, concurrency, elapsed, latencies, failed)
