"""Half-open recovery: when the token endpoint comes back after an outage that has
grown the shared backoff long, callers are served within about one probe interval
(one replica of the fleet probes the endpoint ahead of the timer), and the probes
do not turn into a stampede of upstream requests."""

from __future__ import annotations

import asyncio
import time

import grpc

PROBE = 0.5
TTL = 4.0


async def test_recovery_follows_the_endpoint_not_the_backoff_timer(sim_factory, cluster_factory):
    sim = sim_factory(token_ttl=TTL)
    # The first failure opens an 8-16 s window: without a probe, callers would wait
    # that long after the endpoint is back.
    cluster = cluster_factory(
        sim,
        replicas=3,
        env={
            "TOKEN_PROBE_INTERVAL_SECONDS": str(PROBE),
            "TOKEN_MIN_HANDOUT_SECONDS": "1",
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3",
            "TOKEN_BACKOFF_INITIAL_SECONDS": "16",
            "TOKEN_BACKOFF_MAX_SECONDS": "30",
            "UPSTREAM_TIMEOUT_SECONDS": "1",
        },
    )
    client = cluster.client()
    per_replica = [cluster.client(replicas=[r]) for r in cluster.replicas]
    try:
        first = await client.get_token("amadeus")
        expires = first.expire_time.ToMicroseconds() / 1e6
        sim.token_endpoint(down=True)
        down_at = time.monotonic()
        back_at: float | None = None
        served_at: dict[int, float] = {}
        refused = 0

        async def caller(i: int, c) -> None:
            nonlocal refused
            while i not in served_at and time.monotonic() < down_at + 30:
                try:
                    token = await c.get_token("amadeus")
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                    refused += 1
                    await asyncio.sleep(0.02)
                    continue
                if back_at is not None and token.generation > first.generation:
                    served_at[i] = time.monotonic()
                else:
                    await asyncio.sleep(0.02)

        callers = [asyncio.create_task(caller(i, per_replica[i % 3])) for i in range(30)]
        # Keep the endpoint down until well past expiry: callers are refused.
        await asyncio.sleep(max(expires - time.time(), 0) + 1.5)
        assert refused > 0
        failed_during_outage = sum(sim.stats()["token_requests_failed"].values())
        outage = time.monotonic() - down_at
        sim.token_endpoint(down=False)
        back_at = time.monotonic()
        await asyncio.gather(*callers)
        assert len(served_at) == 30, "some callers were never served"
        slowest = max(served_at.values()) - back_at
        assert slowest <= PROBE + 1.5, slowest
        # At most one fleet-wide request per probe interval, plus the refresh attempts.
        assert 1 <= failed_during_outage <= outage / PROBE + 3, (failed_during_outage, outage)
        assert sim.issued(cluster.client_ids["amadeus"]) == 2
    finally:
        for c in [client, *per_replica]:
            await c.close()
