"""Redis stopped and started again: tokens keep being served, degraded state is
reported in status and health, and the replicas recover by themselves."""

from __future__ import annotations

import asyncio
import time

import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.utils.load import hammer
from tests.utils.redis_server import PrivateRedis

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(cluster, service: str) -> list[int]:
    out = []
    for replica in cluster.replicas:
        channel, _ = cluster.stub(replica)
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        out.append(reply.status)
        await channel.close()
    return out


async def _statuses(cluster, client_per_replica):
    return [await c.status("amadeus") for c in client_per_replica]


async def test_redis_outage_degrades_and_recovers(sim, cluster_factory, workdir):
    private = PrivateRedis(workdir).start()
    cluster = cluster_factory(sim, replicas=2, redis=private.url)
    client = cluster.client()
    per_replica = [cluster.client(replicas=[r]) for r in cluster.replicas]
    client_id = cluster.client_ids["amadeus"]
    try:
        first = await client.get_token("amadeus")
        # Every replica holds the token before Redis goes away (a replica that
        # never saw it would have to fetch its own while degraded, by design).
        for per in per_replica:
            assert (await per.get_token("amadeus")).access_token == first.access_token
        assert await _health(cluster, "redis") == [SERVING, SERVING]
        private.stop()

        _calls, errors, seen = await hammer(client, "amadeus", 3.0, 50)
        assert errors == []
        assert set(seen) == {first.generation}
        statuses = await _statuses(cluster, per_replica)
        assert all(s.degraded for s in statuses)
        assert all(s.has_valid_token for s in statuses)
        assert await _health(cluster, "redis") == [NOT_SERVING, NOT_SERVING]
        assert await _health(cluster, "") == [SERVING, SERVING]

        # Redis comes back empty (no persistence); the replicas recover and hand
        # their still-valid token to it instead of fetching a new one.
        private.start()
        deadline = time.monotonic() + 10
        while True:
            statuses = await _statuses(cluster, per_replica)
            if not any(s.degraded for s in statuses):
                break
            assert time.monotonic() < deadline, "replicas did not leave degraded mode"
            await asyncio.sleep(0.1)
        assert await _health(cluster, "redis") == [SERVING, SERVING]
        token = await client.get_token("amadeus")
        assert token.access_token == first.access_token
        stored = redis.Redis.from_url(private.url).hget(
            f"{cluster.prefix}:tok:{{amadeus}}:token", "access_token"
        )
        assert stored is not None and cluster.open_stored(stored) == first.access_token
        assert sim.issued(client_id) == 1
    finally:
        for c in [client, *per_replica]:
            await c.close()
        cluster.stop()
        private.stop()


async def test_degraded_generations_never_collide(sim_factory, cluster_factory, workdir):
    """Two replicas cut off from Redis each fetch their own token: the two tokens get
    different generations (a fencing number names one token), each replica's keep
    increasing, and after recovery the shared chain continues above them."""
    private = PrivateRedis(workdir).start()
    sim = sim_factory(token_ttl=3)
    cluster = cluster_factory(
        sim,
        replicas=2,
        redis=private.url,
        env={"TOKEN_MIN_HANDOUT_SECONDS": "0.5", "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3"},
    )
    client = cluster.client()
    per_replica = [cluster.client(replicas=[r]) for r in cluster.replicas]
    try:
        first = await client.get_token("amadeus")
        for per in per_replica:
            assert (await per.get_token("amadeus")).generation == first.generation
        private.stop()
        # Two lifetimes: each replica refreshes on its own, at least twice.
        _calls, errors, seen = await hammer(client, "amadeus", 6.5, 30)
        assert errors == []  # hammer also asserts one token per generation
        # A replica may have refreshed after the hammer's last call to it: each one's
        # current token counts as seen too (one generation still names one token).
        for per in per_replica:
            current = await per.get_token("amadeus")
            assert seen.setdefault(current.generation, current.access_token) == (
                current.access_token
            )
        degraded = sorted(g for g in seen if g != first.generation)
        assert len(degraded) >= 4, seen  # both replicas refreshed
        assert all(g > first.generation for g in degraded)
        assert sim.issued(cluster.client_ids["amadeus"]) == 1 + len(degraded)

        private.start()
        deadline = time.monotonic() + 10
        while any(s.degraded for s in await _statuses(cluster, per_replica)):
            assert time.monotonic() < deadline, "replicas did not leave degraded mode"
            await asyncio.sleep(0.1)
        # The last replica to leave degraded mode renumbers the shared token above its
        # own and tells the others by an event: each converges within moments.
        for per in per_replica:
            deadline = time.monotonic() + 3
            while True:
                token = await per.get_token("amadeus")
                assert seen.get(token.generation, token.access_token) == token.access_token
                if token.generation >= max(degraded):
                    break
                assert time.monotonic() < deadline, (token.generation, degraded)
                await asyncio.sleep(0.05)
    finally:
        for c in [client, *per_replica]:
            await c.close()
        cluster.stop()
        private.stop()
