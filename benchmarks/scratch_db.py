"""A PostgreSQL database of the benchmark's own: created, migrated and seeded at the
start, dropped at the end (also on Ctrl-C); and the server processes working for it,
so their CPU is counted as the benchmark's, not as other processes'.

Created through the test helpers (tests/utils/db.py), so it is named like a test
database (``skyroute_test_<hex>``) and the same guard refuses to drop anything else.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from inventory_seed.seed import SeedReport, options_from_args, seed
from tests.utils.db import admin_url, create_database, drop_database, migrate

# PostgreSQL's background processes, by process title.
_BACKGROUND = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum",
    "logical replication launcher",
)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ScratchDatabase:
    def __init__(self) -> None:
        self.url = ""  # postgresql+asyncpg://..., for the services

    @property
    def dsn(self) -> str:
        """The URL for asyncpg."""
        return _dsn(self.url)

    @property
    def admin_dsn(self) -> str:
        """The maintenance database, for asking about this one without being counted."""
        return _dsn(admin_url().render_as_string(hide_password=False))

    @property
    def name(self) -> str:
        return make_url(self.url).database or ""

    def create(self, scale: str) -> SeedReport:
        """Creates, migrates and seeds the database at ``scale``."""
        self.url = asyncio.run(create_database())
        asyncio.run(migrate(self.url))
        return asyncio.run(self._seed(scale))

    async def _seed(self, scale: str) -> SeedReport:
        engine = create_async_engine(self.url)
        try:
            return await seed(engine, options_from_args(scale))
        finally:
            await engine.dispose()

    def drop(self) -> None:
        if self.url:
            asyncio.run(drop_database(self.url))
            self.url = ""

    def server_pids(self, background: bool = True) -> list[int]:
        """PostgreSQL processes working for this database: its backends (their process
        titles name the database), and unless ``background`` is False the server's
        shared background processes (WAL writer, checkpointer...), whose work is mostly
        ours during a run on a quiet machine (not on a shared one). Read from /proc, so
        asking costs the server nothing."""
        name = self.name
        if not name:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if not title.startswith("postgres: "):
                continue
            words = title.split()
            if name in words or (background and any(w in title for w in _BACKGROUND)):
                pids.append(int(entry.name))
        return pids

    def counters(self) -> dict[str, int]:
        """This database's sessions (connections) opened, transactions committed and
        rolled back so far, by the server's statistics (flushed about once a second)."""
        return asyncio.run(self._counters())

    def sessions(self) -> int:
        return self.counters()["sessions"]

    async def _counters(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            row = await conn.fetchrow(
                "SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database "
                "WHERE datname = $1",
                self.name,
            )
        finally:
            await conn.close()
        return {k: int(row[k] or 0) for k in ("sessions", "xact_commit", "xact_rollback")}

    def settings(self, names: tuple[str, ...]) -> dict[str, str]:
        return asyncio.run(self._settings(names))

    async def _settings(self, names: tuple[str, ...]) -> dict[str, str]:
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])", list(names)
            )
        finally:
            await conn.close()
        return {row["name"]: row["setting"] for row in rows}


def redis_server_pids(redis_url: str) -> list[int]:
    """The redis-server serving ``redis_url`` (matched by its port on the command line)."""
    port = str(urlsplit(redis_url).port or 6379)
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            argv
            and b"redis-server" in argv[0]
            and any(a.endswith(f":{port}".encode()) or a == port.encode() for a in argv)
        ):
            pids.append(int(entry.name))
    return pids
