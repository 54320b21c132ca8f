"""Issue and revoke with a request id (AIP-155) on a real Redis: a retry answers what
the first call did, concurrent retries make one token, a reuse with other parameters
is refused, and the token is never in Redis in clear."""

from __future__ import annotations

import asyncio
import os
import secrets

import grpc
import pytest
from redis import Redis as SyncRedis
from redis import RedisCluster as SyncRedisCluster
from redis.asyncio import Redis

from services.config import RedisSettings
from services.errors import FailedPreconditionError, ValidationError
from services.redis_client import ClusterClient, create_redis
from tests.utils.redis_monitor import client_commands
from token_service import download_requests
from token_service.download_requests import (
    REQUEST_TTL_MS,
    Kind,
    RequestId,
    issue_fingerprint,
)
from token_service.download_tokens import (
    KEEP_AFTER_EXPIRY_MS,
    DownloadTokens,
    Issued,
    Result,
    Validation,
)
from token_service.sealing import Sealer
from token_service.store import digest

RESOURCE = "itinerary/ABC234"
SEALER = Sealer({"k1": os.urandom(32)})  # one deployment's keys: every replica's
ISSUE_1 = RequestId.of(Kind.ISSUE, "booking", "2f1d0c9e-5b7a-4e39-9a51-0d7f6c3b8e21")
REVOKE_1 = RequestId.of(Kind.REVOKE, "booking", "7c4e2a10-93d8-4b6f-8e2c-5a1b0d9f3e64")
OTHER_ID = RequestId.of(Kind.ISSUE, "booking", "0b6a3f2e-1c4d-4e5f-8a9b-7c6d5e4f3a2b")


@pytest.fixture
def downloads(redis: Redis, key_prefix: str) -> DownloadTokens:
    return DownloadTokens(redis, key_prefix, SEALER)


async def _stored(redis: Redis, key_prefix: str) -> list[bytes]:
    """Every key, field and value under the test's prefix."""
    out: list[bytes] = []
    async for key in redis.scan_iter(match=f"{key_prefix}:*"):
        out.append(key)
        for field, value in (await redis.hgetall(key)).items():
            out += [field, value]
    return out


async def _token_keys(redis: Redis, key_prefix: str) -> list[bytes]:
    return [k async for k in redis.scan_iter(match=f"{key_prefix}:dl:*")]


def _field_of(raised: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [v.field for v in raised.value.violations]


async def test_a_retried_issue_answers_the_same_token(
    downloads: DownloadTokens, redis: Redis, key_prefix: str
) -> None:
    first = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    again = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    assert again == first
    assert len(await _token_keys(redis, key_prefix)) == 1
    # The token is stored sealed: not in any key, field or value.
    assert all(first.token.encode() not in b for b in await _stored(redis, key_prefix))

    # Another request id, or the same id from another caller: another token.
    other_caller = RequestId.of(Kind.ISSUE, "search", "2f1d0c9e-5b7a-4e39-9a51-0d7f6c3b8e21")
    tokens = {
        first.token,
        (await downloads.issue(RESOURCE, 60_000, 1, OTHER_ID)).token,
        (await downloads.issue(RESOURCE, 60_000, 1, other_caller)).token,
    }
    assert len(tokens) == 3


async def test_a_retried_issue_does_not_give_back_uses_or_undo_a_revocation(
    downloads: DownloadTokens,
) -> None:
    first = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    assert (await downloads.validate(first.token)).result == Result.VALID
    assert (await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)).token == first.token
    assert (await downloads.validate(first.token)).result == Result.USED_UP

    second_id = RequestId.of(Kind.ISSUE, "booking", "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
    second = await downloads.issue(RESOURCE, 60_000, 0, second_id)
    assert await downloads.revoke(second.token)
    assert (await downloads.issue(RESOURCE, 60_000, 0, second_id)).token == second.token
    assert (await downloads.validate(second.token)).result == Result.REVOKED


async def test_a_request_id_reused_with_other_parameters_is_refused(
    downloads: DownloadTokens,
) -> None:
    first = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    for resource, ttl_ms, max_uses in [
        ("itinerary/OTHER", 60_000, 1),
        (RESOURCE, 61_000, 1),
        (RESOURCE, 60_000, 2),
    ]:
        with pytest.raises(ValidationError) as raised:
            await downloads.issue(resource, ttl_ms, max_uses, ISSUE_1)
        assert _field_of(raised) == ["request_id"]
    assert (await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)) == first


async def test_concurrent_retries_from_several_replicas_make_one_token(
    redis: Redis, key_prefix: str
) -> None:
    replicas = [DownloadTokens(redis, key_prefix, SEALER) for _ in range(8)]
    issued = await asyncio.gather(
        *(replicas[i % 8].issue(RESOURCE, 60_000, 1, ISSUE_1) for i in range(40))
    )
    assert len({i.token for i in issued}) == 1 and len({i.expires_ms for i in issued}) == 1
    assert len(await _token_keys(redis, key_prefix)) == 1
    v = await replicas[0].validate(issued[0].token, RESOURCE)
    assert v.result == Result.VALID and v.remaining_uses == 0


async def test_a_fresh_issue_is_one_script_and_a_retry_two(
    downloads: DownloadTokens, redis: Redis, redis_url: str, key_prefix: str
) -> None:
    """The claim and the token's hash in one script: one round trip (one WAIT too, see
    test_replica_ack); it writes what the claim and the create would have. A retry
    claims, then creates the token if absent: two."""
    warm = await downloads.issue(RESOURCE, 60_000, 1, OTHER_ID)  # scripts loaded: no NOSCRIPT
    async with client_commands(redis_url) as seen:
        first = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    request_key, token_key = ISSUE_1.key(key_prefix), f"{key_prefix}:dl:{digest(first.token)}"
    ours = [c.replace('"', "").split() for c in seen if key_prefix in c]
    assert [c[:5] for c in ours] == [["EVALSHA", ours[0][1], "2", request_key, token_key]]

    assert await redis.hgetall(token_key) == {
        b"resource": RESOURCE.encode(),
        b"max_uses": b"1",
        b"uses": b"0",
        b"revoked": b"0",
        b"expires_ms": str(first.expires_ms).encode(),
    }
    pexpiretime = await redis.execute_command("PEXPIRETIME", token_key)
    assert pexpiretime == first.expires_ms + KEEP_AFTER_EXPIRY_MS
    record = await redis.hgetall(request_key)
    assert record[b"fingerprint"] == issue_fingerprint(RESOURCE, 60_000, 1).encode()
    assert record[b"expires_ms"] == str(first.expires_ms).encode()
    assert SEALER.open(record[b"sealed"].decode(), ISSUE_1.seal_context) == first.token
    assert 0 < await redis.pttl(request_key) <= REQUEST_TTL_MS

    async with client_commands(redis_url) as seen:
        assert await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1) == first
    ours = [c.replace('"', "").split() for c in seen if key_prefix in c]
    assert [c[0] for c in ours] == ["EVALSHA", "EVALSHA"]
    # The claim (seen: it writes no token, its candidate's key stays unused), then the
    # create-if-absent of the recorded token.
    assert ours[0][2:4] == ["2", request_key] and ours[1][2:4] == ["1", token_key]
    assert set(await _token_keys(redis, key_prefix)) == {
        token_key.encode(),
        f"{key_prefix}:dl:{digest(warm.token)}".encode(),
    }


async def test_an_older_replicas_claim_without_its_token_is_completed_by_the_retry(
    downloads: DownloadTokens, redis: Redis, key_prefix: str
) -> None:
    """A replica of a release that claimed and created in two scripts claimed the
    request and stopped before creating the token (a rolling update, a crash): the
    record names a token that does not exist. The retry, through a current replica,
    creates that very token at the recorded expiry, once."""
    candidate = secrets.token_urlsafe(32)
    older_claim = redis.register_script(download_requests.CLAIM)
    sealed = SEALER.seal(candidate, ISSUE_1.seal_context)
    fingerprint = issue_fingerprint(RESOURCE, 60_000, 1)
    raw = await older_claim(
        keys=[ISSUE_1.key(key_prefix)], args=[fingerprint, sealed, 60_000, REQUEST_TTL_MS]
    )
    assert int(raw[0]) == 1 and await _token_keys(redis, key_prefix) == []

    retry = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
    assert retry == Issued(candidate, int(raw[2]))
    v = await downloads.validate(candidate, RESOURCE)
    assert v == Validation(Result.VALID, RESOURCE, 0, retry.expires_ms)
    # Created once: a later retry gives the use back to nobody.
    assert await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1) == retry
    assert (await downloads.validate(candidate)).result == Result.USED_UP
    assert len(await _token_keys(redis, key_prefix)) == 1


@pytest.mark.parametrize("redis_backend", ["cluster"], indirect=True)
async def test_on_a_cluster_a_replica_that_died_after_its_claim_leaves_the_token_to_the_retry(
    redis_url: str, key_prefix: str, redis_sync: SyncRedis | SyncRedisCluster
) -> None:
    """On a Cluster the record and the token's hash lie in unrelated slots: an issue
    claims, then creates the token, as two scripts (one would be refused, CROSSSLOT).
    A replica that stops between them leaves the creation to the retry."""
    client = create_redis(RedisSettings(url=redis_url))
    assert isinstance(client, ClusterClient)
    try:
        crashing = DownloadTokens(client, key_prefix, SEALER)

        async def crash(*args: object, **kwargs: object) -> object:
            raise asyncio.CancelledError  # the process stopped between its two scripts

        crashing._issue_once = crash  # type: ignore[assignment]
        with pytest.raises(asyncio.CancelledError):
            await crashing.issue(RESOURCE, 60_000, 1, ISSUE_1)
        assert list(redis_sync.scan_iter(match=f"{key_prefix}:dl:*")) == []

        downloads = DownloadTokens(client, key_prefix, SEALER)
        retry = await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1)
        assert (await downloads.validate(retry.token, RESOURCE)).result == Result.VALID
        assert await downloads.issue(RESOURCE, 60_000, 1, ISSUE_1) == retry
        fresh = await downloads.issue(RESOURCE, 60_000, 1, OTHER_ID)
        assert fresh.token != retry.token
        assert (await downloads.validate(fresh.token, RESOURCE)).result == Result.VALID
        assert len(list(redis_sync.scan_iter(match=f"{key_prefix}:dl:*"))) == 2
    finally:
        await client.aclose()


async def test_a_retried_revoke_answers_revoked(downloads: DownloadTokens) -> None:
    issued = await downloads.issue(RESOURCE, 1_000, 0)
    assert await downloads.revoke(issued.token, REVOKE_1)
    assert await downloads.revoke(issued.token, REVOKE_1)  # its answer was lost
    # Another revocation did not revoke it, with or without a request id.
    other = RequestId.of(Kind.REVOKE, "booking", "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b")
    assert not await downloads.revoke(issued.token, other)
    assert not await downloads.revoke(issued.token)
    # Nor the same id from another caller.
    assert not await downloads.revoke(
        issued.token, RequestId.of(Kind.REVOKE, "search", "7c4e2a10-93d8-4b6f-8e2c-5a1b0d9f3e64")
    )
    await asyncio.sleep(1.1)
    assert await downloads.revoke(issued.token, REVOKE_1)  # still its answer once expired
    assert (await downloads.validate(issued.token)).result == Result.REVOKED


async def test_a_revoke_request_id_reused_for_another_token_is_refused(
    downloads: DownloadTokens,
) -> None:
    a = await downloads.issue(RESOURCE, 60_000, 0)
    b = await downloads.issue(RESOURCE, 60_000, 0)
    assert await downloads.revoke(a.token, REVOKE_1)
    with pytest.raises(ValidationError) as raised:
        await downloads.revoke(b.token, REVOKE_1)
    assert _field_of(raised) == ["request_id"]
    assert (await downloads.validate(b.token)).result == Result.VALID


async def test_concurrent_retries_of_one_revoke_all_answer_revoked(
    redis: Redis, key_prefix: str
) -> None:
    replicas = [DownloadTokens(redis, key_prefix, SEALER) for _ in range(4)]
    issued = await replicas[0].issue(RESOURCE, 60_000, 0)
    answers = await asyncio.gather(
        *(replicas[i % 4].revoke(issued.token, REVOKE_1) for i in range(20))
    )
    assert all(answers)
    assert not await replicas[1].revoke(issued.token)


async def test_a_retry_after_its_sealing_key_was_removed_is_a_failed_precondition(
    redis: Redis, key_prefix: str
) -> None:
    # The first call on a deployment sealing with k1; the retry after the rotation's
    # last step, every replica with k2 only.
    before = DownloadTokens(redis, key_prefix, SEALER)
    after = DownloadTokens(redis, key_prefix, Sealer({"k2": os.urandom(32)}))
    first = await before.issue(RESOURCE, 60_000, 1, ISSUE_1)
    for _ in range(2):  # the same answer every time: nothing to wait for
        with pytest.raises(FailedPreconditionError) as raised:
            await after.issue(RESOURCE, 60_000, 1, ISSUE_1)
        error = raised.value
        assert error.code == grpc.StatusCode.FAILED_PRECONDITION
        assert error.reason == "REQUEST_UNREADABLE"
        assert error.metadata == {"field": "request_id"}
        assert "new request_id" in error.message
        assert first.token not in error.message and "k1" not in error.message
    # The record is kept: a reuse with other parameters is still refused, and the
    # first token is still valid.
    with pytest.raises(ValidationError) as conflict:
        await after.issue("itinerary/OTHER", 60_000, 1, ISSUE_1)
    assert _field_of(conflict) == ["request_id"]
    assert (await after.validate(first.token, RESOURCE)).result == Result.VALID
    # A new request id issues a new token.
    fresh = RequestId.of(Kind.ISSUE, "booking", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
    assert (await after.issue(RESOURCE, 60_000, 1, fresh)).token != first.token
