"""Throwaway PostgreSQL databases for tests.

Each test database is created fresh (``skyroute_test_<hex>``) by the ``skyroute`` role
(which has CREATEDB) over a maintenance connection, optionally migrated to head, and
dropped with ``WITH (FORCE)`` afterwards, so tests never read or write the data of the
``skyroute`` database itself.

The server and role come from TEST_DATABASE_URL, else DATABASE_URL, else the local
default; only its host, port and credentials are used, plus its database name as the
maintenance database to connect to for CREATE/DROP DATABASE.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.migrate import upgrade
from services.db import async_url

T = TypeVar("T")

DEFAULT_ADMIN_URL = "postgresql://skyroute:skyroute@127.0.0.1:5432/skyroute"
TEST_DATABASE_PREFIX = "skyroute_test_"


def admin_url() -> URL:
    raw = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_ADMIN_URL
    return make_url(raw).set(drivername="postgresql")


def _dsn(url: URL) -> str:
    """A libpq-style DSN for asyncpg (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_database(prefix: str = TEST_DATABASE_PREFIX) -> str:
    """Create an empty uniquely named database; returns its asyncpg SQLAlchemy URL."""
    admin = admin_url()
    name = f"{prefix}{secrets.token_hex(6)}"
    conn = await asyncpg.connect(_dsn(admin), timeout=10)
    try:
        await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await conn.close()
    return async_url(_dsn(admin.set(database=name))).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drop the database at ``url``, disconnecting anyone still on it."""
    name = make_url(url).database
    if not name or not name.startswith(TEST_DATABASE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    conn = await asyncpg.connect(_dsn(admin_url()), timeout=10)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def migrate(url: str, revision: str = "head") -> None:
    engine = create_async_engine(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def temporary_database(*, migrated: bool = True) -> AsyncIterator[str]:
    """``async with temporary_database() as url:`` a fresh (migrated) database."""
    url = await create_database()
    try:
        if migrated:
            await migrate(url)
        yield url
    finally:
        await drop_database(url)


def call_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` in another thread and wait for it.

    For code that starts an event loop of its own (asyncio.run, alembic's commands via
    migrations/env.py): works whether or not the caller's thread has a running loop, and
    leaves the caller's loop (pytest-asyncio's) alone.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a private event loop in another thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@contextlib.contextmanager
def temporary_database_sync(*, migrated: bool = True) -> Iterator[str]:
    """``with temporary_database_sync() as url:`` for synchronous code."""
    url = run_in_thread(create_database())
    try:
        if migrated:
            run_in_thread(migrate(url))
        yield url
    finally:
        run_in_thread(drop_database(url))
