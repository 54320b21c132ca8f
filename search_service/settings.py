"""Search service settings, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from services.clients.token_settings import TokenClientSettings
from services.config import (
    ConfigError,
    RedisSettings,
    ServerSettings,
    Setting,
    TlsSettings,
    load,
    setting,
)
from services.db import DATABASE_URL, DatabaseSettings
from services.providers.config import (
    DEFAULT_KIND,
    PREFIX,
    ProviderBasics,
    ProviderEnv,
    provider_enabled,
    provider_envs,
    provider_kind,
    provider_list,
    provider_name,
)
from services.providers.registry import HOTEL_KINDS
from services.rate_budget import RateBudgetSettings

_CURRENCY = re.compile(r"^[A-Z]{3}$")
SEARCH_PROVIDERS = provider_list("SEARCH_PROVIDERS")
SEARCH_HOTEL_PROVIDER = Setting(
    "SEARCH_HOTEL_PROVIDER",
    "the hotel supplier's provider name (its token-service provider); its settings are "
    "`PROVIDER_<NAME>_<SETTING>` (`BASE_URL` required, `KIND` default `amadeus_hotels`)",
    default_doc="none: hotel search off",
)
DEFAULT_HOTEL_KIND = "amadeus_hotels"


@dataclass(frozen=True)
class SearchPolicy:
    """How searches are built, cached and paginated."""

    cache_ttl_seconds: float = field(
        default=60.0,
        metadata=setting(
            "SEARCH_CACHE_TTL_SECONDS", "result cache TTL; no change is hidden longer", minimum=0.1
        ),
    )
    # Results with partial provider data are kept only this long (at most the TTL).
    partial_cache_ttl_seconds: float = field(
        default=5.0,
        metadata=setting(
            "SEARCH_PARTIAL_CACHE_TTL_SECONDS",
            "results with partial provider data are cached this long (at most the TTL)",
            minimum=0.1,
        ),
    )
    # How long one replica may hold a cache key's computation lock.
    cache_lock_seconds: float = field(
        default=5.0,
        metadata=setting(
            "SEARCH_CACHE_LOCK_SECONDS",
            "how long one replica may hold a cache key's computation lock",
            minimum=0.1,
        ),
    )
    # How long a replica serves its copy of a result without asking Redis again
    # (search_service/cache.py); never past the result's expiry.
    cache_local_staleness_seconds: float = field(
        default=1.0,
        metadata=setting(
            "SEARCH_CACHE_LOCAL_STALENESS_SECONDS",
            "how long a replica serves its copy of a cached result without asking Redis, "
            "never past its expiry; only a result removed early (evicted, deleted) is "
            "served this much longer; 0: always ask",
            minimum=0.0,
        ),
    )
    min_connection_minutes: int = field(
        default=45,
        metadata=setting("SEARCH_MIN_CONNECTION_MINUTES", "one-stop rules: shortest connection"),
    )
    max_layover_minutes: int = field(
        default=360,
        metadata=setting("SEARCH_MAX_LAYOVER_MINUTES", "one-stop rules: longest layover"),
    )
    default_page_size: int = field(
        default=20,
        metadata=setting("SEARCH_DEFAULT_PAGE_SIZE", "page size when a request asks for 0"),
    )
    max_page_size: int = field(
        default=100,
        metadata=setting("SEARCH_MAX_PAGE_SIZE", "larger page sizes are clamped to this"),
    )
    # Most itineraries one search returns across all its pages.
    max_results: int = field(
        default=500,
        metadata=setting(
            "SEARCH_MAX_RESULTS",
            "most itineraries one search returns across all its pages",
            minimum=1,
        ),
    )
    # How a hotel search's offers are written (search_service/hotels/offer_ids.py):
    # `keys` while replicas of a version before batches still run, then `batch`.
    hotel_offer_store: str = field(
        default="batch",
        metadata=setting(
            "SEARCH_HOTEL_OFFER_STORE",
            "how a hotel search's offers are stored: `batch` (one hash) or `keys` (one key "
            "each, readable by versions before batches: for a rolling update from one)",
            choices=("keys", "batch"),
        ),
    )
    price_guarantee_seconds: float = field(
        default=900.0,
        metadata=setting(
            "SEARCH_PRICE_GUARANTEE_SECONDS", "how long a `PriceOffer` quote holds", minimum=1.0
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SearchPolicy:
        policy = load(cls, env)
        policy = replace(
            policy,
            partial_cache_ttl_seconds=min(
                policy.cache_ttl_seconds, policy.partial_cache_ttl_seconds
            ),
        )
        if not 0 < policy.min_connection_minutes < policy.max_layover_minutes:
            raise ConfigError("need 0 < SEARCH_MIN_CONNECTION_MINUTES < SEARCH_MAX_LAYOVER_MINUTES")
        if not 1 <= policy.default_page_size <= policy.max_page_size:
            raise ConfigError("need 1 <= SEARCH_DEFAULT_PAGE_SIZE <= SEARCH_MAX_PAGE_SIZE")
        return policy


@dataclass(frozen=True)
class ProviderSettings:
    """The upstream flight-offers API, called with the token service's token."""

    name: str
    base_url: str
    # From TokenClientSettings (services/clients/token_settings.py).
    token_service_addresses: tuple[str, ...]
    caller_id: str
    caller_key: str
    timeout_seconds: float = field(
        default=3.0,
        metadata=setting(
            "PROVIDER_TIMEOUT_SECONDS", "one HTTP call to the provider (booking: 10)", minimum=0.1
        ),
    )
    # Retries after a 429 (each honouring Retry-After, capped by the timeout).
    rate_limit_retries: int = field(
        default=2,
        metadata=setting(
            "PROVIDER_RATE_LIMIT_RETRIES",
            "retries after a 429, each honouring Retry-After",
            minimum=0,
        ),
    )
    currency: str = field(
        default="USD",
        metadata=setting("PROVIDER_CURRENCY", "currency asked of the provider (the seed's)"),
    )
    # How long a provider offer id stays resolvable (at most until departure).
    offer_ttl_seconds: float = field(
        default=1800.0,
        metadata=setting(
            "PROVIDER_OFFER_TTL_SECONDS",
            "how long a provider offer id stays resolvable (at most until departure)",
            minimum=1.0,
        ),
    )
    # The adapter (services/providers/registry.py); PROVIDER_<NAME>_KIND.
    kind: str = DEFAULT_KIND
    # The fleet's shared budget of upstream requests (services/rate_budget.py).
    rate_budget: RateBudgetSettings = field(default_factory=RateBudgetSettings)

    def __repr__(self) -> str:  # never print the caller key
        return (
            f"ProviderSettings(name={self.name!r}, kind={self.kind!r}, base_url={self.base_url!r})"
        )


@dataclass(frozen=True)
class SearchServiceSettings:
    server: ServerSettings
    redis: RedisSettings
    database: DatabaseSettings
    page_token_secret: str = field(
        metadata=setting(
            "PAGE_TOKEN_SECRET",
            "signs page tokens and offer ids",
            secret=True,
            default_doc="required",
        )
    )
    policy: SearchPolicy = field(default_factory=SearchPolicy)
    # Searched concurrently, in this order; empty when providers are disabled.
    providers: tuple[ProviderSettings, ...] = ()
    # The hotel supplier (SearchHotels); None when hotel search is off.
    hotel_provider: ProviderSettings | None = None

    @property
    def provider(self) -> ProviderSettings | None:
        """The first provider; None when providers are disabled."""
        return self.providers[0] if self.providers else None

    def __repr__(self) -> str:
        return (
            f"SearchServiceSettings(server={self.server!r}, "
            f"providers={self.providers!r}, policy={self.policy!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SearchServiceSettings:
        env = os.environ if env is None else env
        policy = SearchPolicy.from_env(env)
        return load(
            cls,
            env,
            server=ServerSettings.from_env(env, default_service="search", default_port=50061),
            redis=RedisSettings.from_env(env),
            database=DatabaseSettings.from_env(env),
            policy=policy,
            providers=tuple(
                p for p in map(_provider, provider_envs(env, SEARCH_PROVIDERS.env)) if p is not None
            ),
            hotel_provider=_hotel_provider(env),
        )


# Every setting of the search service, in the order of the docs' table.
DECLARED: tuple[type | Setting, ...] = (
    ServerSettings,
    TlsSettings,
    RedisSettings,
    DATABASE_URL,
    DatabaseSettings,
    TokenClientSettings,
    ProviderBasics,
    SearchServiceSettings,
    SearchPolicy,
    SEARCH_PROVIDERS,
    SEARCH_HOTEL_PROVIDER,
    ProviderSettings,
    RateBudgetSettings,
)


def _provider(env: Mapping[str, str]) -> ProviderSettings | None:
    """One provider (services/providers/config.py); PROVIDER_ENABLED defaults to true
    when PROVIDER_BASE_URL is set."""
    enabled, base_url = provider_enabled(env)
    if not enabled:
        return None
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError("PROVIDER_BASE_URL must be an http(s) URL when the provider is enabled")
    name = provider_name(env)
    tokens = TokenClientSettings.required(env, caller_id="search")
    settings = load(
        ProviderSettings,
        env,
        name=name,
        base_url=base_url.rstrip("/"),
        token_service_addresses=tokens.addresses,
        caller_id=tokens.caller_id,
        caller_key=tokens.caller_key,
        kind=provider_kind(env, name),
        rate_budget=load(RateBudgetSettings, env),
    )
    if not _CURRENCY.match(settings.currency):
        raise ConfigError("PROVIDER_CURRENCY must be a three-letter ISO 4217 code")
    return settings


def _hotel_provider(env: Mapping[str, str]) -> ProviderSettings | None:
    """The hotel supplier named by SEARCH_HOTEL_PROVIDER, read like a listed provider
    (``PROVIDER_<NAME>_<SETTING>``, then ``PROVIDER_<SETTING>``); its kind is a hotel
    adapter (services/providers/registry.py HOTEL_KINDS)."""
    name = env.get(SEARCH_HOTEL_PROVIDER.env, "").strip()
    if not name:
        return None
    own = f"{PREFIX}{name.upper()}_"
    base_url = env.get(own + "BASE_URL", "").strip()
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{own}BASE_URL must be an http(s) URL (SEARCH_HOTEL_PROVIDER={name})")
    kind = env.get(own + "KIND", DEFAULT_HOTEL_KIND).strip()
    if kind not in HOTEL_KINDS:
        raise ConfigError(
            f"{own}KIND: unknown hotel supplier kind {kind!r} (known: {', '.join(HOTEL_KINDS)})"
        )
    penv = ProviderEnv(env, name)
    tokens = TokenClientSettings.required(env, caller_id="search")
    return load(
        ProviderSettings,
        penv,
        name=provider_name(penv),
        base_url=base_url.rstrip("/"),
        token_service_addresses=tokens.addresses,
        caller_id=tokens.caller_id,
        caller_key=tokens.caller_key,
        kind=kind,
        rate_budget=load(RateBudgetSettings, penv),
    )
