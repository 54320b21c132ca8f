"""Download tokens issued through one replica validate through another at once."""

from __future__ import annotations

import asyncio

import pytest

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
