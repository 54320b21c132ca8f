"""The account service's tables: accounts, their login sessions, the refresh tokens of
each session, single-use link tokens (email verification, password reset) and the
outbox of messages sent.

Declared on the shared ``Base`` (services/schema.py); no other service reads them.
Secrets are never stored in clear: a password as its argon2id hash, a refresh or link
token as the hex SHA-256 of its 256 random bits (a fast hash suffices for random
tokens; the slow one is for passwords people choose).

A session is a refresh-token family (RFC 9700 4.14): each refresh uses one token up
(``used_at``) and adds the next; showing a used one again revokes the session.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.schema import Base

TIMESTAMP = DateTime(timezone=True)


class LinkPurpose(enum.StrEnum):
    VERIFY_EMAIL = "VERIFY_EMAIL"
    RESET_PASSWORD = "RESET_PASSWORD"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    # Lower-cased, NFC (account_service/flows/validation.py); unique.
    email: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    email_verified_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    password_changed_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())


class AccountSession(Base):
    __tablename__ = "account_sessions"
    __table_args__ = (
        Index("ix_account_sessions_account_id_created_at", "account_id", "created_at"),
        # The account service writes recent revocations to Redis again (republish).
        Index(
            "ix_account_sessions_revoked_at",
            "revoked_at",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    device_name: Mapped[str] = mapped_column(Text, server_default="")
    user_agent: Mapped[str] = mapped_column(Text, server_default="")
    ip_address: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    # LOGOUT, LOGOUT_ALL, PASSWORD_RESET, REFRESH_TOKEN_REUSED
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class RefreshToken(Base):
    __tablename__ = "account_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("account_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)


class LinkToken(Base):
    __tablename__ = "account_link_tokens"
    __table_args__ = (CheckConstraint(_in("purpose", LinkPurpose), name="purpose_known"),)

    token_hash: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)


class OutboxMessage(Base):
    """Mail the service sent; in development nothing delivers it and the CLI reads it
    here (ListOutbox)."""

    __tablename__ = "account_outbox"
    __table_args__ = (Index("ix_account_outbox_recipient_id", "recipient", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
