"""What the benchmarks share: their options, their lifecycle (a work directory, child
processes, a scratch database, Redis keys; all cleaned up on exit, Ctrl-C and SIGTERM),
the echo server, choosing the quietest round, and measuring a point together with the
CPU every party used meanwhile. ``run_bench`` is every benchmark's main."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Generic, Protocol, TypeVar

from benchmarks.cpu import CpuMeter
from benchmarks.procs import ROOT, Child, ProcessGroup
from benchmarks.scratch_db import ScratchDatabase, redis_server_pids
from benchmarks.service_report import NOISY_CORES
from benchmarks.stats import Point
from services.redis_client import sync_client

# How often the CPU split is sampled during a point.
CPU_SAMPLE_SECONDS = 0.25


class Report(Protocol):
    """What the run needs of a benchmark's report (report.Results,
    service_report.ServiceReport)."""

    problems: list[str]  # failed checks: the run fails
    warnings: list[str]  # conditions that make figures noisy

    def note_noise(self) -> None: ...


R = TypeVar("R", bound=Report)


def bench_parser(prog: str, doc: str, quick: str) -> argparse.ArgumentParser:
    """The options every benchmark has; ``quick`` says what --quick does."""
    parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per point")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up before each point")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds per point; the one least disturbed by other processes "
        "(and steal, where measured) is reported",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-doc", action="store_true", help="print only; leave the doc")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the work directory (logs, profiles) even on success",
    )
    return parser


def add_redis_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )


def add_service_options(parser: argparse.ArgumentParser, scale: str, scale_help: str) -> None:
    """Options of the benchmarks of a database-backed service (search, booking)."""
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--scale", default=scale, help=scale_help)
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="skip the py-spy pass (it runs when py-spy is on PATH)",
    )


def command_line(prog: str, argv: Sequence[str] | None) -> str:
    """How the run was started, for the report (without options that change no figure)."""
    shown = [
        a for a in (sys.argv[1:] if argv is None else argv) if a not in ("--no-doc", "--keep-logs")
    ]
    return " ".join([f"python -m {prog}", *shown])


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


class BenchRun(Generic[R]):
    """``with BenchRun(...) as run:``; on exit every child process is stopped, the
    scratch database (if one was created) dropped and Redis keys under ``run.prefix``
    deleted."""

    def __init__(self, report: R, redis_url: str | None, prefix: str) -> None:
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

    def __enter__(self) -> BenchRun[R]:
        signal.signal(signal.SIGTERM, _raise_interrupt)
        # Also when started with SIGINT ignored (in the background of a script).
        signal.signal(signal.SIGINT, _raise_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        self.group.close()
        notes = ["processes stopped"]
        if self.db.url:
            try:
                name = self.db.name
                self.db.drop()
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
            redis = sync_client(self.redis_url)
            keys = list(redis.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                redis.delete(*keys[start : start + 1000])
            redis.close()
            return len(keys)
        except Exception as exc:  # cleanup must not hide the run's own error
            print(f"cleanup: could not delete Redis keys {self.prefix}*: {exc}", file=sys.stderr)
            return 0

    def log(self, message: str) -> None:
        print(message, flush=True)

    def start_echo(self, payload_size: int) -> tuple[Child, str]:
        """The echo gRPC server answering ``payload_size`` bytes, and its address."""
        self.log(f"echo gRPC server ({payload_size}-byte responses) ...")
        child = self.group.python(
            "echo-server", ["-m", "benchmarks.echo_server", "--payload-size", str(payload_size)]
        )
        return child, f"127.0.0.1:{child.wait_ready()['grpc']}"

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
        self.log(
            f"  {point.subject:<24} c={point.concurrency:<3} {point.rps:>9,.0f}/s  "
            f"p50 {point.p50_ms:7.2f}  p95 {point.p95_ms:7.2f}  p99 {point.p99_ms:7.2f} ms"
            f"  failed {point.failed}  other CPU {point.foreign_cores:.2f}"
            f"  steal {point.steal_cores:.2f}{note}"
        )
        if point.failed:
            self.report.problems.append(
                f"{point.subject} c={point.concurrency}: {point.failed} failed requests"
            )
        return point

    def rounds(
        self,
        concurrencies: Sequence[int],
        rounds: int,
        one_round: Callable[[int, int], list[Point]],
        label: str = "",
    ) -> list[Point]:
        """``rounds`` rounds of ``one_round(c, round_)`` per concurrency (all rounds of one
        concurrency together); of each point's rounds, the quietest (keep_quietest)."""
        points: list[Point] = []
        for c in concurrencies:
            candidates: list[Point] = []
            for round_ in range(rounds):
                self.log(f"{label}concurrency {c}, round {round_ + 1} of {rounds}:")
                candidates += one_round(c, round_)
            points += keep_quietest(candidates)
        return points

    def warn_if_busy(self) -> None:
        meter = CpuMeter()
        meter.start()
        time.sleep(1.0)
        busy = meter.foreign_cores()
        if busy > NOISY_CORES:
            self.log(
                f"warning: other processes are using {busy:.1f} of "
                f"{os.cpu_count()} cores; figures will be noisy"
            )
            self.report.warnings.append(
                f"the machine was busy before the run: other processes used {busy:.1f} "
                "cores (see the 'other CPU' column)"
            )


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


def run_bench(
    report: R,
    redis_url: str | None,
    prefix: str,
    bench: Callable[[BenchRun[R]], object],
    args: argparse.Namespace,
    *,
    print_summary: Callable[[R], None],
    write: Callable[[Path, R], None],
) -> int:
    """Every benchmark's main: run ``bench(run)`` inside a BenchRun, summarise, write
    the doc section (unless --no-doc), and exit 0 unless the report recorded a problem
    (130 on Ctrl-C)."""
    try:
        with BenchRun(report, redis_url, prefix) as run:
            bench(run)
            report.note_noise()
            print_summary(report)
            if not args.no_doc:
                write(args.output, report)
                print(f"\nwrote {args.output}")
            run.ok = not report.problems
            run.keep = args.keep_logs
            return 0 if run.ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaned up", file=sys.stderr)
        return 130
