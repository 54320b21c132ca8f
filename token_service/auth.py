"""Caller authentication (per-caller keys in metadata) and provider allow-lists."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from services.errors import PermissionDeniedError, UnauthenticatedError, shown
from token_service.settings import CallerConfig

CALLER_HEADER = "x-skyroute-caller"
CALLER_KEY_HEADER = "x-skyroute-caller-key"


class CallerAuth:
    def __init__(self, callers: Iterable[CallerConfig], admins: Iterable[str] = ()) -> None:
        self._callers = {c.caller_id: c for c in callers}
        self._admins = frozenset(admins)

    def __call__(self, method: str, metadata: Mapping[str, str]) -> str:
        caller_id = metadata.get(CALLER_HEADER)
        key = metadata.get(CALLER_KEY_HEADER)
        if not caller_id or not key:
            raise UnauthenticatedError(
                f"missing caller credentials: send {CALLER_HEADER} and {CALLER_KEY_HEADER}",
                reason="CALLER_CREDENTIALS_MISSING",
            )
        caller = self._callers.get(caller_id)
        # Compare even for unknown callers so timing does not reveal which ids exist.
        expected = caller.key if caller else "\0" * 32
        if not hmac.compare_digest(expected.encode(), key.encode()) or caller is None:
            raise UnauthenticatedError(
                "invalid caller credentials", reason="CALLER_CREDENTIALS_INVALID"
            )
        return caller_id

    def authorize(self, caller_id: str | None, provider: str) -> None:
        caller = self._callers.get(caller_id or "")
        if caller is None or provider not in caller.providers:
            raise PermissionDeniedError(
                f"caller {caller_id!r} may not use provider {shown(provider)!r}",
                reason="PROVIDER_NOT_ALLOWED",
                metadata={"provider": shown(provider)},
            )

    def providers_of(self, caller_id: str | None) -> frozenset[str]:
        """The providers ``caller_id`` may use (empty for an unknown caller)."""
        caller = self._callers.get(caller_id or "")
        return caller.providers if caller is not None else frozenset()

    def authorize_admin(self, caller_id: str | None) -> None:
        """Operator RPCs (InstallGrant): only callers in TOKEN_ADMIN_CALLERS."""
        if caller_id is None or caller_id not in self._admins:
            raise PermissionDeniedError(
                f"caller {caller_id!r} may not install grants (not in TOKEN_ADMIN_CALLERS)",
                reason="ADMIN_REQUIRED",
            )
