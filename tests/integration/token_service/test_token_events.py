"""Token events carry the record (token_service/store.py, ``parse_event``), and a
replica adopts it without a Redis command (broker/shared.py, ``on_event``): on a single
Redis and on a Redis Cluster (where the writer publishes after WAIT).

The replica here is a real ``ProviderBroker`` whose store counts the reads it makes
(the token hash, the fleet's status, the reauth flag); events are captured from a real
subscription and handed to it, so the tests choose their order."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from services.config import RedisSettings
from services.logs import Redactor
from services.redis_client import RedisClient, ReplicaAck, create_redis, subscriber
from token_service.broker import ProviderBroker
from token_service.lock import Lease
from token_service.metrics import TokenMetrics
from token_service.redis_health import RedisHealth
from token_service.sealing import Sealer
from token_service.settings import ProviderConfig, RefreshPolicy
from token_service.store import (
    EVENT_FORMAT,
    RedisClock,
    TokenRecord,
    TokenStore,
    parse_event,
)
from token_service.upstream import TokenEndpoint

pytestmark = pytest.mark.redis_backends

SEALER = Sealer({"k1": os.urandom(32)})  # one deployment's keys: every replica's
PROVIDER = ProviderConfig("amadeus", "http://127.0.0.1:1/token", "client", "secret-5c1d2e")


class CountingStore(TokenStore):
    """A real TokenStore that counts the reads a replica makes after an event."""

    reads = 0  # the token hash (HGETALL)
    fleet_reads = 0  # the fleet's status section
    reauth_reads = 0

    async def read(self) -> TokenRecord | None:
        self.reads += 1
        return await super().read()

    async def fleet_status(self, chained: bool):  # type: ignore[no-untyped-def]
        self.fleet_reads += 1
        return await super().fleet_status(chained)

    async def reauthorization_required(self) -> str | None:
        self.reauth_reads += 1
        return await super().reauthorization_required()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    client = create_redis(RedisSettings(url=redis_url))
    yield client
    await client.aclose()


@pytest.fixture
def ack(redis_url: str) -> ReplicaAck:
    """As the service has it: on the Cluster the writer publishes after WAIT."""
    return ReplicaAck.from_settings(RedisSettings(url=redis_url))


@pytest.fixture
def writer(redis: RedisClient, key_prefix: str, ack: ReplicaAck) -> TokenStore:
    """Another replica's store: the one that refreshes."""
    return TokenStore(redis, key_prefix, PROVIDER.name, "replica-writer", SEALER, ack)


@pytest.fixture
def store(redis: RedisClient, key_prefix: str, ack: ReplicaAck) -> CountingStore:
    return CountingStore(redis, key_prefix, PROVIDER.name, "replica-reader", SEALER, ack)


@pytest.fixture
async def broker(redis: RedisClient, store: CountingStore) -> AsyncIterator[ProviderBroker]:
    """The replica that receives the events (its background loop does not run)."""
    session = aiohttp.ClientSession()
    yield ProviderBroker(
        PROVIDER,
        store,
        RedisClock(redis),
        TokenEndpoint(PROVIDER, session, 1.0),
        RefreshPolicy(local_staleness_seconds=30.0),
        TokenMetrics(CollectorRegistry()),
        RedisHealth(redis),
        Redactor(),
    )
    await session.close()


@pytest.fixture
async def events(redis: RedisClient, writer: TokenStore) -> AsyncIterator[asyncio.Queue[bytes]]:
    """Messages published on the provider's events channel."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    pubsub = await subscriber(redis)
    await pubsub.subscribe(writer.channel)

    async def pump() -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None and message["type"] == "message":
                queue.put_nowait(message["data"])

    task = asyncio.get_running_loop().create_task(pump())
    yield queue
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pubsub.aclose()


async def next_event(events: asyncio.Queue[bytes]) -> bytes:
    return await asyncio.wait_for(events.get(), 5)


async def refresh(writer: TokenStore, expected: int, token: str) -> tuple[int, Lease]:
    lease, _ = await writer.lock.try_acquire(5_000)
    assert lease is not None
    generation, why = await writer.fenced_write(lease, expected, token, "Bearer", 60_000, 45_000, 0)
    assert why == "ok"
    await writer.lock.release(lease)
    return generation, lease


async def settle() -> None:
    """Lets an event's background re-read (if one was started) finish."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_written_token_is_adopted_without_a_read(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    await refresh(writer, 0, "token-one")
    broker.on_event(await next_event(events))
    await broker.prime()
    first = await broker.status()  # reads the fleet's part once
    assert first.record is not None and first.record.access_token == "token-one"
    reads, fleet_reads = store.reads, store.fleet_reads

    await refresh(writer, 1, "token-two")
    broker.on_event(await next_event(events))
    await settle()
    # Served at once, counted as confirmed: no read of the token, the fleet or the flag.
    token = await broker.get_token()
    assert (token.access_token, token.generation, token.invalid) == ("token-two", 2, False)
    status = await broker.status()
    assert status.cluster.get("upstream_ok") == 2  # the event said what the write bumped
    assert (store.reads, store.fleet_reads, store.reauth_reads) == (reads, fleet_reads, 0)
    # Exactly what Redis holds.
    stored = await writer.read()
    assert stored is not None
    assert (stored.access_token, stored.generation, stored.version, stored.expires_ms) == (
        token.access_token,
        token.generation,
        token.version,
        token.expires_ms,
    )


async def test_an_invalidation_is_adopted_without_a_read(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    await refresh(writer, 0, "token-one")
    broker.on_event(await next_event(events))
    reads = store.reads
    assert await writer.invalidate("token-one")
    broker.on_event(await next_event(events))
    assert await writer.restore("token-one")
    restored = await next_event(events)
    status = await broker.status()
    assert status.record is not None and status.record.invalid
    assert await writer.invalidate("token-one")
    again = await next_event(events)
    broker.on_event(again)
    broker.on_event(restored)  # late: older than the second invalidation
    await settle()
    status = await broker.status()
    assert status.record is not None and status.record.invalid
    assert status.record.version == parse_event(again).version  # type: ignore[union-attr]
    assert store.reads == reads


async def test_an_older_or_replayed_event_never_moves_the_copy_back(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    await refresh(writer, 0, "token-one")
    v1 = await next_event(events)
    await refresh(writer, 1, "token-two")
    v2 = await next_event(events)

    local = broker._local
    broker.on_event(v2)
    assert local.record is not None and local.record.generation == 2
    wake = asyncio.Event()
    local.watchers.add(wake)
    changed = local.changed
    broker.on_event(v1)  # delivered late
    broker.on_event(v2)  # delivered twice
    broker.on_event(v2)
    await settle()
    assert local.record is not None
    assert (local.record.generation, local.record.access_token) == (2, "token-two")
    # Nothing changed: nobody woken (no pulse storm), nothing read.
    assert not wake.is_set() and local.changed is changed
    assert store.reads == 0


async def test_events_without_a_record_fall_back_to_a_re_read(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    await refresh(writer, 0, "token-one")
    await next_event(events)
    # A released lease, a broken chain, an old replica's bare generation, another format
    # (a newer replica's during a rolling update), a damaged record: each is re-read.
    payloads = [
        b"released",
        b"reauth",
        b"1",
        b"t2:1:1:whatever:comes:next",
        f"{EVENT_FORMAT}:1:1:not-a-number:0:0:0:::x:Bearer".encode(),
    ]
    for n, payload in enumerate(payloads, start=1):
        assert parse_event(payload) is None
        broker.on_event(payload)
        await settle()
        assert store.reads == n, payload
        assert broker._local.record is not None and broker._local.record.generation == 1


async def test_a_token_that_does_not_open_here_is_re_read(
    redis: RedisClient,
    key_prefix: str,
    ack: ReplicaAck,
    broker: ProviderBroker,
    store: CountingStore,
    events: asyncio.Queue[bytes],
) -> None:
    # Sealed with a key this replica does not hold (a key rotation half rolled out).
    other = TokenStore(
        redis, key_prefix, PROVIDER.name, "replica-new", Sealer({"k2": os.urandom(32)}), ack
    )
    await refresh(other, 0, "token-new-key")
    broker.on_event(await next_event(events))
    await settle()
    assert store.reads == 1  # re-read, as before events carried records


async def test_the_token_is_sealed_on_the_channel(
    writer: TokenStore, redis: RedisClient, events: asyncio.Queue[bytes]
) -> None:
    token = "token-in-clear-must-not-travel-4f2a9c"
    await refresh(writer, 0, token)
    payload = await next_event(events)
    assert token.encode() not in payload
    event = parse_event(payload)
    assert event is not None and event.sealed_token
    # Exactly the value stored (same key, same context), and not in the event's repr.
    assert event.sealed_token.encode() == await redis.hget(writer.token_key, "access_token")
    assert SEALER.open(event.sealed_token, f"{PROVIDER.name}/access_token") == token
    assert event.sealed_token not in repr(event)
    assert payload.startswith(f"{EVENT_FORMAT}:".encode())


async def test_a_read_racing_an_adoption_keeps_the_newer_record(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    await refresh(writer, 0, "token-one")
    await next_event(events)
    local = broker._local
    original = store.read
    gate = asyncio.Event()

    async def slow_read() -> TokenRecord | None:
        rec = await original()  # generation 1, read before the next write
        await gate.wait()
        return rec

    store.read = slow_read  # type: ignore[method-assign]
    reading = asyncio.get_running_loop().create_task(local.read_shared())
    await settle()
    await refresh(writer, 1, "token-two")
    broker.on_event(await next_event(events))
    gate.set()
    returned = await reading
    assert returned is not None and returned.generation == 2
    assert local.record is not None and local.record.generation == 2


async def test_an_announced_lease_spares_the_due_replicas_the_lease_and_backoff(
    broker: ProviderBroker,
    store: CountingStore,
    writer: TokenStore,
    events: asyncio.Queue[bytes],
) -> None:
    # A token due at once (refresh point = issue time), adopted from its event.
    lease, _ = await writer.lock.try_acquire(5_000)
    assert lease is not None
    await writer.fenced_write(lease, 0, "token-one", "Bearer", 60_000, 0, 0)
    broker.on_event(await next_event(events))
    current = broker._local.record
    assert current is not None and current.generation == 1
    # The writer, holding the lease again to replace it, says so.
    await writer.lock.release(lease)
    lease, _ = await writer.lock.try_acquire(5_000)
    assert lease is not None
    await writer.announce_lease(current)
    announcement = await next_event(events)
    assert announcement == f"leased:1:{current.version}:replica-writer".encode()
    assert parse_event(announcement) is None
    attempts: list[int] = []
    original = store.lock.try_acquire

    async def counted(ttl_ms: int):  # type: ignore[no-untyped-def]
        attempts.append(ttl_ms)
        return await original(ttl_ms)

    store.lock.try_acquire = counted  # type: ignore[method-assign]
    broker.on_event(announcement)
    await asyncio.sleep(0.3)  # past the per-replica spread (at most 250 ms)
    # The replica's loop is due, yet waits for the holder's event: no lease attempt, no
    # backoff look (a Redis error here would show as one), no read.
    tick = asyncio.get_running_loop().create_task(broker._refresher.tick())
    await asyncio.sleep(0.3)
    assert not tick.done()
    assert attempts == [] and store.reads == 0
    # The holder's write arrives: the loop wakes at once with the new record.
    assert await writer.fenced_write(lease, 1, "token-two", "Bearer", 60_000, 45_000, 0) == (
        2,
        "ok",
    )
    broker.on_event(await next_event(events))
    await asyncio.wait_for(tick, 2)
    assert broker._local.record is not None and broker._local.record.generation == 2
    assert broker._local.lease_held_for(broker._local.record) == 0
    assert attempts == [] and store.reads == 0
