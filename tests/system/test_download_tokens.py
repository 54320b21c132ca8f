"""Download tokens issued through one replica validate through another at once."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.token.v1 import token_service_pb2 as pb

R = pb.ValidateDownloadTokenResponse


@pytest.mark.redis_backends
async def test_issued_on_one_replica_valid_on_another_immediately(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=2)
    a = cluster.client(caller="booking", replicas=[cluster.replicas[0]])
    b = cluster.client(caller="booking", replicas=[cluster.replicas[1]])
    try:
        semaphore = asyncio.Semaphore(50)

        async def round_trip(i: int) -> int:
            async with semaphore:
                issued = await a.issue_download_token(f"itinerary/T{i:04d}", 60)
                result = await b.validate_download_token(
                    issued.download_token, resource=f"itinerary/T{i:04d}"
                )
                return result.result

        results = await asyncio.gather(*(round_trip(i) for i in range(1000)))
        assert results.count(R.RESULT_VALID) == 1000

        # Revoked through B: refused through A at once.
        issued = await b.issue_download_token("itinerary/REVOKE", 60)
        assert await a.revoke_download_token(issued.download_token)
        assert (await b.validate_download_token(issued.download_token)).result == R.RESULT_REVOKED
        unknown = await b.validate_download_token("not-a-token")
        assert unknown.result == R.RESULT_UNKNOWN and not unknown.valid
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis_backends
async def test_single_use_token_has_exactly_one_winner(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=3)
    client = cluster.client(caller="booking")
    try:
        issued = await client.issue_download_token("itinerary/ONCE", 60, max_uses=1)
        peek = await client.validate_download_token(issued.download_token, peek=True)
        assert peek.valid and peek.remaining_uses == 1
        results = await asyncio.gather(
            *(client.validate_download_token(issued.download_token) for _ in range(50))
        )
        assert sum(r.valid for r in results) == 1
        assert sum(r.result == R.RESULT_USED_UP for r in results) == 49
    finally:
        await client.close()


async def test_expired_token_is_reported_expired(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=2)
    a = cluster.client(caller="booking", replicas=[cluster.replicas[0]])
    b = cluster.client(caller="booking", replicas=[cluster.replicas[1]])
    try:
        issued = await a.issue_download_token("itinerary/SHORT", 1)
        assert (await b.validate_download_token(issued.download_token, peek=True)).valid
        await asyncio.sleep(1.2)
        result = await b.validate_download_token(issued.download_token)
        assert result.result == R.RESULT_EXPIRED and not result.valid
    finally:
        await a.close()
        await b.close()


async def test_attempt_id_makes_a_validation_safe_to_retry(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=1)
    client = cluster.client(caller="booking")
    channel, stub = cluster.stub(cluster.replicas[0])
    metadata = cluster.metadata("booking")
    try:
        issued = await client.issue_download_token("itinerary/RETRY", 60, max_uses=1)
        request = pb.ValidateDownloadTokenRequest(
            download_token=issued.download_token, resource="itinerary/RETRY", attempt_id="a-1_B"
        )
        # The same request twice, as the channel's retry on UNAVAILABLE resends it.
        first = await stub.ValidateDownloadToken(request, metadata=metadata)
        again = await stub.ValidateDownloadToken(request, metadata=metadata)
        assert first == again and first.valid and first.remaining_uses == 0
        # TokenClient sends a new attempt id with every validation: a second use.
        second = await client.validate_download_token(issued.download_token)
        assert second.result == R.RESULT_USED_UP

        for bad in ("has space", "x" * 65, "é"):
            request.attempt_id = bad
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.ValidateDownloadToken(request, metadata=metadata)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violated_fields(raised.value) == ["attempt_id"]
    finally:
        await channel.close()
        await client.close()


def _violated_fields(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [v.field for v in bad_request.field_violations]
    return fields


@pytest.mark.redis_backends
async def test_issue_and_revoke_retried_through_several_replicas_answer_once(
    sim, cluster_factory, redis_sync, key_prefix
):
    """The same IssueDownloadToken (one request_id) sent at once through three
    replicas, as retries after lost answers would be: one token, the same for all;
    likewise one revocation that every retry reports as done."""
    cluster = cluster_factory(sim, replicas=3)
    stubs = [cluster.stub(r) for r in cluster.replicas]
    metadata = cluster.metadata("booking")
    client = cluster.client(caller="booking")
    try:
        issue = pb.IssueDownloadTokenRequest(
            resource="itinerary/ONE",
            max_uses=1,
            request_id="6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        )
        issue.ttl.FromSeconds(60)
        answers = await asyncio.gather(
            *(stubs[i % 3][1].IssueDownloadToken(issue, metadata=metadata) for i in range(30))
        )
        assert len({(a.download_token, a.expire_time.ToMilliseconds()) for a in answers}) == 1
        token = answers[0].download_token
        assert len(list(redis_sync.scan_iter(match=f"{key_prefix}:dl:*"))) == 1
        # No key, field or value holds the token in clear.
        for key in redis_sync.scan_iter(match=f"{key_prefix}:*"):
            if redis_sync.type(key) == b"hash":
                assert all(token.encode() not in v for v in redis_sync.hgetall(key).values())
        first = await client.validate_download_token(token, resource="itinerary/ONE")
        assert first.valid and first.remaining_uses == 0
        assert (await client.validate_download_token(token)).result == R.RESULT_USED_UP

        # The request id again with another resource: refused, naming request_id.
        issue.resource = "itinerary/TWO"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stubs[1][1].IssueDownloadToken(issue, metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert _violated_fields(raised.value) == ["request_id"]

        revoke = pb.RevokeDownloadTokenRequest(
            download_token=token, request_id="0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"
        )
        revoked = await asyncio.gather(
            *(stubs[i % 3][1].RevokeDownloadToken(revoke, metadata=metadata) for i in range(12))
        )
        assert all(r.revoked for r in revoked)
        assert not await client.revoke_download_token(token)  # another revocation
        assert (await client.validate_download_token(token)).result == R.RESULT_REVOKED
    finally:
        await client.close()
        for channel, _ in stubs:
            await channel.close()


async def test_request_id_must_be_a_uuid(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=1)
    channel, stub = cluster.stub(cluster.replicas[0])
    metadata = cluster.metadata("booking")
    try:
        issue = pb.IssueDownloadTokenRequest(resource="itinerary/X", request_id="not-a-uuid")
        issue.ttl.FromSeconds(60)
        revoke = pb.RevokeDownloadTokenRequest(download_token="t", request_id="x" * 37)
        for call in (
            stub.IssueDownloadToken(issue, metadata=metadata),
            stub.RevokeDownloadToken(revoke, metadata=metadata),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert _violated_fields(raised.value) == ["request_id"]
    finally:
        await channel.close()
