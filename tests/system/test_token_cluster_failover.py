"""Redis Cluster (3 primaries, 3 replicas, real processes): the primary of the token's
shard is killed during a refresh storm, and a primary during download-token use. The
replica is promoted (``cluster-node-timeout`` 2 s); callers see no GetToken errors, no
generation names two tokens, no acknowledged download-token use is lost, and no first
use of a single-use token is answered USED_UP (a retried attempt). Prints the
figures (run with -s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.redis_client import sync_client
from tests.utils.failover import check_refresh_storm, wait_recovered
from tests.utils.load import hammer
from tests.utils.redis_server import RedisClusterSetup

R = pb.ValidateDownloadTokenResponse
SHORT_TOKENS = {"TOKEN_MIN_HANDOUT_SECONDS": "0.5", "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3"}


@pytest.fixture
def own_cluster(workdir: Path) -> Iterator[RedisClusterSetup]:
    """A cluster of this test's own: it loses a node."""
    setup = RedisClusterSetup(workdir / "redis-cluster").start()
    yield setup
    setup.stop()


def _generation(setup: RedisClusterSetup, key: str) -> int:
    client = sync_client(setup.url)
    try:
        return int(client.hget(key, "generation") or 0)
    finally:
        client.close()


async def _failover(setup: RedisClusterSetup, key: str) -> tuple[float, float]:
    """Kills the primary of ``key``'s slot; returns (seconds until a replica serves
    it, monotonic time of the kill). The killed node is then started again (as an
    orchestrator would) and rejoins as the new primary's replica: until it has, writes
    that wait for a replica on that shard are refused (REDIS_WAIT_REPLICAS = 1)."""
    killed_at = time.monotonic()
    old = setup.kill_slot_primary(key)
    await asyncio.to_thread(setup.wait_for_slot_primary, key, old)
    no_primary_s = time.monotonic() - killed_at
    setup.restart(old)
    await asyncio.to_thread(setup.wait_ready)
    return no_primary_s, killed_at


async def test_token_shard_primary_killed_during_refresh_storm(
    sim_factory, cluster_factory, own_cluster
):
    sim = sim_factory(token_ttl=3)
    cluster = cluster_factory(sim, replicas=3, redis=own_cluster.url, env=SHORT_TOKENS)
    client = cluster.client()
    token_key = f"{cluster.prefix}:tok:{{amadeus}}:token"
    try:
        before = await hammer(client, "amadeus", 4.0, 50)
        storm = asyncio.create_task(hammer(client, "amadeus", 12.0, 50))
        await asyncio.sleep(1.0)
        no_primary_s, _ = await _failover(own_cluster, token_key)
        during = await storm
        await wait_recovered(cluster)
        stored = _generation(own_cluster, token_key)
        served = await client.get_token("amadeus")
        issued = sim.issued(cluster.client_ids["amadeus"])
        check_refresh_storm("CLUSTER", before, during, stored, served, issued, no_primary_s)
    finally:
        await client.close()


async def test_primary_killed_during_download_token_use(sim, cluster_factory, own_cluster):
    cluster = cluster_factory(sim, replicas=2, redis=own_cluster.url)
    a = cluster.client(caller="booking", replicas=[cluster.replicas[0]])
    b = cluster.client(caller="booking", replicas=[cluster.replicas[1]])
    used: list[str] = []
    issued_only: list[str] = []
    unknown_outcome: list[float] = []  # first uses answered USED_UP: none (see below)
    errors: list[tuple[float, str]] = []
    double_uses = 0
    stop = asyncio.Event()

    async def worker(w: int) -> None:
        nonlocal double_uses
        i = 0
        while not stop.is_set():
            i += 1
            resource = f"itinerary/W{w}-{i}"
            started = time.monotonic()
            try:
                issued = await a.issue_download_token(resource, 300, max_uses=1)
            except Exception as exc:  # counted: errors seen by callers
                errors.append((started, repr(exc)[:300]))
                await asyncio.sleep(0.05)
                continue
            started = time.monotonic()
            try:
                first = await b.validate_download_token(issued.download_token, resource=resource)
            except Exception as exc:
                errors.append((started, repr(exc)[:300]))
                issued_only.append(issued.download_token)
                continue
            if first.result == R.RESULT_USED_UP:
                # An attempt whose script ran failed afterwards (the connection broke
                # under it, or no replica acknowledged it) and the channel's retry on
                # UNAVAILABLE counted the use again. The attempt id prevents that: the
                # retry gets the attempt's answer.
                unknown_outcome.append(started)
                continue
            assert first.result == R.RESULT_VALID, first
            used.append(issued.download_token)
            started = time.monotonic()
            try:
                again = await a.validate_download_token(issued.download_token, resource=resource)
            except Exception as exc:
                errors.append((started, repr(exc)[:300]))
                continue
            double_uses += again.valid

    try:
        workers = [asyncio.create_task(worker(w)) for w in range(20)]
        await asyncio.sleep(2.0)
        # Any shard: download tokens spread over all of them (one key each).
        no_primary_s, killed_at = await _failover(own_cluster, "any-shard")
        await asyncio.sleep(3.0)
        stop.set()
        await asyncio.gather(*workers)
        lost_uses = lost_tokens = 0
        for token in used:
            result = (await a.validate_download_token(token, peek=True)).result
            lost_uses += result == R.RESULT_VALID
            lost_tokens += result == R.RESULT_UNKNOWN
        for token in issued_only:
            lost_tokens += (
                await a.validate_download_token(token, peek=True)
            ).result == R.RESULT_UNKNOWN
        last_error_s = max((t - killed_at for t, _ in errors), default=0.0)
        print(
            f"\nCLUSTER download tokens: failover {no_primary_s:.2f}s, uses {len(used)}, "
            f"errors {len(errors)} (last sent {last_error_s:.2f}s after the kill), "
            f"lost uses {lost_uses}, lost tokens {lost_tokens}, double uses {double_uses}, "
            f"first uses refused as used up {len(unknown_outcome)}"
        )
        assert double_uses == 0 and lost_uses == 0 and lost_tokens == 0
        assert last_error_s <= no_primary_s + 2.0, errors
        assert unknown_outcome == []
        other = [e for _, e in errors if "UNAVAILABLE" not in e and "DEADLINE_EXCEEDED" not in e]
        assert other == []
    finally:
        await a.close()
        await b.close()
