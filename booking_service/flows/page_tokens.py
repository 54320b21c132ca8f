"""Opaque ListBookings page tokens (AIP-158).

A token holds the id to continue below, the status filter it was made for and a digest
of the user it was made for; a token used by another user, with another filter, or not
made here, is INVALID_ARGUMENT naming ``page_token`` (never an empty page). It needs no
secret: every query is limited to the caller's own bookings whatever the token says,
so the binding is there to tell a caller its mistake, not to keep anything out. The
base64url text is decoded strictly, so one token has one spelling.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from services import base64url
from services.errors import ValidationError

VERSION = 2
USER_DIGEST_CHARS = 16


@dataclass(frozen=True, slots=True)
class PageToken:
    before_id: int
    status: str  # "" for no filter
    user_id: str


def _user_digest(user_id: str) -> str:
    return hashlib.sha256(user_id.encode()).hexdigest()[:USER_DIGEST_CHARS]


def encode(token: PageToken) -> str:
    raw = json.dumps(
        {"v": VERSION, "b": token.before_id, "s": token.status, "u": _user_digest(token.user_id)},
        separators=(",", ":"),
    )
    return base64url.encode(raw.encode())


def decode(value: str, user_id: str, status: str) -> PageToken:
    """The token ``value`` for this user and status filter; ValidationError (naming
    ``page_token``) otherwise."""
    try:
        data = json.loads(base64url.decode(value))
        token = PageToken(int(data["b"]), str(data["s"]), user_id)
        if data["v"] != VERSION or token.before_id < 1:
            raise ValueError
        user = data["u"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValidationError.field("page_token", "is not a page token from ListBookings") from None
    if user != _user_digest(user_id):
        raise ValidationError.field("page_token", "was issued to another caller")
    if token.status != status:
        raise ValidationError.field("page_token", "was made for another status filter")
    return token
