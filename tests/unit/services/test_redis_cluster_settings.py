"""REDIS_URL naming a Redis Cluster: parsed, validated at start, WAIT on by default, and
every key set a multi-key script or MGET touches hashes to one slot."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from redis.crc import key_slot
from redis.exceptions import RedisError

from search_service.cache import CacheMetrics, ResultCache
from services.config import ClusterTarget, ConfigError, RedisSettings
from services.heartbeat import heartbeat_key
from services.rate_budget import RateBudget, RateBudgetSettings
from services.redis_client import ClusterClient, create_redis
from token_service.sealing import Sealer
from token_service.store import TokenStore


def test_cluster_url_is_parsed() -> None:
    settings = RedisSettings.from_env(
        {"REDIS_URL": "redis+cluster://:pw@10.0.0.1:7000,[::1]:7001/0"}
    )
    assert settings.cluster() == ClusterTarget((("10.0.0.1", 7000), ("::1", 7001)), "pw")
    assert settings.sentinel() is None
    assert settings.acks == 1
    assert RedisSettings.from_env({}).cluster() is None
    no_wait = {"REDIS_URL": "redis+cluster://h:1", "REDIS_WAIT_REPLICAS": "0"}
    assert RedisSettings.from_env(no_wait).acks == 0


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://", "redis+cluster://h", "redis+cluster://h:x", "redis+cluster://h:1/2"],
)
def test_malformed_cluster_url_refuses_to_start(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        RedisSettings.from_env({"REDIS_URL": url})


def _client() -> ClusterClient:
    # Never connects: building key names and registering scripts need no server.
    client = create_redis(RedisSettings(url="redis+cluster://127.0.0.1:1"))
    assert isinstance(client, ClusterClient)
    return client


def _slots(*keys: str) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def test_token_keys_of_a_provider_share_one_slot() -> None:
    store = TokenStore(_client(), "sky", "amadeus", "owner-1", Sealer({"k1": b"k" * 32}))
    keys = [
        store.token_key,
        store.lock.key,
        store.lock._fence_key,
        store.stats_key,
        store.failures_key,
        store.backoff_key,
        store.negative_key,
        store.probe_key,
        store.tags_key,
        store.chain_key,
        store.reauth_key,
        store.channel,
    ]
    assert len(_slots(*keys)) == 1
    other = TokenStore(_client(), "sky", "sabre", "owner-1", Sealer({"k1": b"k" * 32}))
    assert _slots(other.token_key) != _slots(store.token_key)  # providers spread out


def test_search_result_its_lock_and_its_tag_share_one_slot() -> None:
    cache = ResultCache(_client(), "sky", CacheMetrics(CollectorRegistry()))
    digests = [f"{i:064x}" for i in range(50)]
    for digest in digests:
        key = cache.key(digest)
        assert len(_slots(key, key + ":lock", key + ":tag")) == 1
    assert len(_slots(*(cache.key(d) for d in digests))) > 10  # results spread out


def test_rate_budget_keys_share_one_slot() -> None:
    budget = RateBudget(_client(), "sky", "amadeus", RateBudgetSettings(per_second=5))
    assert len(_slots(*budget._keys)) == 1


def test_heartbeats_of_a_deployment_share_one_slot() -> None:
    keys = [heartbeat_key("sky", s, f"{s}-{i}") for s in ("token", "search") for i in range(9)]
    assert len(_slots(*keys)) == 1


async def test_unreachable_cluster_is_a_redis_error() -> None:
    client = _client()
    try:
        with pytest.raises(RedisError):
            await client.ping()
    finally:
        await client.aclose()
