"""Account service settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.config import (
    ConfigError,
    RedisSettings,
    ServerSettings,
    Setting,
    TlsSettings,
    env_secret,
    load,
    setting,
)
from services.db import DATABASE_URL, DatabaseSettings

MAX_ACCESS_TTL_SECONDS = 3600.0
# Parsed by account_service/auth/keys.py, declared here for the docs.
ACCOUNT_SIGNING_KEYS = Setting(
    "ACCOUNT_SIGNING_KEYS",
    "ES256 signing keys, `kid:base64(PKCS#8 DER of a P-256 key)` comma separated; "
    "all are published in the JWKS, `ACCOUNT_SIGNING_KEY_ID` signs",
    secret=True,
    default_doc="required",
)


@dataclass(frozen=True)
class PasswordSettings:
    """argon2id parameters; a stored hash made with other parameters is rehashed at the
    account's next successful login. The defaults are OWASP's argon2id recommendation
    (19 MiB, 2 passes, 1 lane): about 25 ms of one core per login on the benchmark
    machine (docs/benchmarks.md), where RFC 9106's 64 MiB / 3 passes costs 200 ms."""

    time_cost: int = field(
        default=2, metadata=setting("ACCOUNT_ARGON2_TIME_COST", "argon2id passes", minimum=1)
    )
    memory_kib: int = field(
        default=19456,
        metadata=setting("ACCOUNT_ARGON2_MEMORY_KIB", "argon2id memory per hash, KiB", minimum=8),
    )
    parallelism: int = field(
        default=1,
        metadata=setting("ACCOUNT_ARGON2_PARALLELISM", "argon2id lanes", minimum=1, maximum=16),
    )
    min_length: int = field(
        default=8,
        metadata=setting("ACCOUNT_PASSWORD_MIN_LENGTH", "shortest password", minimum=1),
    )


@dataclass(frozen=True)
class TokenSettings:
    issuer: str = field(
        metadata=setting("ACCOUNT_JWT_ISSUER", "`iss` of the access tokens", default_doc="required")
    )
    audience: str = field(
        metadata=setting(
            "ACCOUNT_JWT_AUDIENCE", "`aud` of the access tokens", default_doc="required"
        )
    )
    signing_key_id: str = field(
        metadata=setting(
            "ACCOUNT_SIGNING_KEY_ID",
            "the kid in ACCOUNT_SIGNING_KEYS that signs new tokens",
            default_doc="the first key",
        )
    )
    access_ttl_seconds: float = field(
        default=300.0,
        metadata=setting(
            "ACCOUNT_ACCESS_TTL_SECONDS",
            "lifetime of an access JWT",
            minimum=10.0,
            maximum=MAX_ACCESS_TTL_SECONDS,
        ),
    )
    refresh_ttl_seconds: float = field(
        default=30 * 24 * 3600.0,
        metadata=setting(
            "ACCOUNT_REFRESH_TTL_SECONDS",
            "lifetime of a refresh token (each use renews it)",
            default_doc="2592000: 30 days",
        ),
    )
    link_ttl_seconds: float = field(
        default=24 * 3600.0,
        metadata=setting(
            "ACCOUNT_LINK_TTL_SECONDS",
            "lifetime of a verification or password reset link",
            minimum=1.0,
        ),
    )
    jwks_max_age_seconds: int = field(
        default=300,
        metadata=setting(
            "ACCOUNT_JWKS_MAX_AGE_SECONDS", "Cache-Control max-age of the JWKS", minimum=0
        ),
    )


@dataclass(frozen=True)
class ThrottleSettings:
    """Login and registration attempts, per account and per client address, shared by
    every replica (services/rate_budget.py's GCRA); 0 per minute = no limit."""

    login_per_account_per_minute: float = field(
        default=10.0,
        metadata=setting("ACCOUNT_LOGIN_PER_ACCOUNT_PER_MINUTE", "logins per email"),
    )
    login_per_address_per_minute: float = field(
        default=60.0,
        metadata=setting("ACCOUNT_LOGIN_PER_ADDRESS_PER_MINUTE", "logins per client address"),
    )
    register_per_address_per_minute: float = field(
        default=10.0,
        metadata=setting(
            "ACCOUNT_REGISTER_PER_ADDRESS_PER_MINUTE",
            "registrations and reset requests per client address",
        ),
    )
    register_per_account_per_minute: float = field(
        default=3.0,
        metadata=setting(
            "ACCOUNT_REGISTER_PER_ACCOUNT_PER_MINUTE",
            "registrations and reset requests per email",
        ),
    )
    burst: int = field(
        default=5,
        metadata=setting("ACCOUNT_THROTTLE_BURST", "attempts allowed at once", minimum=1),
    )
    trust_forwarded_for: bool = field(
        default=False,
        metadata=setting(
            "ACCOUNT_TRUST_FORWARDED_FOR",
            "take the client address from `x-forwarded-for` (only behind a proxy that sets it)",
        ),
    )


@dataclass(frozen=True)
class AccountServiceSettings:
    server: ServerSettings
    database: DatabaseSettings
    redis: RedisSettings
    passwords: PasswordSettings
    tokens: TokenSettings
    throttle: ThrottleSettings
    signing_keys: str = field(repr=False)
    link_base_url: str = field(
        default="http://127.0.0.1:8080/account",
        metadata=setting(
            "ACCOUNT_LINK_BASE_URL",
            "where emailed links point (`<base>/verify?token=`, `<base>/reset-password?token=`)",
        ),
    )
    dev_outbox_rpc: bool = field(
        default=False,
        metadata=setting(
            "ACCOUNT_DEV_OUTBOX_RPC",
            "serve ListOutbox (development: the CLI reads its links there)",
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AccountServiceSettings:
        env = os.environ if env is None else env
        keys = env_secret(env, ACCOUNT_SIGNING_KEYS.env)
        first_kid = keys.split(",")[0].split(":")[0].strip()
        tokens = load(TokenSettings, env, defaults={"signing_key_id": first_kid})
        if tokens.refresh_ttl_seconds < tokens.access_ttl_seconds:
            raise ConfigError("ACCOUNT_REFRESH_TTL_SECONDS must be >= ACCOUNT_ACCESS_TTL_SECONDS")
        return load(
            cls,
            env,
            server=ServerSettings.from_env(env, default_service="account", default_port=50081),
            database=DatabaseSettings.from_env(env),
            redis=RedisSettings.from_env(env),
            passwords=load(PasswordSettings, env),
            tokens=tokens,
            throttle=load(ThrottleSettings, env),
            signing_keys=keys,
        )


# Every setting of the account service, in the order of the docs' table.
DECLARED: tuple[type | Setting, ...] = (
    ServerSettings,
    TlsSettings,
    RedisSettings,
    DATABASE_URL,
    DatabaseSettings,
    AccountServiceSettings,
    ACCOUNT_SIGNING_KEYS,
    TokenSettings,
    PasswordSettings,
    ThrottleSettings,
)
