"""The booking migrations (0002, 0003 provider orders) create exactly what
booking_service/store/models.py declares, and downgrade cleanly: to the bookings without
provider orders, and to the inventory alone."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import booking_service.store.models as models
import migrations.schema  # noqa: F401  the inventory tables booking_segments refers to
from booking_service.app import check_schema
from migrations.migrate import alembic_config
from services.config import ConfigError
from tests.utils.db import (
    call_in_thread,
    migrate,
    run_in_thread,
    temporary_database,
    temporary_database_sync,
)

BOOKING_TABLES = {
    "bookings",
    "booking_segments",
    "booking_passengers",
    "booking_hotel_stays",
    "booking_packages",
}


async def test_models_and_migration_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), models.Base.metadata
            )
        )
        # compare_metadata skips CHECK constraints: compare their names directly.
        rows = await conn.execute(
            text(
                "SELECT conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE t.relname = ANY(:tables) UNION SELECT indexname FROM pg_indexes "
                "WHERE tablename = ANY(:tables)"
            ),
            {"tables": sorted(BOOKING_TABLES)},
        )
        in_db = {r[0] for r in rows}
        sequence = (await conn.execute(text("SELECT to_regclass('ticket_serial_seq')"))).scalar()
    assert diff == []
    declared = set()
    for name in BOOKING_TABLES:
        table = models.Base.metadata.tables[name]
        declared |= {c.name for c in table.constraints} | {i.name for i in table.indexes}
    assert in_db == declared
    assert sequence is not None


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


async def _columns(url: str, table: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
                {"t": table},
            )
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


def test_downgrade_to_the_inventory_and_back() -> None:
    with temporary_database_sync() as url:
        config = alembic_config(url)
        assert run_in_thread(_tables(url)) >= BOOKING_TABLES
        call_in_thread(command.downgrade, config, "0002")
        assert "provider_remark" not in run_in_thread(_columns(url, "bookings"))
        call_in_thread(command.downgrade, config, "0001")
        assert not BOOKING_TABLES & run_in_thread(_tables(url))
        call_in_thread(command.upgrade, config, "head")
        assert run_in_thread(_tables(url)) >= BOOKING_TABLES
        assert "provider_remark" in run_in_thread(_columns(url, "bookings"))


@pytest.mark.parametrize("revision", ["0002", "0006"])  # before provider orders; documents
async def test_service_refuses_an_out_of_date_schema(revision: str) -> None:
    async with temporary_database(migrated=False) as url:
        await migrate(url, revision)
        engine = create_async_engine(url)
        try:
            with pytest.raises(ConfigError, match="out of date"):
                await check_schema(engine)
            await migrate(url, "head")
            await check_schema(engine)
        finally:
            await engine.dispose()
