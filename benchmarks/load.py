"""Driving unary gRPC calls at a fixed concurrency: h2load, or Python processes.

h2load (nghttp2) sends each call as an HTTP/2 POST whose body is the pre-framed gRPC
message (1 byte compressed flag, 4 bytes big-endian length, the serialized request). It
only sees HTTP statuses (gRPC errors also come as 200), so callers check the server's
own metrics as well. Without h2load, ``benchmarks.pyload`` worker processes make the
same calls with grpc.aio and raw-bytes serializers.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import ProcessGroup
from benchmarks.stats import Point, point_from_latencies

# The most connections one load run opens; more concurrency means more streams on them
# (as a gRPC client multiplexes calls on few connections).
MAX_CONNECTIONS = 4
PYLOAD_PROCESSES = 2


def frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag, length, bytes."""
    return struct.pack(">BI", 0, len(message)) + message


def ensure_h2load() -> str | None:
    """The h2load path; installs nghttp2-client with apt-get when missing and root."""
    path = shutil.which("h2load")
    if path or os.geteuid() != 0 or not shutil.which("apt-get"):
        return path
    print("h2load not found: installing nghttp2-client with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "nghttp2-client"],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"  {' '.join(argv)} failed: {result.stderr.strip()[-300:]}")
            return None
    return shutil.which("h2load")


@dataclass(frozen=True)
class GrpcCall:
    """What every request of a run sends."""

    path: str  # /package.Service/Method
    message: bytes  # serialized request, not framed
    metadata: tuple[tuple[str, str], ...]


def split(concurrency: int, targets: Sequence[str]) -> list[tuple[str, int, int]]:
    """(target, connections, streams per connection) so that the total in flight is
    ``concurrency``, spread evenly over the targets (c=1 can only use one of them)."""
    used = list(targets[:concurrency])
    per_target = concurrency // len(used)
    connections = max(1, min(per_target, MAX_CONNECTIONS // len(used)))
    while per_target % connections:
        connections -= 1
    return [(t, connections, per_target // connections) for t in used]


class LoadGenerator:
    def __init__(self, group: ProcessGroup, workdir: Path, h2load: str | None) -> None:
        self._group = group
        self._workdir = workdir
        self._h2load = h2load
        self._runs = 0
        self._window: tuple[float, float] | None = None  # of the last kept run

    @property
    def name(self) -> str:
        return "h2load" if self._h2load else f"{PYLOAD_PROCESSES} Python grpc.aio processes"

    def run(
        self,
        subject: str,
        replicas: int,
        call: GrpcCall,
        targets: Sequence[str],
        concurrency: int,
        seconds: float,
        warmup: float,
    ) -> Point:
        if warmup > 0:
            self._run(call, targets, concurrency, warmup, keep=False)
        latencies, failed, notes = self._run(call, targets, concurrency, seconds, keep=True)
        point = point_from_latencies(subject, replicas, concurrency, seconds, latencies, failed)
        point.notes.extend(notes)
        point.window = self._window
        return point

    def run_distinct(
        self,
        subject: str,
        replicas: int,
        call: GrpcCall,
        warmup_messages: Sequence[bytes],
        messages: Sequence[bytes],
        targets: Sequence[str],
        concurrency: int,
        seconds: float,
        warmup: float,
        processes: int = PYLOAD_PROCESSES,
    ) -> Point:
        """Like ``run``, but every call sends another of ``messages`` (``call.message``
        is not used), each at most once; the warm-up sends ``warmup_messages``. Always
        Python processes (``processes`` per target): h2load sends one body only."""
        if warmup > 0:
            self._run(
                call,
                targets,
                concurrency,
                warmup,
                keep=False,
                messages=warmup_messages,
                processes=processes,
            )
        latencies, failed, notes = self._run(
            call, targets, concurrency, seconds, keep=True, messages=messages, processes=processes
        )
        point = point_from_latencies(subject, replicas, concurrency, seconds, latencies, failed)
        point.notes.extend(notes)
        point.window = self._window
        return point

    def _run(
        self,
        call: GrpcCall,
        targets: Sequence[str],
        concurrency: int,
        seconds: float,
        keep: bool,
        messages: Sequence[bytes] | None = None,
        processes: int = PYLOAD_PROCESSES,
    ) -> tuple[list[float], int, list[str]]:
        self._runs += 1
        body = self._workdir / f"body-{self._runs}.bin"
        body.write_bytes(frame(call.message))
        jobs = []
        parts = split(concurrency, targets)
        for i, (target, connections, streams) in enumerate(parts):
            log = self._workdir / f"run-{self._runs}-{i}.tsv"
            if messages is not None:
                # Each target gets its own share of the distinct messages.
                body = self._workdir / f"bodies-{self._runs}-{i}.bin"
                body.write_bytes(b"".join(frame(m) for m in messages[i :: len(parts)]))
                argv = self._pyload_argv(
                    call, body, target, connections * streams, seconds, log, processes
                )
            elif self._h2load:
                argv = self._h2load_argv(call, body, target, connections, streams, seconds, log)
            else:
                argv = self._pyload_argv(call, body, target, connections * streams, seconds, log)
            jobs.append((self._group.command(f"load-{self._runs}-{i}", argv), log))
        deadline = time.monotonic() + seconds + 30
        latencies: list[float] = []
        failed = 0
        notes: list[str] = []
        windows: list[tuple[float, float]] = []
        for child, log in jobs:
            try:
                child.popen.wait(max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                self._group.stop(child)
                raise RuntimeError(f"load generator hung:\n{child.log_tail()}") from None
            output = child.log_path.read_text(errors="replace")
            if child.popen.returncode != 0:
                raise RuntimeError(
                    f"load generator failed ({child.popen.returncode}):\n{child.log_tail()}"
                )
            if not keep:
                continue
            ok, bad = read_log(log)
            latencies.extend(ok)
            failed += bad
            window = log_window(log)
            if window is not None:
                windows.append(window)
            notes.extend(_h2load_notes(output))
            if "ran out of distinct messages" in output:
                notes.append("pyload ran out of distinct messages: some workers stopped early")
        if keep:
            self._window = (
                (min(w[0] for w in windows), max(w[1] for w in windows)) if windows else None
            )
        return latencies, failed, notes

    def _h2load_argv(
        self,
        call: GrpcCall,
        body: Path,
        target: str,
        connections: int,
        streams: int,
        seconds: float,
        log: Path,
    ) -> list[str]:
        assert self._h2load is not None
        headers = [("content-type", "application/grpc"), ("te", "trailers"), *call.metadata]
        argv = [
            self._h2load,
            "-t",
            "1",
            "-c",
            str(connections),
            "-m",
            str(streams),
            "-D",
            f"{int(seconds * 1000)}ms",
            "-d",
            str(body),
            "--log-file",
            str(log),
        ]
        for name, value in headers:
            argv += ["-H", f"{name}: {value}"]
        return [*argv, f"http://{target}{call.path}"]

    def _pyload_argv(
        self,
        call: GrpcCall,
        body: Path,
        target: str,
        concurrency: int,
        seconds: float,
        log: Path,
        processes: int = PYLOAD_PROCESSES,
    ) -> list[str]:
        import sys

        argv = [
            sys.executable,
            "-m",
            "benchmarks.pyload",
            "--target",
            target,
            "--path",
            call.path,
            "--body-file",
            str(body),
            "--concurrency",
            str(concurrency),
            "--processes",
            str(min(processes, concurrency)),
            "--seconds",
            str(seconds),
            "--log-file",
            str(log),
        ]
        for name, value in call.metadata:
            argv += ["--header", f"{name}:{value}"]
        return argv


def read_log(path: Path) -> tuple[list[float], int]:
    """h2load's per-request log (start µs, HTTP status, duration µs): latencies of the
    HTTP 200 responses, and the count of the others (status -1 = failed stream)."""
    ok: list[float] = []
    failed = 0
    with path.open() as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) < 3:
                continue
            if fields[1] == "200":
                ok.append(float(fields[2]))
            else:
                failed += 1
    return ok, failed


def log_window(path: Path) -> tuple[float, float] | None:
    """Epoch seconds from the first request's start to the last one's end."""
    first = last = None
    with path.open() as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) < 3:
                continue
            start = int(fields[0]) / 1e6
            end = start + float(fields[2]) / 1e6
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    return None if first is None or last is None else (first, last)


_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
    r"(\d+) failed, (\d+) errored, (\d+) timeout"
)


def _h2load_notes(output: str) -> list[str]:
    """h2load's own failure counts, when there are any."""
    match = _REQUESTS.search(output)
    if match and any(int(n) for n in match.groups()[4:]):
        return [f"h2load: {match.group(0)}"]
    return []
