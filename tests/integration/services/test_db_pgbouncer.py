"""services/db.py through a real PgBouncer in transaction pooling mode (tests/utils/
pgbouncer.py): with DB_PGBOUNCER=true the asyncpg pool and the SQLAlchemy engine work
while many client connections share a few server connections; without it the drivers'
prepared statements break there (which is why the setting exists); and migrations,
whose lock and settings are transaction-scoped, still queue on their lock through it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from migrations.migrate import current_revision
from services.db import DatabaseSettings, create_engine, create_pool, open_pool, pooled
from tests.utils.db import temporary_database
from tests.utils.pgbouncer import PgBouncer

CLIENTS = 12  # client connections, against the bouncer's 4 server connections


@pytest.fixture
async def bounced(pgbouncer: PgBouncer) -> AsyncIterator[str]:
    """A fresh migrated database's URL through PgBouncer."""
    async with temporary_database() as url:
        yield pgbouncer.url_for(url)


def settings_for(url: str, *, pgbouncer: bool) -> DatabaseSettings:
    return DatabaseSettings.from_env(
        {"DATABASE_URL": url, "DB_PGBOUNCER": str(pgbouncer).lower(), "DB_POOL_SIZE": str(CLIENTS)}
    )


async def run_queries(pool: asyncpg.Pool, count: int = 300) -> list[int]:
    async def one(i: int) -> int:
        async with pooled(pool, 10.0) as connection:
            # A few distinct statements, each with parameters: prepared, not simple.
            value: int = await connection.fetchval(f"SELECT $1::int + {i % 5}", i)
            return value

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def test_the_pool_works_through_pgbouncer_in_its_mode(bounced: str) -> None:
    settings = settings_for(bounced, pgbouncer=True)
    assert settings.pgbouncer and settings.statement_timeout_ms  # a timeout is set...
    pool = create_pool(settings)
    await open_pool(pool, settings)  # ...but not sent: PgBouncer would refuse it
    try:
        for _ in range(3):
            assert await run_queries(pool) == [i + i % 5 for i in range(300)]
        async with pooled(pool, 10.0) as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO airlines (iata_code, name) VALUES ($1, $2)", "PB", "Bouncer Air"
            )
            assert (
                await connection.fetchval("SELECT name FROM airlines WHERE iata_code = $1", "PB")
                == "Bouncer Air"
            )
    finally:
        await pool.close()


async def test_without_the_setting_prepared_statements_break_through_pgbouncer(
    bounced: str,
) -> None:
    # No startup statement_timeout either, so that the statement cache alone fails.
    settings = DatabaseSettings.from_env(
        {"DATABASE_URL": bounced, "DB_POOL_SIZE": str(CLIENTS), "DB_STATEMENT_TIMEOUT_MS": "0"}
    )
    pool = create_pool(settings)
    await open_pool(pool, settings)
    try:
        with pytest.raises(
            (asyncpg.InvalidSQLStatementNameError, asyncpg.DuplicatePreparedStatementError)
        ):
            for _ in range(5):
                await run_queries(pool)
    finally:
        await pool.close()


async def test_the_engine_works_through_pgbouncer_in_its_mode(bounced: str) -> None:
    engine = create_engine(settings_for(bounced, pgbouncer=True))

    async def one(i: int) -> int:
        async with engine.connect() as conn:
            first = (await conn.execute(text("SELECT :n + 1"), {"n": i})).scalar_one()
            await conn.commit()  # the next statement may run on another server connection
            second = (await conn.execute(text("SELECT :n * 2"), {"n": first})).scalar_one()
            return int(second)

    try:
        for _ in range(3):
            assert await asyncio.gather(*(one(i) for i in range(40))) == [
                (i + 1) * 2 for i in range(40)
            ]
    finally:
        await engine.dispose()


async def test_migrations_queue_on_their_lock_through_pgbouncer(pgbouncer: PgBouncer) -> None:
    """The lock is pg_advisory_xact_lock and the timeout SET LOCAL, in one transaction:
    through PgBouncer too, concurrent ``python -m migrations`` runs (processes, as
    replicas' jobs are) queue on the lock and all succeed."""
    async with temporary_database(migrated=False) as url:
        bounced = pgbouncer.url_for(url)
        env = {**os.environ, "DATABASE_URL": bounced, "DB_PGBOUNCER": "true"}
        env.pop("DATABASE_URL_FILE", None)
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "migrations",
                "--wait",
                "10",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = [(await run.communicate())[0].decode() for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        engine = create_engine(settings_for(bounced, pgbouncer=True))
        try:
            assert await current_revision(engine) is not None
        finally:
            await engine.dispose()
