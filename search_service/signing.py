"""Opaque, tamper-evident strings: ``base64url(payload).base64url(mac)``.

Page tokens and offer ids are signed with HMAC-SHA256 under keys derived from the
one configured secret, one key per purpose, so a page token can never pass as an
offer id or the other way round. The payload is readable by anyone who decodes it;
it holds no secrets, only ids the server must not let clients forge.

Each token has exactly one spelling: both parts are decoded strictly
(services/base64url.py), so a string ``sign`` cannot have produced is malformed rather
than a second name for a valid token.
"""

from __future__ import annotations

import hashlib
import hmac

from services import base64url

MAC_BYTES = 16  # 128-bit tag: forging one is out of reach
MAX_TOKEN_CHARS = 4096


class MalformedToken(ValueError):
    """Not a string ``sign`` produces: empty, too long, not two canonical base64url
    parts joined by a dot, or a tag of the wrong length."""


class Signer:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hmac.new(
            secret.encode(), f"skyroute/search/{purpose}".encode(), hashlib.sha256
        ).digest()

    def _mac(self, payload: bytes) -> bytes:
        # hmac.digest: the one-shot C path (hmac.new builds a Python object per call).
        return hmac.digest(self._key, payload, "sha256")[:MAC_BYTES]

    def sign(self, payload: bytes) -> str:
        return f"{base64url.encode(payload)}.{base64url.encode(self._mac(payload))}"

    def verify(self, token: str) -> bytes | None:
        """The payload if ``token`` was made by ``sign`` with this key; None if it is
        well formed but its tag does not match (forged, another key or purpose).
        Raises MalformedToken if it is not shaped like a token at all."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise MalformedToken("not a token")
        body, tag = token.split(".")
        try:
            payload, mac = base64url.decode(body), base64url.decode(tag)
        except ValueError:
            raise MalformedToken("not a token") from None
        if len(mac) != MAC_BYTES:
            raise MalformedToken("not a token")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return payload
