"""Unpadded base64url (RFC 4648 §5) for opaque ids and tokens, decoded strictly.

Python's decoder is lenient: it skips characters outside the alphabet and ignores the
unused low bits of the last character, so ``"QQ"`` and ``"QR"`` both decode to
``b"A"``. An opaque value must have exactly one spelling (a signature check on the
decoded bytes would otherwise accept several strings for one token), so ``decode``
accepts only what ``encode`` produces.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    """The bytes ``text`` encodes; ValueError unless ``text`` is exactly ``encode``'s
    output for them (no padding, no other characters, unused bits zero)."""
    if not _ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    if encode(data) != text:
        raise ValueError("not the canonical base64url encoding")
    return data
