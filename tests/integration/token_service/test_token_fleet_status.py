"""The fleet's part of a provider's status (token_service/broker/fleet.py) on a real
Redis: what it shows (shared counters, lease holder, backoff), and that it is read
again exactly when it may have changed, not at every heartbeat."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from services.logs import Redactor
from token_service.broker.fleet import FleetView
from token_service.broker.local_copy import LocalCopy
from token_service.metrics import TokenMetrics
from token_service.sealing import Sealer
from token_service.settings import RefreshPolicy
from token_service.store import RedisClock, TokenRecord, TokenStore

SEALER = Sealer({"k1": os.urandom(32)})


class CountingStore(TokenStore):
    """A real TokenStore that counts its fleet reads."""

    reads = 0

    async def fleet_status(self, chained: bool):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().fleet_status(chained)


@pytest.fixture
def store(redis: Redis, key_prefix: str) -> CountingStore:
    return CountingStore(redis, key_prefix, "amadeus", "replica-a", SEALER)


def view(store: TokenStore, redis: Redis, max_age: float = 30.0) -> tuple[FleetView, LocalCopy]:
    local = LocalCopy(
        "amadeus",
        store,
        RedisClock(redis),
        RefreshPolicy(),
        TokenMetrics(CollectorRegistry()),
        Redactor(),
    )
    return FleetView(store, local, chained=False, max_age=max_age), local


async def test_quiet_fleet_is_served_from_the_last_read(store: CountingStore, redis: Redis) -> None:
    fleet, _ = view(store, redis)
    await store.count("upstream_ok")
    first = await fleet.read()
    assert first.cluster == {"upstream_ok": 1} and first.quiet
    await store.count("upstream_ok")  # another replica's refresh, not yet announced
    assert (await fleet.read()).cluster == {"upstream_ok": 1}
    assert store.reads == 1
    fleet.mark_changed()  # its event
    assert (await fleet.read()).cluster == {"upstream_ok": 2}
    assert store.reads == 2
    assert (await fleet.read(fresh=True)).cluster == {"upstream_ok": 2}
    assert store.reads == 3


async def test_a_change_of_the_local_token_or_outcome_reads_again(
    store: CountingStore, redis: Redis
) -> None:
    fleet, local = view(store, redis)
    await fleet.read()
    local.record = TokenRecord("t", "Bearer", 1, 0, 60_000, 45_000, invalid=False)
    await fleet.read()
    local.record = replace(local.record, invalid=True)
    await fleet.read()
    local.counters.upstream_failed += 1
    await fleet.read()
    assert store.reads == 4
    await fleet.read()
    assert store.reads == 4


async def test_trouble_is_read_until_it_clears(store: CountingStore, redis: Redis) -> None:
    fleet, _ = view(store, redis)
    lease, _ = await store.lock.try_acquire(5_000)
    assert lease is not None
    held = await fleet.read()
    assert held.holder is not None and held.holder.startswith("replica-a|")
    await store.lock.release(lease)
    await store.record_failure("HTTP 503", 2_000, 10_000, 0.0, 0)
    backoff = await fleet.read()  # the lease was held: read again
    assert backoff.holder is None
    assert backoff.backoff is not None and backoff.backoff[0] == "HTTP 503"
    await store.clear_failures()
    assert (await fleet.read()).quiet
    assert store.reads == 3
    await fleet.read()
    assert store.reads == 3


async def test_an_old_read_is_read_again(store: CountingStore, redis: Redis) -> None:
    fleet, _ = view(store, redis, max_age=0.0)
    await fleet.read()
    await fleet.read()
    assert store.reads == 2
