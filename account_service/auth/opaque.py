"""Opaque secrets handed to users (refresh tokens, link tokens): 256 random bits,
stored only as their SHA-256. A fast hash suffices for random values (no dictionary
to try). A presented token is never compared with a stored one: its SHA-256 is looked
up, so how long a lookup takes says nothing about any stored token (a timing attack
would have to find SHA-256 preimages); passwords are compared inside argon2-cffi, in
constant time."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128


def new_token() -> tuple[str, str]:
    """(the token for the user, its hash for the database)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, digest(token)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
