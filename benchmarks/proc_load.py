"""Closed-loop load from several Python processes, for work no off-the-shelf load tool
can do: raw SQL through asyncpg (the floors) and call sequences that need the previous
response (CreateBooking, then ConfirmBooking with the reference it returned).

A *scenario* is a module-level factory ``factory(config, process_index, processes)``
returning an object with ``async start(workers)`` (the range of worker indexes this
process drives), ``async call(worker) -> str`` ("ok" or a
label for what went wrong), ``stats() -> dict[str, float]`` and ``async close()``.
``run`` starts the processes (spawned, so nothing is inherited from the parent's event
loop or gRPC state), waits until every one of them has started its scenario, then each
drives its share of the workers for the warm-up (not recorded) and the measured time.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.stats import Point, point_from_latencies
from services import event_loop
from services.parent_death import die_with_spawning_process

OK = "ok"


class Scenario(Protocol):
    async def start(self, workers: range) -> None: ...

    async def call(self, worker: int) -> str: ...

    def stats(self) -> dict[str, float]: ...

    async def close(self) -> None: ...


Factory = Callable[[Mapping[str, Any], int, int], Scenario]


@dataclass
class Outcome:
    latencies_us: list[float]  # of the calls that returned "ok"
    outcomes: Counter[str]
    elapsed: float  # measured time, including the calls in flight at the end
    stats: dict[str, float] = field(default_factory=dict)  # summed over processes
    window: tuple[float, float] | None = None  # epoch seconds of the measured phase

    @property
    def failed(self) -> int:
        return sum(n for label, n in self.outcomes.items() if label != OK)

    def point(self, subject: str, replicas: int, concurrency: int) -> Point:
        point = point_from_latencies(
            subject, replicas, concurrency, self.elapsed, list(self.latencies_us), self.failed
        )
        point.window = self.window
        bad = {k: v for k, v in self.outcomes.items() if k != OK}
        if bad:
            point.notes.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(bad.items())))
        return point


def shares(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


async def _drive(
    scenario: Scenario, first_worker: int, workers: int, seconds: float, warmup: float, barrier: Any
) -> dict[str, Any]:
    ids = range(first_worker, first_worker + workers)
    await scenario.start(ids)
    # Blocking is fine here: no load runs yet.
    barrier.wait(timeout=120)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    recording = False

    warmup_calls = 0

    async def worker(index: int, end: float) -> None:
        nonlocal warmup_calls
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                label = await scenario.call(index)
            except Exception as exc:  # counted, and named in the report
                label = f"error {type(exc).__name__}"
            if not recording:
                warmup_calls += 1
                continue
            outcomes[label] += 1
            if label == OK:
                latencies.append((time.perf_counter() - t0) * 1e6)

    if warmup > 0:
        end = time.monotonic() + warmup
        await asyncio.gather(*(worker(i, end) for i in ids))
    recording = True
    measured_from = time.time()
    started = time.monotonic()
    await asyncio.gather(*(worker(i, started + seconds) for i in ids))
    elapsed = time.monotonic() - started
    measured_to = time.time()
    stats = {**scenario.stats(), "warmup_calls": warmup_calls}
    await scenario.close()
    return {
        "latencies": latencies,
        "outcomes": dict(outcomes),
        "elapsed": elapsed,
        "stats": stats,
        "window": [measured_from, measured_to],
    }


def _process(
    factory: Factory,
    config: Mapping[str, Any],
    index: int,
    processes: int,
    first_worker: int,
    workers: int,
    seconds: float,
    warmup: float,
    barrier: Any,
    out: str,
) -> None:
    die_with_spawning_process()
    scenario = factory(config, index, processes)
    result = event_loop.run(_drive(scenario, first_worker, workers, seconds, warmup, barrier))
    Path(out).write_text(json.dumps(result))


def run(
    factory: Factory,
    config: Mapping[str, Any],
    *,
    processes: int,
    concurrency: int,
    seconds: float,
    warmup: float,
    workdir: Path,
    name: str,
) -> Outcome:
    """``concurrency`` workers spread over ``processes`` processes (no more processes
    than workers)."""
    processes = max(1, min(processes, concurrency))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    outs = [workdir / f"{name}-{i}.json" for i in range(processes)]
    procs = []
    first = 0
    for i, workers in enumerate(shares(concurrency, processes)):
        outs[i].unlink(missing_ok=True)
        procs.append(
            ctx.Process(
                target=_process,
                name=f"{name}-{i}",
                args=(
                    factory,
                    config,
                    i,
                    processes,
                    first,
                    workers,
                    seconds,
                    warmup,
                    barrier,
                    str(outs[i]),
                ),
            )
        )
        first += workers
    try:
        for p in procs:
            p.start()
        deadline = time.monotonic() + seconds + warmup + 150
        for p in procs:
            p.join(max(deadline - time.monotonic(), 1))
        if any(p.is_alive() or p.exitcode for p in procs):
            codes = [p.exitcode for p in procs]
            raise RuntimeError(f"load processes {name} failed or hung (exit codes {codes})")
    finally:
        for p in procs:  # also on Ctrl-C and errors
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    elapsed = 0.0
    windows = []
    for out in outs:
        data = json.loads(out.read_text())
        latencies.extend(data["latencies"])
        outcomes.update(data["outcomes"])
        stats.update(data["stats"])
        elapsed = max(elapsed, data["elapsed"])
        windows.append(data["window"])
    window = (min(w[0] for w in windows), max(w[1] for w in windows))
    return Outcome(latencies, outcomes, elapsed, dict(stats), window)
