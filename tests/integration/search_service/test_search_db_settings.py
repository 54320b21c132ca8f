"""services/db.py: settings from the environment, the engine, the pre-start wait."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from services.config import ConfigError
from services.db import (
    DEFAULT_DATABASE_URL,
    DatabaseSettings,
    DatabaseUnavailableError,
    create_engine,
    create_pool,
    open_pool,
    pooled,
    session_factory,
    wait_for_database,
)


def test_defaults() -> None:
    settings = DatabaseSettings.from_env({})
    assert settings.url.render_as_string(hide_password=False) == DEFAULT_DATABASE_URL
    assert (settings.pool_size, settings.max_overflow) == (10, 0)
    assert settings.statement_timeout_ms == 30_000


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u:p@db:5433/inv",
        "postgres://u:p@db:5433/inv",
        "postgresql+asyncpg://u:p@db:5433/inv",
    ],
)
def test_plain_postgres_urls_get_the_asyncpg_driver(raw: str) -> None:
    url = DatabaseSettings.from_env({"DATABASE_URL": raw}).url
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.password) == ("db", 5433, "inv", "p")


def test_tuning_from_the_environment() -> None:
    settings = DatabaseSettings.from_env(
        {
            "DB_POOL_SIZE": "12",
            "DB_MAX_OVERFLOW": "3",
            "DB_STATEMENT_TIMEOUT_MS": "0",
            "DB_POOL_TIMEOUT_SECONDS": "2.5",
            "DB_CONNECT_TIMEOUT_SECONDS": "1",
        }
    )
    assert (
        settings.pool_size,
        settings.max_overflow,
        settings.statement_timeout_ms,
        settings.pool_timeout_seconds,
        settings.connect_timeout_seconds,
    ) == (12, 3, 0, 2.5, 1.0)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DATABASE_URL": "mysql://u:p@h/d"}, "postgresql"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"DB_MAX_OVERFLOW": "-1"}, "DB_MAX_OVERFLOW"),
        ({"DB_STATEMENT_TIMEOUT_MS": "soon"}, "DB_STATEMENT_TIMEOUT_MS"),
        ({"DATABASE_URL_FILE": "/nonexistent/secret"}, "DATABASE_URL_FILE"),
    ],
)
def test_bad_settings_refuse_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DatabaseSettings.from_env(env)


def test_url_from_a_mounted_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "database-url"
    secret.write_text("postgresql://app:s3cret-pw@db/inv\n")
    settings = DatabaseSettings.from_env(
        {"DATABASE_URL_FILE": str(secret), "DATABASE_URL": "postgresql://ignored@x/y"}
    )
    assert settings.url.password == "s3cret-pw" and settings.url.host == "db"


def test_password_never_shown() -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": "postgresql://app:s3cret-pw@db/inv"})
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in settings.safe_url and "***" in settings.safe_url


async def test_engine_applies_the_statement_timeout(search_db_url: str) -> None:
    settings = DatabaseSettings.from_env({"DB_STATEMENT_TIMEOUT_MS": "1234"}).with_url(
        search_db_url
    )
    engine = create_engine(settings)
    try:
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
        async with session_factory(engine)() as session:
            shown = (await session.execute(text("SHOW statement_timeout"))).scalar_one()
            assert shown == "1234ms"
            with pytest.raises(Exception, match="statement timeout"):
                await session.execute(text("SELECT pg_sleep(2)"))
    finally:
        await engine.dispose()


async def test_wait_for_database_returns_when_it_answers(search_db_url: str) -> None:
    engine = create_engine(DatabaseSettings.from_env({}).with_url(search_db_url))
    try:
        await wait_for_database(engine, timeout=5)
    finally:
        await engine.dispose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_wait_for_database_gives_up_with_a_clear_error() -> None:
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{_closed_port()}/nowhere"
    engine = create_engine(DatabaseSettings.from_env({"DATABASE_URL": url}))
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailableError) as failure:
            await wait_for_database(engine, timeout=0.6)
    finally:
        await engine.dispose()
    assert 0.5 <= time.monotonic() - started < 5
    message = str(failure.value)
    assert "did not answer within 0.6s" in message and "/nowhere" in message
    assert "s3cret-pw" not in message
    assert failure.value.reason == "DATABASE_UNAVAILABLE"


async def test_pooled_waits_for_a_busy_pool_at_most_the_acquire_timeout(search_db_url: str) -> None:
    """An idle connection is handed over at once; with none idle the caller waits at
    most the acquire timeout, then gets UNAVAILABLE, and the pool still works."""
    settings = DatabaseSettings.from_env({"DB_POOL_SIZE": "1"}).with_url(search_db_url)
    pool = create_pool(settings)
    await open_pool(pool, settings)
    try:
        async with pooled(pool, 5.0) as held:
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError, match="TimeoutError"):
                async with pooled(pool, 0.3):
                    pass
            assert 0.25 < time.monotonic() - started < 3.0
            assert await held.fetchval("SELECT 1") == 1
        async with pooled(pool, 0.3) as again:
            assert await again.fetchval("SELECT 2") == 2
    finally:
        await pool.close()
