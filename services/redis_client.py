"""Redis client factory: short timeouts so an outage is noticed in about a second.

``REDIS_URL`` names one Redis (``redis://``) or a Sentinel setup
(``redis+sentinel://host:26379,host:26379/<master>/<db>``). Through Sentinel every
new connection asks the sentinels for the current primary, so after a failover a
broken connection's retry (and a pub/sub re-subscription) lands on the new one.

Replication is asynchronous: a failover loses the writes no replica had received.
``ReplicaAck`` runs a write that matters (a lease's fence, a token, a download token's
use) with ``WAIT`` on the same connection and refuses to go on when no replica
acknowledged it in time (docs/architecture.md, "Failover").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from services.config import RedisSettings


def create_redis(settings: RedisSettings, *, timeout: float = 1.0) -> Redis:
    # One immediate retry covers a pooled connection broken by a Redis restart (or,
    # through Sentinel, by a failover); more would only delay noticing a real outage.
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 15,
        "decode_responses": False,
    }
    target = settings.sentinel()
    if target is None:
        return Redis.from_url(settings.url, **options)
    sentinel = Sentinel(
        list(target.sentinels),
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    client: Redis = sentinel.master_for(
        target.master, redis_class=Redis, db=target.db, password=target.password, **options
    )
    return client


class NotReplicated(RedisError):
    """A write that too few replicas acknowledged in time: a failover could lose it.
    ``result`` is what the write returned on the primary."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ReplicaAck:
    """Waits until ``replicas`` replicas hold a write (0: does not wait)."""

    replicas: int = 0
    timeout_ms: int = 500

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> ReplicaAck:
        return cls(settings.acks, max(int(settings.wait_timeout_seconds * 1000), 1))

    async def run(
        self, redis: Redis, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """``script``'s result once enough replicas acknowledged its writes.

        WAIT counts the writes of its own connection, so it travels in one pipeline
        with the script. Raises ``NotReplicated`` when too few replicas answered."""
        if self.replicas <= 0:
            return await script(keys=keys, args=args)
        async with redis.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=args, client=pipe)
            pipe.wait(self.replicas, self.timeout_ms)
            result, acked = await pipe.execute()
        if int(acked) < self.replicas:
            raise NotReplicated(
                f"{acked} of {self.replicas} Redis replicas acknowledged "
                f"the write within {self.timeout_ms} ms",
                result,
            )
        return result


NO_ACK = ReplicaAck()  # single Redis, or replication not waited for
