"""Search service settings, read once from the environment."""

from __future__ import annotations

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
    env_int,
    env_secret,
    env_str,
)
from services.db import DatabaseSettings
from services.providers.config import (
    DEFAULT_KIND,
    provider_envs,
    provider_kind,
    provider_name,
)

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class SearchPolicy:
    """How searches are built, cached and paginated."""

    cache_ttl_seconds: float = 60.0
    # Results with partial provider data are kept only this long (at most the TTL).
    partial_cache_ttl_seconds: float = 5.0
    # How long one replica may hold a cache key's computation lock.
    cache_lock_seconds: float = 5.0
    min_connection_minutes: int = 45
    max_layover_minutes: int = 360
    default_page_size: int = 20
    max_page_size: int = 100
    # Most itineraries one search returns across all its pages.
    max_results: int = 500
    price_guarantee_seconds: float = 900.0


@dataclass(frozen=True)
class ProviderSettings:
    """The upstream flight-offers API, called with the token service's token."""

    name: str
    base_url: str
    token_service_addresses: tuple[str, ...]
    caller_id: str
    caller_key: str
    timeout_seconds: float = 3.0
    # Retries after a 429 (each honouring Retry-After, capped by the timeout).
    rate_limit_retries: int = 2
    currency: str = "USD"
    # How long a provider offer id stays resolvable (at most until departure).
    offer_ttl_seconds: float = 1800.0
    # The adapter (services/providers/registry.py); PROVIDER_<NAME>_KIND.
    kind: str = DEFAULT_KIND

    def __repr__(self) -> str:  # never print the caller key
        return (f"ProviderSettings(name={self.name!r}, kind={self.kind!r}, "
                f"base_url={self.base_url!r})")


@dataclass(frozen=True)
class SearchServiceSettings:
    server: ServerSettings
    redis: RedisSettings
    database: DatabaseSettings
    page_token_secret: str
    policy: SearchPolicy
    # Searched concurrently, in this order; empty when providers are disabled.
    providers: tuple[ProviderSettings, ...]

    @property
    def provider(self) -> ProviderSettings | None:
        """The first provider; None when providers are disabled."""
        return self.providers[0] if self.providers else None

    def __repr__(self) -> str:
        return (f"SearchServiceSettings(server={self.server!r}, "
                f"providers={self.providers!r}, policy={self.policy!r})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SearchServiceSettings:
        env = os.environ if env is None else env
        ttl = env_float(env, "SEARCH_CACHE_TTL_SECONDS", 60.0, minimum=0.1)
        policy = SearchPolicy(
            cache_ttl_seconds=ttl,
            partial_cache_ttl_seconds=min(
                ttl, env_float(env, "SEARCH_PARTIAL_CACHE_TTL_SECONDS", 5.0, minimum=0.1)),
            cache_lock_seconds=env_float(env, "SEARCH_CACHE_LOCK_SECONDS", 5.0, minimum=0.1),
            min_connection_minutes=env_int(env, "SEARCH_MIN_CONNECTION_MINUTES", 45),
            max_layover_minutes=env_int(env, "SEARCH_MAX_LAYOVER_MINUTES", 360),
            default_page_size=env_int(env, "SEARCH_DEFAULT_PAGE_SIZE", 20),
            max_page_size=env_int(env, "SEARCH_MAX_PAGE_SIZE", 100),
            max_results=env_int(env, "SEARCH_MAX_RESULTS", 500),
            price_guarantee_seconds=env_float(env, "SEARCH_PRICE_GUARANTEE_SECONDS", 900.0,
                                              minimum=1.0),
        )
        if not 0 < policy.min_connection_minutes < policy.max_layover_minutes:
            raise ConfigError(
                "need 0 < SEARCH_MIN_CONNECTION_MINUTES < SEARCH_MAX_LAYOVER_MINUTES")
        if not 1 <= policy.default_page_size <= policy.max_page_size:
            raise ConfigError("need 1 <= SEARCH_DEFAULT_PAGE_SIZE <= SEARCH_MAX_PAGE_SIZE")
        if policy.max_results < 1:
            raise ConfigError("SEARCH_MAX_RESULTS must be >= 1")
        return cls(
            server=ServerSettings.from_env(env, default_service="search", default_port=50061),
            redis=RedisSettings.from_env(env),
            database=DatabaseSettings.from_env(env),
            page_token_secret=env_secret(env, "PAGE_TOKEN_SECRET"),
            policy=policy,
            providers=tuple(p for p in map(_provider, provider_envs(env, "SEARCH_PROVIDERS"))
                            if p is not None),
        )


def _provider(env: Mapping[str, str]) -> ProviderSettings | None:
    """One provider (services/providers/config.py); PROVIDER_ENABLED defaults to true
    when PROVIDER_BASE_URL is set."""
    base_url = env.get("PROVIDER_BASE_URL", "").strip()
    if not env_bool(env, "PROVIDER_ENABLED", bool(base_url)):
        return None
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("PROVIDER_BASE_URL must be an http(s) URL when the provider is enabled")
    name = provider_name(env)
    addresses = tuple(a.strip() for a in env_str(env, "TOKEN_SERVICE_ADDRESSES").split(",")
                      if a.strip())
    if not addresses:
        raise ConfigError("TOKEN_SERVICE_ADDRESSES must list at least one address")
    currency = env_str(env, "PROVIDER_CURRENCY", "USD")
    if not _CURRENCY.match(currency):
        raise ConfigError("PROVIDER_CURRENCY must be a three-letter ISO 4217 code")
    settings = ProviderSettings(
        name=name,
        base_url=base_url.rstrip("/"),
        token_service_addresses=addresses,
        caller_id=env_str(env, "TOKEN_CALLER_ID", "search"),
        caller_key=env_secret(env, "TOKEN_CALLER_KEY"),
        timeout_seconds=env_float(env, "PROVIDER_TIMEOUT_SECONDS", 3.0, minimum=0.1),
        rate_limit_retries=env_int(env, "PROVIDER_RATE_LIMIT_RETRIES", 2),
        currency=currency,
        offer_ttl_seconds=env_float(env, "PROVIDER_OFFER_TTL_SECONDS", 1800.0, minimum=1.0),
        kind=provider_kind(env, name),
    )
    if settings.rate_limit_retries < 0:
        raise ConfigError("PROVIDER_RATE_LIMIT_RETRIES must be >= 0")
    return settings
