"""Alembic migrations: upgrade and downgrade work, and the migrated schema is exactly
what search_service/models.py declares (constraints included)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from migrations.migrate import alembic_config, current_revision, upgrade
from search_service.models import Base
from tests.utils.db import call_in_thread, run_in_thread, temporary_database_sync

INVENTORY = {"airports", "airlines", "flights", "fares"}


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade_with_the_alembic_commands() -> None:
    with temporary_database_sync(migrated=False) as url:
        config = alembic_config(url)
        # alembic's commands start their own event loop (migrations/env.py).
        call_in_thread(command.upgrade, config, "head")
        assert INVENTORY | {"alembic_version"} <= run_in_thread(_tables(url))
        call_in_thread(command.downgrade, config, "base")
        assert run_in_thread(_tables(url)) == {"alembic_version"}
        call_in_thread(command.upgrade, config, "head")
        assert INVENTORY | {"alembic_version"} <= run_in_thread(_tables(url))


async def test_programmatic_upgrade_is_idempotent(search_db_url: str) -> None:
    engine = create_async_engine(search_db_url)
    try:
        await upgrade(engine)  # already at head: nothing to do, nothing lost
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert await current_revision(engine) == head
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM flights"))).scalar_one() > 0
    finally:
        await engine.dispose()


def _inventory_only(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Other services' tables (bookings) share the database and Base; their own tests
    # check them.
    return type_ != "table" or name in INVENTORY


async def test_models_and_migrated_schema_agree(search_db_conn: AsyncConnection) -> None:
    diff = await search_db_conn.run_sync(
        lambda sync: compare_metadata(
            MigrationContext.configure(
                sync, opts={"compare_type": True, "include_object": _inventory_only}
            ),
            Base.metadata,
        )
    )
    assert diff == []


async def test_constraint_and_index_names_match_the_models(search_db_conn: AsyncConnection) -> None:
    # compare_metadata does not look at CHECK constraints: compare names directly.
    declared = set()
    for table in Base.metadata.sorted_tables:
        if table.name in INVENTORY:
            declared |= {c.name for c in table.constraints}
            declared |= {i.name for i in table.indexes}
    rows = await search_db_conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables) "
            "UNION SELECT indexname FROM pg_indexes "
            "WHERE schemaname = 'public' AND tablename = ANY(:tables)"
        ),
        {"tables": sorted(INVENTORY)},
    )
    assert {r[0] for r in rows} == declared


@pytest.mark.parametrize(
    "column, expected",
    [
        ("airports.iata_code", "character(3)"),
        ("airports.latitude", "double precision"),
        ("flights.id", "bigint"),
        ("flights.departure_at", "timestamp with time zone"),
        ("fares.price", "numeric(12,2)"),
        ("fares.change_fee", "numeric(12,2)"),
        ("fares.currency", "character(3)"),
    ],
)
async def test_column_types(search_db_conn: AsyncConnection, column: str, expected: str) -> None:
    table, name = column.split(".")
    got = await search_db_conn.execute(
        text(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = CAST(:table AS regclass) AND a.attname = :name"
        ),
        {"table": table, "name": name},
    )
    assert got.scalar_one() == expected


async def test_ids_are_identity_columns(search_db_conn: AsyncConnection) -> None:
    rows = await search_db_conn.execute(
        text(
            "SELECT table_name, is_identity FROM information_schema.columns "
            "WHERE column_name = 'id' AND table_schema = 'public' "
            "AND table_name IN ('flights', 'fares')"
        )
    )
    assert dict(rows.all()) == {"flights": "YES", "fares": "YES"}
