"""Another spelling of an unpadded base64url string that a lenient decoder reads as the
same bytes: the unused low bits of the last character set (or, when the text has none,
padding appended). Strict decoding (services/base64url.py) must refuse it."""

from __future__ import annotations

import base64

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def lenient_decode(text: str) -> bytes:
    """How the code decoded before: pad, then Python's forgiving decoder."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def respell(text: str) -> str:
    """``text`` spelled differently, decoding (leniently) to the same bytes."""
    unused_bits = {2: 4, 3: 2}.get(len(text) % 4)
    if unused_bits is None:
        other = text + "===="
    else:
        index = ALPHABET.index(text[-1])
        other = text[:-1] + ALPHABET[index | ((1 << unused_bits) - 1)]
    assert other != text and lenient_decode(other) == lenient_decode(text)
    return other
