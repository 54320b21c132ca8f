"""Opaque, tamper-evident strings: ``base64url(payload).base64url(mac)``.

Page tokens and offer ids are signed with HMAC-SHA256 under keys derived from the
one configured secret, one key per purpose, so a page token can never pass as an
offer id or the other way round. The payload is readable by anyone who decodes it;
it holds no secrets, only ids the server must not let clients forge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MAC_BYTES = 16  # 128-bit tag: forging one is out of reach
MAX_TOKEN_CHARS = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hmac.new(secret.encode(), f"skyroute/search/{purpose}".encode(),
                             hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:MAC_BYTES]

    def sign(self, payload: bytes) -> str:
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str) -> bytes | None:
        """The payload if ``token`` was made by ``sign`` with this key, else None."""
        if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            return None
        body, tag = token.split(".")
        try:
            payload, mac = _unb64(body), _unb64(tag)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        return payload
