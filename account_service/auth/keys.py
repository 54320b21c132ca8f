"""The ES256 signing keys and the JWKS that publishes them.

``ACCOUNT_SIGNING_KEYS`` lists every key as ``kid:base64(PKCS#8 DER)``; all of them
are published, the one named by ``ACCOUNT_SIGNING_KEY_ID`` signs. Rotation without
downtime (docs/operations.md):

1. add the new key to the list, keep signing with the old; roll out. Verifiers fetch
   the JWKS every ``BOOKING_JWKS_REFRESH_SECONDS`` (and at once on an unknown kid), so
   they know the new key before anything is signed with it;
2. after that refresh interval, point ``ACCOUNT_SIGNING_KEY_ID`` at the new key; roll
   out (replicas on either key are both trusted meanwhile);
3. after ``ACCOUNT_ACCESS_TTL_SECONDS`` (the old key's last tokens have expired),
   remove the old key.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.config import ConfigError

ALGORITHM = "ES256"


class SigningKeys:
    def __init__(self, spec: str, signing_kid: str) -> None:
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        for entry in filter(None, (e.strip() for e in spec.split(","))):
            kid, sep, encoded = entry.partition(":")
            if not sep or not kid:
                raise ConfigError("ACCOUNT_SIGNING_KEYS: each entry is kid:base64(PKCS#8 DER)")
            try:
                key = serialization.load_der_private_key(base64.b64decode(encoded), None)
            except (ValueError, TypeError, binascii.Error):
                raise ConfigError(f"ACCOUNT_SIGNING_KEYS: key {kid!r} is not readable") from None
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ConfigError(f"ACCOUNT_SIGNING_KEYS: key {kid!r} is not a P-256 key")
            if kid in self._keys:
                raise ConfigError(f"ACCOUNT_SIGNING_KEYS: kid {kid!r} twice")
            self._keys[kid] = key
        if signing_kid not in self._keys:
            raise ConfigError("ACCOUNT_SIGNING_KEY_ID names no key of ACCOUNT_SIGNING_KEYS")
        self.signing_kid = signing_kid
        self._jwks = {"keys": [self._public_jwk(kid, key) for kid, key in self._keys.items()]}
        self.jwks_body = json.dumps(self._jwks, separators=(",", ":")).encode()

    @staticmethod
    def _public_jwk(kid: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._keys[self.signing_kid],
            algorithm=ALGORITHM,
            headers={"kid": self.signing_kid},
        )

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(kid)
        return None if key is None else key.public_key()

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)
