"""LeaseLock on a real Redis: one holder, owner-only release, increasing fences, expiry."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from token_service.lock import LeaseLock


def lock_for(redis: Redis, prefix: str, owner: str) -> LeaseLock:
    return LeaseLock(redis, f"{prefix}:lock", f"{prefix}:fence", owner)


async def test_acquire_then_second_acquire_fails_with_remaining_ttl(redis: Redis,
                                                                    key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, waited = await first.try_acquire(5_000)
    assert lease is not None and waited == 0
    assert lease.value == f"a|{lease.fence}"
    assert await first.holder() == lease.value

    other, remaining = await second.try_acquire(5_000)
    assert other is None
    assert 4_000 < remaining <= 5_000
    # The holder itself cannot re-enter either: the lease is not reentrant.
    again, _ = await first.try_acquire(5_000)
    assert again is None


async def test_release_only_by_the_owner_value(redis: Redis, key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(5_000)
    assert lease is not None
    # Another owner (even one using the same fence number) cannot release it.
    forged = type(lease)(f"b|{lease.fence}", lease.fence)
    assert not await second.release(forged)
    assert await first.holder() == lease.value

    assert await first.release(lease)
    assert await first.holder() is None
    assert not await first.release(lease)  # only once


async def test_stale_holder_cannot_release_its_successor(redis: Redis, key_prefix: str
                                                         ) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    old, _ = await first.try_acquire(50)
    assert old is not None
    await asyncio.sleep(0.1)
    new, _ = await second.try_acquire(5_000)
    assert new is not None
    assert not await first.release(old)
    assert await second.holder() == new.value


async def test_fence_increases_with_every_acquisition(redis: Redis, key_prefix: str) -> None:
    fences = []
    for owner in ("a", "b", "a", "c"):
        lock = lock_for(redis, key_prefix, owner)
        lease, _ = await lock.try_acquire(5_000)
        assert lease is not None
        fences.append(lease.fence)
        assert await lock.release(lease)
    assert fences == sorted(fences) and len(set(fences)) == 4
    assert fences[-1] - fences[0] == 3


async def test_lease_expires_after_its_ttl(redis: Redis, key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(100)
    assert lease is not None
    blocked, remaining = await second.try_acquire(5_000)
    assert blocked is None and 0 < remaining <= 100
    await asyncio.sleep(0.15)
    assert await first.holder() is None
    taken, _ = await second.try_acquire(5_000)
    assert taken is not None and taken.fence > lease.fence


async def test_concurrent_acquires_have_one_winner(redis: Redis, key_prefix: str) -> None:
    locks = [lock_for(redis, key_prefix, f"r{i}") for i in range(20)]
    results = await asyncio.gather(*(lock.try_acquire(5_000) for lock in locks))
    winners = [lease for lease, _ in results if lease is not None]
    assert len(winners) == 1
