"""Writes a failover must not lose wait for a replica (WAIT): a private primary and a
real replica; with the replica gone, the lease and the download token are refused."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from services.errors import UnavailableError
from services.redis_client import NotReplicated, ReplicaAck
from tests.utils.redis_monitor import client_commands
from tests.utils.redis_server import PrivateRedis
from token_service.download_requests import Kind, RequestId
from token_service.download_tokens import DownloadTokens, Result, Validation
from token_service.lock import LeaseLock
from token_service.sealing import Sealer

# A write a live replica must acknowledge: a timeout long enough for a busy machine
# (the replica answers within milliseconds when it can; the wait ends as soon as it
# does). A write that a gone replica cannot acknowledge: refused whatever the timeout,
# so a shorter one only saves time, and it is still ample for a replica that runs.
ACKED = ReplicaAck(replicas=1, timeout_ms=10_000)
REFUSED = ReplicaAck(replicas=1, timeout_ms=1_000)
SEALER = Sealer({"k1": os.urandom(32)})


@pytest.fixture
async def pair(workdir: Path) -> AsyncIterator[tuple[Redis, PrivateRedis]]:
    (workdir / "p").mkdir()
    (workdir / "r").mkdir()
    primary = PrivateRedis(workdir / "p").start()
    replica = PrivateRedis(workdir / "r").start(replica_of=primary.port)
    client = Redis(port=primary.port)
    try:
        assert await client.wait(1, 10_000) == 1  # the replica is in sync
        yield client, replica
    finally:
        await client.aclose()
        replica.stop()
        primary.stop()


async def test_lease_counts_once_a_replica_holds_its_fence(pair) -> None:
    client, replica = pair
    lock = LeaseLock(client, "t:lock", "t:fence", "a", ACKED)
    lease, _ = await lock.try_acquire(5_000)
    assert lease is not None and lease.fence == 1
    await lock.release(lease)

    replica.kill()
    with pytest.raises(NotReplicated):
        await LeaseLock(client, "t:lock", "t:fence", "a", REFUSED).try_acquire(5_000)
    # The unacknowledged lease was handed back: nobody acts on fence 2, and another
    # owner is not blocked by it.
    assert await lock.holder() is None
    other, waited = await LeaseLock(client, "t:lock", "t:fence", "b").try_acquire(5_000)
    assert other is not None and waited == 0


async def test_download_token_refused_without_a_replica(pair) -> None:
    client, replica = pair
    issued = await DownloadTokens(client, "t", SEALER, ACKED).issue("itinerary/X", 60_000, 1)
    replica.kill()
    tokens = DownloadTokens(client, "t", SEALER, REFUSED)
    with pytest.raises(UnavailableError):
        await tokens.issue("itinerary/Y", 60_000, 1)
    with pytest.raises(UnavailableError):  # a use the failover could hand back
        await tokens.validate(issued.token)
    peek = await tokens.validate(issued.token, consume=False)  # writes nothing
    assert peek.resource == "itinerary/X"


async def test_a_retried_unacknowledged_use_gets_its_answer_not_used_up(pair) -> None:
    """A use whose script ran but which no replica acknowledged is refused
    (UNAVAILABLE); the caller's retry of that attempt, once the replica is back, gets
    VALID, not USED_UP, and counts no second use."""
    client, replica = pair
    tokens = DownloadTokens(client, "t", SEALER, ACKED)
    issued = await tokens.issue("itinerary/X", 60_000, 1)
    assert replica.proc is not None
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(UnavailableError):
            await DownloadTokens(client, "t", SEALER, REFUSED).validate(
                issued.token, attempt="attempt-1"
            )
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    # The use was counted on the primary all the same.
    assert (await tokens.validate(issued.token, consume=False)).result == Result.USED_UP
    retry = await tokens.validate(issued.token, attempt="attempt-1")
    assert retry == Validation(Result.VALID, "itinerary/X", 0, retry.expires_ms)
    assert (await tokens.validate(issued.token, attempt="attempt-2")).result == Result.USED_UP


async def test_a_retried_unacknowledged_issue_answers_the_same_token(pair) -> None:
    """An issue with a request id that no replica acknowledged is refused; its retry,
    once the replica is back, gets the token the primary holds (and waits for the
    replica to hold it too), not a second one. Likewise a revocation."""
    client, replica = pair
    tokens = DownloadTokens(client, "t", SEALER, ACKED)
    issue_id = RequestId.of(Kind.ISSUE, "booking", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
    revoke_id = RequestId.of(Kind.REVOKE, "booking", "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
    refused = DownloadTokens(client, "t", SEALER, REFUSED)
    assert replica.proc is not None
    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(UnavailableError):
            await refused.issue("itinerary/X", 60_000, 1, issue_id)
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    retry = await tokens.issue("itinerary/X", 60_000, 1, issue_id)
    assert len([k async for k in client.scan_iter(match="t:dl:*")]) == 1
    assert (await tokens.validate(retry.token, consume=False)).result == Result.VALID

    os.kill(replica.proc.pid, signal.SIGSTOP)
    try:
        with pytest.raises(UnavailableError):
            await refused.revoke(retry.token, revoke_id)
    finally:
        os.kill(replica.proc.pid, signal.SIGCONT)
    assert await tokens.revoke(retry.token, revoke_id)


async def test_a_fresh_issue_with_a_request_id_waits_once(pair) -> None:
    """A fresh issue's claim and token are one script, acknowledged by one WAIT in its
    pipeline; a retry claims and creates the token if absent, each acknowledged."""
    client, _ = pair
    tokens = DownloadTokens(client, "t", SEALER, ACKED)
    url = f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"
    warm = RequestId.of(Kind.ISSUE, "booking", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
    await tokens.issue("itinerary/X", 60_000, 1, warm)  # scripts loaded: no NOSCRIPT
    issue_id = RequestId.of(Kind.ISSUE, "booking", "6f5e4d3c-2b1a-4f0e-9d8c-7b6a5f4e3d2c")

    def round_trips(seen: list[str]) -> list[str]:
        names = [c.split()[0].strip('"').upper() for c in seen]
        return [n for n in names if n in ("EVAL", "EVALSHA", "WAIT")]

    async with client_commands(url) as seen:
        first = await tokens.issue("itinerary/X", 60_000, 1, issue_id)
    assert round_trips(seen) == ["EVALSHA", "WAIT"]
    async with client_commands(url) as seen:
        assert await tokens.issue("itinerary/X", 60_000, 1, issue_id) == first
    assert round_trips(seen) == ["EVALSHA", "WAIT", "EVALSHA", "WAIT"]
    assert (await tokens.validate(first.token, "itinerary/X")).result == Result.VALID
