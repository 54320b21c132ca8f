"""Alembic environment: async (asyncpg), database from DATABASE_URL via services/db.py.

Ways in:
- the alembic CLI (``python -m alembic upgrade head``): settings from the environment;
- programmatic with a URL: ``config.attributes["database_url"]`` (test databases);
- programmatic with a connection: ``config.attributes["connection"]``, a sync
  ``Connection`` from ``AsyncConnection.run_sync`` (migrations/migrate.py), so no
  second event loop is started.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Every service's tables, so autogenerate and compare see them all.
from migrations.schema import metadata
from services.db import DatabaseSettings

config = context.config
target_metadata = metadata

# Any number of replicas or jobs may run migrations at once; they queue on this lock,
# and each re-reads the current revision after taking it.
MIGRATION_LOCK_KEY = 0x736B79726F757465  # b"skyroute": arbitrary but fixed

# The CLI configures logging from alembic.ini; programmatic callers keep their own.
if config.config_file_name is not None and not config.attributes.get("keep_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_settings() -> DatabaseSettings:
    settings = DatabaseSettings.from_env(os.environ)
    url = config.attributes.get("database_url")
    return settings.with_url(url) if url else settings


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    context.configure(
        url=database_settings().url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # All revisions of one run in one transaction: a failure leaves nothing half-done.
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        # DDL may wait on locks held by live traffic; never cut it off half-way.
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        context.run_migrations()


async def run_async_migrations() -> None:
    settings = database_settings()
    engine = create_async_engine(
        settings.url,
        poolclass=pool.NullPool,
        connect_args={"timeout": settings.connect_timeout_seconds},
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
