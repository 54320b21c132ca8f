"""Redis client factory: short timeouts so an outage is noticed in about a second."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.config import RedisSettings


def create_redis(settings: RedisSettings, *, timeout: float = 1.0) -> Redis:
    # One immediate retry covers a pooled connection broken by a Redis restart;
    # more would only delay noticing a real outage.
    return Redis.from_url(
        settings.url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=15,
        decode_responses=False,
    )
