"""The account service's logic: sign-up, links, login, refresh, sessions. Knows
nothing of gRPC (api/servicer.py converts)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from account_service.auth.access import AccessClaims, AccessTokens
from account_service.auth.opaque import digest, new_token
from account_service.auth.passwords import Passwords
from account_service.flows import validation
from account_service.flows.throttle import Throttle
from account_service.metrics import AccountMetrics
from account_service.settings import AccountServiceSettings
from account_service.store.models import LinkPurpose
from account_service.store.repository import (
    AccountStore,
    NewSession,
    RefreshOutcome,
    SessionRecord,
)
from services.errors import (
    FailedPreconditionError,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from services.session_revocation import RevocationPublisher

log = logging.getLogger("skyroute.account")

INVALID_CREDENTIALS = "email or password is incorrect"
# Revocations stay in Redis this much longer than an access token can live: more than
# any verifier's clock-skew leeway (booking's BOOKING_JWT_LEEWAY_SECONDS is at most
# 300 s), so no verifier accepts a revoked session's token after its entry is gone.
REVOCATION_MARGIN_SECONDS = 360.0
REPUBLISH_SECONDS = 5.0


@dataclass(frozen=True)
class Device:
    name: str
    user_agent: str
    address: str


@dataclass(frozen=True)
class Tokens:
    access_token: str
    access_expires: int  # epoch seconds
    refresh_token: str
    refresh_expires: datetime
    session_id: uuid.UUID


def _link_message(base: str, purpose: LinkPurpose, email: str, token: str) -> tuple[str, str, str]:
    if purpose is LinkPurpose.VERIFY_EMAIL:
        subject = "Verify your email address"
        path = "verify"
    else:
        subject = "Reset your password"
        path = "reset-password"
    body = f"{subject}: {base.rstrip('/')}/{path}?token={token}\n"
    return email, subject, body


class Accounts:
    def __init__(
        self,
        settings: AccountServiceSettings,
        store: AccountStore,
        passwords: Passwords,
        access: AccessTokens,
        throttle: Throttle,
        revocations: RevocationPublisher,
        metrics: AccountMetrics,
    ) -> None:
        self._metrics = metrics
        self._settings = settings
        self._tokens = settings.tokens
        self._store = store
        self._passwords = passwords
        self._access = access
        self._throttle = throttle
        self._revocations = revocations

    # -- sign-up and links ----------------------------------------------------------

    async def register(self, email: str, password: str, address: str) -> None:
        email = validation.email(email)
        password = validation.password(password, self._passwords.settings.min_length)
        await self._throttle.register(email, address)
        # Hashed whether or not the email is free: both answers take as long.
        password_hash = await self._passwords.hash(password)
        account_id = await self._store.create_account(email, password_hash)
        if account_id is None:
            await self._store.send(
                (
                    email,
                    "You already have an account",
                    "Someone asked to register this address again. If it was you, sign in "
                    "or reset your password; otherwise ignore this message.\n",
                )
            )
            return
        await self._send_link(account_id, email, LinkPurpose.VERIFY_EMAIL)

    async def _send_link(self, account_id: uuid.UUID, email: str, purpose: LinkPurpose) -> None:
        token, token_hash = new_token()
        await self._store.issue_link(
            account_id,
            purpose,
            token_hash,
            self._tokens.link_ttl_seconds,
            _link_message(self._settings.link_base_url, purpose, email, token),
        )

    async def verify_email(self, token: str) -> None:
        token = validation.token(token, "token")
        if not await self._store.verify_email(digest(token)):
            raise UnauthenticatedError(
                "the link is invalid, used or expired", reason="LINK_INVALID"
            )

    async def request_reset(self, email: str, address: str) -> None:
        email = validation.email(email)
        await self._throttle.register(email, address)
        account = await self._store.by_email(email)
        if account is not None:
            await self._send_link(account.id, email, LinkPurpose.RESET_PASSWORD)

    async def reset_password(self, token: str, new_password: str) -> None:
        token = validation.token(token, "token")
        new_password = validation.password(
            new_password, self._passwords.settings.min_length, "new_password"
        )
        password_hash = await self._passwords.hash(new_password)
        revoked = await self._store.reset_password(digest(token), password_hash)
        if revoked is None:
            raise UnauthenticatedError(
                "the link is invalid, used or expired", reason="LINK_INVALID"
            )
        await self.announce(revoked, "password_reset")

    # -- login and refresh ----------------------------------------------------------

    async def login(self, email: str, password: str, device: Device) -> Tokens:
        email = validation.email(email)
        if not password:
            raise ValidationError.field("password", "is required")
        validation.device_name(device.name)
        await self._throttle.login(email, device.address)
        account = await self._store.by_email(email)
        # The same work whether or not the account exists (a dummy hash when not).
        ok, rehash = await self._passwords.verify(
            account.password_hash if account else None, password
        )
        if not ok or account is None:
            self._metrics.logins.labels("invalid_credentials").inc()
            raise UnauthenticatedError(INVALID_CREDENTIALS, reason="INVALID_CREDENTIALS")
        if not account.verified:
            self._metrics.logins.labels("not_verified").inc()
            raise FailedPreconditionError(
                "verify your email address first (see the link sent to it)",
                reason="EMAIL_NOT_VERIFIED",
            )
        if rehash:
            new_hash = await self._passwords.hash(password)
            await self._store.replace_hash(account.id, account.password_hash, new_hash)
        refresh, refresh_hash = new_token()
        session = await self._store.create_session(
            account.id,
            (device.name, device.user_agent[:256], device.address),
            refresh_hash,
            self._tokens.refresh_ttl_seconds,
        )
        self._metrics.logins.labels("ok").inc()
        return self._tokens_for(session, refresh)

    def _tokens_for(self, session: NewSession, refresh: str) -> Tokens:
        access, exp = self._access.mint(session.account_id, session.session_id)
        return Tokens(access, exp, refresh, session.refresh_expires_at, session.session_id)

    async def refresh(self, token: str) -> Tokens:
        token = validation.token(token, "refresh_token")
        refresh, refresh_hash = new_token()
        result = await self._store.rotate_refresh(
            digest(token), refresh_hash, self._tokens.refresh_ttl_seconds
        )
        self._metrics.refreshes.labels(result.outcome.value.lower()).inc()
        if result.outcome is RefreshOutcome.REUSED:
            if result.revoked_session is not None:
                await self.announce([result.revoked_session], "reuse")
            log.warning("refresh token reused; session revoked")
            raise UnauthenticatedError(
                "this refresh token was used already; the session is revoked, sign in again",
                reason="REFRESH_TOKEN_REUSED",
            )
        if result.outcome is RefreshOutcome.SESSION_REVOKED:
            raise UnauthenticatedError("the session is revoked", reason="SESSION_REVOKED")
        if result.outcome is not RefreshOutcome.ROTATED or result.session is None:
            raise UnauthenticatedError(
                "the refresh token is invalid or expired", reason="REFRESH_TOKEN_INVALID"
            )
        return self._tokens_for(result.session, refresh)

    # -- sessions -------------------------------------------------------------------

    async def authenticate(self, claims: AccessClaims) -> AccessClaims:
        """The caller of a session RPC, whose session must not be revoked (read from
        PostgreSQL here: the account service owns it)."""
        if not await self._store.session_active(claims.account_id, claims.session_id):
            raise UnauthenticatedError("the session is revoked", reason="SESSION_REVOKED")
        return claims

    async def list_sessions(self, claims: AccessClaims) -> list[SessionRecord]:
        return await self._store.list_sessions(claims.account_id)

    async def revoke_session(self, claims: AccessClaims, session_id: str) -> None:
        sid = validation.session_id(session_id)
        changed = await self._store.revoke_session(claims.account_id, sid, "LOGOUT")
        if changed is None:
            raise NotFoundError("no such session", reason="SESSION_NOT_FOUND")
        if changed:
            await self.announce([sid], "logout")
        else:
            await self.announce([sid], None)  # again: harmless, and Redis may have lost it

    async def logout_all(self, claims: AccessClaims) -> int:
        revoked = await self._store.revoke_all(claims.account_id, "LOGOUT_ALL")
        # The caller's own session too, even if it had been revoked meanwhile.
        await self.announce({*revoked, claims.session_id}, None)
        self._metrics.revoked_sessions.labels("logout_all").inc(len(revoked))
        return len(revoked)

    async def outbox(self, email: str) -> list[tuple[str, str, str, datetime]]:
        email = validation.email(email)
        rows = await self._store.outbox(email)
        return [(r["recipient"], r["subject"], r["body"], r["created_at"]) for r in rows]

    # -- revocations in Redis -------------------------------------------------------

    def _keep_ms(self) -> int:
        keep = self._tokens.access_ttl_seconds + REVOCATION_MARGIN_SECONDS
        return int((time.time() + keep) * 1000)

    async def announce(self, sessions: Iterable[uuid.UUID], reason: str | None) -> None:
        """Tells every verifier (through Redis); ``reason`` counts them as revoked now."""
        ids = [str(s) for s in sessions]
        if reason is not None:
            self._metrics.revoked_sessions.labels(reason).inc(len(ids))
        await self._revocations.publish(ids, self._keep_ms())

    async def republish(self) -> None:
        """Writes the recent revocations to Redis again, every few seconds: one made
        while Redis was down reaches the verifiers once it is back."""
        window = self._tokens.access_ttl_seconds + REVOCATION_MARGIN_SECONDS
        while True:
            await asyncio.sleep(REPUBLISH_SECONDS)
            try:
                rows = await self._store.recent_revocations(window)
            except Exception as exc:  # the database is down: try again later
                log.warning("recent revocations not read", extra={"error": type(exc).__name__})
                continue
            by_until: dict[int, list[str]] = {}
            for sid, revoked_at in rows:
                until = int((revoked_at.timestamp() + window) * 1000)
                by_until.setdefault(until, []).append(str(sid))
            for until, sids in by_until.items():
                await self._revocations.publish(sids, until, announce=False)
