"""How much CPU processes outside this benchmark used while a point was measured.

Other work on the machine (a test run, a build) takes cores from the servers under test
and shows up as noise; the report prints it per point so a reader can tell. Foreign CPU
= all busy CPU (/proc/stat) minus this process and its descendants (live ones from
/proc/<pid>/stat, exited ones through the children times of whoever reaped them).
Linux only; elsewhere it reports NaN.

Optionally, named groups of processes (say the PostgreSQL backends serving the benchmark's
database, or the Redis server) are measured apart: ``group_cores()`` reports each
group's cores, and groups that are not descendants are not counted as foreign.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

# Named sets of pids to measure apart; evaluated at every snapshot.
Groups = Callable[[], Mapping[str, Collection[int]]]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / _TICK


def _steal_seconds() -> float:
    """Time the hypervisor ran something else while this machine's CPUs wanted to run:
    on a virtual machine, everything here runs slower meanwhile."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return int(fields[7]) / _TICK if len(fields) > 7 else 0.0


def _descendants_cpu(root: int) -> dict[int, float]:
    """CPU seconds (own + reaped children) of every live descendant of ``root``."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        rest = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(rest[1])
        cpu[pid] = sum(int(x) for x in rest[11:15]) / _TICK  # utime stime cutime cstime
    found: dict[int, float] = {}
    for pid in cpu:
        p = parents.get(pid, 0)
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            found[pid] = cpu[pid]
    return found


def pid_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) a live process has used itself; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / _TICK


def _groups_cpu(groups: Mapping[str, Collection[int]]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        seconds = {pid: pid_seconds(pid) for pid in pids}
        out[name] = {pid: s for pid, s in seconds.items() if s is not None}
    return out


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class _Snapshot:
    epoch: float
    mono: float
    busy: float
    steal: float
    own: float
    descendants: dict[int, float]
    groups: dict[str, dict[int, float]]


class CpuMeter:
    """``start()``, run something, ``foreign_cores()``. With ``sample_seconds`` it also
    takes snapshots meanwhile, so that ``foreign_cores(window)`` can measure only the
    part of the run inside ``window`` (epoch seconds: say the load's measured phase,
    without starting processes and warming up); groups are sampled too, so processes
    that come and go within the run are seen."""

    def __init__(self, groups: Groups | None = None, sample_seconds: float | None = None) -> None:
        self._enabled = Path("/proc/stat").exists()
        self._groups = groups
        self._sample_seconds = sample_seconds
        self._snapshots: list[_Snapshot] = []
        # Latest CPU seen per group and pid, with the time it was seen.
        self._seen: dict[str, dict[int, list[tuple[float, float]]]] = {}
        self._group_cores: dict[str, float] = {}
        self._own_cores = math.nan
        self._steal_cores = math.nan
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def _snapshot(self) -> _Snapshot:
        groups = _groups_cpu(self._groups()) if self._groups else {}
        now = time.time()
        for name, cpu in groups.items():
            seen = self._seen.setdefault(name, {})
            for pid, value in cpu.items():
                seen.setdefault(pid, []).append((now, value))
        return _Snapshot(
            now,
            time.monotonic(),
            _busy_seconds(),
            _steal_seconds(),
            _own_seconds(),
            _descendants_cpu(os.getpid()),
            groups,
        )

    def start(self) -> None:
        if not self._enabled:
            return
        self._snapshots = [self._snapshot()]
        if self._sample_seconds:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        assert self._sample_seconds
        while not self._stop.wait(self._sample_seconds):
            try:
                self._snapshots.append(self._snapshot())
            except Exception:  # a missed sample only makes the figures coarser
                continue

    def foreign_cores(self, window: tuple[float, float] | None = None) -> float:
        """Average cores used by other processes since ``start()``, or within
        ``window`` (as closely as the snapshots allow); the named groups are not
        "other". Also fixes ``group_cores()`` and ``own_cores()``."""
        if not self._enabled:
            return math.nan
        if self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            self._sampler = None
        self._snapshots.append(self._snapshot())
        first, last = self._snapshots[0], self._snapshots[-1]
        if window is not None:
            inside = [s for s in self._snapshots if window[0] <= s.epoch <= window[1]]
            if len(inside) >= 2:
                first, last = inside[0], inside[-1]
        elapsed = last.mono - first.mono
        if elapsed <= 0:
            return math.nan
        desc0, desc1 = first.descendants, last.descendants
        ours = (last.own - first.own) + sum(v - desc0.get(pid, 0.0) for pid, v in desc1.items())
        outside = 0.0
        self._group_cores = {}
        for name, pids in self._seen.items():
            used = 0.0
            for pid, history in pids.items():
                before = [v for t, v in history if t <= first.epoch]
                until = [v for t, v in history if t <= last.epoch]
                if not until:
                    continue  # appeared after the window
                # A process not seen at the window's start appeared within it.
                delta = until[-1] - (before[-1] if before else 0.0)
                used += delta
                if pid not in desc1:
                    outside += delta
            self._group_cores[name] = used / elapsed
        foreign = (last.busy - first.busy) - ours - outside
        self._own_cores = ours / elapsed
        self._steal_cores = (last.steal - first.steal) / elapsed
        return max(foreign, 0.0) / elapsed

    def own_cores(self) -> float:
        """Cores this process and its descendants used, as of the last
        ``foreign_cores()``."""
        return self._own_cores

    def steal_cores(self) -> float:
        """Cores' worth of time the hypervisor took away, as of the last
        ``foreign_cores()``."""
        return self._steal_cores

    def group_cores(self) -> dict[str, float]:
        """Average cores each named group used, as of the last ``foreign_cores()``."""
        return dict(self._group_cores)
