"""Token service settings, read once from the environment."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.config import (
    NAME_PATTERN,
    ConfigError,
    RedisSettings,
    ServerSettings,
    Setting,
    TlsSettings,
    env_secret,
    load,
    setting,
)
from token_service.sealing import SETTING as ENCRYPTION_KEYS
from token_service.sealing import Sealer, sealer_from

MAX_MIN_HANDOUT_SECONDS = 30.0
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_PASSWORD = "password"
GRANTS = (GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, GRANT_PASSWORD)
# Parsed by hand below (lists and JSON), declared here for the docs.
TOKEN_PROVIDERS = Setting(
    "TOKEN_PROVIDERS", "comma list of provider names, e.g. `amadeus`", default_doc="required"
)
TOKEN_CALLERS = Setting(
    "TOKEN_CALLERS",
    'JSON: caller id → allowed providers, e.g. `{"search":["amadeus"]}`',
    default_doc="required",
)
CALLER_KEY = Setting(
    "CALLER_<ID>_KEY",
    "each caller's key (callers send `x-skyroute-caller` and `x-skyroute-caller-key`)",
    secret=True,
    default_doc="required",
)
TOKEN_ADMIN_CALLERS = Setting(
    "TOKEN_ADMIN_CALLERS",
    "comma list of caller ids (from `TOKEN_CALLERS`) allowed to call "
    "`InstallGrant` (`token authorize`, `token install-refresh-token`)",
    default_doc="none",
)


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    token_url: str = field(
        metadata=setting(
            "PROVIDER_<NAME>_TOKEN_URL",
            "the provider's OAuth2 token endpoint (http(s))",
            default_doc="required",
        )
    )
    client_id: str = field(
        metadata=setting(
            "PROVIDER_<NAME>_CLIENT_ID",
            "OAuth2 client id (sent with every grant)",
            default_doc="required",
        )
    )
    client_secret: str = field(
        metadata=setting(
            "PROVIDER_<NAME>_CLIENT_SECRET",
            "OAuth2 client secret (sent with every grant)",
            secret=True,
            default_doc="required",
        )
    )
    scope: str | None = field(
        default=None, metadata=setting("PROVIDER_<NAME>_SCOPE", "OAuth2 scope asked for, if any")
    )
    # The provider revokes the previous token when it issues a new one: rotation
    # then stops serving the old token and lets in-flight calls drain first.
    revokes_previous: bool = field(
        default=False,
        metadata=setting(
            "PROVIDER_<NAME>_REVOKES_PREVIOUS_TOKEN",
            "the provider revokes the old token on issue: drain before rotating",
        ),
    )
    rotation_drain_seconds: float = field(
        default=0.25,
        metadata=setting(
            "PROVIDER_<NAME>_ROTATION_DRAIN_SECONDS",
            "with a revoking provider, how long in-flight calls may use the old token",
        ),
    )
    # How a first token (and a new chain) is obtained; see docs/architecture.md, "Grants".
    grant: str = field(
        default=GRANT_CLIENT_CREDENTIALS,
        metadata=setting(
            "PROVIDER_<NAME>_GRANT",
            "how tokens are obtained: `client_credentials`, "
            "`refresh_token` (a refresh-token chain bootstrapped from a secret or an "
            "operator's `token authorize`) or `password` (login, then the refresh-token chain)",
            choices=GRANTS,
        ),
    )
    refresh_token: str | None = field(
        default=None,
        metadata=setting(
            "PROVIDER_<NAME>_REFRESH_TOKEN",
            "`refresh_token` grant: the first refresh token, "
            "used once while Redis holds no chain (never again once used)",
            secret=True,
        ),
    )
    username: str | None = field(
        default=None,
        metadata=setting("PROVIDER_<NAME>_USERNAME", "`password` grant: the login name"),
    )
    password: str | None = field(
        default=None,
        metadata=setting(
            "PROVIDER_<NAME>_PASSWORD", "`password` grant: the login password", secret=True
        ),
    )

    @property
    def chained(self) -> bool:
        """Tokens come with a refresh-token chain that one holder at a time may use."""
        return self.grant != GRANT_CLIENT_CREDENTIALS

    @property
    def has_bootstrap(self) -> bool:
        """A broken chain can be replaced without an operator (a new login)."""
        return self.grant == GRANT_PASSWORD

    def __repr__(self) -> str:  # never print the secret
        return f"ProviderConfig(name={self.name!r}, token_url={self.token_url!r})"


@dataclass(frozen=True)
class CallerConfig:
    caller_id: str
    key: str
    providers: frozenset[str]

    def __repr__(self) -> str:
        return f"CallerConfig(caller_id={self.caller_id!r}, providers={sorted(self.providers)})"


@dataclass(frozen=True)
class RefreshPolicy:
    """How and when tokens are refreshed; see docs/architecture.md."""

    # The refresh lease; its holder renews it every third of this while it works, so
    # a dead holder is replaced within about one lease plus one fetch.
    lock_ttl_seconds: float = field(
        default=3.0,
        metadata=setting(
            "TOKEN_LOCK_TTL_SECONDS",
            "refresh lease, renewed by its holder every third of it "
            "while it fetches: a crashed holder is replaced within about one lease plus one fetch",
            minimum=0.1,
        ),
    )
    upstream_timeout_seconds: float = field(
        default=5.0,
        metadata=setting("UPSTREAM_TIMEOUT_SECONDS", "token endpoint request timeout", minimum=0.1),
    )
    # Refresh at a random fraction of the lifetime in [min, max] ...
    refresh_min_fraction: float = field(
        default=0.75,
        metadata=setting(
            "TOKEN_REFRESH_MIN_FRACTION", "refresh at a random fraction of the lifetime, at least"
        ),
    )
    refresh_max_fraction: float = field(
        default=0.85, metadata=setting("TOKEN_REFRESH_MAX_FRACTION", "... and at most this")
    )
    # ... but always at least this long before expiry (capped at half the lifetime).
    refresh_min_margin_seconds: float = field(
        default=5.0,
        metadata=setting(
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS",
            "refresh at least this long before expiry (capped at half the lifetime)",
        ),
    )
    backoff_initial_seconds: float = field(
        default=0.5,
        metadata=setting(
            "TOKEN_BACKOFF_INITIAL_SECONDS",
            "shared backoff after token-endpoint failures: first",
            minimum=0.01,
        ),
    )
    backoff_max_seconds: float = field(
        default=30.0,
        metadata=setting(
            "TOKEN_BACKOFF_MAX_SECONDS",
            "shared backoff after token-endpoint failures: longest",
            minimum=0.01,
        ),
    )
    negative_cache_seconds: float = field(
        default=30.0,
        metadata=setting("TOKEN_NEGATIVE_CACHE_SECONDS", "how long `invalid_client` is remembered"),
    )
    # How long a replica trusts its in-memory copy without re-reading Redis.
    local_staleness_seconds: float = field(
        default=1.0,
        metadata=setting(
            "TOKEN_LOCAL_STALENESS_SECONDS",
            "how long a replica trusts its in-memory copy without re-reading Redis",
        ),
    )
    # Longest a caller waits for the in-flight refresh when no valid token exists; a
    # caller with a deadline waits until shortly before it, up to this. Longer than a
    # takeover (lock TTL + upstream timeout) so a holder's crash fails no caller.
    wait_max_seconds: float = field(
        default=30.0,
        metadata=setting(
            "TOKEN_WAIT_MAX_SECONDS",
            "longest a caller waits for a refresh when no valid token "
            "exists; a caller with a deadline waits until 0.2 s before it, at most this, then "
            "gets `DEADLINE_EXCEEDED` / `TOKEN_REFRESH_TIMEOUT`. Keep above lock TTL + upstream "
            "timeout (the service warns otherwise). `TOKEN_WAIT_TIMEOUT_SECONDS` is a deprecated "
            "alias",
            minimum=0.1,
        ),
    )
    watch_heartbeat_seconds: float = field(
        default=10.0,
        metadata=setting(
            "TOKEN_WATCH_HEARTBEAT_SECONDS", "`WatchToken` re-send interval", minimum=0.1
        ),
    )
    # Never hand out a token with less than this left (capped at half its lifetime).
    min_handout_seconds: float = field(
        default=2.0,
        metadata=setting(
            "TOKEN_MIN_HANDOUT_SECONDS",
            "never hand out a token with less than this left; past "
            "it callers get `UNAVAILABLE` (below 30, capped at half a token's lifetime; the "
            "refresh margin is at least this)",
        ),
    )
    # While callers get nothing and the shared backoff runs, one replica of the fleet
    # may probe the token endpoint this often (half-open).
    probe_interval_seconds: float = field(
        default=1.0,
        metadata=setting(
            "TOKEN_PROBE_INTERVAL_SECONDS",
            "while callers have nothing valid and the shared "
            "backoff runs, one replica of the fleet per interval may try the token endpoint "
            "early (half-open)",
            minimum=0.05,
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RefreshPolicy:
        # TOKEN_WAIT_TIMEOUT_SECONDS: the deprecated name, read when the new one is unset.
        deprecated = load(_DeprecatedWait, env).wait_max_seconds
        policy = load(cls, env, defaults={"wait_max_seconds": deprecated})
        if policy.min_handout_seconds >= MAX_MIN_HANDOUT_SECONDS:
            raise ConfigError(
                f"TOKEN_MIN_HANDOUT_SECONDS must be below {MAX_MIN_HANDOUT_SECONDS:g}"
                " (half the shortest sane token lifetime, 60 s)"
            )
        if not 0 < policy.refresh_min_fraction <= policy.refresh_max_fraction < 1:
            raise ConfigError("need 0 < TOKEN_REFRESH_MIN_FRACTION <= _MAX_FRACTION < 1")
        return policy


@dataclass(frozen=True)
class _DeprecatedWait:
    """TOKEN_WAIT_TIMEOUT_SECONDS, the old name of TOKEN_WAIT_MAX_SECONDS (not in the docs'
    table: the new name's line mentions it)."""

    wait_max_seconds: float = field(
        default=30.0,
        metadata=setting(
            "TOKEN_WAIT_TIMEOUT_SECONDS", "deprecated: TOKEN_WAIT_MAX_SECONDS", minimum=0.1
        ),
    )


@dataclass(frozen=True)
class EncryptionSettings:
    """The keys that seal tokens in Redis (token_service/sealing.py). Required: there is
    no clear-text mode, and no generated key (replicas must share one)."""

    keys: str = field(
        repr=False,
        metadata=setting(
            ENCRYPTION_KEYS,
            "keys sealing tokens in Redis (AES-256-GCM): `kid:base64key,...`, "
            "each 32 bytes; the first seals, all open (rotation: docs/operations.md). "
            "`python -m token_service.sealing k2` prints a new entry",
            secret=True,
            default_doc="required",
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EncryptionSettings:
        if not (env.get(ENCRYPTION_KEYS) or env.get(f"{ENCRYPTION_KEYS}_FILE")):
            raise ConfigError(
                f"{ENCRYPTION_KEYS} (or {ENCRYPTION_KEYS}_FILE) is required: tokens are "
                "stored encrypted in Redis; make a key with `python -m token_service.sealing`"
            )
        settings = load(cls, env)
        settings.sealer()  # refuse bad keys at start (errors name key ids, never keys)
        return settings

    def sealer(self) -> Sealer:
        return sealer_from(self.keys)


@dataclass(frozen=True)
class TokenServiceSettings:
    server: ServerSettings
    redis: RedisSettings
    providers: tuple[ProviderConfig, ...]
    callers: tuple[CallerConfig, ...]
    policy: RefreshPolicy
    encryption: EncryptionSettings
    admin_callers: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenServiceSettings:
        env = os.environ if env is None else env
        providers = tuple(_provider(env, name) for name in _names(env, TOKEN_PROVIDERS.env))
        if not providers:
            raise ConfigError("TOKEN_PROVIDERS must name at least one provider")
        callers = _callers(env, {p.name for p in providers})
        admins = frozenset(_names(env, TOKEN_ADMIN_CALLERS.env))
        unknown = admins - {c.caller_id for c in callers}
        if unknown:
            raise ConfigError(f"TOKEN_ADMIN_CALLERS names unknown callers {sorted(unknown)}")
        return cls(
            server=ServerSettings.from_env(env, default_service="token", default_port=50051),
            redis=RedisSettings.from_env(env),
            providers=providers,
            callers=callers,
            policy=RefreshPolicy.from_env(env),
            encryption=EncryptionSettings.from_env(env),
            admin_callers=admins,
        )


# Every setting of the token service, in the order of the docs' table.
DECLARED: tuple[type | Setting, ...] = (
    ServerSettings,
    TlsSettings,
    RedisSettings,
    TOKEN_PROVIDERS,
    ProviderConfig,
    TOKEN_CALLERS,
    CALLER_KEY,
    TOKEN_ADMIN_CALLERS,
    RefreshPolicy,
    EncryptionSettings,
)


def _names(env: Mapping[str, str], var: str) -> list[str]:
    names = [n.strip() for n in env.get(var, "").split(",") if n.strip()]
    for name in names:
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"{var}: {name!r} is not a valid name (lowercase, digits, _)")
    return names


def _provider(env: Mapping[str, str], name: str) -> ProviderConfig:
    config = load(ProviderConfig, env, placeholder=name, name=name)
    if not config.token_url.startswith(("http://", "https://")):
        raise ConfigError(f"PROVIDER_{name.upper()}_TOKEN_URL must be an http(s) URL")
    prefix = f"PROVIDER_{name.upper()}"
    if config.grant == GRANT_PASSWORD and not (config.username and config.password):
        raise ConfigError(
            f"{prefix}_GRANT=password needs {prefix}_USERNAME and "
            f"{prefix}_PASSWORD (or {prefix}_PASSWORD_FILE)"
        )
    if config.grant != GRANT_REFRESH_TOKEN and config.refresh_token:
        raise ConfigError(f"{prefix}_REFRESH_TOKEN is only read with {prefix}_GRANT=refresh_token")
    return config


def _callers(env: Mapping[str, str], providers: set[str]) -> tuple[CallerConfig, ...]:
    """TOKEN_CALLERS='{"search": ["amadeus"]}' and CALLER_SEARCH_KEY[_FILE] per caller."""
    raw = env.get(TOKEN_CALLERS.env, "")
    if not raw:
        raise ConfigError("TOKEN_CALLERS is required (JSON: caller id -> list of providers)")
    try:
        table = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError("TOKEN_CALLERS must be a JSON object") from None
    if not isinstance(table, dict) or not table:
        raise ConfigError("TOKEN_CALLERS must be a non-empty JSON object")
    callers = []
    for caller_id, allowed in table.items():
        if not isinstance(caller_id, str) or not NAME_PATTERN.match(caller_id):
            raise ConfigError(f"TOKEN_CALLERS: {caller_id!r} is not a valid caller id")
        if not isinstance(allowed, list) or not all(isinstance(p, str) for p in allowed):
            raise ConfigError(f"TOKEN_CALLERS[{caller_id}] must be a list of provider names")
        unknown = set(allowed) - providers
        if unknown:
            raise ConfigError(
                f"TOKEN_CALLERS[{caller_id}] names unknown providers {sorted(unknown)}"
            )
        callers.append(
            CallerConfig(
                caller_id=caller_id,
                key=env_secret(env, CALLER_KEY.env.replace("<ID>", caller_id.upper())),
                providers=frozenset(allowed),
            )
        )
    return tuple(callers)
