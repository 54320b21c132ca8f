"""The revoked-session copy every verifier keeps (services/session_revocation.py),
against real Redis: pushed by pub/sub, re-read on its own, kept while Redis is down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from services.config import RedisSettings
from services.redis_client import create_redis
from services.session_revocation import (
    RevocationCache,
    RevocationPublisher,
    RevocationSettings,
    revoked_key,
)
from tests.utils.redis_server import PrivateRedis


def until_ms(seconds: float = 60) -> int:
    return int((time.time() + seconds) * 1000)


async def wait_for(predicate: object, timeout: float) -> float:
    """Seconds until ``predicate()`` held (raises after ``timeout``)."""
    started = time.monotonic()
    for _ in range(int(timeout / 0.005)):
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.005)
    raise AssertionError("not seen in time")


@pytest.mark.redis_backends
async def test_pushed_to_every_copy_at_once(redis_url: str, key_prefix: str) -> None:
    redis = create_redis(RedisSettings(url=redis_url))
    # Re-reads a second apart: what arrives sooner came by pub/sub.
    caches = [
        RevocationCache(redis, key_prefix, RevocationSettings(resync_seconds=1.0)) for _ in range(3)
    ]
    for cache in caches:
        cache.start()
    try:
        await wait_for(lambda: all(c.staleness_seconds < 1 for c in caches), 5)
        await asyncio.sleep(0.2)  # subscribed
        await RevocationPublisher(redis, key_prefix).publish(["s-1", "s-2"], until_ms())
        took = await wait_for(lambda: all(c.is_revoked("s-2") for c in caches), 1.0)
        assert took < 0.5
        assert not caches[0].is_revoked("s-3")
        assert caches[0].pushed == 2
    finally:
        for cache in caches:
            await cache.stop()
        await redis.aclose()


@pytest.mark.redis_backends
async def test_a_lost_message_is_picked_up_by_the_next_read(
    redis_url: str, key_prefix: str
) -> None:
    redis = create_redis(RedisSettings(url=redis_url))
    cache = RevocationCache(redis, key_prefix, RevocationSettings(resync_seconds=0.2))
    cache.start()
    try:
        # Written without an announcement, as after an outage (republish).
        await RevocationPublisher(redis, key_prefix).publish(["quiet"], until_ms(), announce=False)
        await wait_for(lambda: cache.is_revoked("quiet"), 1.0)
        # An entry past its time no longer counts.
        await redis.zadd(revoked_key(key_prefix), {"old": until_ms(-1)})
        await asyncio.sleep(0.5)
        assert not cache.is_revoked("old")
    finally:
        await cache.stop()
        await redis.aclose()


async def test_redis_down_keeps_the_last_copy_and_fails_open(
    tmp_path: Path, key_prefix: str
) -> None:
    server = PrivateRedis(tmp_path).start()
    redis = create_redis(RedisSettings(url=server.url))
    cache = RevocationCache(redis, key_prefix, RevocationSettings(resync_seconds=0.1))
    cache.start()
    try:
        await RevocationPublisher(redis, key_prefix).publish(["known"], until_ms())
        await wait_for(lambda: cache.is_revoked("known"), 2.0)
        server.kill()
        await asyncio.sleep(0.5)
        # What was known stays refused; anything else is accepted (fails open).
        assert cache.is_revoked("known")
        assert not cache.is_revoked("other")
        assert cache.status()["redis"] != "ok"
        # The publisher says it could not write (the account service republishes).
        assert not await RevocationPublisher(redis, key_prefix).publish(["late"], until_ms())
    finally:
        await cache.stop()
        await redis.aclose()
        server.stop()
