"""Opaque secrets handed to users (refresh tokens, link tokens): 256 random bits,
stored only as their SHA-256. A fast hash suffices for random values (no dictionary
to try); the database looks the hash up, so no comparison of secrets happens in
Python at all, and where one must (``same``) it is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128


def new_token() -> tuple[str, str]:
    """(the token for the user, its hash for the database)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
