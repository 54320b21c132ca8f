"""A burst of 401 reports on one token causes one refresh; an old token none."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.generated.skyroute.token.v1 import token_service_pb2 as pb


@pytest.mark.redis_backends
async def test_burst_of_reports_refreshes_once(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=3)
    client_id = cluster.client_ids["amadeus"]
    client = cluster.client()
    try:
        first = await client.get_token("amadeus")
        before = sim.issued(client_id)
        responses = await asyncio.gather(
            *(client.report_invalid("amadeus", first.access_token) for _ in range(100))
        )
        assert sum(r.invalidated for r in responses) == 1
        tokens = {r.token.access_token for r in responses}
        assert len(tokens) == 1 and first.access_token not in tokens
        assert {r.token.generation for r in responses} == {first.generation + 1}
        assert sim.issued(client_id) == before + 1

        # A late report of the older token changes nothing.
        again = await client.report_invalid("amadeus", first.access_token)
        assert not again.invalidated
        assert again.token.access_token in tokens
        assert sim.issued(client_id) == before + 1
    finally:
        await client.close()


@pytest.mark.redis_backends
async def test_watchers_on_every_replica_see_new_generation_within_a_second(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=3)
    channels = []
    received: dict[int, dict[int, float]] = {}

    async def watch(index: int, stub) -> None:
        stream = stub.WatchToken(
            pb.WatchTokenRequest(provider="amadeus"), metadata=cluster.metadata()
        )
        async for item in stream:
            received.setdefault(index, {}).setdefault(item.token.generation, time.monotonic())

    tasks = []
    try:
        for i, replica in enumerate(cluster.replicas):
            channel, stub = cluster.stub(replica)
            channels.append(channel)
            tasks.append(asyncio.create_task(watch(i, stub)))
        client = cluster.client()
        first = await client.get_token("amadeus")
        deadline = time.monotonic() + 5
        while len(received) < 3 or any(first.generation not in g for g in received.values()):
            assert time.monotonic() < deadline, received
            await asyncio.sleep(0.01)
        # Refresh through one replica; every replica's watchers must see it.
        report = await client.report_invalid("amadeus", first.access_token)
        refreshed_at = time.monotonic()
        new_gen = report.token.generation
        deadline = refreshed_at + 3
        while any(new_gen not in g for g in received.values()):
            assert time.monotonic() < deadline, received
            await asyncio.sleep(0.01)
        delays = [g[new_gen] - refreshed_at for g in received.values()]
        assert max(delays) <= 1.0, delays
        await client.close()
    finally:
        for task in tasks:
            task.cancel()
        for channel in channels:
            await channel.close()
