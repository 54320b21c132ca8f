"""What the database's connections are doing while a point runs, sampled from
``pg_stat_activity``: running, waiting for a row lock, waiting for the WAL to be flushed
(commit), or idle inside a transaction (waiting for the client, locks still held).

A thread with its own event loop and one connection to the maintenance database (so
the sampler is not among what it counts) samples every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import asyncpg

STATES = (
    "running",
    "row lock wait",
    "commit (WAL flush) wait",
    "other wait",
    "idle in transaction",
    "idle",
)

_QUERY = """
SELECT state, wait_event_type, wait_event FROM pg_stat_activity
WHERE datname = $1 AND backend_type = 'client backend'"""


def _classify(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state in ("idle in transaction", "idle in transaction (aborted)"):
        return "idle in transaction"
    if state != "active":
        return "idle"
    if wait_type == "Lock":
        return "row lock wait"
    if wait_event in ("WALSync", "WALWrite", "WALFlush") or (
        wait_type == "LWLock" and wait_event == "WALWrite"
    ):
        return "commit (WAL flush) wait"
    if wait_type in (None, "CPU"):
        return "running"
    return "other wait"


class ActivitySampler:
    def __init__(self, admin_dsn: str, database: str, interval: float = 0.05) -> None:
        self._dsn = admin_dsn
        self._database = database
        self._interval = interval
        self._samples: list[tuple[float, Counter[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: str | None = None

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            asyncio.run(self._sample())
        except Exception as exc:  # the figures are a diagnostic; the run goes on
            self.error = f"{type(exc).__name__}: {exc}"

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            while not self._stop.is_set():
                rows = await conn.fetch(_QUERY, self._database)
                counts: Counter[str] = Counter(
                    _classify(r["state"], r["wait_event_type"], r["wait_event"]) for r in rows
                )
                self._samples.append((time.time(), counts))
                await asyncio.sleep(self._interval)
        finally:
            await conn.close()

    def averages(self, window: tuple[float, float] | None = None) -> dict[str, float]:
        """Mean number of connections in each state (within ``window``, epoch s)."""
        samples = [c for t, c in self._samples if window is None or window[0] <= t <= window[1]]
        if not samples:
            return {}
        total: Counter[str] = Counter()
        for counts in samples:
            total.update(counts)
        return {state: total[state] / len(samples) for state in STATES}


def describe(averages: dict[str, float]) -> str:
    """ "12.0 connections: 6.1 row lock wait, ..." (states with at least 0.05)."""
    if not averages:
        return "no samples"
    total = sum(averages.values())
    parts = [f"{v:.1f} {state}" for state, v in averages.items() if v >= 0.05]
    return f"{total:.1f} connections: " + ", ".join(parts)
