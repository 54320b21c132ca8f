"""REDIS_URL through Sentinel: parsed, validated at start, and WAIT on by default."""

from __future__ import annotations

import pytest

from services.config import ConfigError, RedisSettings, SentinelTarget


def test_sentinel_url_is_parsed() -> None:
    settings = RedisSettings.from_env(
        {"REDIS_URL": "redis+sentinel://:pw@10.0.0.1:26379,[::1]:26380/mymaster/2"}
    )
    assert settings.sentinel() == SentinelTarget(
        (("10.0.0.1", 26379), ("::1", 26380)), "mymaster", 2, "pw"
    )
    assert settings.acks == 1


def test_plain_url_waits_for_nobody_unless_told() -> None:
    assert RedisSettings.from_env({}).sentinel() is None
    assert RedisSettings.from_env({}).acks == 0
    assert RedisSettings.from_env({"REDIS_WAIT_REPLICAS": "2"}).acks == 2
    sentinel = {"REDIS_URL": "redis+sentinel://h:1/m", "REDIS_WAIT_REPLICAS": "0"}
    assert RedisSettings.from_env(sentinel).acks == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel:///m/0",
        "redis+sentinel://h/m/0",
        "redis+sentinel://h:1",
        "redis+sentinel://h:1/m/x",
    ],
)
def test_malformed_sentinel_url_refuses_to_start(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        RedisSettings.from_env({"REDIS_URL": url})


def test_negative_wait_replicas_refused() -> None:
    with pytest.raises(ConfigError, match="REDIS_WAIT_REPLICAS"):
        RedisSettings.from_env({"REDIS_WAIT_REPLICAS": "-1"})
