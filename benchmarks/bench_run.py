"""What the search and booking benchmarks share: their lifecycle (a work directory,
child processes, a scratch database; all cleaned up on exit, Ctrl-C and SIGTERM) and
measuring a point together with the CPU every party used meanwhile."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from redis import Redis

from benchmarks.cpu import CpuMeter
from benchmarks.procs import ProcessGroup
from benchmarks.scratch_db import ScratchDatabase, redis_server_pids
from benchmarks.service_report import NOISY_CORES, ServiceReport
from benchmarks.stats import Point

# How often the CPU split is sampled during a point.
CPU_SAMPLE_SECONDS = 0.25


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


class BenchRun:
    """``with BenchRun(...) as run:``; on exit every child process is stopped, the
    scratch database dropped and Redis keys under ``run.prefix`` deleted."""

    def __init__(self, report: ServiceReport, redis_url: str | None, prefix: str) -> None:
        self.report = report
        self.redis_url = redis_url
        self.prefix = prefix
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
        self.group = ProcessGroup(self.workdir)
        self.db = ScratchDatabase()
        # Processes under test (replicas, echo server): set by the benchmark.
        self.server_pids: Callable[[], list[int]] = list
        self._redis_pids = redis_server_pids(redis_url) if redis_url else []
        self.ok = False
        self.keep = False  # keep the work directory even on success

    def __enter__(self) -> BenchRun:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        # Also when started with SIGINT ignored (in the background of a script).
        signal.signal(signal.SIGINT, _raise_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        self.group.close()
        notes = ["processes stopped"]
        try:
            name = self.db.name
            self.db.drop()
            if name:
                notes.append(f"database {name} dropped")
        except Exception as exc:  # report, and keep cleaning up
            print(f"cleanup: could not drop the scratch database: {exc}", file=sys.stderr)
        if self.redis_url:
            notes.append(f"{self._delete_keys()} Redis keys under {self.prefix}: deleted")
        print("cleanup: " + ", ".join(notes))
        if self.ok and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"logs kept in {self.workdir}", file=sys.stderr)

    def _delete_keys(self) -> int:
        assert self.redis_url
        try:
            redis = Redis.from_url(self.redis_url)
            keys = list(redis.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                redis.delete(*keys[start:start + 1000])
            redis.close()
            return len(keys)
        except Exception as exc:  # cleanup must not hide the run's own error
            print(f"cleanup: could not delete Redis keys {self.prefix}*: {exc}",
                  file=sys.stderr)
            return 0

    def log(self, message: str) -> None:
        print(message, flush=True)

    def _groups(self) -> dict[str, list[int]]:
        groups = {"servers": self.server_pids(), "redis": self._redis_pids}
        if self.db.url:
            groups["postgres"] = self.db.server_pids()
        return groups

    def measured(self, run: Callable[[], Point]) -> Point:
        """Runs one measurement; notes the cores the servers, PostgreSQL, Redis, the
        load generators (everything else this benchmark started) and other processes
        used while the measured calls ran (``point.window``, when the load says)."""
        meter = CpuMeter(self._groups, sample_seconds=CPU_SAMPLE_SECONDS)
        meter.start()
        point = run()
        # Only the measured calls' time: not starting load processes, not warming up.
        point.foreign_cores = meter.foreign_cores(point.window)
        point.steal_cores = meter.steal_cores()
        point.cores = meter.group_cores()
        point.cores["clients"] = meter.own_cores() - point.cores.get("servers", 0.0)
        note = f"  [{'; '.join(point.notes)}]" if point.notes else ""
        self.log(f"  {point.subject:<24} c={point.concurrency:<3} {point.rps:>9,.0f}/s  "
                 f"p50 {point.p50_ms:7.2f}  p95 {point.p95_ms:7.2f}  p99 {point.p99_ms:7.2f} ms"
                 f"  failed {point.failed}  other CPU {point.foreign_cores:.2f}"
                 f"  steal {point.steal_cores:.2f}{note}")
        if point.failed:
            self.report.problems.append(f"{point.subject} c={point.concurrency}: "
                                        f"{point.failed} failed requests")
        return point

    def warn_if_busy(self) -> None:
        meter = CpuMeter()
        meter.start()
        time.sleep(1.0)
        busy = meter.foreign_cores()
        if busy > NOISY_CORES:
            self.log(f"warning: other processes are using {busy:.1f} of "
                     f"{os.cpu_count()} cores; figures will be noisy")
            self.report.warnings.append(
                f"the machine was busy before the run: other processes used {busy:.1f} "
                "cores (see the 'other CPU' column)")


def keep_quietest(candidates: list[Point]) -> list[Point]:
    """Of each point's rounds, the one other processes and the hypervisor (steal)
    disturbed least (chosen by that alone, never by the figures)."""
    chosen: dict[tuple[str, int, int], Point] = {}
    for point in candidates:
        key = (point.subject, point.replicas, point.concurrency)
        if key not in chosen or _disturbance(point) < _disturbance(chosen[key]):
            chosen[key] = point
    return list(chosen.values())


def _disturbance(point: Point) -> float:
    """Cores taken from the benchmark meanwhile (steal unknown: counted as none)."""
    steal = 0.0 if math.isnan(point.steal_cores) else point.steal_cores
    return point.foreign_cores + steal


def run_bench(report: ServiceReport, redis_url: str | None, prefix: str,
              bench: Callable[[BenchRun], object], *, write_doc: Callable[[], None] | None,
              keep_logs: bool, print_summary: Callable[[ServiceReport], None]) -> int:
    """The common driver: run ``bench(run)`` inside a BenchRun, summarise, write the
    doc section, and exit 0 unless the report recorded a problem (130 on Ctrl-C)."""
    try:
        with BenchRun(report, redis_url, prefix) as run:
            bench(run)
            report.note_noise()
            print_summary(report)
            if write_doc is not None:
                write_doc()
            run.ok = not report.problems
            run.keep = keep_logs
            return 0 if run.ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
