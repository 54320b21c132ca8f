"""Booking service settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from services.clients.token_settings import TokenClientSettings
from services.config import (
    ConfigError,
    RedisSettings,
    ServerSettings,
    Setting,
    TlsSettings,
    env_secret,
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

PRICE_SOURCE_DATABASE = "database"
PRICE_SOURCE_SEARCH = "search"
ORDER_LOOKUP_SIM = "sim"
ORDER_LOOKUP_NONE = "none"
MAX_JWT_LEEWAY_SECONDS = 300.0
BOOKING_PROVIDERS = provider_list("BOOKING_PROVIDERS")
BOOKING_HOTEL_PROVIDER = Setting(
    "BOOKING_HOTEL_PROVIDER",
    "the hotel supplier whose stays are booked (search's SEARCH_HOTEL_PROVIDER); its "
    "settings are `PROVIDER_<NAME>_<SETTING>` (BASE_URL required; KIND, TIMEOUT_SECONDS, "
    "ORDER_LOOKUP...)",
    default_doc="none: hotel offers are refused",
)
DEFAULT_HOTEL_KIND = "amadeus_hotels"
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
    # Used only for the providers' shared rate budget (PROVIDER_RATE_LIMIT_PER_SECOND).
    redis: RedisSettings = field(default_factory=RedisSettings)
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
)
