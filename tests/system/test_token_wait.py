"""How long a caller waits for a refresh: its own deadline (less a small margin),
capped by TOKEN_WAIT_MAX_SECONDS; then DEADLINE_EXCEEDED / TOKEN_REFRESH_TIMEOUT
from the service, not a bare deadline from the caller's channel."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.token.v1 import token_service_pb2 as pb

WAIT_MAX = 2.0
FETCH_LATENCY = 5.0


def _reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def test_waiting_caller_is_bounded_by_its_deadline_and_the_cap(sim, cluster_factory):
    cluster = cluster_factory(
        sim,
        replicas=1,
        env={"TOKEN_WAIT_MAX_SECONDS": str(WAIT_MAX), "UPSTREAM_TIMEOUT_SECONDS": "10"},
    )
    channel, stub = cluster.stub(cluster.replicas[0])
    metadata = cluster.metadata()
    request = pb.GetTokenRequest(provider="amadeus")
    try:
        first = (await stub.GetToken(request, metadata=metadata, timeout=10)).token
        sim.config(token_latency_ms=int(FETCH_LATENCY * 1000))
        invalidated_at = time.monotonic()

        async def timed(call, timeout: float | None) -> tuple[float, str]:
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(timeout)
            return (time.monotonic() - started, f"{err.value.code().name}/{_reason(err.value)}")

        # The 401 report invalidates the token, then waits like GetToken does.
        report_took, report_error = await timed(
            lambda t: stub.ReportInvalidToken(
                pb.ReportInvalidTokenRequest(provider="amadeus", access_token=first.access_token),
                metadata=metadata,
                timeout=t,
            ),
            0.6,
        )
        results = await asyncio.gather(
            *(
                timed(lambda t: stub.GetToken(request, metadata=metadata, timeout=t), timeout)
                for timeout in (1.0, 10.0, None)
            )
        )
        assert time.monotonic() - invalidated_at < FETCH_LATENCY  # the fetch was in flight

        expected = "DEADLINE_EXCEEDED/TOKEN_REFRESH_TIMEOUT"
        assert report_error == expected and report_took < 0.6
        (short, short_error), (long_, long_error), (none, none_error) = results
        # Answered by the service shortly before the caller's own deadline ...
        assert short_error == expected and 0.5 < short < 1.0, (short, short_error)
        # ... and never later than the cap, with or without a longer deadline.
        for took, error in ((long_, long_error), (none, none_error)):
            assert error == expected
            assert WAIT_MAX - 0.1 < took < WAIT_MAX + 2.0, took

        # The refresh itself went on: once fetched, callers get the new token.
        await asyncio.sleep(max(invalidated_at + FETCH_LATENCY - time.monotonic() - 1.0, 0))
        token = (await stub.GetToken(request, metadata=metadata, timeout=10)).token
        assert token.generation == first.generation + 1
    finally:
        await channel.close()
