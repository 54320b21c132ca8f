"""Booking service settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.config import (
    ConfigError,
    ServerSettings,
    env_bool,
    env_float,
    env_int,
    env_secret,
    env_str,
)
from services.db import DatabaseSettings
from services.providers.config import DEFAULT_KIND, provider_envs, provider_kind, provider_name

PRICE_SOURCE_DATABASE = "database"
PRICE_SOURCE_SEARCH = "search"
ORDER_LOOKUP_SIM = "sim"
ORDER_LOOKUP_NONE = "none"


@dataclass(frozen=True)
class JwtSettings:
    """How end-user tokens are verified (and, for development, minted).

    Asymmetric keys (RS256 / ES256) come from a JWKS file or URL; an HS256 shared
    secret is for local development. At least one of them is required.
    """

    issuer: str
    audience: str
    jwks_file: str | None = None
    jwks_url: str | None = None
    secret: str | None = None
    # Clock skew allowed on exp/nbf/iat between the issuer and this service (RFC 7519
    # 4.1.4: "a small leeway ... no more than a few minutes"); a token also stays
    # accepted (and remembered by api/auth.py) this long past its exp.
    leeway_seconds: float = 10.0
    jwks_refresh_seconds: float = 300.0

    def __repr__(self) -> str:  # never print the secret
        return (f"JwtSettings(issuer={self.issuer!r}, audience={self.audience!r}, "
                f"jwks_file={self.jwks_file!r}, jwks_url={self.jwks_url!r}, "
                f"hs256={'yes' if self.secret else 'no'})")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JwtSettings:
        jwks_file = env.get("BOOKING_JWKS_FILE") or None
        jwks_url = env.get("BOOKING_JWKS_URL") or None
        has_secret = bool(env.get("BOOKING_JWT_SECRET") or env.get("BOOKING_JWT_SECRET_FILE"))
        if not (jwks_file or jwks_url or has_secret):
            raise ConfigError(
                "set BOOKING_JWKS_FILE or BOOKING_JWKS_URL (RS256/ES256 keys), or "
                "BOOKING_JWT_SECRET[_FILE] (HS256, local development)")
        if jwks_file and not Path(jwks_file).is_file():
            raise ConfigError("BOOKING_JWKS_FILE does not name a readable file")
        if jwks_url and not jwks_url.startswith(("http://", "https://")):
            raise ConfigError("BOOKING_JWKS_URL must be an http(s) URL")
        secret = env_secret(env, "BOOKING_JWT_SECRET") if has_secret else None
        if secret is not None and len(secret) < 32:
            # RFC 7518 3.2: an HS256 key must be at least as long as the hash (32 bytes).
            raise ConfigError("BOOKING_JWT_SECRET must be at least 32 characters")
        return cls(
            issuer=env_str(env, "BOOKING_JWT_ISSUER"),
            audience=env_str(env, "BOOKING_JWT_AUDIENCE"),
            jwks_file=jwks_file,
            jwks_url=jwks_url,
            secret=secret,
            leeway_seconds=_leeway(env),
            jwks_refresh_seconds=env_float(env, "BOOKING_JWKS_REFRESH_SECONDS", 300.0,
                                           minimum=1.0),
        )


MAX_JWT_LEEWAY_SECONDS = 300.0


def _leeway(env: Mapping[str, str]) -> float:
    leeway = env_float(env, "BOOKING_JWT_LEEWAY_SECONDS", JwtSettings.leeway_seconds)
    if leeway > MAX_JWT_LEEWAY_SECONDS:
        # More than "a few minutes" only hides a broken clock and stretches every
        # token's life.
        raise ConfigError(f"BOOKING_JWT_LEEWAY_SECONDS must be <= {MAX_JWT_LEEWAY_SECONDS:g}")
    return leeway


@dataclass(frozen=True)
class TokenServiceSettings:
    """The token service: the provider's shared token and itinerary download tokens."""

    addresses: tuple[str, ...]
    caller_id: str
    caller_key: str
    timeout_seconds: float = 3.0

    def __repr__(self) -> str:  # never print the caller key
        return (f"TokenServiceSettings(addresses={self.addresses!r}, "
                f"caller_id={self.caller_id!r})")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TokenServiceSettings | None:
        """None unless TOKEN_SERVICE_ADDRESSES is set."""
        addresses = tuple(a.strip() for a in env.get("TOKEN_SERVICE_ADDRESSES", "").split(",")
                          if a.strip())
        if not addresses:
            return None
        return cls(addresses=addresses,
                   caller_id=env_str(env, "TOKEN_CALLER_ID", "booking"),
                   caller_key=env_secret(env, "TOKEN_CALLER_KEY"),
                   timeout_seconds=env_float(env, "TOKEN_SERVICE_TIMEOUT_SECONDS", 3.0,
                                             minimum=0.1))


@dataclass(frozen=True)
class ProviderOrderSettings:
    """One upstream provider's order API (services/providers)."""

    name: str
    base_url: str
    # One HTTP call to the provider; a create that times out is reconciled by lookup.
    timeout_seconds: float = 10.0
    # How a create whose outcome is unknown is settled: "sim" asks the stand-in's
    # order listing by remark (lookup_url); "none" cannot look orders up.
    lookup: str = ORDER_LOOKUP_SIM
    lookup_url: str = ""
    # The adapter (services/providers/registry.py); PROVIDER_<NAME>_KIND.
    kind: str = DEFAULT_KIND

    @property
    def lease_seconds(self) -> float:
        """How long a replica working on an order is left alone: longer than placing it
        can take (two calls on a 401, a lookup, and the token service's calls)."""
        return 4 * self.timeout_seconds + 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProviderOrderSettings | None:
        """One provider (services/providers/config.py); None unless it is enabled
        (PROVIDER_ENABLED, by default true when PROVIDER_BASE_URL is set)."""
        base_url = env.get("PROVIDER_BASE_URL", "").strip().rstrip("/")
        if not env_bool(env, "PROVIDER_ENABLED", bool(base_url)):
            return None
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("PROVIDER_BASE_URL must be an http(s) URL when the provider "
                              "is enabled")
        name = provider_name(env)
        lookup = env_str(env, "PROVIDER_ORDER_LOOKUP", ORDER_LOOKUP_SIM)
        if lookup not in (ORDER_LOOKUP_SIM, ORDER_LOOKUP_NONE):
            raise ConfigError("PROVIDER_ORDER_LOOKUP must be 'sim' or 'none'")
        lookup_url = env_str(env, "PROVIDER_ORDER_LOOKUP_URL", base_url).rstrip("/")
        if not lookup_url.startswith(("http://", "https://")):
            raise ConfigError("PROVIDER_ORDER_LOOKUP_URL must be an http(s) URL")
        return cls(name=name, base_url=base_url,
                   timeout_seconds=env_float(env, "PROVIDER_TIMEOUT_SECONDS", 10.0,
                                             minimum=0.1),
                   lookup=lookup, lookup_url=lookup_url, kind=provider_kind(env, name))


@dataclass(frozen=True)
class ItineraryLinkSettings:
    """Download links to a confirmed booking's itinerary (token-service download tokens)."""

    ttl_seconds: float = 24 * 3600.0
    max_uses: int = 10  # 0: until it expires

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ItineraryLinkSettings:
        settings = cls(
            ttl_seconds=env_float(env, "BOOKING_ITINERARY_LINK_TTL_SECONDS", 24 * 3600.0,
                                  minimum=1.0),
            max_uses=env_int(env, "BOOKING_ITINERARY_LINK_MAX_USES", 10))
        if settings.ttl_seconds > 7 * 24 * 3600:
            raise ConfigError("BOOKING_ITINERARY_LINK_TTL_SECONDS must be at most 7 days")
        if settings.max_uses < 0:
            raise ConfigError("BOOKING_ITINERARY_LINK_MAX_USES must be >= 0 (0: unlimited)")
        return settings


@dataclass(frozen=True)
class BookingPolicy:
    hold_seconds: float = 900.0
    # How often each replica looks for expired holds, and how many it expires per
    # transaction.
    sweep_interval_seconds: float = 1.0
    sweep_batch_size: int = 100
    default_page_size: int = 20
    max_page_size: int = 100
    # 3-digit prefix of the 13-digit ticket numbers.
    ticket_prefix: str = "990"


@dataclass(frozen=True)
class BookingServiceSettings:
    server: ServerSettings
    database: DatabaseSettings
    jwt: JwtSettings
    policy: BookingPolicy
    price_source: str
    search_addresses: tuple[str, ...]
    search_timeout_seconds: float
    # None: no token service (no itinerary links, no provider orders).
    tokens: TokenServiceSettings | None = None
    # Offers of other providers cannot be booked; empty: no provider offers at all.
    providers: tuple[ProviderOrderSettings, ...] = ()
    links: ItineraryLinkSettings = ItineraryLinkSettings()

    @property
    def provider(self) -> ProviderOrderSettings | None:
        """The first provider; None when providers are disabled."""
        return self.providers[0] if self.providers else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BookingServiceSettings:
        env = os.environ if env is None else env
        policy = BookingPolicy(
            hold_seconds=env_float(env, "BOOKING_HOLD_SECONDS", 900.0, minimum=0.1),
            sweep_interval_seconds=env_float(env, "BOOKING_SWEEP_INTERVAL_SECONDS", 1.0,
                                             minimum=0.05),
            sweep_batch_size=env_int(env, "BOOKING_SWEEP_BATCH_SIZE", 100),
            default_page_size=env_int(env, "BOOKING_DEFAULT_PAGE_SIZE", 20),
            max_page_size=env_int(env, "BOOKING_MAX_PAGE_SIZE", 100),
            ticket_prefix=env_str(env, "BOOKING_TICKET_PREFIX", "990"),
        )
        if policy.sweep_batch_size < 1:
            raise ConfigError("BOOKING_SWEEP_BATCH_SIZE must be >= 1")
        if not 1 <= policy.default_page_size <= policy.max_page_size:
            raise ConfigError("need 1 <= BOOKING_DEFAULT_PAGE_SIZE <= BOOKING_MAX_PAGE_SIZE")
        if not (len(policy.ticket_prefix) == 3 and policy.ticket_prefix.isdigit()):
            raise ConfigError("BOOKING_TICKET_PREFIX must be 3 digits")
        addresses = tuple(a.strip() for a in env.get("SEARCH_SERVICE_ADDRESSES", "").split(",")
                          if a.strip())
        default_source = PRICE_SOURCE_SEARCH if addresses else PRICE_SOURCE_DATABASE
        source = env_str(env, "BOOKING_PRICE_SOURCE", default_source)
        if source not in (PRICE_SOURCE_DATABASE, PRICE_SOURCE_SEARCH):
            raise ConfigError("BOOKING_PRICE_SOURCE must be 'database' or 'search'")
        if source == PRICE_SOURCE_SEARCH and not addresses:
            raise ConfigError("BOOKING_PRICE_SOURCE=search needs SEARCH_SERVICE_ADDRESSES")
        tokens = TokenServiceSettings.from_env(env)
        providers = tuple(p for p in map(ProviderOrderSettings.from_env,
                                         provider_envs(env, "BOOKING_PROVIDERS"))
                          if p is not None)
        if providers and tokens is None:
            raise ConfigError("the provider (PROVIDER_BASE_URL) needs the token service: set "
                              "TOKEN_SERVICE_ADDRESSES and TOKEN_CALLER_KEY, or "
                              "PROVIDER_ENABLED=false")
        return cls(
            server=ServerSettings.from_env(env, default_service="booking", default_port=50071),
            database=DatabaseSettings.from_env(env),
            jwt=JwtSettings.from_env(env),
            policy=policy,
            price_source=source,
            search_addresses=addresses,
            search_timeout_seconds=env_float(env, "SEARCH_TIMEOUT_SECONDS", 3.0, minimum=0.1),
            tokens=tokens,
            providers=providers,
            links=ItineraryLinkSettings.from_env(env),
        )
