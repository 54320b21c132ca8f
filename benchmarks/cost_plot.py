"""The cost curves' figures: what benchmarks/cost_curves.py measured, as data (``Curves``,
also written as JSON next to the PNG) and as one PNG of four panels, each with its aim.

Kept apart from the measuring so a test can plot made-up curves in a second: matplotlib
with its Agg backend (no display), imported only when plotting.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Aims (issue 14): search cold p95 at the largest size <= 1.5 x at the smallest; booking
# throughput with the most bookings stored >= 0.9 x an empty table; 1 upstream token
# request per lifetime and flat Redis commands per GetToken from 1 to 12 replicas.
AIM_SEARCH_P95_RATIO = 1.5
AIM_BOOKING_RATIO = 0.9
AIM_UPSTREAM_PER_LIFETIME = 1.0


@dataclass
class SearchPoint:
    flights: int
    kind: str  # "non-stop", "one-stop"
    p95_ms: float
    p50_ms: float
    rps: float


@dataclass
class BookingPoint:
    stored: int
    subject: str  # "service", "SQL ceiling"
    rps: float
    p95_ms: float


@dataclass
class TokenPoint:
    replicas: int
    calls: int
    redis_commands: int  # during the measured window
    idle_commands_per_s: float  # the same replicas with no calls (heartbeats, renewals)
    seconds: float
    upstream_per_lifetime: float
    tokens_issued: int
    # Commands by name during the measured window, and per second with no calls.
    commands: dict[str, int] = field(default_factory=dict)
    idle_commands: dict[str, float] = field(default_factory=dict)

    @property
    def commands_per_call(self) -> float:
        return self.redis_commands / self.calls if self.calls else math.nan

    @property
    def extra_per_call(self) -> float:
        """Commands per call beyond what the same replicas send with no calls at all."""
        extra = self.redis_commands - self.idle_commands_per_s * self.seconds
        return extra / self.calls if self.calls else math.nan


@dataclass
class Curves:
    search: list[SearchPoint] = field(default_factory=list)
    booking: list[BookingPoint] = field(default_factory=list)
    token: list[TokenPoint] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Curves:
        raw = json.loads(text)
        return cls(
            search=[SearchPoint(**p) for p in raw.get("search", [])],
            booking=[BookingPoint(**p) for p in raw.get("booking", [])],
            token=[TokenPoint(**p) for p in raw.get("token", [])],
        )


def _series(points: list, key: str, x: str, y: str) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {}
    for p in sorted(points, key=lambda p: getattr(p, x)):
        xs, ys = out.setdefault(getattr(p, key), ([], []))
        xs.append(getattr(p, x))
        ys.append(getattr(p, y))
    return out


def plot(curves: Curves, path: Path, title: str = "") -> Path:
    """Draws the four panels into ``path`` (PNG); a panel without data says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (search_ax, booking_ax), (upstream_ax, redis_ax) = axes

    # Search: cold p95 by flights stored, one line per kind, each with its aim.
    for kind, (xs, ys) in _series(curves.search, "kind", "flights", "p95_ms").items():
        (line,) = search_ax.plot(xs, ys, marker="o", label=f"cold {kind} p95")
        if xs:
            search_ax.hlines(
                AIM_SEARCH_P95_RATIO * ys[0],
                xs[0],
                xs[-1],
                colors=line.get_color(),
                linestyles="dashed",
                label=f"aim: {AIM_SEARCH_P95_RATIO:g} x p95 at {xs[0]:,} flights",
            )
    _finish(search_ax, "Search: cold p95 by flights stored", "flights stored", "p95 ms")
    search_ax.set_ylim(bottom=0)

    # Booking: throughput by bookings stored, service and SQL ceiling.
    for subject, (xs, ys) in _series(curves.booking, "subject", "stored", "rps").items():
        (line,) = booking_ax.plot(xs, ys, marker="o", label=subject)
        if xs and subject == "service":
            booking_ax.hlines(
                AIM_BOOKING_RATIO * ys[0],
                xs[0],
                xs[-1],
                colors=line.get_color(),
                linestyles="dashed",
                label=f"aim: {AIM_BOOKING_RATIO:g} x empty table",
            )
    _finish(booking_ax, "Booking: throughput by bookings stored", "bookings stored", "bookings/s")
    booking_ax.set_ylim(bottom=0)

    token = sorted(curves.token, key=lambda p: p.replicas)
    replicas = [p.replicas for p in token]
    upstream_ax.plot(
        replicas, [p.upstream_per_lifetime for p in token], marker="o", label="measured"
    )
    if replicas:
        upstream_ax.hlines(
            AIM_UPSTREAM_PER_LIFETIME,
            replicas[0],
            replicas[-1],
            linestyles="dashed",
            label="aim: 1.00",
        )
    _finish(
        upstream_ax,
        "Token: upstream requests per token lifetime",
        "token-service replicas",
        "requests per lifetime",
    )
    upstream_ax.set_ylim(0, max([1.5, *[p.upstream_per_lifetime * 1.1 for p in token]]))

    redis_ax.plot(
        replicas, [p.commands_per_call for p in token], marker="o", label="all commands / calls"
    )
    redis_ax.plot(
        replicas,
        [p.extra_per_call for p in token],
        marker="s",
        label="beyond the idle background / calls",
    )
    _finish(
        redis_ax,
        "Token: Redis commands per GetToken",
        "token-service replicas",
        "Redis commands per call",
    )
    redis_ax.set_ylim(bottom=0)
    for ax in (upstream_ax, redis_ax):
        if replicas:
            ax.set_xticks(replicas)

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:  # type: ignore[no-untyped-def]
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "not measured in this run", ha="center", transform=ax.transAxes)
