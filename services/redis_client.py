"""Redis client factory: short timeouts so an outage is noticed in about a second.

``REDIS_URL`` names one Redis (``redis://``), a Sentinel setup
(``redis+sentinel://host:26379,host:26379/<master>/<db>``) or a Redis Cluster
(``redis+cluster://host:port,host:port``, seed nodes). Through Sentinel every
new connection asks the sentinels for the current primary, so after a failover a
broken connection's retry (and a pub/sub re-subscription) lands on the new one. On a
Cluster the client routes each command by its key's slot and follows MOVED/ASK; every
multi-key script keeps its keys in one slot by a hash tag (docs/architecture.md, "Redis
Cluster: keys and slots").

Replication is asynchronous: a failover loses the writes no replica had received.
``ReplicaAck`` runs a write that matters (a lease's fence, a token, a download token's
use) with ``WAIT`` on the same connection and refuses to go on when no replica
acknowledged it in time (docs/architecture.md, "Failover").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.cluster
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPipeline
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from services.config import RedisSettings

# What redis-py's cluster client raises that is not a RedisError: RedisClusterException
# when no node answers or a slot has no primary (mid-failover); AttributeError or
# RuntimeError when, on a failover, the client's topology refresh closes a connection
# that another command is writing to (its writer None, or uvloop's "handler is closed";
# redis/redis-py#3835 is one such race). Seen in tests/system/test_token_cluster_failover.
_CLUSTER_TROUBLE = (RedisClusterException, AttributeError, RuntimeError)
# What a pub/sub loop treats as a lost subscription, on one server or a cluster (the
# cluster's pub/sub is not wrapped like its commands).
SUBSCRIPTION_LOST = (RedisError, OSError, *_CLUSTER_TROUBLE)


class ClusterPipelineRedisErrors(ClusterPipeline):
    """A cluster pipeline whose failures are ``RedisError``s (as ``ClusterClient``)."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        try:
            return await super().execute(raise_on_error, allow_redirections)
        except _CLUSTER_TROUBLE as exc:
            raise RedisConnectionError(f"Redis Cluster: {type(exc).__name__}: {exc}") from exc


class ClusterClient(RedisCluster):
    """A Redis Cluster client whose failures are ``RedisError``s, as a single Redis's
    are (see ``_CLUSTER_TROUBLE``): every caller here treats ``RedisError`` as "Redis
    is down" (degraded token serving, uncached search, download tokens UNAVAILABLE)."""

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except _CLUSTER_TROUBLE as exc:
            raise RedisConnectionError(f"Redis Cluster: {type(exc).__name__}: {exc}") from exc

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except _CLUSTER_TROUBLE as exc:
            raise RedisConnectionError(f"Redis Cluster: {type(exc).__name__}: {exc}") from exc

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        # mypy sees an abstract attribute that RedisCluster.pipeline instantiates too.
        return ClusterPipelineRedisErrors(self, transaction)  # type: ignore[abstract]


# What every Redis user takes: one server (plain or found through Sentinel) or a
# cluster client; both offer the same commands, scripts, pipelines and pub/sub.
RedisClient = Redis | RedisCluster


def create_redis(settings: RedisSettings, *, timeout: float = 1.0) -> RedisClient:
    # One immediate retry covers a pooled connection broken by a Redis restart (or,
    # through Sentinel, by a failover); more would only delay noticing a real outage.
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        "health_check_interval": 15,
        "decode_responses": False,
    }
    cluster = settings.cluster()
    if cluster is not None:
        # A failover moves slots: the client follows MOVED and re-reads the slot map
        # after a connection error. It does not resend a command whose connection
        # broke (redis-py would, 3 times): on a failover its refresh closes connections
        # with commands in flight, which may have run, and the scripts are not
        # idempotent (a download token's use would count twice). The caller sees a
        # RedisError instead, as for any Redis outage.
        return ClusterClient(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster.nodes],
            password=cluster.password,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=15,
            decode_responses=False,
        )
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


def sync_client(url: str, **options: Any) -> redis.Redis | redis.RedisCluster:
    """A synchronous client for ``REDIS_URL`` (tools, tests): a plain Redis or a cluster
    client (commands routed by key slot, SCAN over every primary, DELETE split by
    slot). Not for Sentinel URLs."""
    target = RedisSettings(url=url).cluster()
    if target is None:
        return redis.Redis.from_url(url, **options)
    nodes = [redis.cluster.ClusterNode(host, port) for host, port in target.nodes]
    return redis.RedisCluster(startup_nodes=nodes, password=target.password, **options)


async def subscriber(redis: RedisClient) -> PubSub:
    """A pub/sub connection. On a Cluster, PUBLISH reaches every node, so one
    connection to any node hears every channel: the node of the first channel's slot
    (the client needs the slot map first). A lost node breaks the connection; the
    caller subscribes again and lands on the slot's new primary."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
    return redis.pubsub()


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
        self, redis: RedisClient, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """``script``'s result once enough replicas acknowledged its writes.

        WAIT counts the writes of its own connection, so it travels in one pipeline
        with the script. Raises ``NotReplicated`` when too few replicas answered."""
        if self.replicas <= 0:
            return await script(keys=keys, args=args)
        if isinstance(redis, RedisCluster):
            result, acked = await self._run_on_cluster(redis, script, keys, args)
        else:
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

    async def _run_on_cluster(
        self, redis: RedisCluster, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]
    ) -> tuple[Any, int]:
        """The script and WAIT in one pipeline to the primary of the keys' slot, so
        both go down one connection. A cluster pipeline does not load scripts: EVAL
        (which also caches the script on that node)."""
        node = redis.get_node_from_key(keys[0])
        async with redis.pipeline(transaction=False) as pipe:
            pipe.eval(_text(script.script), len(keys), *keys, *args)
            pipe.execute_command("WAIT", self.replicas, self.timeout_ms, target_nodes=node)
            result, acked = await pipe.execute()
        return result, int(acked)


def _text(script: Any) -> str:
    return bytes(script).decode() if isinstance(script, bytes | memoryview) else str(script)


NO_ACK = ReplicaAck()  # single Redis, or replication not waited for
