"""``python -m inventory_seed``: load generated inventory into PostgreSQL.

    python -m inventory_seed [--scale default|small|tiny] [--seed 42] [--days N]
                             [--start-date YYYY-MM-DD] [--cascade]

Deterministic: the same arguments give the same rows, ids included (the rows come from
inventory_seed.generator). Idempotent: the four inventory tables are emptied and
reloaded in one transaction, so a rerun leaves exactly the same data, and a failed run
leaves the previous data untouched. Bulk loading uses COPY (asyncpg
``copy_records_to_table``) on the session's own connection, inside that transaction.

The database comes from DATABASE_URL (services/db.py) and must be migrated first
(``python -m migrations``). Tables of other services that reference the
inventory (bookings) are emptied along with it when they hold no rows; when they do,
the reload fails unless --cascade is given, which empties them too: reseeding is for
development and test databases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TextIO

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inventory_seed.generator import (
    AIRLINE_COLUMNS,
    AIRPORT_COLUMNS,
    FARE_COLUMNS,
    FLIGHT_COLUMNS,
    SCALES,
    Inventory,
    SeedOptions,
    dates,
    generate_day,
    plan,
)
from migrations.migrate import alembic_config
from services.config import ConfigError
from services.db import DatabaseSettings, DatabaseUnavailableError, create_engine, wait_for_database

SEED_LOCK_KEY = 0x736B7973_65656421  # b"skyseed!": concurrent seeds run one after another
INVENTORY_TABLES = ("fares", "flights", "airlines", "airports")
COPY_CHUNK = 50_000


class SeedError(Exception):
    """The database cannot be seeded as asked; the message says why and what to do."""


@dataclass(frozen=True)
class SeedReport:
    airports: int
    airlines: int
    flights: int
    fares: int
    generate_seconds: float
    load_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.generate_seconds + self.load_seconds


class Progress:
    """A minimal progress bar on stderr: redrawn in place on a terminal, one line per
    finished stage otherwise (CI logs)."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = enabled
        self._tty = enabled and self._stream.isatty()
        self._label = ""
        self._total = 0
        self._done = 0
        self._started = 0.0

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, max(total, 1), 0
        self._started = time.perf_counter()
        self._draw()

    def advance(self, n: int = 1) -> None:
        self._done = min(self._total, self._done + n)
        self._draw()

    def finish(self, detail: str = "") -> None:
        if not self._enabled:
            return
        self._done = self._total
        elapsed = time.perf_counter() - self._started
        line = f"seed: {self._label:<18} [{'#' * 30}] 100% {elapsed:6.2f}s {detail}"
        self._stream.write(("\r" if self._tty else "") + line.rstrip() + "\n")
        self._stream.flush()

    def _draw(self) -> None:
        if not self._tty:
            return
        filled = int(30 * self._done / self._total)
        self._stream.write(
            f"\rseed: {self._label:<18} [{'#' * filled}{'.' * (30 - filled)}] "
            f"{100 * self._done // self._total:3d}%"
        )
        self._stream.flush()


def options_from_args(
    scale: str = "default", seed: int = 42, days: int | None = None, start_date: date | None = None
) -> SeedOptions:
    """Seed options with the CLI's defaults: the scale's days, tomorrow (UTC)."""
    preset = SCALES[scale]
    if days is None:
        days = preset.days
    if days < 1:
        raise ValueError("days must be >= 1")
    if start_date is None:
        start_date = datetime.now(UTC).date() + timedelta(days=1)
    return SeedOptions(scale=preset, seed=seed, days=days, start_date=start_date)


def build_inventory(options: SeedOptions, progress: Progress) -> Inventory:
    progress.start("network", 1)
    inventory = plan(options)
    progress.finish(
        f"{len(inventory.airports)} airports, {len(inventory.airlines)} airlines, "
        f"{len(inventory.services)} scheduled services"
    )
    days = dates(options)
    progress.start("flights and fares", len(days))
    for day in days:
        generate_day(inventory, options, day)
        progress.advance()
    progress.finish(f"{len(inventory.flights)} flights, {len(inventory.fares)} fares")
    return inventory


async def _check_schema(conn: AsyncConnection) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    current = await conn.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )
    if current != head:
        raise SeedError(
            f"database schema is at revision {current}, not {head}: "
            "run `python -m migrations` (make migrate) first"
        )


async def _referencing_tables(conn: AsyncConnection) -> list[str]:
    """Tables outside the inventory that TRUNCATE ... CASCADE would reach (bookings)."""
    inventory = ", ".join(f"'{t}'::regclass" for t in INVENTORY_TABLES)
    rows = await conn.execute(
        text(f"""
        WITH RECURSIVE refs(oid) AS (
            SELECT conrelid FROM pg_constraint
            WHERE contype = 'f' AND confrelid IN ({inventory})
          UNION
            SELECT c.conrelid FROM pg_constraint c JOIN refs r ON c.confrelid = r.oid
            WHERE c.contype = 'f'
        )
        SELECT DISTINCT CAST(oid AS regclass)::text FROM refs
        WHERE oid NOT IN ({inventory}) ORDER BY 1""")
    )
    return list(rows.scalars())


async def _empty_inventory(conn: AsyncConnection, *, cascade: bool) -> None:
    """TRUNCATE the inventory. Tables that reference it (the booking service's) are
    emptied too when they hold nothing anyway, and only with ``cascade`` otherwise."""
    others = await _referencing_tables(conn)
    # Locked before looking, so no booking can slip in between the check and TRUNCATE.
    await conn.execute(
        text(f"LOCK TABLE {', '.join([*INVENTORY_TABLES, *others])} IN ACCESS EXCLUSIVE MODE")
    )
    in_use = [
        t for t in others if (await conn.execute(text(f"SELECT EXISTS (SELECT FROM {t})"))).scalar()
    ]
    if in_use and not cascade:
        raise SeedError(
            f"{', '.join(in_use)} reference the inventory and hold rows; rerun "
            "with --cascade to empty them too (development databases only)"
        )
    await conn.execute(
        text(
            f"TRUNCATE {', '.join(INVENTORY_TABLES)} RESTART IDENTITY"
            + (" CASCADE" if others else "")
        )
    )


async def _copy(
    driver: Any,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    progress: Progress,
) -> None:
    for start in range(0, len(rows), COPY_CHUNK):
        chunk = rows[start : start + COPY_CHUNK]
        await driver.copy_records_to_table(table, records=chunk, columns=list(columns))
        progress.advance(len(chunk))


async def load_inventory(
    engine: AsyncEngine, inventory: Inventory, progress: Progress, *, cascade: bool = False
) -> None:
    """Replace the inventory tables' contents with ``inventory``, atomically."""
    total = (
        len(inventory.airports)
        + len(inventory.airlines)
        + len(inventory.flights)
        + len(inventory.fares)
    )
    async with engine.begin() as conn:
        await _check_schema(conn)
        # A large COPY outlives the services' statement timeout.
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEED_LOCK_KEY})
        await _empty_inventory(conn, cascade=cascade)
        # The session's own asyncpg connection: COPY runs inside this transaction.
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        progress.start("copy", total)
        await _copy(
            driver, "airports", AIRPORT_COLUMNS, [a.row() for a in inventory.airports], progress
        )
        await _copy(
            driver,
            "airlines",
            AIRLINE_COLUMNS,
            [(a.code, a.name) for a in inventory.airlines],
            progress,
        )
        await _copy(driver, "flights", FLIGHT_COLUMNS, inventory.flights, progress)
        await _copy(driver, "fares", FARE_COLUMNS, inventory.fares, progress)
        # COPY wrote the ids itself: move the identity sequences past them.
        for table in ("flights", "fares"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce(max(id), 0) + 1, false) FROM {table}"
                )
            )
        progress.finish(f"{total} rows")
    # Fresh statistics, so the first searches get good plans.
    async with engine.connect() as conn:
        await conn.execute(text("SET statement_timeout = 0"))
        await conn.execute(text(f"ANALYZE {', '.join(INVENTORY_TABLES)}"))
        await conn.commit()


async def seed(
    engine: AsyncEngine,
    options: SeedOptions,
    *,
    cascade: bool = False,
    progress: Progress | None = None,
) -> SeedReport:
    """Generate and load the inventory for ``options``; what tests and the CLI call."""
    progress = progress or Progress(enabled=False)
    started = time.perf_counter()
    # Generation is CPU-bound and synchronous: keep the event loop free for others.
    inventory = await asyncio.to_thread(build_inventory, options, progress)
    generated = time.perf_counter()
    await load_inventory(engine, inventory, progress, cascade=cascade)
    loaded = time.perf_counter()
    return SeedReport(
        airports=len(inventory.airports),
        airlines=len(inventory.airlines),
        flights=len(inventory.flights),
        fares=len(inventory.fares),
        generate_seconds=generated - started,
        load_seconds=loaded - generated,
    )


def _parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {raw!r}") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m inventory_seed",
        description="Load deterministic, realistic flight inventory into DATABASE_URL.",
    )
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        default="default",
        help="default: >=100k flights; small: ~5k; tiny: ~300 (tests)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--days", type=int, default=None, help="days of schedule (default: 60, small 14, tiny 3)"
    )
    parser.add_argument(
        "--start-date",
        type=_parse_date,
        default=None,
        help="first day, YYYY-MM-DD (default: tomorrow, UTC)",
    )
    parser.add_argument(
        "--cascade",
        action="store_true",
        help="also empty tables that reference the inventory (bookings)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the database (default 30)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the inventory has future flights (make run)",
    )
    args = parser.parse_args(argv)
    if args.days is not None and args.days < 1:
        parser.error("--days must be >= 1")
    return args


async def _has_future_flights(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM flights"
                " WHERE departure_at > now() + interval '1 day')"
            )
        )
        return bool(found.scalar())


async def _main(settings: DatabaseSettings, args: argparse.Namespace) -> SeedReport | None:
    options = options_from_args(args.scale, args.seed, args.days, args.start_date)
    engine = create_engine(settings, application_name="skyroute-seed")
    try:
        await wait_for_database(engine, args.wait)
        if args.if_empty and await _has_future_flights(engine):
            return None
        return await seed(
            engine, options, cascade=args.cascade, progress=Progress(enabled=not args.quiet)
        )
    finally:
        await engine.dispose()


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = DatabaseSettings.from_env(os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_main(settings, args))
    except (SeedError, DatabaseUnavailableError) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 1
    if report is None:
        print(
            f"seed: {settings.safe_url} already has upcoming flights; left as it is",
            file=sys.stderr,
        )
        return 0
    print(
        f"seed: {settings.safe_url}: {report.airports} airports, {report.airlines} airlines, "
        f"{report.flights} flights, {report.fares} fares in {report.total_seconds:.1f}s "
        f"(generate {report.generate_seconds:.1f}s, load {report.load_seconds:.1f}s)",
        file=sys.stderr,
    )
    return 0
