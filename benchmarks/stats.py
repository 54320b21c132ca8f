"""One measurement point and the arithmetic on latencies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# Subjects, in the order the report lists them.
ECHO = "echo gRPC"
REDIS = "redis GET"
TOKEN = "token service"
# The same provider through the refresh-token grant (single-use rotating refresh tokens).
TOKEN_RT = "token service, refresh grant"
PER_CALL = "per-call fetch"
PER_PROCESS = "per-process cache"
SUBJECTS = (ECHO, REDIS, TOKEN, TOKEN_RT, PER_CALL, PER_PROCESS)


@dataclass
class Point:
    """Throughput and latency of one subject at one concurrency."""

    subject: str
    replicas: int  # 0 where it does not apply
    concurrency: int
    seconds: float
    ok: int
    failed: int
    p50_ms: float
    p99_ms: float
    notes: list[str] = field(default_factory=list)
    # Cores used by processes outside the benchmark meanwhile (noise); NaN if unknown.
    foreign_cores: float = math.nan
    p95_ms: float = math.nan
    # Cores used meanwhile by named groups of processes (servers, PostgreSQL, ...).
    cores: dict[str, float] = field(default_factory=dict)
    # Cores' worth of CPU time the hypervisor took from this (virtual) machine.
    steal_cores: float = math.nan
    # Epoch seconds of the measured calls' first start and last end, when known.
    window: tuple[float, float] | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN if empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def point_from_latencies(
    subject: str,
    replicas: int,
    concurrency: int,
    seconds: float,
    latencies_us: list[float],
    failed: int,
) -> Point:
    latencies_us.sort()
    return Point(
        subject,
        replicas,
        concurrency,
        seconds,
        len(latencies_us),
        failed,
        percentile(latencies_us, 50) / 1000,
        percentile(latencies_us, 99) / 1000,
        p95_ms=percentile(latencies_us, 95) / 1000,
    )
