"""Credentials sealed at rest: AES-256-GCM with a key id stored beside each value.

A sealed value reads ``v1.<kid>.<base64url(nonce || ciphertext+tag)>``: a fresh 96-bit
nonce per value, and associated data naming the format, the key id and a *context*
(the provider and field, e.g. ``amadeus/access_token``), so a value copied to another
provider's or field's slot does not open. The first configured key seals; every
configured key opens, which is what lets keys rotate without downtime (see
docs/operations.md, "Token encryption keys").

Keys come from ``TOKEN_ENCRYPTION_KEYS`` (or ``_FILE``): ``kid:base64key,...``, each key
256 bits. ``python -m token_service.sealing`` prints a new ``kid:key`` entry.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.config import ConfigError

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SETTING = "TOKEN_ENCRYPTION_KEYS"


class SealError(Exception):
    """A sealed value that does not open: malformed, an unknown key id, or tampered
    with (or moved to another context). The message never holds the value."""


@dataclass(frozen=True)
class _Key:
    kid: str
    aead: AESGCM = field(repr=False)


class Sealer:
    """Seals with the first key, opens with any; ``kid`` names the sealing key."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ConfigError(f"{SETTING}: at least one key is required")
        for kid, key in keys.items():
            if not KID_PATTERN.match(kid):
                raise ConfigError(f"{SETTING}: key id {kid!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"{SETTING}: key {kid!r} must be {KEY_BYTES} bytes (256 bits), base64-encoded"
                )
        self._keys = {kid: _Key(kid, AESGCM(key)) for kid, key in keys.items()}
        self.kid = next(iter(keys))

    def __repr__(self) -> str:  # key ids only, never a key
        return f"Sealer(kids={list(self._keys)}, sealing={self.kid!r})"

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, plaintext: str, context: str) -> str:
        key = self._keys[self.kid]
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plaintext.encode(), _aad(key.kid, context))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{VERSION}.{key.kid}.{body}"

    def open(self, sealed: str, context: str) -> str:
        version, _, rest = sealed.partition(".")
        kid, _, body = rest.partition(".")
        if version != VERSION or not body:
            raise SealError("not a sealed value")
        key = self._keys.get(kid)
        if key is None:
            raise SealError(f"sealed with unknown key id {kid[:32]!r}")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealError("sealed value is not base64url") from None
        if len(raw) <= NONCE_BYTES:
            raise SealError("sealed value too short")
        try:
            plain = key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(kid, context))
        except InvalidTag:
            raise SealError(
                f"sealed value does not open with key {kid!r} (tampered, or another context)"
            ) from None
        return plain.decode()

    def kid_of(self, sealed: str) -> str | None:
        """The key id a value was sealed with (None if it is not a sealed value)."""
        parts = sealed.split(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] == VERSION else None


def _aad(kid: str, context: str) -> bytes:
    return f"{VERSION}|{kid}|{context}".encode()


def parse_keys(text: str) -> dict[str, bytes]:
    """``kid:base64key,...`` (standard or URL-safe base64) in order; errors name the
    key id, never the key."""
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(e.strip() for e in text.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        kid = kid.strip()
        if not sep or not kid:
            raise ConfigError(f"{SETTING}: entry {n + 1} must read kid:base64key")
        if kid in keys:
            raise ConfigError(f"{SETTING}: key id {kid!r} appears twice")
        try:
            cleaned = encoded.strip().replace("-", "+").replace("_", "/")
            keys[kid] = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{SETTING}: key {kid!r} is not base64") from None
    return keys


def sealer_from(text: str) -> Sealer:
    return Sealer(parse_keys(text))


def new_key_entry(kid: str) -> str:
    """A fresh ``kid:base64key`` entry for TOKEN_ENCRYPTION_KEYS."""
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


if __name__ == "__main__":  # python -m token_service.sealing [kid]
    print(new_key_entry(sys.argv[1] if len(sys.argv) > 1 else "k1"))
