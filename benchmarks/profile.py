"""Where a replica's CPU time goes, from py-spy samples taken while it is under load.

``py-spy record --format raw`` writes one line per distinct stack ("frame;frame;...
count", outermost first, each frame ``function (file:line)``); py-spy samples only
threads that are running, so samples are CPU time. ``summarize`` attributes each
sample's *own* time to the library its innermost frame belongs to, and counts the
*inclusive* time of a few named functions of interest. py-spy is not a project
dependency: it is used when found on PATH (``pip install py-spy``), and needs the
right to ptrace the replica (root, or ptrace_scope 0).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from benchmarks.procs import Child, ProcessGroup

T = TypeVar("T")

# Innermost frame's file -> area; first match wins.
AREAS: tuple[tuple[str, str], ...] = (
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("grpc/", "grpc"),
    ("google/protobuf/", "protobuf"),
    ("redis/", "redis-py"),
    ("prometheus_client/", "prometheus_client"),
    ("logging/", "logging"),
    ("json/", "json"),
    ("asyncio/", "asyncio"),
    ("search_service/", "search_service"),
    ("booking_service/", "booking_service"),
    ("services/", "services (shared)"),
    ("jwt/", "PyJWT"),
    ("cryptography/", "cryptography"),
)
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]*)(?::\d+)?\)$")


def py_spy() -> str | None:
    return shutil.which("py-spy")


def record(group: ProcessGroup, name: str, pid: int, seconds: float, out: Path) -> Child:
    """Starts sampling ``pid`` for ``seconds``; wait for the child before reading."""
    exe = py_spy()
    assert exe is not None
    # --gil: only samples holding the GIL, i.e. Python code running (a thread blocked
    # in C, such as gRPC's poller, would otherwise count as busy).
    return group.command(
        name,
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "100",
            "--format",
            "raw",
            "--full-filenames",
            "--gil",
            "--nonblocking",
            "--output",
            str(out),
        ],
    )


NO_PY_SPY = "no py-spy on PATH: replicas not profiled (`pip install py-spy` to add the breakdown)"


def sampled(
    group: ProcessGroup,
    pids: Sequence[int],
    outs: Sequence[Path],
    seconds: float,
    load: Callable[[], T],
) -> tuple[T, list[Child]]:
    """Runs ``load()`` while py-spy samples each of ``pids`` for ``seconds`` into the
    matching ``outs``; returns its result once every sampler has written its file."""
    spies = [
        record(group, f"py-spy-{i}", pid, seconds, out)
        for i, (pid, out) in enumerate(zip(pids, outs, strict=True))
    ]
    result = load()
    for spy in spies:
        spy.popen.wait(30)
    return result, spies


@dataclass
class Profile:
    samples: int
    own_by_area: Counter[str]
    inclusive: Counter[str]  # label -> samples with that function anywhere on the stack

    def share(self, n: float) -> float:
        return 100.0 * n / self.samples if self.samples else 0.0

    def areas_line(self, top: int = 8) -> str:
        return ", ".join(
            f"{area} {self.share(n):.0f} %" for area, n in self.own_by_area.most_common(top)
        )

    def inclusive_line(self) -> str:
        return ", ".join(
            f"{label} {self.share(n):.0f} %" for label, n in self.inclusive.most_common()
        )


def summarize(paths: Sequence[Path], functions: Mapping[str, str]) -> Profile:
    """``functions``: label -> "file-suffix:function" whose inclusive time to count
    ("file-suffix:" for any function of the file), or
    "leaf:file-suffix:function" to count the samples where it is the innermost frame
    (a callback into C code shows as its Python caller alone)."""
    samples = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    wanted: dict[str, tuple[bool, str, str]] = {}
    for label, spec in functions.items():
        suffix, function = spec.removeprefix("leaf:").rsplit(":", 1)
        wanted[label] = (spec.startswith("leaf:"), suffix, function)
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_FRAME.match(f) for f in stack.split(";")]
            parsed = [(m.group("function"), m.group("file")) for m in frames if m]
            if not parsed:
                continue
            samples += n
            own[_area(*parsed[-1])] += n
            for label, (leaf, suffix, function) in wanted.items():
                frames_ = parsed[-1:] if leaf else parsed
                if any(
                    (not function or f == function) and file.endswith(suffix) for f, file in frames_
                ):
                    inclusive[label] += n
    return Profile(samples, own, inclusive)


C_CALLBACKS = "C callbacks (asyncio's C tasks, gRPC's Cython)"


def _area(function: str, file: str) -> str:
    if function == "Handle._run" and file.endswith("asyncio/events.py"):
        # The event loop calling a callback written in C: no Python frame below.
        return C_CALLBACKS
    for fragment, area in AREAS:
        if fragment in file:
            return area
    return "other Python / native"
