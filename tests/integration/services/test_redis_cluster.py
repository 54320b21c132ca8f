"""The Redis building blocks on a real 6-node Redis Cluster (3 primaries, 3 replicas):
pub/sub across primaries, WAIT for a replica on the keys' own primary, the dashboard's
heartbeats read from every primary."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from services.cluster_view import read_heartbeats
from services.config import RedisSettings
from services.heartbeat import heartbeat_key
from services.redis_client import (
    ClusterClient,
    NotReplicated,
    ReplicaAck,
    create_redis,
    subscriber,
)
from tests.utils.redis_server import RedisClusterSetup

pytestmark = pytest.mark.parametrize("redis_backend", ["cluster"], indirect=True)

# Writes two keys and announces on a channel, as the token store's scripts do.
SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return ARGV[1]
"""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[ClusterClient]:
    c = create_redis(RedisSettings(url=redis_url))
    assert isinstance(c, ClusterClient)
    await c.initialize()
    yield c
    await c.aclose()


def _tags_on_every_primary(client: ClusterClient, count: int = 2) -> list[str]:
    """Hash tags whose slots lie on every primary, ``count`` per primary."""
    by_node: dict[str, list[str]] = {}
    i = 0
    while len(by_node) < 3 or min(len(v) for v in by_node.values()) < count:
        tag = f"p{i}"
        i += 1
        tags = by_node.setdefault(client.get_node_from_key(f"{{{tag}}}").name, [])
        if len(tags) < count:
            tags.append(tag)
    return [t for tags in by_node.values() for t in tags]


async def test_one_subscription_hears_scripts_on_every_primary(
    client: ClusterClient, key_prefix: str
) -> None:
    tags = _tags_on_every_primary(client)
    channels = [f"{key_prefix}:{{{t}}}:events" for t in tags]
    pubsub = await subscriber(client)
    try:
        await pubsub.subscribe(*channels)
        await asyncio.sleep(0.1)
        script = client.register_script(SCRIPT)
        for tag, channel in zip(tags, channels, strict=True):
            keys = [f"{key_prefix}:{{{tag}}}:a", f"{key_prefix}:{{{tag}}}:b", channel]
            assert await script(keys=keys, args=[tag]) == tag.encode()
        heard: dict[str, str] = {}
        deadline = asyncio.get_running_loop().time() + 5
        while len(heard) < len(channels) and asyncio.get_running_loop().time() < deadline:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is not None:
                heard[msg["channel"].decode()] = msg["data"].decode()
        assert heard == {c: t for t, c in zip(tags, channels, strict=True)}
    finally:
        await pubsub.aclose()


def _replica_of(setup: RedisClusterSetup, primary_port: int) -> int:
    info = redis.Redis(port=primary_port).info("replication")
    return int(info["slave0"]["port"])


@pytest.fixture
def cluster_setup(redis_cluster: RedisClusterSetup) -> Iterator[RedisClusterSetup]:
    yield redis_cluster
    redis_cluster.wait_ready()  # a test that paused a replica leaves it caught up


async def test_wait_counts_the_replica_of_the_keys_own_primary(
    client: ClusterClient, key_prefix: str, cluster_setup: RedisClusterSetup
) -> None:
    """WAIT goes down the script's own connection: with the replica of that primary
    stopped, the write is reported unreplicated although the other primaries' replicas
    run (WAIT elsewhere, or on a connection without the write, would say 1)."""
    script = client.register_script(SCRIPT)
    tag = _tags_on_every_primary(client, 1)[0]
    keys = [f"{key_prefix}:{{{tag}}}:a", f"{key_prefix}:{{{tag}}}:b", f"{key_prefix}:{tag}:ev"]
    keys[2] = f"{key_prefix}:{{{tag}}}:ev"
    ack = ReplicaAck(1, 300)
    assert await ack.run(client, script, keys, ["one"]) == b"one"
    primary = client.get_node_from_key(keys[0]).port
    replica = cluster_setup.server(_replica_of(cluster_setup, primary))
    assert replica.proc is not None
    replica.proc.send_signal(signal.SIGSTOP)
    try:
        with pytest.raises(NotReplicated) as caught:
            await ack.run(client, script, keys, ["two"])
        assert caught.value.result == b"two"  # done on the primary, not acknowledged
    finally:
        replica.proc.send_signal(signal.SIGCONT)
    with pytest.raises(NotReplicated):  # one replica per primary: never two
        await ReplicaAck(2, 100).run(client, script, keys, ["three"])


async def test_heartbeats_of_every_replica_are_read(client: ClusterClient, key_prefix: str) -> None:
    beats = {
        heartbeat_key(key_prefix, service, f"{service}-{i}"): {"service": service, "i": i}
        for service in ("token", "search", "booking")
        for i in range(4)
    }
    for key, body in beats.items():
        await client.set(key, json.dumps(body), ex=30)
    await client.set(f"{key_prefix}:other", "not a heartbeat")
    found = await read_heartbeats(client, key_prefix)
    assert sorted(found, key=lambda b: (b["service"], b["i"])) == sorted(
        beats.values(), key=lambda b: (b["service"], b["i"])
    )
