"""A benchmark's findings as a section of docs/benchmarks.md and a summary on stdout,
for the search and booking benchmarks (the token benchmark has its own, report.py).

The benchmark script decides what its ratios and aims are; this module only lays them
out: the run, the setup, one table of points, then ratios, aims, checks, warnings and
problems (a failed check, which also makes the script exit non-zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.report import NOISY_CORES, busy_warning, machine, replace_section
from benchmarks.stats import Point

# CPU groups shown per point, in this order, with their column abbreviations.
CPU_GROUPS = (("servers", "servers"), ("postgres", "PG"), ("redis", "Redis"), ("clients", "load"))


@dataclass
class ServiceReport:
    heading: str  # "Search service"
    command: str
    make_target: str
    subjects: Sequence[str]  # table order
    unit: str = "rps"  # what a "request" of the table is, per second
    requests_label: str = "requests"
    setup: list[str] = field(default_factory=list)  # paragraphs
    points: list[Point] = field(default_factory=list)
    extra_tables: list[tuple[str, list[str]]] = field(default_factory=list)
    ratios: list[str] = field(default_factory=list)
    aims: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # where the time goes
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def point(self, subject: str, concurrency: int) -> Point | None:
        return next(
            (p for p in self.points if p.subject == subject and p.concurrency == concurrency), None
        )

    def note_noise(self) -> None:
        self.warnings += busy_warning(self.points, "points")
        stolen = [p.steal_cores for p in self.points if p.steal_cores > NOISY_CORES]
        if stolen:
            self.warnings.append(
                f"{len(stolen)} of {len(self.points)} points ran while the hypervisor took "
                f"more than {NOISY_CORES:g} cores' worth of time from this virtual machine "
                f"(steal, up to {max(stolen):.2f}): everything ran slower then"
            )


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def cores(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}"


def points_table(report: ServiceReport) -> list[str]:
    split = " / ".join(short for _, short in CPU_GROUPS)
    rows = [
        f"| subject | replicas | concurrency | {report.requests_label} | {report.unit} "
        f"| p50 ms | p95 ms | p99 ms | failed | cores: {split} | other CPU | steal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = {s: i for i, s in enumerate(report.subjects)}
    for p in sorted(report.points, key=lambda p: (order.get(p.subject, 99), p.concurrency)):
        used = " / ".join(cores(p.cores.get(name)) for name, _ in CPU_GROUPS)
        rows.append(
            f"| {p.subject} | {p.replicas or '-'} | {p.concurrency} | {p.ok} | "
            f"{p.rps:,.0f} | {ms(p.p50_ms)} | {ms(p.p95_ms)} | {ms(p.p99_ms)} | "
            f"{p.failed} | {used} | {cores(p.foreign_cores)} | "
            f"{cores(p.steal_cores)} |"
        )
    return rows


def section(report: ServiceReport) -> str:
    m = machine()
    lines = [
        f"## {report.heading}",
        "",
        f"Command: `{report.command}` (`make {report.make_target}`; `--quick` for a smoke "
        f"run). Run {report.started:%Y-%m-%d %H:%M} UTC on {m['nproc']} x {m['cpu']}, "
        f"Python {m['python']}, Linux {m['kernel']}, commit {m['commit']}.",
        "",
    ]
    for paragraph in report.setup:
        lines += [paragraph, ""]
    lines += ["### Throughput and latency", "", *points_table(report), ""]
    for title, table in report.extra_tables:
        lines += [f"### {title}", "", *table, ""]
    for title, items in (
        ("Ratios", report.ratios),
        ("Aims", report.aims),
        ("Where the time goes", report.findings),
        ("Checks", report.checks),
        ("Warnings", report.warnings),
        ("Problems", report.problems),
    ):
        if items:
            lines += [f"### {title}", "", *[f"- {item}" for item in items], ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: Path, report: ServiceReport) -> None:
    replace_section(path, report.heading, section(report))


def print_summary(report: ServiceReport) -> None:
    print()
    print("\n".join(points_table(report)))
    for title, table in report.extra_tables:
        print(f"\n{title}:")
        print("\n".join(table))
    for title, items in (
        ("Ratios", report.ratios),
        ("Aims", report.aims),
        ("Where the time goes", report.findings),
        ("Checks", report.checks),
        ("Warnings", report.warnings),
        ("Problems", report.problems),
    ):
        if items:
            print(f"\n{title}:")
            print("\n".join(f"- {item}" for item in items))
