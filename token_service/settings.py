"""Token service settings, read once from the environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from services.config import (
    ConfigError,
    RedisSettings,
    ServerSettings,
    env_bool,
    env_float,
    env_secret,
    env_str,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_MIN_HANDOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    # The provider revokes the previous token when it issues a new one: rotation
    # then stops serving the old token and lets in-flight calls drain first.
    revokes_previous: bool = False
    rotation_drain_seconds: float = 0.25

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
    lock_ttl_seconds: float = 3.0
    upstream_timeout_seconds: float = 5.0
    # Refresh at a random fraction of the lifetime in [min, max] ...
    refresh_min_fraction: float = 0.75
    refresh_max_fraction: float = 0.85
    # ... but always at least this long before expiry (capped at half the lifetime).
    refresh_min_margin_seconds: float = 5.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    negative_cache_seconds: float = 30.0
    # How long a replica trusts its in-memory copy without re-reading Redis.
    local_staleness_seconds: float = 1.0
    # Longest a caller waits for the in-flight refresh when no valid token exists; a
    # caller with a deadline waits until shortly before it, up to this. Longer than a
    # takeover (lock TTL + upstream timeout) so a holder's crash fails no caller.
    wait_max_seconds: float = 30.0
    watch_heartbeat_seconds: float = 10.0
    # Never hand out a token with less than this left (capped at half its lifetime).
    min_handout_seconds: float = 2.0
    # While callers get nothing and the shared backoff runs, one replica of the fleet
    # may probe the token endpoint this often (half-open).
    probe_interval_seconds: float = 1.0


@dataclass(frozen=True)
class TokenServiceSettings:
    server: ServerSettings
    redis: RedisSettings
    providers: tuple[ProviderConfig, ...]
    callers: tuple[CallerConfig, ...]
    policy: RefreshPolicy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenServiceSettings:
        env = os.environ if env is None else env
        providers = tuple(_provider(env, name) for name in _names(env, "TOKEN_PROVIDERS"))
        if not providers:
            raise ConfigError("TOKEN_PROVIDERS must name at least one provider")
        callers = _callers(env, {p.name for p in providers})
        policy = RefreshPolicy(
            lock_ttl_seconds=env_float(env, "TOKEN_LOCK_TTL_SECONDS", 3.0, minimum=0.1),
            upstream_timeout_seconds=env_float(env, "UPSTREAM_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            refresh_min_fraction=env_float(env, "TOKEN_REFRESH_MIN_FRACTION", 0.75),
            refresh_max_fraction=env_float(env, "TOKEN_REFRESH_MAX_FRACTION", 0.85),
            refresh_min_margin_seconds=env_float(env, "TOKEN_REFRESH_MIN_MARGIN_SECONDS", 5.0),
            backoff_initial_seconds=env_float(env, "TOKEN_BACKOFF_INITIAL_SECONDS", 0.5,
                                              minimum=0.01),
            backoff_max_seconds=env_float(env, "TOKEN_BACKOFF_MAX_SECONDS", 30.0, minimum=0.01),
            negative_cache_seconds=env_float(env, "TOKEN_NEGATIVE_CACHE_SECONDS", 30.0),
            local_staleness_seconds=env_float(env, "TOKEN_LOCAL_STALENESS_SECONDS", 1.0),
            # TOKEN_WAIT_TIMEOUT_SECONDS: the deprecated name, read when the new one is unset.
            wait_max_seconds=env_float(env, "TOKEN_WAIT_MAX_SECONDS", env_float(
                env, "TOKEN_WAIT_TIMEOUT_SECONDS", 30.0, minimum=0.1), minimum=0.1),
            watch_heartbeat_seconds=env_float(env, "TOKEN_WATCH_HEARTBEAT_SECONDS", 10.0,
                                              minimum=0.1),
            min_handout_seconds=env_float(env, "TOKEN_MIN_HANDOUT_SECONDS", 2.0),
            probe_interval_seconds=env_float(env, "TOKEN_PROBE_INTERVAL_SECONDS", 1.0,
                                             minimum=0.05),
        )
        if policy.min_handout_seconds >= MAX_MIN_HANDOUT_SECONDS:
            raise ConfigError(f"TOKEN_MIN_HANDOUT_SECONDS must be below {MAX_MIN_HANDOUT_SECONDS:g}"
                              " (half the shortest sane token lifetime, 60 s)")
        if not 0 < policy.refresh_min_fraction <= policy.refresh_max_fraction < 1:
            raise ConfigError("need 0 < TOKEN_REFRESH_MIN_FRACTION <= _MAX_FRACTION < 1")
        return cls(
            server=ServerSettings.from_env(env, default_service="token", default_port=50051),
            redis=RedisSettings.from_env(env),
            providers=providers,
            callers=callers,
            policy=policy,
        )


def _names(env: Mapping[str, str], var: str) -> list[str]:
    names = [n.strip() for n in env.get(var, "").split(",") if n.strip()]
    for name in names:
        if not _NAME.match(name):
            raise ConfigError(f"{var}: {name!r} is not a valid name (lowercase, digits, _)")
    return names


def _provider(env: Mapping[str, str], name: str) -> ProviderConfig:
    prefix = f"PROVIDER_{name.upper()}_"
    url = env_str(env, prefix + "TOKEN_URL")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{prefix}TOKEN_URL must be an http(s) URL")
    return ProviderConfig(
        name=name,
        token_url=url,
        client_id=env_str(env, prefix + "CLIENT_ID"),
        client_secret=env_secret(env, prefix + "CLIENT_SECRET"),
        scope=env.get(prefix + "SCOPE") or None,
        revokes_previous=env_bool(env, prefix + "REVOKES_PREVIOUS_TOKEN", False),
        rotation_drain_seconds=env_float(env, prefix + "ROTATION_DRAIN_SECONDS", 0.25),
    )


def _callers(env: Mapping[str, str], providers: set[str]) -> tuple[CallerConfig, ...]:
    """TOKEN_CALLERS='{"search": ["amadeus"]}' and CALLER_SEARCH_KEY[_FILE] per caller."""
    raw = env.get("TOKEN_CALLERS", "")
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
        if not isinstance(caller_id, str) or not _NAME.match(caller_id):
            raise ConfigError(f"TOKEN_CALLERS: {caller_id!r} is not a valid caller id")
        if not isinstance(allowed, list) or not all(isinstance(p, str) for p in allowed):
            raise ConfigError(f"TOKEN_CALLERS[{caller_id}] must be a list of provider names")
        unknown = set(allowed) - providers
        if unknown:
            raise ConfigError(
                f"TOKEN_CALLERS[{caller_id}] names unknown providers {sorted(unknown)}")
        callers.append(CallerConfig(
            caller_id=caller_id,
            key=env_secret(env, f"CALLER_{caller_id.upper()}_KEY"),
            providers=frozenset(allowed),
        ))
    return tuple(callers)
