"""LeaseLock on a real Redis: one holder, owner-only release, increasing fences, expiry,
fenced renewal and the holder's keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from token_service.lock import Lease, LeaseLock


def lock_for(redis: Redis, prefix: str, owner: str) -> LeaseLock:
    return LeaseLock(redis, f"{prefix}:lock", f"{prefix}:fence", owner)


async def test_acquire_then_second_acquire_fails_with_remaining_ttl(
    redis: Redis, key_prefix: str
) -> None:
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


async def test_stale_holder_cannot_release_its_successor(redis: Redis, key_prefix: str) -> None:
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


async def test_renew_extends_only_our_own_lease(redis: Redis, key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(1_000)
    assert lease is not None
    assert await first.renew(lease, 5_000)
    assert 4_000 < await redis.pttl(first.key) <= 5_000
    # Same owner, other fence (an older lease of ours): refused, TTL untouched.
    stale = type(lease)(f"a|{lease.fence - 1}", lease.fence - 1)
    assert not await first.renew(stale, 60_000)
    assert await redis.pttl(first.key) <= 5_000
    assert not await second.renew(type(lease)(f"b|{lease.fence}", lease.fence), 60_000)


async def test_renew_refused_once_the_lease_was_lost(redis: Redis, key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(50)
    assert lease is not None
    await asyncio.sleep(0.1)
    assert not await first.renew(lease, 5_000)  # expired, nobody holds it
    assert await first.holder() is None  # and the refused renewal did not re-create it
    successor, _ = await second.try_acquire(5_000)
    assert successor is not None
    assert not await first.renew(lease, 5_000)  # a successor holds it
    assert await second.holder() == successor.value


async def test_kept_alive_lease_outlives_its_ttl_then_lapses(redis: Redis, key_prefix: str) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(300)
    assert lease is not None
    async with first.kept_alive(lease, 300):
        await asyncio.sleep(1.0)  # more than three TTLs
        assert await first.holder() == lease.value
        blocked, _ = await second.try_acquire(5_000)
        assert blocked is None
    # Renewals stopped with the block: unreleased, the lease ends within one TTL.
    await asyncio.sleep(0.45)
    assert await first.holder() is None


async def test_keep_alive_stops_and_warns_when_renewal_is_refused(
    redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = lock_for(redis, key_prefix, "a"), lock_for(redis, key_prefix, "b")
    lease, _ = await first.try_acquire(300)
    assert lease is not None
    caplog.set_level(logging.WARNING, logger="skyroute.token.lock")
    async with first.kept_alive(lease, 300):
        # The lease is lost (as after a pause): a successor takes the lock.
        await redis.delete(first.key)
        successor, _ = await second.try_acquire(5_000)
        assert successor is not None
        await asyncio.sleep(0.25)  # one renewal attempt, refused
        refused = [r for r in caplog.records if "renewal refused" in r.getMessage()]
        assert len(refused) == 1 and refused[0].levelno == logging.WARNING
        await asyncio.sleep(0.3)
        # No further attempts, and the successor's lease was never touched by ours.
        assert len([r for r in caplog.records if "renewal" in r.getMessage()]) == 1
        assert await second.holder() == successor.value
        assert await redis.pttl(first.key) > 4_000  # not cut to our 300 ms


async def test_keep_alive_warns_once_and_retries_when_redis_fails(
    redis: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    lock = lock_for(redis, key_prefix, "a")
    lease, _ = await lock.try_acquire(600)
    assert lease is not None
    caplog.set_level(logging.INFO, logger="skyroute.token.lock")
    calls = 0
    real_renew = lock.renew

    async def flaky_renew(lease: Lease, ttl_ms: int) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RedisConnectionError("connection refused")
        return await real_renew(lease, ttl_ms)

    lock.renew = flaky_renew  # type: ignore[method-assign]
    async with lock.kept_alive(lease, 600):
        await asyncio.sleep(1.5)  # 0.2 s ticks: one failure, then renewals again
        assert await lock.holder() == lease.value  # the lease outlived the blip
    assert calls >= 4
    assert [r.getMessage() for r in caplog.records] == [
        "lease renewal failed; retrying",
        "lease renewal recovered",
    ]


async def test_a_block_ending_during_a_renewal_ends_the_renewals(
    redis: Redis, key_prefix: str
) -> None:
    """redis-py can swallow a cancellation that lands while a command is in flight
    (redis/redis-py#2028): the command returns as usual. A keep-alive loop cancelled in
    a renewal must end all the same, or it renews the lease for ever and the block's
    exit waits for it for ever. The blocks below end just as a renewal is on its way
    (a renewal every 50 ms; blocks of 50 ms +- 1 ms); before the fix one in five hung.
    """
    lock = lock_for(redis, key_prefix, "a")
    for i in range(60):
        lease, _ = await lock.try_acquire(150)
        assert lease is not None

        async def block(seconds: float, lease: Lease = lease) -> None:
            async with lock.kept_alive(lease, 150):
                await asyncio.sleep(seconds)

        seconds = 0.050 + (i % 20 - 10) / 10_000
        await asyncio.wait_for(block(seconds), 2.0)  # TimeoutError: the exit hung
        # Not released: the renewals stopped with the block, so the lease lapses.
        await asyncio.sleep(0.2)
        assert await lock.holder() is None, i


async def test_a_swallowed_cancellation_still_ends_the_renewals(
    redis: Redis, key_prefix: str
) -> None:
    """The same, made certain: every renewal swallows a cancellation, as redis-py's
    command path can."""
    lock = lock_for(redis, key_prefix, "a")
    lease, _ = await lock.try_acquire(300)
    assert lease is not None
    renewing = asyncio.Event()
    renewals = 0
    real_renew = lock.renew

    async def swallowing_renew(lease: Lease, ttl_ms: int) -> bool:
        nonlocal renewals
        renewals += 1
        renewing.set()
        # What redis-py does at times: the command goes on and returns.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        return await real_renew(lease, ttl_ms)

    lock.renew = swallowing_renew  # type: ignore[method-assign]

    async def block() -> None:
        async with lock.kept_alive(lease, 300):
            await renewing.wait()  # the block ends while a renewal is in flight

    await asyncio.wait_for(block(), 2.0)
    assert renewals == 1
    await asyncio.sleep(0.4)  # no renewal after the block: the lease lapses
    assert renewals == 1
    assert await lock.holder() is None
