"""Settings of end-user JWT verification, shared by every service whose callers are the
platform's users (booking, tracking): one issuer, one audience, one set of keys, so a
user's token works on each. The variables keep their ``BOOKING_JWT_*`` names (the
booking service had them first; deployments already set them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.config import ConfigError, Setting, env_secret, load, read, setting

MAX_JWT_LEEWAY_SECONDS = 300.0
# Read only when set (HS256 needs at least 32 characters), declared here for the docs.
BOOKING_JWT_SECRET = Setting(
    "BOOKING_JWT_SECRET",
    "HS256 secret (local development; at least 32 characters)",
    secret=True,
    default_doc="none",
)


@dataclass(frozen=True)
class JwtSettings:
    """How end-user tokens are verified (and, for development, minted).

    Asymmetric keys (RS256 / ES256) come from a JWKS file or URL; an HS256 shared
    secret is for local development. At least one of them is required.
    """

    issuer: str = field(
        metadata=setting("BOOKING_JWT_ISSUER", "required `iss` claim", default_doc="required")
    )
    audience: str = field(
        metadata=setting("BOOKING_JWT_AUDIENCE", "required `aud` claim", default_doc="required")
    )
    jwks_file: str | None = field(
        default=None,
        metadata=setting("BOOKING_JWKS_FILE", "RS256/ES256 verification keys: a JWKS file"),
    )
    jwks_url: str | None = field(
        default=None,
        metadata=setting("BOOKING_JWKS_URL", "RS256/ES256 verification keys: a JWKS URL (http(s))"),
    )
    secret: str | None = None
    # Clock skew allowed on exp/nbf/iat between the issuer and this service (RFC 7519
    # 4.1.4: "a small leeway ... no more than a few minutes"); a token also stays
    # accepted (and remembered by api/auth.py) this long past its exp.
    leeway_seconds: float = field(
        default=10.0,
        metadata=setting(
            "BOOKING_JWT_LEEWAY_SECONDS",
            "clock skew allowed on a JWT's `exp`, `nbf` and `iat`; "
            "a token is accepted this long past its `exp`",
            maximum=MAX_JWT_LEEWAY_SECONDS,
        ),
    )
    session_revocation: bool = field(
        default=False,
        metadata=setting(
            "BOOKING_SESSION_REVOCATION",
            "refuse tokens whose session (`sid`) the account service revoked (needs Redis)",
        ),
    )
    jwks_refresh_seconds: float = field(
        default=300.0,
        metadata=setting(
            "BOOKING_JWKS_REFRESH_SECONDS",
            "how often the JWKS file or URL is read again",
            minimum=1.0,
        ),
    )

    def __repr__(self) -> str:  # never print the secret
        return (
            f"JwtSettings(issuer={self.issuer!r}, audience={self.audience!r}, "
            f"jwks_file={self.jwks_file!r}, jwks_url={self.jwks_url!r}, "
            f"hs256={'yes' if self.secret else 'no'})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JwtSettings:
        jwks_file = read(cls, "jwks_file", env)
        jwks_url = read(cls, "jwks_url", env)
        var = BOOKING_JWT_SECRET.env
        has_secret = bool(env.get(var) or env.get(f"{var}_FILE"))
        if not (jwks_file or jwks_url or has_secret):
            raise ConfigError(
                "set BOOKING_JWKS_FILE or BOOKING_JWKS_URL (RS256/ES256 keys), or "
                "BOOKING_JWT_SECRET[_FILE] (HS256, local development)"
            )
        if jwks_file and not Path(jwks_file).is_file():
            raise ConfigError("BOOKING_JWKS_FILE does not name a readable file")
        if jwks_url and not jwks_url.startswith(("http://", "https://")):
            raise ConfigError("BOOKING_JWKS_URL must be an http(s) URL")
        secret = env_secret(env, var) if has_secret else None
        if secret is not None and len(secret) < 32:
            # RFC 7518 3.2: an HS256 key must be at least as long as the hash (32 bytes).
            raise ConfigError("BOOKING_JWT_SECRET must be at least 32 characters")
        # More than "a few minutes" of leeway only hides a broken clock and stretches
        # every token's life: BOOKING_JWT_LEEWAY_SECONDS is bounded above.
        return load(cls, env, jwks_file=jwks_file, jwks_url=jwks_url, secret=secret)
