"""All of the account service's SQL (asyncpg).

Every single-use thing is used up by one conditional statement, so of any number of
concurrent attempts on any number of replicas exactly one wins:

- a refresh token: ``UPDATE account_refresh_tokens SET used_at = now() WHERE
  token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING ...``. A
  concurrent attempt waits on the winner's row lock, re-reads the row, finds it used
  and gets nothing back; it then sees ``used_at`` and reports reuse, which revokes the
  session (the token's family) in the same transaction;
- a link token (verification, reset): the same shape on ``account_link_tokens``;
- a session: ``UPDATE account_sessions SET revoked_at = now() WHERE ... AND revoked_at
  IS NULL``; a refresh locks its session row (``FOR UPDATE``) before minting, so it
  either sees the revocation or commits before it.

Times come from PostgreSQL's clock, never a replica's.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from account_service.store.models import LinkPurpose
from services.db import pooled


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: uuid.UUID
    email: str
    password_hash: str
    verified: bool


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: uuid.UUID
    device_name: str
    user_agent: str
    ip_address: str
    created_at: datetime
    last_used_at: datetime


@dataclass(frozen=True, slots=True)
class NewSession:
    session_id: uuid.UUID
    account_id: uuid.UUID
    refresh_expires_at: datetime


class RefreshOutcome(enum.Enum):
    ROTATED = "ROTATED"
    INVALID = "INVALID"  # unknown or expired
    REUSED = "REUSED"  # used before: the session is now revoked
    SESSION_REVOKED = "SESSION_REVOKED"


@dataclass(frozen=True, slots=True)
class RefreshResult:
    outcome: RefreshOutcome
    session: NewSession | None = None
    # The session revoked because of reuse (to announce).
    revoked_session: uuid.UUID | None = None


ROTATE_SQL = """
UPDATE account_refresh_tokens SET used_at = now()
WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
RETURNING session_id
"""

CONSUME_LINK_SQL = """
UPDATE account_link_tokens SET used_at = now()
WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
RETURNING account_id
"""

REVOKE_ALL_SQL = """
UPDATE account_sessions SET revoked_at = now(), revoke_reason = $2
WHERE account_id = $1 AND revoked_at IS NULL RETURNING id
"""


class AccountStore:
    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self._pool = pool
        self._timeout = acquire_timeout

    def _conn(self):  # type: ignore[no-untyped-def]
        return pooled(self._pool, self._timeout)

    # -- accounts -------------------------------------------------------------------

    async def create_account(self, email: str, password_hash: str) -> uuid.UUID | None:
        """The new account's id; None when the email is registered already."""
        async with self._conn() as conn:
            value = await conn.fetchval(
                "INSERT INTO accounts (email, password_hash) VALUES ($1, $2) "
                "ON CONFLICT (email) DO NOTHING RETURNING id",
                email,
                password_hash,
            )
        return value if isinstance(value, uuid.UUID) else None

    async def by_email(self, email: str) -> AccountRecord | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "SELECT id, email, password_hash, email_verified_at IS NOT NULL AS verified "
                "FROM accounts WHERE email = $1",
                email,
            )
        return None if row is None else AccountRecord(**dict(row))

    async def replace_hash(self, account_id: uuid.UUID, old: str, new: str) -> bool:
        """Rehash after a login (new parameters), unless the password changed meanwhile."""
        async with self._conn() as conn:
            status = await conn.execute(
                "UPDATE accounts SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                account_id,
                old,
                new,
            )
        return str(status).endswith(" 1")

    # -- single-use links and the outbox --------------------------------------------

    async def issue_link(
        self,
        account_id: uuid.UUID,
        purpose: LinkPurpose,
        token_hash: str,
        ttl_seconds: float,
        message: tuple[str, str, str],
    ) -> None:
        """Stores a link token (hashed) and queues its message (recipient, subject, body)
        in one transaction."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO account_link_tokens (token_hash, account_id, purpose, expires_at) "
                "VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
                token_hash,
                account_id,
                purpose.value,
                ttl_seconds,
            )
            await conn.execute(
                "INSERT INTO account_outbox (recipient, subject, body) VALUES ($1, $2, $3)",
                *message,
            )

    async def send(self, message: tuple[str, str, str]) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO account_outbox (recipient, subject, body) VALUES ($1, $2, $3)",
                *message,
            )

    async def verify_email(self, token_hash: str) -> bool:
        async with self._conn() as conn, conn.transaction():
            account_id = await conn.fetchval(
                CONSUME_LINK_SQL, token_hash, LinkPurpose.VERIFY_EMAIL.value
            )
            if account_id is None:
                return False
            await conn.execute(
                "UPDATE accounts SET email_verified_at = coalesce(email_verified_at, now()) "
                "WHERE id = $1",
                account_id,
            )
        return True

    async def reset_password(self, token_hash: str, password_hash: str) -> list[uuid.UUID] | None:
        """Uses the reset token up, sets the password, verifies the email (the link
        reached it) and revokes every session. None for a token that does not work;
        else the revoked sessions."""
        async with self._conn() as conn, conn.transaction():
            account_id = await conn.fetchval(
                CONSUME_LINK_SQL, token_hash, LinkPurpose.RESET_PASSWORD.value
            )
            if account_id is None:
                return None
            await conn.execute(
                "UPDATE accounts SET password_hash = $2, password_changed_at = now(), "
                "email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1",
                account_id,
                password_hash,
            )
            rows = await conn.fetch(REVOKE_ALL_SQL, account_id, "PASSWORD_RESET")
        return [r["id"] for r in rows]

    async def outbox(self, recipient: str, limit: int = 20) -> list[asyncpg.Record]:
        async with self._conn() as conn:
            return list(
                await conn.fetch(
                    "SELECT recipient, subject, body, created_at FROM account_outbox "
                    "WHERE recipient = $1 ORDER BY id DESC LIMIT $2",
                    recipient,
                    limit,
                )
            )

    # -- sessions and refresh tokens ------------------------------------------------

    async def create_session(
        self,
        account_id: uuid.UUID,
        device: tuple[str, str, str],
        refresh_hash: str,
        refresh_ttl_seconds: float,
    ) -> NewSession:
        """A session (device name, user agent, address) with its first refresh token."""
        async with self._conn() as conn, conn.transaction():
            session_id = await conn.fetchval(
                "INSERT INTO account_sessions (account_id, device_name, user_agent, ip_address) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                account_id,
                *device,
            )
            expires = await self._add_refresh(conn, session_id, refresh_hash, refresh_ttl_seconds)
        return NewSession(session_id, account_id, expires)

    @staticmethod
    async def _add_refresh(
        conn: asyncpg.Connection, session_id: uuid.UUID, token_hash: str, ttl: float
    ) -> datetime:
        expires: datetime = await conn.fetchval(
            "INSERT INTO account_refresh_tokens (token_hash, session_id, expires_at) "
            "VALUES ($1, $2, now() + make_interval(secs => $3)) RETURNING expires_at",
            token_hash,
            session_id,
            ttl,
        )
        return expires

    async def rotate_refresh(self, old_hash: str, new_hash: str, ttl: float) -> RefreshResult:
        async with self._conn() as conn, conn.transaction():
            session_id = await conn.fetchval(ROTATE_SQL, old_hash)
            if session_id is None:
                row = await conn.fetchrow(
                    "SELECT session_id, used_at IS NOT NULL AS used "
                    "FROM account_refresh_tokens WHERE token_hash = $1",
                    old_hash,
                )
                if row is None or not row["used"]:
                    return RefreshResult(RefreshOutcome.INVALID)
                revoked = await conn.fetchval(
                    "UPDATE account_sessions SET revoked_at = now(), "
                    "revoke_reason = 'REFRESH_TOKEN_REUSED' "
                    "WHERE id = $1 AND revoked_at IS NULL RETURNING id",
                    row["session_id"],
                )
                # Announce it again even if it was revoked already (idempotent).
                return RefreshResult(
                    RefreshOutcome.REUSED, revoked_session=revoked or row["session_id"]
                )
            session = await conn.fetchrow(
                "SELECT account_id, revoked_at IS NOT NULL AS revoked "
                "FROM account_sessions WHERE id = $1 FOR UPDATE",
                session_id,
            )
            if session is None or session["revoked"]:
                return RefreshResult(RefreshOutcome.SESSION_REVOKED)
            await conn.execute(
                "UPDATE account_sessions SET last_used_at = now() WHERE id = $1", session_id
            )
            expires = await self._add_refresh(conn, session_id, new_hash, ttl)
        return RefreshResult(
            RefreshOutcome.ROTATED, NewSession(session_id, session["account_id"], expires)
        )

    async def session_active(self, account_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        async with self._conn() as conn:
            value = await conn.fetchval(
                "SELECT 1 FROM account_sessions WHERE id = $1 AND account_id = $2 "
                "AND revoked_at IS NULL",
                session_id,
                account_id,
            )
        return value is not None

    async def list_sessions(self, account_id: uuid.UUID, limit: int = 100) -> list[SessionRecord]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT id, device_name, user_agent, ip_address, created_at, last_used_at "
                "FROM account_sessions WHERE account_id = $1 AND revoked_at IS NULL "
                "ORDER BY created_at DESC, id LIMIT $2",
                account_id,
                limit,
            )
        return [SessionRecord(**dict(r)) for r in rows]

    async def revoke_session(
        self, account_id: uuid.UUID, session_id: uuid.UUID, reason: str
    ) -> bool | None:
        """True: revoked now; False: it was already; None: not the account's session."""
        async with self._conn() as conn:
            row = await conn.fetchrow(
                "WITH target AS (SELECT id, revoked_at FROM account_sessions "
                "WHERE id = $1 AND account_id = $2 FOR UPDATE), "
                "changed AS (UPDATE account_sessions s SET revoked_at = now(), "
                "revoke_reason = $3 FROM target WHERE s.id = target.id "
                "AND target.revoked_at IS NULL RETURNING s.id) "
                "SELECT (SELECT count(*) FROM target) AS found, "
                "(SELECT count(*) FROM changed) AS changed",
                session_id,
                account_id,
                reason,
            )
        if row is None or not row["found"]:
            return None
        return bool(row["changed"])

    async def revoke_all(self, account_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
        async with self._conn() as conn:
            rows = await conn.fetch(REVOKE_ALL_SQL, account_id, reason)
        return [r["id"] for r in rows]

    async def recent_revocations(self, seconds: float) -> list[tuple[uuid.UUID, datetime]]:
        """Sessions revoked in the last ``seconds`` (written to Redis again)."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT id, revoked_at FROM account_sessions "
                "WHERE revoked_at > now() - make_interval(secs => $1)",
                seconds,
            )
        return [(r["id"], r["revoked_at"]) for r in rows]
