"""DownloadTokens on a real Redis: issue, validate, peek, revoke, expiry and use counts."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from token_service import download_tokens
from token_service.download_tokens import MAX_ATTEMPTS, DownloadTokens, Result, Validation
from token_service.sealing import Sealer
from token_service.store import digest

RESOURCE = "itinerary/ABC234"


SEALER = Sealer({"k1": os.urandom(32)})  # one deployment's keys: every replica's


@pytest.fixture
def downloads(redis: Redis, key_prefix: str) -> DownloadTokens:
    return DownloadTokens(redis, key_prefix, SEALER)


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


async def test_a_retried_attempt_gets_its_answer_without_a_second_use(
    downloads: DownloadTokens,
) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 1)
    first = await downloads.validate(issued.token, RESOURCE, attempt="attempt-1")
    # The same attempt again (its answer lost, the caller's channel retried): the
    # same answer, and the one use is still not given away twice.
    again = await downloads.validate(issued.token, RESOURCE, attempt="attempt-1")
    assert first == again == Validation(Result.VALID, RESOURCE, 0, issued.expires_ms)
    other = await downloads.validate(issued.token, RESOURCE, attempt="attempt-2")
    assert other.result == Result.USED_UP
    assert (await downloads.validate(issued.token)).result == Result.USED_UP
    # A peek or another resource is not that attempt.
    peek = await downloads.validate(issued.token, RESOURCE, consume=False, attempt="attempt-1")
    assert peek.result == Result.USED_UP
    assert (
        await downloads.validate(issued.token, "itinerary/OTHER", attempt="attempt-1")
    ).result == Result.WRONG_RESOURCE


async def test_a_refused_attempt_is_not_remembered(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 2)
    wrong = await downloads.validate(issued.token, "itinerary/OTHER", attempt="a")
    assert wrong.result == Result.WRONG_RESOURCE
    # Only an attempt that counted a use is kept: the same id may count one now.
    assert (await downloads.validate(issued.token, RESOURCE, attempt="a")).remaining_uses == 1
    assert (await downloads.validate(issued.token, RESOURCE, attempt="a")).remaining_uses == 1
    assert (await downloads.validate(issued.token, RESOURCE, attempt="b")).remaining_uses == 0


async def test_concurrent_retries_of_one_attempt_count_one_use(
    downloads: DownloadTokens,
) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 3)
    results = await asyncio.gather(
        *(downloads.validate(issued.token, attempt=f"attempt-{i % 2}") for i in range(40))
    )
    assert {(v.result, v.remaining_uses) for v in results} <= {
        (Result.VALID, 2),
        (Result.VALID, 1),
    }
    assert len({v.remaining_uses for v in results}) == 2  # one use per attempt
    assert (await downloads.validate(issued.token, consume=False)).remaining_uses == 1


async def test_attempts_are_bounded_and_expire(
    downloads: DownloadTokens, redis: Redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await downloads.issue(RESOURCE, 60_000, 0)
    key = f"{key_prefix}:dl:{digest(issued.token)}"
    for i in range(MAX_ATTEMPTS + 10):
        assert (await downloads.validate(issued.token, attempt=f"a{i}")).result == Result.VALID
    fields = [f for f in await redis.hkeys(key) if f.startswith(b"attempt:")]
    assert len(fields) == MAX_ATTEMPTS
    # Older ones made room: the newest is remembered.
    assert f"attempt:a{MAX_ATTEMPTS + 9}".encode() in fields
    assert int(await redis.hget(key, "uses") or 0) == MAX_ATTEMPTS + 10

    # Kept only ATTEMPT_TTL_MS: a later use prunes the expired ones.
    monkeypatch.setattr(download_tokens, "ATTEMPT_TTL_MS", 50)
    issued = await downloads.issue(RESOURCE, 60_000, 0)
    key = f"{key_prefix}:dl:{digest(issued.token)}"
    await downloads.validate(issued.token, attempt="x")
    await downloads.validate(issued.token, attempt="y")
    await asyncio.sleep(0.1)
    await downloads.validate(issued.token, attempt="last")
    fields = [f for f in await redis.hkeys(key) if f.startswith(b"attempt:")]
    assert fields == [b"attempt:last"]
    # An expired record no longer answers: that id counts a use again.
    await asyncio.sleep(0.1)
    assert (await downloads.validate(issued.token, attempt="last")).result == Result.VALID
    assert int(await redis.hget(key, "uses") or 0) == 4
