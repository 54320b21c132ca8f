"""PostgreSQL access shared by every service: settings, engine, sessions, pre-start wait.

One ``AsyncEngine`` per process (asyncpg driver), built from ``DatabaseSettings`` that are
read once from the environment and passed down; no module-level engine. The search and
booking services run their queries on a plain asyncpg pool (``create_pool``, ``pooled``)
with the same settings, and use the engine only for the start-up checks.

Behind PgBouncer in transaction pooling mode (``DB_PGBOUNCER=true``) consecutive
transactions of one client connection may run on different server connections, so
nothing may outlive a transaction on the server: asyncpg's and SQLAlchemy's prepared
statement caches are off (statements are then prepared unnamed and run in the same
round trip sequence, which PgBouncer keeps on one server connection), and
``statement_timeout`` is not sent as a startup parameter (PgBouncer refuses unknown
ones; set it on the role or in PgBouncer's ``connect_query`` instead). The code leaves
no session state anyway (see ``rollback_if_open``). docs/operations.md, "PgBouncer".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from services.config import ConfigError, Setting, env_str, load, setting
from services.errors import UnavailableError

log = logging.getLogger("skyroute.db")

DEFAULT_DATABASE_URL = "postgresql+asyncpg://skyroute:skyroute@127.0.0.1:5432/skyroute"
ASYNC_DRIVER = "postgresql+asyncpg"


class DatabaseUnavailableError(UnavailableError):
    default_reason = "DATABASE_UNAVAILABLE"


def async_url(raw: str) -> URL:
    """``raw`` as a SQLAlchemy URL with the asyncpg driver.

    Plain ``postgresql://`` / ``postgres://`` URLs (what psql, the PG* tools and
    scripts/ensure_services.sh use) are accepted and switched to asyncpg.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("DATABASE_URL is not a valid database URL") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return url.set(drivername=ASYNC_DRIVER)
    raise ConfigError(f"DATABASE_URL must be a postgresql:// URL, got driver {url.drivername!r}")


# Read by hand (a URL, or a file holding one), declared here for the docs.
DATABASE_URL = Setting(
    "DATABASE_URL",
    "PostgreSQL URL, or `DATABASE_URL_FILE` naming a file that holds it",
    default_doc="the local `skyroute` database",
)


@dataclass(frozen=True)
class DatabaseSettings:
    # The URL may carry the password: repr/str never show it.
    url: URL = field(repr=False)
    # Up to pool_size connections, opened as needed and then kept. Overflow
    # connections are closed as soon as they are returned, so under steady load
    # above pool_size every burst opens new ones (a PostgreSQL backend each):
    # by default there are none.
    pool_size: int = field(
        default=10,
        metadata=setting(
            "DB_POOL_SIZE", "connections per replica, opened as needed and kept", minimum=1
        ),
    )
    max_overflow: int = field(
        default=0,
        metadata=setting("DB_MAX_OVERFLOW", "extra connections, closed on return", minimum=0),
    )
    pool_timeout_seconds: float = field(
        default=10.0,
        metadata=setting(
            "DB_POOL_TIMEOUT_SECONDS", "longest wait for a pooled connection", minimum=0.1
        ),
    )
    # Server-side cap on any one statement, so a runaway query cannot hold a pooled
    # connection (and its locks) forever. 0 disables it.
    statement_timeout_ms: int = field(
        default=30_000,
        metadata=setting(
            "DB_STATEMENT_TIMEOUT_MS", "server-side cap on any one statement (0 = none)", minimum=0
        ),
    )
    # PgBouncer 1.18 (Debian 12) has no protocol-level prepared statements
    # (max_prepared_statements came in 1.21), so the drivers must not keep any.
    pgbouncer: bool = field(
        default=False,
        metadata=setting(
            "DB_PGBOUNCER",
            "DATABASE_URL is a PgBouncer in transaction pooling mode: no "
            "prepared statement caches, no startup `statement_timeout`",
        ),
    )
    connect_timeout_seconds: float = field(
        default=5.0,
        metadata=setting(
            "DB_CONNECT_TIMEOUT_SECONDS", "longest wait for a new connection", minimum=0.1
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseSettings:
        """DATABASE_URL (or DATABASE_URL_FILE, a mounted secret) and DB_* tuning."""
        file_name = env.get("DATABASE_URL_FILE")
        if file_name:
            try:
                raw = Path(file_name).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"DATABASE_URL_FILE cannot be read: {exc.strerror}") from None
        else:
            raw = env_str(env, DATABASE_URL.env, DEFAULT_DATABASE_URL)
        return load(cls, env, url=async_url(raw))

    @property
    def safe_url(self) -> str:
        """The URL with the password masked, for logs and error messages."""
        return self.url.render_as_string(hide_password=True)

    def with_url(self, url: str | URL) -> DatabaseSettings:
        """The same settings pointed at another database (tests, scratch databases)."""
        return dataclasses.replace(
            self, url=async_url(url if isinstance(url, str) else url.render_as_string(False))
        )


def create_engine(settings: DatabaseSettings, *, application_name: str = "skyroute") -> AsyncEngine:
    """The process's engine: asyncpg, a bounded pool, pre-ping, a statement timeout."""
    connect_args: dict[str, object] = {
        "timeout": settings.connect_timeout_seconds,
        "server_settings": _server_settings(settings, application_name),
    }
    if settings.pgbouncer:
        # Both caches off: asyncpg then prepares every statement unnamed (PgBouncer
        # keeps Parse..Sync on one server connection), so no name can be missing on,
        # or clash with, another server connection.
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    return create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_seconds,
        # A connection broken by a PostgreSQL restart or failover is replaced
        # instead of failing the next request that draws it from the pool.
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _server_settings(settings: DatabaseSettings, application_name: str) -> dict[str, str]:
    server_settings = {"application_name": application_name}
    # PgBouncer accepts only a few startup parameters (application_name is one).
    if settings.statement_timeout_ms and not settings.pgbouncer:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    return server_settings


async def rollback_if_open(connection: asyncpg.Connection) -> None:
    """Pool reset for code that leaves no session state (no SET, LISTEN or advisory
    locks): only a transaction left open is ended, so a released connection costs no
    reset query (asyncpg's default runs one on every release)."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


def create_pool(settings: DatabaseSettings, *, application_name: str = "skyroute") -> asyncpg.Pool:
    """An asyncpg pool with the engine's limits (``pool_size`` + ``max_overflow``
    connections at most, two kept open), statement timeout and application name, for
    code that leaves no session state behind (see ``rollback_if_open``). Not
    connected yet: ``await pool`` (or ``pool.init()``) before use; that raises if the
    database does not answer. Take connections with ``pooled``. With
    ``settings.pgbouncer``, no statement cache (see the module's docstring)."""
    return asyncpg.create_pool(
        settings.url.set(drivername="postgresql").render_as_string(hide_password=False),
        min_size=min(settings.pool_size, 2),
        max_size=settings.pool_size + settings.max_overflow,
        timeout=settings.connect_timeout_seconds,
        server_settings=_server_settings(settings, application_name),
        statement_cache_size=0 if settings.pgbouncer else 100,  # 100: asyncpg's default
        reset=rollback_if_open,
    )


async def open_pool(pool: asyncpg.Pool, settings: DatabaseSettings) -> None:
    """Connects a pool from ``create_pool``; DatabaseUnavailableError, naming the
    database (password masked) and the error type, if it cannot."""
    try:
        await pool
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailableError(
            f"cannot open the database pool for {settings.safe_url}: {type(exc).__name__}"
        ) from None


# How long a service waits at start for its database before it gives up.
START_WAIT_SECONDS = 30.0


class PooledDatabase:
    """A service's database: an engine used only at start, to wait for the database
    and run a check (the schema, say), then an asyncpg pool (``create_pool``) that runs
    every query. ``pool`` can be handed out at once; it works after ``open``."""

    def __init__(self, settings: DatabaseSettings, application_name: str) -> None:
        self.settings = settings
        self._engine = create_engine(settings, application_name=application_name)
        self.pool = create_pool(settings, application_name=application_name)
        self._pool_open = False

    async def open(
        self,
        check: Callable[[AsyncEngine], Awaitable[None]] | None = None,
        wait_seconds: float = START_WAIT_SECONDS,
    ) -> None:
        """Waits up to ``wait_seconds`` for the database, runs ``check``, then opens the
        pool. Raises DatabaseUnavailableError (or what ``check`` raises)."""
        await wait_for_database(self._engine, wait_seconds)
        if check is not None:
            await check(self._engine)
        await self._engine.dispose()
        await open_pool(self.pool, self.settings)
        self._pool_open = True

    async def close(self) -> None:
        await self._engine.dispose()
        if self._pool_open:
            self._pool_open = False
            await self.pool.close()


# Connection-level failures: the database is down, restarting or out of connections.
CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
)


@contextlib.asynccontextmanager
async def pooled(pool: asyncpg.Pool, acquire_timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """A connection from ``pool`` (waiting at most ``acquire_timeout`` for one); a database
    that cannot be reached, or drops the connection, is DatabaseUnavailableError
    (UNAVAILABLE, retryable) with the driver's error type, never its text."""
    # An idle connection is handed over without waiting (and a new connection has the
    # pool's connect timeout), so the acquire timeout, which costs a timer on both
    # acquire and release, is armed only when the caller may have to wait. Without it
    # the release is untimed too: it sends nothing unless a transaction was left open
    # (rollback_if_open), and a caller's deadline still ends its call.
    timeout = None if pool.get_idle_size() else acquire_timeout
    try:
        async with pool.acquire(timeout=timeout) as connection:
            yield connection
    except CONNECTION_ERRORS as exc:
        raise DatabaseUnavailableError(
            f"the database is unavailable ({type(exc).__name__}); retry"
        ) from None


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after commit without a lazy
    # reload, which async sessions cannot do implicitly.
    return async_sessionmaker(engine, expire_on_commit=False)


# `timeout` is a retry budget spanning many attempts, not one operation's deadline.
async def wait_for_database(engine: AsyncEngine, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Pre-start step: return once ``SELECT 1`` works, retrying with backoff.

    Raises DatabaseUnavailableError after ``timeout`` seconds, naming the database
    (password masked) and the last error.
    """
    deadline = time.monotonic() + timeout
    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if attempt > 1:
                log.info("database answers", extra={"attempts": attempt})
            return
        except Exception as exc:  # any failure to connect or query means "not yet"
            last = f"{type(exc).__name__}: {exc}".splitlines()[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                where = engine.url.render_as_string(hide_password=True)
                raise DatabaseUnavailableError(
                    f"database {where} did not answer within {timeout:g}s "
                    f"({attempt} attempts; last error: {last})"
                ) from None
            log.warning("database not ready, retrying", extra={"attempt": attempt, "error": last})
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 2.0)
