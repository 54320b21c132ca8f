"""Defined behaviour when a lock holder dies or pauses, and when the identity
provider is down."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.utils.load import hammer


def _lock_key(cluster, provider: str = "amadeus") -> str:
    return f"{cluster.prefix}:tok:{{{provider}}}:lock"


def _token_key(cluster, provider: str = "amadeus") -> str:
    return f"{cluster.prefix}:tok:{{{provider}}}:token"


async def _wait_for(predicate, timeout: float, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


async def test_lock_holder_killed_mid_refresh(sim_factory, cluster_factory, redis_sync):
    lock_ttl, latency = 2.0, 1.5
    sim = sim_factory(token_ttl=8)
    cluster = cluster_factory(
        sim,
        replicas=3,
        env={
            "TOKEN_REFRESH_MIN_FRACTION": "0.3",
            "TOKEN_REFRESH_MAX_FRACTION": "0.3",
            "TOKEN_LOCK_TTL_SECONDS": str(lock_ttl),
            "UPSTREAM_TIMEOUT_SECONDS": "5",
        },
    )
    client = cluster.client()
    try:
        first = await client.get_token("amadeus")
        # Not the first fetch's lease, released just after its token was handed out.
        await _wait_for(lambda: redis_sync.get(_lock_key(cluster)) is None, timeout=5)
        sim.config(token_latency_ms=int(latency * 1000))
        done = asyncio.Event()
        load = asyncio.create_task(hammer(client, "amadeus", 30.0, 50, until=done))
        holder = await _wait_for(lambda: redis_sync.get(_lock_key(cluster)), timeout=4)
        owner = holder.decode().split("|")[0]
        cluster.replica(owner).process.signal(signal.SIGKILL)
        killed_at = time.monotonic()

        def new_generation():
            gen = redis_sync.hget(_token_key(cluster), "generation")
            return gen is not None and int(gen) > first.generation

        await _wait_for(new_generation, timeout=lock_ttl + latency + 2.0)
        took_over = time.monotonic() - killed_at
        assert took_over <= lock_ttl + latency + 1.0, took_over
        # Keep the callers going a little past the takeover so they are served the
        # new token too (a fixed-length load could end first on a slow machine).
        await asyncio.sleep(1.0)
        done.set()
        _calls, errors, seen = await load
        assert errors == []
        assert max(seen) == first.generation + 1
    finally:
        await client.close()


@pytest.mark.parametrize("resume", ["after_successor_wrote", "while_successor_fetches"])
async def test_paused_lock_holder_cannot_overwrite_newer_token(
    sim_factory, cluster_factory, redis_sync, resume
):
    sim = sim_factory(token_ttl=60)
    # The holder renews its lease (1.5 s) every 0.5 s while it fetches, but not while
    # paused; the long HTTP timeout keeps its request alive until it resumes.
    cluster = cluster_factory(
        sim, replicas=2, env={"TOKEN_LOCK_TTL_SECONDS": "1.5", "UPSTREAM_TIMEOUT_SECONDS": "10"}
    )
    client = cluster.client()
    paused = None
    # Resumed while the successor fetches, the holder's own fetch (3 s) is still in
    # flight: its overdue renewal runs first and is refused, then its write.
    latency_ms = 800 if resume == "after_successor_wrote" else 3000
    try:
        first = await client.get_token("amadeus")
        # The first fetch's lease is released after its token is handed out: on a busy
        # machine it can still be there now, and must not pass for the refresh's below.
        await _wait_for(lambda: redis_sync.get(_lock_key(cluster)) is None, timeout=5)
        sim.config(token_latency_ms=latency_ms)
        report = asyncio.create_task(client.report_invalid("amadeus", first.access_token))
        holder = await _wait_for(
            lambda: redis_sync.get(_lock_key(cluster)), timeout=3, interval=0.002
        )
        owner = holder.decode().split("|")[0]
        # Pause the holder once its token request is on the wire (it is sent within
        # milliseconds of taking the lock; the provider answers after 0.8 s).
        await asyncio.sleep(0.3)
        holder_process = paused = cluster.replica(owner).process
        paused.signal(signal.SIGSTOP)
        if resume == "while_successor_fetches":
            # The lease expires; the other replica takes the lock and starts its fetch.
            await _wait_for(
                lambda: (redis_sync.get(_lock_key(cluster)) or holder) != holder,
                timeout=4,
                interval=0.002,
            )
            paused.signal(signal.SIGCONT)
            paused = None
        # The other replica refreshes and writes generation + 1.
        await _wait_for(
            lambda: int(redis_sync.hget(_token_key(cluster), "generation")) > first.generation,
            timeout=8,
        )
        newer = redis_sync.hgetall(_token_key(cluster))
        if paused is not None:
            paused.signal(signal.SIGCONT)
            paused = None
        stats_key = f"{cluster.prefix}:tok:{{amadeus}}:stats"
        await _wait_for(
            lambda: int(redis_sync.hget(stats_key, "fenced_rejected") or 0) >= 1, timeout=6
        )
        await asyncio.sleep(0.3)
        current = redis_sync.hgetall(_token_key(cluster))
        assert current[b"access_token"] == newer[b"access_token"]
        assert current[b"generation"] == newer[b"generation"]
        assert int(redis_sync.hget(stats_key, "fenced_rejected")) == 1
        # The paused holder's token was issued but never served.
        assert sim.issued(cluster.client_ids["amadeus"]) == 3
        assert (await report).token.access_token == cluster.open_stored(newer[b"access_token"])
        token = await client.get_token("amadeus")
        assert token.access_token == cluster.open_stored(newer[b"access_token"])
        # The successor let its lease go: nothing still renews it (a keep-alive whose
        # cancellation redis-py swallowed once did, for ever).
        await _wait_for(lambda: redis_sync.get(_lock_key(cluster)) is None, timeout=3)
        log = holder_process.log_text()
        assert "fenced token write rejected" in log
        if resume == "while_successor_fetches":
            assert "lease renewal refused" in log
    finally:
        if paused is not None:
            paused.signal(signal.SIGCONT)
        await client.close()


async def test_identity_provider_outage(sim_factory, cluster_factory):
    ttl = 4.0
    sim = sim_factory(token_ttl=ttl)
    cluster = cluster_factory(
        sim,
        replicas=3,
        env={
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3",
            "TOKEN_BACKOFF_INITIAL_SECONDS": "0.2",
            "TOKEN_BACKOFF_MAX_SECONDS": "0.5",
            "UPSTREAM_TIMEOUT_SECONDS": "1",
            "TOKEN_MIN_HANDOUT_SECONDS": "1",
        },
    )
    client_id = cluster.client_ids["amadeus"]
    client = cluster.client()
    try:
        first = await client.get_token("amadeus")
        expires = first.expire_time.ToMicroseconds() / 1e6
        sim.token_endpoint(down=True)
        # Down past the refresh point but not into the hand-out floor: nobody notices.
        _calls, errors, seen = await hammer(client, "amadeus", expires - time.time() - 1.3, 50)
        assert errors == []
        assert set(seen) == {first.generation}
        # Down past expiry: a clear UNAVAILABLE.
        await asyncio.sleep(max(expires - time.time() + 0.1, 0))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.get_token("amadeus")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "token endpoint is unavailable" in err.value.details()
        failed = sum(sim.stats()["token_requests_failed"].values())
        assert 1 <= failed <= 25, failed  # backoff, not one request per caller
        issued_before = sim.issued(client_id)
        sim.token_endpoint(down=False)

        async def recovered():
            try:
                return await client.get_token("amadeus")
            except grpc.aio.AioRpcError:
                return None

        deadline = time.monotonic() + 3
        token = None
        while token is None:
            assert time.monotonic() < deadline
            token = await recovered()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert sim.issued(client_id) == issued_before + 1
        assert token.generation == first.generation + 1
        for replica in cluster.replicas:
            channel, _ = cluster.stub(replica)
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="skyroute.token.v1.TokenService")
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            await channel.close()
    finally:
        await client.close()
