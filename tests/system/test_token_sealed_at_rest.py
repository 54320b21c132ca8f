"""Tokens sealed at rest, with token replicas as processes: no access token in clear in
any key or value under the test's prefix, nor in any command Redis sees (MONITOR); keys
rotated without downtime; a value that does not open is refreshed, never an error."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

from redis.asyncio import Redis

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from token_service.sealing import new_key_entry

R = pb.ValidateDownloadTokenResponse


async def everything_under(redis: Redis, prefix: str) -> bytes:
    """Every key and value under ``prefix``, whatever its type, as one blob."""
    blob = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        blob.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                blob += [field, value]
        elif kind == "string":
            blob.append(await redis.get(key) or b"")
        elif kind == "zset":
            blob += [m for m, _ in await redis.zrange(key, 0, -1, withscores=True)]
        elif kind in ("list", "set"):
            blob += (
                await redis.lrange(key, 0, -1)
                if kind == "list"
                else list(await redis.smembers(key))
            )
        else:
            blob.append(repr(await redis.dump(key)).encode())
    return b"\n".join(blob)


async def capture(redis_url: str, seen: list[str], ready: asyncio.Event) -> None:
    """Every command Redis executes (scripts' inner commands included), until cancelled.
    No read timeout: MONITOR is silent while Redis is idle (the replicas starting), and
    redis-py 8's default socket timeout (5 s) would end the capture with an error."""
    monitor_client = Redis.from_url(redis_url, socket_timeout=None)
    try:
        async with monitor_client.monitor() as monitor:
            ready.set()
            async for command in monitor.listen():
                seen.append(command["command"])
    finally:
        await monitor_client.aclose()


async def test_no_access_token_in_clear_in_redis_or_monitor(
    sim_factory, cluster_factory, redis_url, key_prefix
):
    sim = sim_factory(token_ttl=4)  # refreshed about every 2 s
    seen: list[str] = []
    ready = asyncio.Event()
    monitor = asyncio.create_task(capture(redis_url, seen, ready))
    await asyncio.wait_for(ready.wait(), 5)
    cluster = cluster_factory(sim, replicas=2)
    client = cluster.client(caller="booking")
    redis = Redis.from_url(redis_url)
    try:
        served = set()
        issued = await client.issue_download_token("itinerary/SEALED", 60)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            served.add((await client.get_token("amadeus")).access_token)
            await asyncio.sleep(0.2)
        assert (await client.validate_download_token(issued.download_token)).result == (
            R.RESULT_VALID
        )
        blob = await everything_under(redis, key_prefix)
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        await client.close()
        await redis.aclose()

    tokens = [
        t["access_token"] for t in sim.tokens() if t["client_id"] in cluster.client_ids.values()
    ]
    assert len(tokens) >= 3 and len(served) >= 3  # refreshed while we watched
    assert f"{key_prefix}:tok:{{amadeus}}:token".encode() in blob
    assert f"{key_prefix}:dl:".encode() in blob  # the download token's key was scanned
    for value in [*tokens, issued.download_token]:
        assert value.encode() not in blob, "a credential in clear under the prefix"
    # The capture saw our refreshes' writes, and never a token in clear.
    commands = "\n".join(seen)
    assert f"{key_prefix}:tok:{{amadeus}}:token" in commands
    leaked = [t[:4] + "..." for t in tokens if t in commands]
    assert not leaked, f"access tokens in clear in MONITOR: {leaked}"
    assert b"v1.dev." in blob and "v1.dev." in commands  # what is there is sealed


async def test_key_rotation_without_downtime(sim, cluster_factory, redis_url, key_prefix):
    """Step 1 is done (both replicas know k1 and k2); replica B has been switched to seal
    with k2, replica A not yet. Each serves what the other wrote: no extra refresh, and
    each refresh seals with the writer's first key."""
    k1, k2 = new_key_entry("k1"), new_key_entry("k2")
    cluster = cluster_factory(
        sim,
        replicas=2,
        replica_env=[
            {"TOKEN_ENCRYPTION_KEYS": f"{k1},{k2}"},
            {"TOKEN_ENCRYPTION_KEYS": f"{k2},{k1}"},
        ],
    )
    a = cluster.client(replicas=[cluster.replicas[0]])
    b = cluster.client(replicas=[cluster.replicas[1]])
    redis = Redis.from_url(redis_url)
    key = f"{key_prefix}:tok:{{amadeus}}:token"
    client_id = cluster.client_ids["amadeus"]
    try:
        current = await a.get_token("amadeus")  # sealed by whichever replica primed first
        assert (await b.get_token("amadeus")).access_token == current.access_token
        issued = sim.issued(client_id)
        # Refresh through A (k1, the old key), then through B (k2): each time the other
        # replica serves the value it did not write, without a refresh of its own.
        # The reader is paused (SIGSTOP) meanwhile, so the writer is the one refreshing.
        for writer, reader, kid in ((a, b, b"v1.k1."), (b, a, b"v1.k2.")):
            paused = cluster.replicas[1 if reader is b else 0].process
            paused.signal(signal.SIGSTOP)
            try:
                report = await writer.report_invalid("amadeus", current.access_token)
            finally:
                paused.signal(signal.SIGCONT)
            assert report.invalidated
            current = report.token
            assert (await redis.hget(key, "access_token")).startswith(kid)
            deadline = time.monotonic() + 5
            while (await reader.get_token("amadeus")).access_token != current.access_token:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        assert sim.issued(client_id) == issued + 2  # the two refreshes, none for the keys
    finally:
        await a.close()
        await b.close()
        await redis.aclose()


async def test_a_value_that_does_not_open_is_refreshed_not_an_error(
    sim, cluster_factory, redis_url, key_prefix
):
    cluster = cluster_factory(sim, replicas=2)
    client = cluster.client()
    redis = Redis.from_url(redis_url)
    key = f"{key_prefix}:tok:{{amadeus}}:token"
    client_id = cluster.client_ids["amadeus"]
    try:
        first = await client.get_token("amadeus")
        issued = sim.issued(client_id)
        # As if sealed with a key no replica knows (e.g. a rotation done out of order).
        await redis.hset(key, "access_token", "v1.k9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        await redis.publish(f"{key_prefix}:tok:{{amadeus}}:events", b"tampered")
        deadline = time.monotonic() + 10
        while True:  # each replica re-reads within its staleness window (1 s)
            token = await client.get_token("amadeus")
            if token.access_token != first.access_token:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert token.generation > first.generation
        assert sim.issued(client_id) == issued + 1
        assert (await redis.hget(key, "access_token")).startswith(b"v1.dev.")
    finally:
        await client.close()
        await redis.aclose()
    logs = cluster.logs()
    assert "stored token does not decrypt" in logs
    assert "v1.k9.AAAA" not in logs
