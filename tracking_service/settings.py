"""Tracking service settings, read once from the environment."""

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
    load,
    setting,
)
from services.db import DATABASE_URL, DatabaseSettings
from services.session_revocation import RevocationSettings
from services.user_jwt import BOOKING_JWT_SECRET, JwtSettings

MAX_FREQUENCY_SECONDS = 86_400


@dataclass(frozen=True)
class TrackingPolicy:
    max_trackers_per_user: int = field(
        default=20,
        metadata=setting(
            "TRACKING_MAX_TRACKERS_PER_USER",
            "trackers a user may have that have not ended",
            minimum=1,
        ),
    )
    min_frequency_seconds: int = field(
        default=900,
        metadata=setting(
            "TRACKING_MIN_FREQUENCY_SECONDS",
            "shortest period a tracker may ask for",
            minimum=1,
            maximum=MAX_FREQUENCY_SECONDS,
        ),
    )
    # A claim lasts this long: a replica killed mid-run holds its trackers no longer.
    lease_seconds: float = field(
        default=30.0,
        metadata=setting(
            "TRACKING_LEASE_SECONDS",
            "how long a claimed run is its replica's; then any replica may take it over",
            minimum=0.5,
        ),
    )
    claim_batch: int = field(
        default=100,
        metadata=setting("TRACKING_CLAIM_BATCH", "due trackers claimed at once", minimum=1),
    )
    # One loop already overlaps a batch's store with the next batch's claim and pricing;
    # more loops mean more claimed-but-unstored trackers that every claim walks past.
    workers: int = field(
        default=1,
        metadata=setting(
            "TRACKING_WORKERS",
            "claim loops per replica, each pricing one batch while storing the one before",
            minimum=1,
        ),
    )
    poll_seconds: float = field(
        default=0.25,
        metadata=setting(
            "TRACKING_POLL_SECONDS",
            "pause between looks for due trackers when none are",
            minimum=0.01,
        ),
    )
    search_concurrency: int = field(
        default=8,
        metadata=setting(
            "TRACKING_SEARCH_CONCURRENCY", "searches in flight per replica", minimum=1
        ),
    )
    retry_seconds: float = field(
        default=30.0,
        metadata=setting(
            "TRACKING_RETRY_SECONDS",
            "a run whose search failed (or was held back by the rate budget) is tried "
            "again this much later, in the same period",
            minimum=0.1,
        ),
    )
    include_provider_offers: bool = field(
        default=True,
        metadata=setting(
            "TRACKING_INCLUDE_PROVIDER_OFFERS",
            "also price trackers at the upstream provider (at background priority)",
        ),
    )


@dataclass(frozen=True)
class TrackingServiceSettings:
    server: ServerSettings
    database: DatabaseSettings
    jwt: JwtSettings
    policy: TrackingPolicy
    search_addresses: tuple[str, ...] = field(
        metadata=setting(
            "SEARCH_SERVICE_ADDRESSES",
            "the search service: comma list of host:port, where prices come from",
            default_doc="required",
        )
    )
    search_timeout_seconds: float = field(
        default=10.0,
        metadata=setting("SEARCH_TIMEOUT_SECONDS", "deadline of calls to search", minimum=0.1),
    )
    # Alerts are published here for WatchAlerts on every replica; revoked sessions are
    # read from here (BOOKING_SESSION_REVOCATION).
    redis: RedisSettings = field(default_factory=RedisSettings)
    revocation: RevocationSettings = field(default_factory=RevocationSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrackingServiceSettings:
        env = os.environ if env is None else env
        settings = load(
            cls,
            env,
            defaults={"search_addresses": ()},
            server=ServerSettings.from_env(env, default_service="tracking", default_port=50091),
            database=DatabaseSettings.from_env(env),
            jwt=JwtSettings.from_env(env),
            policy=load(TrackingPolicy, env),
            redis=RedisSettings.from_env(env),
            revocation=load(RevocationSettings, env),
        )
        if not settings.search_addresses:
            raise ConfigError("SEARCH_SERVICE_ADDRESSES is required (where prices come from)")
        return settings


# Every setting of the tracking service, in the order of the docs' table.
DECLARED: tuple[type | Setting, ...] = (
    ServerSettings,
    TlsSettings,
    RedisSettings,
    DATABASE_URL,
    DatabaseSettings,
    TrackingServiceSettings,
    JwtSettings,
    BOOKING_JWT_SECRET,
    RevocationSettings,
    TrackingPolicy,
)
