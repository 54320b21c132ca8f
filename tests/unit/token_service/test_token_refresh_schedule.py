"""ProviderBroker.refresh_after_ms: a jittered fraction of the lifetime, but never
closer to expiry than the minimum margin (capped at half the lifetime)."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.logs import Redactor
from token_service.broker import ProviderBroker
from token_service.metrics import TokenMetrics
from token_service.redis_health import RedisHealth
from token_service.sealing import Sealer
from token_service.settings import ProviderConfig, RefreshPolicy
from token_service.store import RedisClock, TokenStore
from token_service.upstream import TokenEndpoint

BrokerFor = Callable[[RefreshPolicy], ProviderBroker]


@pytest.fixture
async def broker_for(redis_url: str, key_prefix: str) -> AsyncIterator[BrokerFor]:
    """Real collaborators; nothing here talks to Redis or the network."""
    redis = Redis.from_url(redis_url)
    session = aiohttp.ClientSession()
    provider = ProviderConfig("amadeus", "http://127.0.0.1:1/token", "client", "secret-9f8e7d")

    def make(policy: RefreshPolicy) -> ProviderBroker:
        return ProviderBroker(
            provider,
            TokenStore(
                redis, key_prefix, provider.name, "replica-1", Sealer({"k1": os.urandom(32)})
            ),
            RedisClock(redis),
            TokenEndpoint(provider, session, 1.0),
            policy,
            TokenMetrics(CollectorRegistry()),
            RedisHealth(redis),
            Redactor(),
        )

    yield make
    await session.close()
    await redis.aclose()


@pytest.mark.parametrize("lifetime_ms", [1_799_000, 3_600_000, 300_000, 60_000])
async def test_long_lifetimes_refresh_within_the_fractions(
    broker_for: BrokerFor, lifetime_ms: int
) -> None:
    broker = broker_for(
        RefreshPolicy(
            refresh_min_fraction=0.75, refresh_max_fraction=0.85, refresh_min_margin_seconds=5.0
        )
    )
    samples = [broker.refresh_after_ms(lifetime_ms) for _ in range(500)]
    assert all(int(lifetime_ms * 0.75) <= s <= int(lifetime_ms * 0.85) for s in samples)
    # Jittered: replicas do not all refresh at the same instant.
    assert len(set(samples)) > 100


async def test_short_lifetime_keeps_the_minimum_margin(broker_for: BrokerFor) -> None:
    # 10 s lifetime: 75-85 % would leave 1.5-2.5 s; the 5 s margin wins.
    broker = broker_for(RefreshPolicy(refresh_min_margin_seconds=5.0))
    assert {broker.refresh_after_ms(10_000) for _ in range(100)} == {5_000}
    # 30 s lifetime: 22.5-25.5 s would leave at least 4.5 s; never after 25 s.
    assert all(broker.refresh_after_ms(30_000) <= 25_000 for _ in range(200))


async def test_margin_is_capped_at_half_the_lifetime(broker_for: BrokerFor) -> None:
    # 2 s lifetime with a 5 s minimum margin: refresh at lifetime / 2.
    broker = broker_for(RefreshPolicy(refresh_min_margin_seconds=5.0))
    assert {broker.refresh_after_ms(2_000) for _ in range(100)} == {1_000}


async def test_fixed_fraction(broker_for: BrokerFor) -> None:
    broker = broker_for(
        RefreshPolicy(
            refresh_min_fraction=0.5, refresh_max_fraction=0.5, refresh_min_margin_seconds=0
        )
    )
    assert broker.refresh_after_ms(100_000) == 50_000


async def test_random_policies_stay_in_bounds(broker_for: BrokerFor) -> None:
    rng = random.Random(1234)
    for _ in range(300):
        low = rng.uniform(0.05, 0.95)
        high = rng.uniform(low, 0.99)
        margin_s = rng.choice([0.0, 1.0, 5.0, 60.0])
        lifetime = rng.randint(100, 7_200_000)
        broker = broker_for(
            RefreshPolicy(
                refresh_min_fraction=low,
                refresh_max_fraction=high,
                refresh_min_margin_seconds=margin_s,
            )
        )
        after = broker.refresh_after_ms(lifetime)
        margin = min(margin_s * 1000, lifetime / 2)
        assert 0 < after < lifetime
        assert after <= lifetime - margin
        assert after >= min(int(lifetime * low), int(lifetime - margin)) - 1
        assert after <= int(lifetime * high)
