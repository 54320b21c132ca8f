"""Search inventory fixtures: one database per test session, migrated and seeded
``tiny``, dropped at the end. Tests that change rows do so in a rolled-back transaction
(``search_db_conn``) or in a database of their own (tests/utils/db.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inventory_seed.generator import SeedOptions
from inventory_seed.seed import options_from_args, seed
from tests.utils.db import run_in_thread, temporary_database_sync


@pytest.fixture(scope="session")
def search_seed_options() -> SeedOptions:
    """What the session database was seeded with (tiny; starts tomorrow, UTC)."""
    return options_from_args("tiny", seed=42)


async def _seed(url: str, options: SeedOptions) -> None:
    engine = create_async_engine(url)
    try:
        await seed(engine, options)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def search_db_url(search_seed_options: SeedOptions) -> Iterator[str]:
    """URL (postgresql+asyncpg, with password) of the session's seeded test database."""
    with temporary_database_sync() as url:
        run_in_thread(_seed(url, search_seed_options))
        yield url


@pytest.fixture
async def search_engine(search_db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the session database, bound to this test's event loop."""
    engine = create_async_engine(search_db_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def search_db_conn(search_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with search_engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()
