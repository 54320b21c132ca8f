"""Password hashing with argon2id (argon2-cffi), off the event loop.

A hash takes tens of milliseconds of CPU and ``memory_kib`` of memory by design, so
hashes run in worker threads (argon2-cffi releases the GIL), at most ``slots`` at once
so a burst of logins cannot take all the memory. A login for an unknown email
verifies against a dummy hash made with the same parameters: the answer takes as long
as for a real account with a wrong password (no enumeration through timing).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from account_service.metrics import AccountMetrics
from account_service.settings import PasswordSettings

T = TypeVar("T")


class Passwords:
    def __init__(
        self,
        settings: PasswordSettings,
        slots: int | None = None,
        metrics: AccountMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._timer = metrics.hash_seconds if metrics is not None else None
        self._hasher = PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_kib,
            parallelism=settings.parallelism,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(slots or max(2, os.cpu_count() or 2))
        # Of a random password nobody knows; verified when the account does not exist.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._timed, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs rehash). ``stored`` None: the dummy hash, never a match."""
        async with self._slots:
            return await asyncio.to_thread(self._timed, self._verify, stored, password)

    def _timed(self, fn: Callable[..., T], *args: Any) -> T:
        if self._timer is None:
            return fn(*args)
        with self._timer.time():
            return fn(*args)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
