"""``python -m booking_service.dev_token --user alice [--ttl 3600]``: a development JWT.

Signed with the same settings the service verifies with, read from the environment by
the service's own ``JwtSettings.from_env`` (BOOKING_JWT_ISSUER, BOOKING_JWT_AUDIENCE, and
BOOKING_JWT_SECRET or BOOKING_JWT_SECRET_FILE for HS256); ``make dev-token USER=alice``
runs it with the running stack's environment (.run/dev.env). With only a JWKS
configured, pass the matching private key: ``--private-key key.pem --kid KID``. Prints
the token alone on one line (errors go to stderr, exit 2), so
``TOKEN=$(python -m booking_service.dev_token --user alice)`` works; send it as
metadata ``authorization: Bearer <token>``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from booking_service.settings import JwtSettings
from services.config import ConfigError

MAX_TTL_SECONDS = 7 * 24 * 3600


def mint(
    settings: JwtSettings,
    user: str,
    ttl_seconds: int,
    *,
    private_key_pem: bytes | None = None,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": user,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    if private_key_pem is not None:
        key = load_pem_private_key(private_key_pem, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS256"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            algorithm = "ES256"
        else:
            raise ConfigError("--private-key must be an RSA or EC (P-256) private key")
        headers = {"kid": kid} if kid else None
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    if settings.secret is None:
        raise ConfigError(
            "no HS256 secret configured (BOOKING_JWT_SECRET[_FILE]); with a "
            "JWKS, pass --private-key and --kid"
        )
    return jwt.encode(claims, settings.secret, algorithm="HS256")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m booking_service.dev_token",
        description="Mint a development JWT for the booking service.",
    )
    parser.add_argument("--user", required=True, help="the subject (user id)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    parser.add_argument("--private-key", type=Path, help="PEM private key (RS256/ES256)")
    parser.add_argument("--kid", help="key id of --private-key in the JWKS")
    args = parser.parse_args(argv)
    if not 1 <= args.ttl <= MAX_TTL_SECONDS:
        parser.error(f"--ttl must be between 1 and {MAX_TTL_SECONDS}")
    if not args.user.strip():
        parser.error("--user must not be empty")
    try:
        settings = JwtSettings.from_env(os.environ)
        pem = args.private_key.read_bytes() if args.private_key else None
        print(mint(settings, args.user, args.ttl, private_key_pem=pem, kid=args.kid))
    except (ConfigError, OSError, ValueError) as exc:
        print(f"dev_token: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
