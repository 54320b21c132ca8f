"""The hand-out floor: during an identity-provider outage no replica hands out a
token that expires within TOKEN_MIN_HANDOUT_SECONDS (a caller could not use it);
past that point callers get UNAVAILABLE / UPSTREAM_TOKEN_UNAVAILABLE. Shared path,
the backoff "serve the still-valid token" path, WatchToken, and degraded mode."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from tests.utils.redis_server import PrivateRedis

FLOOR = 1.5
TTL = 5.0
ENV = {
    "TOKEN_MIN_HANDOUT_SECONDS": str(FLOOR),
    "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3",
    "TOKEN_BACKOFF_INITIAL_SECONDS": "0.2",
    "TOKEN_BACKOFF_MAX_SECONDS": "0.5",
    "UPSTREAM_TIMEOUT_SECONDS": "1",
    "TOKEN_WATCH_HEARTBEAT_SECONDS": "0.1",
}


def _reason(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def _callers(client, until: float, n: int = 20) -> tuple[list[float], list[tuple]]:
    """GetToken in ``n`` loops until ``until`` (wall clock): the validity left when each
    served token was asked for, and the (code, reason) of each failure."""
    left: list[float] = []
    errors: list[tuple] = []

    async def loop() -> None:
        while time.time() < until:
            asked_at = time.time()
            try:
                token = await client.get_token("amadeus")
            except grpc.aio.AioRpcError as exc:
                errors.append((exc.code(), _reason(exc)))
                await asyncio.sleep(0.01)
                continue
            left.append(token.expire_time.ToMicroseconds() / 1e6 - asked_at)

    await asyncio.gather(*(loop() for _ in range(n)))
    return left, errors


async def _watch(cluster, until: float) -> tuple[list[float], grpc.StatusCode | None]:
    """Validity left on receipt of each WatchToken message, and how the stream ended."""
    channel, stub = cluster.stub(cluster.replicas[0])
    left: list[float] = []
    code = None
    try:
        stream = stub.WatchToken(
            pb.WatchTokenRequest(provider="amadeus"), metadata=cluster.metadata()
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(until - time.time()):
                async for item in stream:
                    left.append(item.token.expire_time.ToMicroseconds() / 1e6 - time.time())
    except grpc.aio.AioRpcError as exc:
        code = exc.code()
    finally:
        await channel.close()
    return left, code


def _check(left: list[float], errors: list[tuple]) -> None:
    assert left, "nothing was served before the floor"
    # Measured when asked: the service decided later, with less left.
    assert min(left) >= FLOOR - 0.05, sorted(left)[:5]
    assert errors, "callers were never refused although the token ran out"
    assert set(errors) == {(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_TOKEN_UNAVAILABLE")}, set(errors)


async def test_no_token_within_the_floor_during_an_outage(sim_factory, cluster_factory):
    sim = sim_factory(token_ttl=TTL)
    cluster = cluster_factory(sim, replicas=2, env=ENV)
    client = cluster.client()
    try:
        first = await client.get_token("amadeus")
        expires = first.expire_time.ToMicroseconds() / 1e6
        sim.token_endpoint(down=True)
        watch = asyncio.create_task(_watch(cluster, expires + 1.0))
        left, errors = await _callers(client, expires + 1.0)
        _check(left, errors)
        watch_left, watch_end = await watch
        assert watch_left and min(watch_left) >= FLOOR - 0.3, sorted(watch_left)[:5]
        assert watch_end == grpc.StatusCode.UNAVAILABLE
    finally:
        await client.close()


async def test_no_token_within_the_floor_while_degraded(sim_factory, cluster_factory, workdir):
    private = PrivateRedis(workdir).start()
    sim = sim_factory(token_ttl=TTL)
    cluster = cluster_factory(sim, replicas=1, env=ENV, redis=private.url)
    client = cluster.client()
    try:
        first = await client.get_token("amadeus")
        expires = first.expire_time.ToMicroseconds() / 1e6
        private.stop()
        sim.token_endpoint(down=True)
        left, errors = await _callers(client, expires + 1.0)
        _check(left, errors)
        assert (await client.status("amadeus")).degraded
    finally:
        await client.close()
        cluster.stop()
        private.stop()
