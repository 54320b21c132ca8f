"""TokenStore scripts on a real Redis: fenced writes, invalidation and shared backoff."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from token_service.lock import Lease
from token_service.sealing import Sealer
from token_service.store import (
    TAG_BITS,
    RedisClock,
    TokenRecord,
    TokenStore,
    degraded_generation,
    digest,
    parse_event,
)

LOCK_MS = 5_000
SEALER = Sealer({"k1": os.urandom(32)})  # one deployment's keys: every replica's
Now = Callable[[], Awaitable[int]]


@pytest.fixture
def store(redis: Redis, key_prefix: str) -> TokenStore:
    return TokenStore(redis, key_prefix, "amadeus", "replica-a", SEALER)


@pytest.fixture
def rival(redis: Redis, key_prefix: str) -> TokenStore:
    return TokenStore(redis, key_prefix, "amadeus", "replica-b", SEALER)


@pytest.fixture
async def events(redis: Redis, store: TokenStore) -> AsyncIterator[asyncio.Queue[bytes]]:
    """Messages published on the provider's events channel."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    pubsub = redis.pubsub()
    await pubsub.subscribe(store.channel)

    async def pump() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                queue.put_nowait(message["data"])

    task = asyncio.get_running_loop().create_task(pump())
    yield queue
    task.cancel()
    await pubsub.aclose()


async def lease_of(store: TokenStore, ttl_ms: int = LOCK_MS) -> Lease:
    lease, _ = await store.lock.try_acquire(ttl_ms)
    assert lease is not None
    return lease


async def write(
    store: TokenStore,
    lease: Lease,
    expected: int,
    token: str,
    lifetime_ms: int = 60_000,
    refresh_ms: int = 45_000,
    elapsed_ms: int = 0,
) -> tuple[int, str]:
    return await store.fenced_write(
        lease, expected, token, "Bearer", lifetime_ms, refresh_ms, elapsed_ms
    )


async def test_fenced_write_with_the_lease(
    store: TokenStore, redis: Redis, events: asyncio.Queue[bytes], redis_now: Now
) -> None:
    lease = await lease_of(store)
    before = await redis_now()
    assert await write(store, lease, 0, "token-one", 60_000, 45_000, elapsed_ms=200) == (1, "ok")
    after = await redis_now()

    rec = await store.read()
    assert rec is not None
    assert (rec.access_token, rec.token_type, rec.generation, rec.invalid) == (
        "token-one",
        "Bearer",
        1,
        False,
    )
    # Times come from Redis TIME, backdated by the time the upstream request took.
    assert before - 200 <= rec.issued_ms <= after - 200
    assert rec.expires_ms == rec.issued_ms + 60_000
    assert rec.refresh_ms == rec.issued_ms + 45_000
    assert rec.lifetime_ms == 60_000
    assert (await store.stats()).get("upstream_ok") == 1
    announced = parse_event(await asyncio.wait_for(events.get(), 2))
    assert announced is not None and (announced.generation, announced.invalid) == (1, False)
    # Only a digest of the token is stored besides the value itself.
    assert await redis.hget(store.token_key, "digest") == digest("token-one").encode()
    assert "token-one" not in repr(rec)


async def test_generation_increments(store: TokenStore) -> None:
    for generation in (1, 2, 3):
        lease = await lease_of(store)
        assert await write(store, lease, generation - 1, f"token-{generation}") == (
            generation,
            "ok",
        )
        assert await store.lock.release(lease)
    rec = await store.read()
    assert rec is not None and (rec.generation, rec.access_token) == (3, "token-3")


async def test_rejected_after_the_lease_expired(store: TokenStore) -> None:
    lease = await lease_of(store, ttl_ms=50)
    await asyncio.sleep(0.1)
    assert await write(store, lease, 0, "late-token") == (0, "lease lost")
    assert await store.read() is None
    assert (await store.stats()).get("fenced_rejected") == 1


async def test_rejected_after_another_owner_took_the_lock(
    store: TokenStore, rival: TokenStore
) -> None:
    lease = await lease_of(store, ttl_ms=50)
    await asyncio.sleep(0.1)
    rival_lease = await lease_of(rival)
    assert await write(rival, rival_lease, 0, "rival-token") == (1, "ok")
    # The first holder wakes up late and tries to overwrite the newer token.
    assert await write(store, lease, 0, "stale-token") == (0, "lease lost")
    assert await write(store, lease, 1, "stale-token") == (0, "lease lost")
    rec = await store.read()
    assert rec is not None and (rec.access_token, rec.generation) == ("rival-token", 1)
    assert (await store.stats()).get("fenced_rejected") == 2


async def test_rejected_when_the_expected_generation_is_stale(store: TokenStore) -> None:
    lease = await lease_of(store)
    assert await write(store, lease, 0, "token-one") == (1, "ok")
    # Same lease, but the caller read generation 0 before someone wrote generation 1.
    assert await write(store, lease, 0, "token-two") == (0, "newer token present")
    # A second write under the same fence is refused too: one write per lease.
    assert await write(store, lease, 1, "token-two") == (0, "newer token present")
    rec = await store.read()
    assert rec is not None and rec.access_token == "token-one"
    assert (await store.stats()).get("fenced_rejected") == 2


async def test_invalidate_only_the_current_token_and_only_once(
    store: TokenStore, events: asyncio.Queue[bytes], redis_now: Now
) -> None:
    lease = await lease_of(store)
    await write(store, lease, 0, "token-one")
    written = parse_event(await asyncio.wait_for(events.get(), 2))
    assert written is not None and (written.generation, written.invalid) == (1, False)

    assert not await store.invalidate("some-other-token")
    assert await store.invalidate("token-one")
    invalidated = parse_event(await asyncio.wait_for(events.get(), 2))
    assert invalidated is not None and (invalidated.generation, invalidated.invalid) == (1, True)
    assert invalidated.version > written.version
    assert not await store.invalidate("token-one")
    rec = await store.read()
    assert rec is not None and rec.invalid
    assert not rec.usable(await redis_now())


async def test_invalidate_an_old_token_after_refresh_does_nothing(store: TokenStore) -> None:
    lease = await lease_of(store)
    await write(store, lease, 0, "token-one")
    await store.lock.release(lease)
    lease = await lease_of(store)
    await write(store, lease, 1, "token-two")
    assert not await store.invalidate("token-one")
    rec = await store.read()
    assert rec is not None and not rec.invalid and rec.access_token == "token-two"


async def test_invalidate_without_a_token(store: TokenStore) -> None:
    assert not await store.invalidate("anything")


async def test_backoff_grows_and_is_capped(store: TokenStore) -> None:
    # jitter 0 gives half the cap, jitter ~1 the full cap.
    delays = [await store.record_failure("HTTP 503", 100, 1_000, 0.0, 0) for _ in range(6)]
    assert delays == [50, 100, 200, 400, 500, 500]
    assert await store.record_failure("HTTP 503", 100, 1_000, 0.9999, 0) == 999
    assert (await store.stats()).get("upstream_failed") == 7
    error, remaining = await store.backoff() or ("", 0)
    assert error == "HTTP 503" and 0 < remaining <= 999


async def test_backoff_honours_retry_after(store: TokenStore) -> None:
    assert await store.record_failure("HTTP 429", 100, 1_000, 0.0, 5_000) == 5_000
    error, remaining = await store.backoff() or ("", 0)
    assert error == "HTTP 429" and 4_000 < remaining <= 5_000


async def test_clear_failures_restarts_backoff(store: TokenStore) -> None:
    await store.record_failure("HTTP 503", 100, 1_000, 0.0, 0)
    await store.record_failure("HTTP 503", 100, 1_000, 0.0, 0)
    await store.clear_failures()
    assert await store.backoff() is None
    assert await store.record_failure("HTTP 503", 100, 1_000, 0.0, 0) == 50


async def test_backoff_window_ends(store: TokenStore) -> None:
    await store.record_failure("timeout", 100, 1_000, 0.0, 0)  # 50 ms
    await asyncio.sleep(0.1)
    assert await store.backoff() is None


async def test_negative_cache(store: TokenStore) -> None:
    assert await store.negative() is None
    await store.set_negative("rejected (invalid_client)", 5_000)
    assert await store.negative() == "rejected (invalid_client)"
    assert (await store.stats()).get("upstream_failed") == 1


async def test_adopt_only_without_a_valid_token(store: TokenStore, redis_now: Now) -> None:
    now = await redis_now()
    local = TokenRecord("degraded-token", "Bearer", 3, now, now + 60_000, now + 45_000, False)
    lease = await lease_of(store)
    assert await store.adopt(lease, local) == 3  # keeps its own generation: one number, one token
    rec = await store.read()
    assert rec is not None and rec.access_token == "degraded-token" and rec.generation == 3

    other = TokenRecord("another-token", "Bearer", 1, now, now + 60_000, now + 45_000, False)
    assert await store.adopt(lease, other) == 0
    assert (await store.read()).access_token == "degraded-token"  # type: ignore[union-attr]


async def test_generations_never_collide_across_degraded_replicas(
    store: TokenStore, redis_now: Now
) -> None:
    """Two replicas cut off from Redis number their tokens in their own tag spaces;
    after recovery the shared chain continues above both, on tag 0."""
    now = await redis_now()
    tag_a, tag_b = await store.replica_tag(), await store.replica_tag()
    assert tag_a != tag_b and 0 not in (tag_a, tag_b)
    lease = await lease_of(store)
    assert (await write(store, lease, 0, "shared-1"))[0] == 1
    gen_a = degraded_generation(now, 1, tag_a)
    gen_b = degraded_generation(now, 1, tag_b)  # same millisecond, other replica
    assert gen_a != gen_b and min(gen_a, gen_b) > 1
    assert degraded_generation(now - 5, gen_a, tag_a) > gen_a  # increasing per replica
    await store.invalidate("shared-1")
    await store.lock.release(lease)
    lease = await lease_of(store)
    a = TokenRecord("degraded-a", "Bearer", gen_a, now, now + 60_000, now + 45_000, False)
    b = TokenRecord("degraded-b", "Bearer", gen_b, now, now + 60_000, now + 45_000, False)
    assert await store.adopt(lease, a) == gen_a
    # B recovers second: A's token stays, renumbered above B's generation.
    assert await store.adopt(lease, b) == 0
    rec = await store.read()
    assert rec is not None and rec.access_token == "degraded-a"
    assert rec.generation > max(gen_a, gen_b) and rec.generation % (1 << TAG_BITS) == 0
    await store.lock.release(lease)
    lease = await lease_of(store)
    generation, _ = await write(store, lease, rec.generation, "shared-2")
    assert generation > rec.generation and generation % (1 << TAG_BITS) == 0


async def test_redis_clock_tracks_redis_time(redis: Redis, redis_now: Now) -> None:
    clock = RedisClock(redis)
    await clock.sync()
    assert abs(clock.now_ms() - await redis_now()) < 100
