"""Opaque ListBookings page tokens (AIP-158).

A token holds the id to continue below and the status filter it was made for; a token
used with another filter, or not made here, is INVALID_ARGUMENT. It needs no secret:
every query is limited to the caller's own bookings whatever the token says.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from services.errors import ValidationError

VERSION = 1


@dataclass(frozen=True, slots=True)
class PageToken:
    before_id: int
    status: str  # "" for no filter


def encode(token: PageToken) -> str:
    raw = json.dumps({"v": VERSION, "b": token.before_id, "s": token.status},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(value: str, status: str) -> PageToken:
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        token = PageToken(int(data["b"]), str(data["s"]))
        if data["v"] != VERSION or token.before_id < 1:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError.field("page_token", "is not a page token from ListBookings"
                                    ) from None
    if token.status != status:
        raise ValidationError.field("page_token", "was made for another status filter")
    return token
