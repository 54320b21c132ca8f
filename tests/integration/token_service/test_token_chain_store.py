"""The refresh-token chain's scripts on a real Redis: the write-ahead marker, the access
and refresh token in one fenced write, the secret seed used once, the broken chain."""

from __future__ import annotations

import asyncio
import os

import pytest
from redis.asyncio import Redis

from token_service.lock import Lease
from token_service.sealing import Sealer
from token_service.store import TokenStore

LOCK_MS = 5_000
SEALER = Sealer({"k1": os.urandom(32)})  # both stores are one deployment's replicas


@pytest.fixture
def store(redis: Redis, key_prefix: str) -> TokenStore:
    return TokenStore(redis, key_prefix, "music", "replica-a", SEALER)


@pytest.fixture
def rival(redis: Redis, key_prefix: str) -> TokenStore:
    return TokenStore(redis, key_prefix, "music", "replica-b", SEALER)


async def lease_of(store: TokenStore, ttl_ms: int = LOCK_MS) -> Lease:
    lease, _ = await store.lock.try_acquire(ttl_ms)
    assert lease is not None
    return lease


async def write(
    store: TokenStore, lease: Lease, expected: int, access: str, refresh: str | None
) -> tuple[int, str]:
    return await store.fenced_write(
        lease, expected, access, "Bearer", 60_000, 45_000, 5, chained=True, refresh_token=refresh
    )


async def test_seed_is_handed_out_once_and_the_chain_advances(store: TokenStore) -> None:
    lease = await lease_of(store)
    link = await store.take_chain(lease, "seed-rt")
    assert link is not None and (link.refresh_token, link.unacknowledged_fence) == ("seed-rt", 0)
    assert "seed-rt" not in repr(link)
    assert await write(store, lease, 0, "access-1", "rt-2") == (1, "ok")
    await store.lock.release(lease)

    lease = await lease_of(store)
    link = await store.take_chain(lease, "seed-rt")  # a chain exists: the seed is not used
    assert link is not None and (link.refresh_token, link.unacknowledged_fence) == ("rt-2", 0)
    assert await write(store, lease, 1, "access-2", "rt-3") == (2, "ok")
    assert (await store.stats())["chain_rotations"] == 2


async def test_a_used_seed_is_never_handed_out_again(store: TokenStore) -> None:
    lease = await lease_of(store)
    first = await store.take_chain(lease, "seed-rt")
    assert first is not None and first.refresh_token == "seed-rt"
    await store.break_chain("broken")
    link = await store.take_chain(lease, "seed-rt")
    assert link is not None and link.refresh_token is None


async def test_marker_names_a_holder_that_never_stored(
    store: TokenStore, rival: TokenStore
) -> None:
    lease = await lease_of(store, ttl_ms=50)
    await store.take_chain(lease, "seed-rt")  # sent, then the holder "dies"
    await asyncio.sleep(0.1)
    successor = await lease_of(rival)
    link = await rival.take_chain(successor, None)
    assert link is not None and link.unacknowledged_fence == lease.fence


async def test_a_late_holder_still_stores_the_rotated_token_while_the_marker_is_its_own(
    store: TokenStore,
) -> None:
    """Its lease lapsed while the provider answered, but nobody took the chain since:
    the rotated refresh token must not be thrown away."""
    lease = await lease_of(store, ttl_ms=50)
    await store.take_chain(lease, "seed-rt")
    await asyncio.sleep(0.1)
    assert await write(store, lease, 0, "access-1", "rt-2") == (1, "ok")


async def test_a_late_holder_is_refused_once_a_successor_took_the_chain(
    store: TokenStore, rival: TokenStore
) -> None:
    lease = await lease_of(store, ttl_ms=50)
    await store.take_chain(lease, "seed-rt")
    await asyncio.sleep(0.1)
    successor = await lease_of(rival)
    await rival.take_chain(successor, None)
    assert await write(store, lease, 0, "access-1", "rt-2") == (0, "lease lost")


async def test_take_chain_refused_without_the_lease(store: TokenStore, rival: TokenStore) -> None:
    lease = await lease_of(store, ttl_ms=50)
    await asyncio.sleep(0.1)
    await lease_of(rival)
    assert await store.take_chain(lease, "seed-rt") is None


async def test_broken_chain_flag_until_a_new_head_is_written(store: TokenStore) -> None:
    lease = await lease_of(store)
    await store.take_chain(lease, "seed-rt")
    assert await write(store, lease, 0, "access-1", "rt-2") == (1, "ok")
    await store.break_chain("an operator must run `token authorize`")
    assert await store.reauthorization_required() == "an operator must run `token authorize`"
    await store.lock.release(lease)
    lease = await lease_of(store)  # the operator's install, under a new lease
    link = await store.take_chain(lease, None)
    assert link is not None and link.refresh_token is None  # the dead token is dropped
    assert await write(store, lease, 1, "access-2", "installed-rt") == (2, "ok")
    assert await store.reauthorization_required() is None


async def test_refresh_token_is_stored_apart_from_the_served_record(
    store: TokenStore, redis: Redis
) -> None:
    lease = await lease_of(store)
    await store.take_chain(lease, "seed-rt")
    await write(store, lease, 0, "access-1", "rt-2")
    raw = await redis.hgetall(store.token_key)
    assert b"rt-2" not in b"".join(raw.values())


async def test_the_refresh_token_is_sealed_at_rest(
    store: TokenStore, redis: Redis, key_prefix: str
) -> None:
    rt = "rt-" + os.urandom(16).hex()
    lease = await lease_of(store)
    await store.take_chain(lease, None)
    assert await write(store, lease, 0, "access-" + os.urandom(16).hex(), rt) == (1, "ok")
    dump = b""
    async for key in redis.scan_iter(match=f"{key_prefix}:*"):
        kind = await redis.type(key)
        if kind == b"hash":
            dump += b" ".join(k + b"=" + v for k, v in (await redis.hgetall(key)).items())
        elif kind == b"string":
            dump += await redis.get(key) or b""
    assert rt.encode() not in dump
    # ... and it opens again for the next holder, bound to its provider and field.
    await store.lock.release(lease)
    link = await store.take_chain(await lease_of(store), None)
    assert link is not None and link.refresh_token == rt
