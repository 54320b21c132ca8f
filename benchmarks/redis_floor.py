"""Floor (a): a raw redis-py asyncio GET loop on one key."""

from __future__ import annotations

from redis.asyncio import Redis

from benchmarks.async_load import drive
from benchmarks.stats import REDIS, Point


async def redis_get_floor(
    redis_url: str, key: str, value: bytes, concurrency: int, seconds: float, warmup: float
) -> Point:
    # One connection per concurrent task, as a pool sized for the concurrency gives.
    redis = Redis.from_url(redis_url, max_connections=max(concurrency, 1))
    try:
        await redis.set(key, value, ex=600)

        async def get() -> bool:
            return await redis.get(key) == value

        return await drive(REDIS, get, concurrency, seconds, warmup)
    finally:
        await redis.delete(key)
        await redis.aclose()
