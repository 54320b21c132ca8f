"""``python -m migrations``: wait for PostgreSQL, then ``alembic upgrade head``.

The pre-start step of the search and booking services (``make migrate``, the Kubernetes
migration Job): it migrates every service's tables (migrations/schema.py). Safe to run
from several replicas at once: migrations queue on an advisory lock (migrations/env.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.config import ConfigError
from services.db import DatabaseSettings, DatabaseUnavailableError, create_engine, wait_for_database

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"

log = logging.getLogger("skyroute.migrate")


def alembic_config(database_url: str | None = None) -> Config:
    """The project's Alembic config; ``database_url`` overrides DATABASE_URL."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["keep_logging"] = True
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` in one transaction."""

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def main(settings: DatabaseSettings, wait_seconds: float, revision: str) -> None:
    engine = create_engine(settings, application_name="skyroute-migrate")
    try:
        await wait_for_database(engine, wait_seconds)
        before = await current_revision(engine)
        await upgrade(engine, revision)
        after = await current_revision(engine)
        print(f"migrate: {settings.safe_url} at revision {after} (was {before})", file=sys.stderr)
    finally:
        await engine.dispose()


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migrations", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the database to answer (default 30)",
    )
    parser.add_argument("--revision", default="head", help="target revision (default head)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = DatabaseSettings.from_env(os.environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(main(settings, args.wait, args.revision))
    except DatabaseUnavailableError as exc:
        print(f"migrate: {exc.message}", file=sys.stderr)
        return 1
    return 0
