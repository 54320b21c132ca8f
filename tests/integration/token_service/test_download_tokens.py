"""DownloadTokens on a real Redis: issue, validate, peek, revoke, expiry and use counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from token_service.download_tokens import DownloadTokens, Result, Validation
from token_service.store import digest

RESOURCE = "itinerary/ABC234"


@pytest.fixture
def downloads(redis: Redis, key_prefix: str) -> DownloadTokens:
    return DownloadTokens(redis, key_prefix)


async def test_issue_and_validate(
    downloads: DownloadTokens,
    redis: Redis,
    key_prefix: str,
    redis_now: Callable[[], Awaitable[int]],
) -> None:
    before = await redis_now()
    issued = await downloads.issue(RESOURCE, 60_000, 0)
    assert len(issued.token) >= 40
    assert before + 60_000 <= issued.expires_ms <= await redis_now() + 60_000

    v = await downloads.validate(issued.token)
    assert v == Validation(Result.VALID, RESOURCE, -1, issued.expires_ms)
    assert (await downloads.validate(issued.token, RESOURCE)).result == Result.VALID
    # Only a digest is a key: the token itself is nowhere in Redis.
    keys = [k.decode() async for k in redis.scan_iter(match=f"{key_prefix}:dl:*")]
    assert keys == [f"{key_prefix}:dl:{digest(issued.token)}"]


async def test_unknown_token(downloads: DownloadTokens) -> None:
    assert await downloads.validate("no-such-token") == Validation(Result.UNKNOWN)
    assert not await downloads.revoke("no-such-token")


async def test_wrong_resource(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 1)
    v = await downloads.validate(issued.token, "itinerary/OTHER")
    assert v.result == Result.WRONG_RESOURCE
    assert v.resource == ""  # do not reveal what the token is for
    # A wrong-resource attempt does not use the token up.
    assert (await downloads.validate(issued.token, RESOURCE)).result == Result.VALID


async def test_peek_does_not_count_a_use(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 1)
    for _ in range(3):
        v = await downloads.validate(issued.token, consume=False)
        assert (v.result, v.remaining_uses) == (Result.VALID, 1)
    assert (await downloads.validate(issued.token)).remaining_uses == 0
    assert (await downloads.validate(issued.token, consume=False)).result == Result.USED_UP


async def test_used_up_after_max_uses(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 2)
    first = await downloads.validate(issued.token)
    second = await downloads.validate(issued.token)
    third = await downloads.validate(issued.token)
    assert (first.result, first.remaining_uses) == (Result.VALID, 1)
    assert (second.result, second.remaining_uses) == (Result.VALID, 0)
    assert (third.result, third.resource) == (Result.USED_UP, RESOURCE)


async def test_revoke(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 0)
    assert await downloads.revoke(issued.token)
    assert not await downloads.revoke(issued.token)  # only once
    v = await downloads.validate(issued.token)
    assert (v.result, v.resource) == (Result.REVOKED, RESOURCE)


async def test_expired(downloads: DownloadTokens, redis: Redis, key_prefix: str) -> None:
    issued = await downloads.issue(RESOURCE, 1_000, 0)
    assert (await downloads.validate(issued.token, consume=False)).result == Result.VALID
    await asyncio.sleep(1.05)
    v = await downloads.validate(issued.token)
    assert (v.result, v.expires_ms) == (Result.EXPIRED, issued.expires_ms)
    assert not await downloads.revoke(issued.token)  # nothing left to revoke
    # Kept after expiry so a late click says EXPIRED, not UNKNOWN.
    ttl = await redis.pttl(f"{key_prefix}:dl:{digest(issued.token)}")
    assert ttl > 23 * 3600 * 1000


async def test_concurrent_validations_of_a_single_use_token(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 1)
    results = await asyncio.gather(*(downloads.validate(issued.token) for _ in range(50)))
    assert Counter(v.result for v in results) == {Result.VALID: 1, Result.USED_UP: 49}


async def test_tokens_are_independent(downloads: DownloadTokens) -> None:
    a = await downloads.issue(RESOURCE, 60_000, 1)
    b = await downloads.issue(RESOURCE, 60_000, 1)
    assert a.token != b.token
    await downloads.validate(a.token)
    assert (await downloads.validate(b.token)).result == Result.VALID
