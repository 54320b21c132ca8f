"""Booking service settings, read once from the environment."""

from __future__ import annotations

import os
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
    read,
    setting,
)
from services.db import DATABASE_URL, DatabaseSettings
from services.providers.config import (
    DEFAULT_KIND,
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
from services.session_revocation import RevocationSettings
from services.user_jwt import BOOKING_JWT_SECRET, JwtSettings

PRICE_SOURCE_DATABASE = "database"
PRICE_SOURCE_SEARCH = "search"
ORDER_LOOKUP_SIM = "sim"
ORDER_LOOKUP_NONE = "none"
BOOKING_PROVIDERS = provider_list("BOOKING_PROVIDERS")
BOOKING_HOTEL_PROVIDER = Setting(
    "BOOKING_HOTEL_PROVIDER",
    "the hotel supplier whose stays are booked (search's SEARCH_HOTEL_PROVIDER); its "
    "settings are `PROVIDER_<NAME>_<SETTING>` (BASE_URL required; KIND, TIMEOUT_SECONDS, "
    "ORDER_LOOKUP...)",
    default_doc="none: hotel offers are refused",
)
DEFAULT_HOTEL_KIND = "amadeus_hotels"


@dataclass(frozen=True)
class ProviderOrderSettings:
    """One upstream provider's order API (services/providers)."""

    name: str
    base_url: str
    # One HTTP call to the provider; a create that times out is reconciled by lookup.
    timeout_seconds: float = field(
        default=10.0,
        metadata=setting(
            "PROVIDER_TIMEOUT_SECONDS", "one HTTP call to the provider (search: 3)", minimum=0.1
        ),
    )
    # How a create whose outcome is unknown is settled: "sim" asks the stand-in's
    # order listing by remark (lookup_url); "none" cannot look orders up.
    lookup: str = field(
        default=ORDER_LOOKUP_SIM,
        metadata=setting(
            "PROVIDER_ORDER_LOOKUP",
            "how an unknown order outcome is looked up: `sim` (stand-in) "
            "or `none` (log for manual reconciliation)",
            choices=(ORDER_LOOKUP_SIM, ORDER_LOOKUP_NONE),
        ),
    )
    lookup_url: str = field(
        default="",
        metadata=setting(
            "PROVIDER_ORDER_LOOKUP_URL",
            "where `sim` looks orders up",
            default_doc="PROVIDER_BASE_URL",
        ),
    )
    # The adapter (services/providers/registry.py); PROVIDER_<NAME>_KIND.
    kind: str = DEFAULT_KIND
    # The fleet's shared budget of upstream requests (services/rate_budget.py).
    rate_budget: RateBudgetSettings = field(default_factory=RateBudgetSettings)

    @property
    def lease_seconds(self) -> float:
        """How long a replica working on an order is left alone: longer than placing it
        can take (two calls on a 401, a lookup, and the token service's calls)."""
        return 4 * self.timeout_seconds + 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProviderOrderSettings | None:
        """One provider (services/providers/config.py); None unless it is enabled
        (PROVIDER_ENABLED, by default true when PROVIDER_BASE_URL is set)."""
        enabled, base_url = provider_enabled(env)
        base_url = base_url.rstrip("/")
        if not enabled:
            return None
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                "PROVIDER_BASE_URL must be an http(s) URL when the provider is enabled"
            )
        name = provider_name(env)
        settings = load(
            cls,
            env,
            name=name,
            base_url=base_url,
            defaults={"lookup_url": base_url},
            kind=provider_kind(env, name),
            rate_budget=load(RateBudgetSettings, env),
        )
        settings = replace(settings, lookup_url=settings.lookup_url.rstrip("/"))
        if not settings.lookup_url.startswith(("http://", "https://")):
            raise ConfigError("PROVIDER_ORDER_LOOKUP_URL must be an http(s) URL")
        return settings

    @classmethod
    def hotel_from_env(cls, env: Mapping[str, str]) -> ProviderOrderSettings | None:
        """The hotel supplier of BOOKING_HOTEL_PROVIDER, read like a listed provider;
        its kind is a hotel adapter (services/providers/registry.py HOTEL_KINDS)."""
        name = env.get(BOOKING_HOTEL_PROVIDER.env, "").strip()
        if not name:
            return None
        own = f"PROVIDER_{name.upper()}_"
        base_url = env.get(own + "BASE_URL", "").strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"{own}BASE_URL must be an http(s) URL (BOOKING_HOTEL_PROVIDER={name})"
            )
        kind = env.get(own + "KIND", DEFAULT_HOTEL_KIND).strip()
        if kind not in HOTEL_KINDS:
            raise ConfigError(
                f"{own}KIND: unknown hotel supplier kind {kind!r} (known: {', '.join(HOTEL_KINDS)})"
            )
        penv = ProviderEnv(env, name)
        settings = load(
            ProviderOrderSettings,
            penv,
            name=name,
            base_url=base_url,
            defaults={"lookup_url": base_url},
            kind=kind,
            rate_budget=load(RateBudgetSettings, penv),
        )
        return replace(settings, lookup_url=settings.lookup_url.rstrip("/"))


@dataclass(frozen=True)
class ItineraryLinkSettings:
    """Download links to a confirmed booking's itinerary (token-service download tokens)."""

    ttl_seconds: float = field(
        default=24 * 3600.0,
        metadata=setting(
            "BOOKING_ITINERARY_LINK_TTL_SECONDS",
            "how long an itinerary link works (at most 7 days)",
            minimum=1.0,
            maximum=7 * 24 * 3600.0,
        ),
    )
    max_uses: int = field(
        default=10,
        metadata=setting(
            "BOOKING_ITINERARY_LINK_MAX_USES",
            "uses of one itinerary link (0: until it expires)",
            minimum=0,
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ItineraryLinkSettings:
        return load(cls, env)


@dataclass(frozen=True)
class BookingPolicy:
    hold_seconds: float = field(
        default=900.0, metadata=setting("BOOKING_HOLD_SECONDS", "hold length", minimum=0.1)
    )
    # How often each replica looks for expired holds, and how many it expires per
    # transaction.
    sweep_interval_seconds: float = field(
        default=1.0,
        metadata=setting(
            "BOOKING_SWEEP_INTERVAL_SECONDS",
            "expiry sweeper: how often each replica looks for expired holds",
            minimum=0.05,
        ),
    )
    sweep_batch_size: int = field(
        default=100,
        metadata=setting(
            "BOOKING_SWEEP_BATCH_SIZE", "expiry sweeper: holds expired per transaction", minimum=1
        ),
    )
    default_page_size: int = field(
        default=20,
        metadata=setting("BOOKING_DEFAULT_PAGE_SIZE", "page size when a request asks for 0"),
    )
    max_page_size: int = field(
        default=100,
        metadata=setting("BOOKING_MAX_PAGE_SIZE", "larger page sizes are clamped to this"),
    )
    # 3-digit prefix of the 13-digit ticket numbers.
    ticket_prefix: str = field(
        default="990",
        metadata=setting("BOOKING_TICKET_PREFIX", "3-digit prefix of the 13-digit ticket numbers"),
    )
    # A replica confirming a package (flows/packages.py) is left alone this long; then
    # any replica's resumer takes it up. Longer than a supplier call (checked).
    package_lease_seconds: float = field(
        default=60.0,
        metadata=setting(
            "BOOKING_PACKAGE_LEASE_SECONDS",
            "package confirmation: how long a replica's claim lasts before another resumes it "
            "(at least 4 x the hotel supplier's timeout + 10)",
            minimum=1.0,
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BookingPolicy:
        policy = load(cls, env)
        if not 1 <= policy.default_page_size <= policy.max_page_size:
            raise ConfigError("need 1 <= BOOKING_DEFAULT_PAGE_SIZE <= BOOKING_MAX_PAGE_SIZE")
        if not (len(policy.ticket_prefix) == 3 and policy.ticket_prefix.isdigit()):
            raise ConfigError("BOOKING_TICKET_PREFIX must be 3 digits")
        return policy


@dataclass(frozen=True)
class BookingServiceSettings:
    server: ServerSettings
    database: DatabaseSettings
    jwt: JwtSettings
    policy: BookingPolicy
    price_source: str = field(
        metadata=setting(
            "BOOKING_PRICE_SOURCE",
            "`search` revalidates prices through search; `database` reads fares directly (tests)",
            choices=(PRICE_SOURCE_DATABASE, PRICE_SOURCE_SEARCH),
            default_doc="search when SEARCH_SERVICE_ADDRESSES is set",
        )
    )
    search_addresses: tuple[str, ...] = field(
        metadata=setting(
            "SEARCH_SERVICE_ADDRESSES",
            "the search service: comma list of host:port, for price revalidation",
            default_doc="none",
        )
    )
    search_timeout_seconds: float = field(
        default=3.0,
        metadata=setting("SEARCH_TIMEOUT_SECONDS", "deadline of calls to search", minimum=0.1),
    )
    # None: no token service (no itinerary links, no provider orders).
    tokens: TokenClientSettings | None = None
    # Offers of other providers cannot be booked; empty: no provider offers at all.
    providers: tuple[ProviderOrderSettings, ...] = ()
    links: ItineraryLinkSettings = ItineraryLinkSettings()
    # Used for the providers' shared rate budget (PROVIDER_RATE_LIMIT_PER_SECOND) and
    # the revoked sessions (BOOKING_SESSION_REVOCATION).
    redis: RedisSettings = field(default_factory=RedisSettings)
    revocation: RevocationSettings = field(default_factory=RevocationSettings)
    # The hotel supplier (BOOKING_HOTEL_PROVIDER); None: hotel offers are refused.
    hotel: ProviderOrderSettings | None = None

    @property
    def provider(self) -> ProviderOrderSettings | None:
        """The first provider; None when providers are disabled."""
        return self.providers[0] if self.providers else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BookingServiceSettings:
        env = os.environ if env is None else env
        policy = BookingPolicy.from_env(env)
        addresses = read(cls, "search_addresses", env, default=())
        default_source = PRICE_SOURCE_SEARCH if addresses else PRICE_SOURCE_DATABASE
        source = read(cls, "price_source", env, default=default_source)
        if source == PRICE_SOURCE_SEARCH and not addresses:
            raise ConfigError("BOOKING_PRICE_SOURCE=search needs SEARCH_SERVICE_ADDRESSES")
        tokens = TokenClientSettings.from_env(env, caller_id="booking")
        providers = tuple(
            p
            for p in map(ProviderOrderSettings.from_env, provider_envs(env, BOOKING_PROVIDERS.env))
            if p is not None
        )
        hotel = ProviderOrderSettings.hotel_from_env(env)
        if hotel is not None:
            if tokens is None or not addresses:
                raise ConfigError(
                    "BOOKING_HOTEL_PROVIDER needs the token service (TOKEN_SERVICE_ADDRESSES, "
                    "TOKEN_CALLER_KEY) and search (SEARCH_SERVICE_ADDRESSES)"
                )
            if policy.package_lease_seconds < hotel.lease_seconds:
                raise ConfigError(
                    f"BOOKING_PACKAGE_LEASE_SECONDS must be at least {hotel.lease_seconds:g} "
                    "(4 x the hotel supplier's PROVIDER_TIMEOUT_SECONDS + 10): longer than "
                    "a hotel order can take"
                )
        if providers and tokens is None:
            raise ConfigError(
                "the provider (PROVIDER_BASE_URL) needs the token service: set "
                "TOKEN_SERVICE_ADDRESSES and TOKEN_CALLER_KEY, or "
                "PROVIDER_ENABLED=false"
            )
        return load(
            cls,
            env,
            server=ServerSettings.from_env(env, default_service="booking", default_port=50071),
            database=DatabaseSettings.from_env(env),
            jwt=JwtSettings.from_env(env),
            policy=policy,
            price_source=source,
            search_addresses=addresses,
            tokens=tokens,
            providers=providers,
            links=ItineraryLinkSettings.from_env(env),
            redis=RedisSettings.from_env(env),
            revocation=load(RevocationSettings, env),
            hotel=hotel,
        )


# Every setting of the booking service, in the order of the docs' table.
DECLARED: tuple[type | Setting, ...] = (
    ServerSettings,
    TlsSettings,
    RedisSettings,
    DATABASE_URL,
    DatabaseSettings,
    TokenClientSettings,
    ProviderBasics,
    BookingServiceSettings,
    JwtSettings,
    BOOKING_JWT_SECRET,
    BookingPolicy,
    ItineraryLinkSettings,
    BOOKING_PROVIDERS,
    ProviderOrderSettings,
    BOOKING_HOTEL_PROVIDER,
    RateBudgetSettings,
    RevocationSettings,
)
