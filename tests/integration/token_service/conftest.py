"""A real asyncio Redis client per test; keys live under the test's own prefix."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def redis_now(redis: Redis) -> Callable[[], Awaitable[int]]:
    """Redis server time in ms: the clock every token script uses."""

    async def now_ms() -> int:
        seconds, micros = await redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    return now_ms
