"""Only authenticated callers get tokens, and only for their providers."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.generated.skyroute.token.v1 import token_service_pb2 as pb


async def _code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value.code()


async def test_callers_are_authenticated_and_limited(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=1)
    channel, stub = cluster.stub(cluster.replicas[0])
    request = pb.GetTokenRequest(provider="amadeus")
    try:
        assert await _code(stub.GetToken(request)) == grpc.StatusCode.UNAUTHENTICATED
        wrong = (("x-skyroute-caller", "search"), ("x-skyroute-caller-key", "x" * 32))
        assert (
            await _code(stub.GetToken(request, metadata=wrong)) == grpc.StatusCode.UNAUTHENTICATED
        )
        unknown = (("x-skyroute-caller", "nobody"), ("x-skyroute-caller-key", "x" * 32))
        assert (
            await _code(stub.GetToken(request, metadata=unknown)) == grpc.StatusCode.UNAUTHENTICATED
        )
        assert (
            await _code(stub.GetToken(request, metadata=cluster.metadata("limited")))
            == grpc.StatusCode.PERMISSION_DENIED
        )
        assert (
            await _code(
                stub.WatchToken(
                    pb.WatchTokenRequest(provider="amadeus"), metadata=cluster.metadata("limited")
                ).read()
            )
            == grpc.StatusCode.PERMISSION_DENIED
        )
        ok = await stub.GetToken(request, metadata=cluster.metadata("booking"))
        assert ok.token.access_token
        # Probes need no credentials.
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close()


async def test_bad_input_names_the_field(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=1)
    channel, stub = cluster.stub(cluster.replicas[0])
    md = cluster.metadata()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetToken(pb.GetTokenRequest(provider=""), metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(err.value)
        assert status is not None and "provider" in status.message
        bad = pb.IssueDownloadTokenRequest(resource="", max_uses=-1)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.IssueDownloadToken(bad, metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {"resource", "ttl", "max_uses"} <= set(
            err.value.details().replace(";", ":").replace(" ", "").split(":")
        )
    finally:
        await channel.close()


async def test_rejected_client_credentials_fail_fast_and_are_negative_cached(sim, cluster_factory):
    cluster = cluster_factory(
        sim,
        replicas=2,
        env={"PROVIDER_AMADEUS_CLIENT_SECRET": "wrong-but-not-a-placeholder-" + "z" * 8},
    )
    client = cluster.client()
    try:
        for _ in range(20):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.get_token("amadeus")
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "invalid_client" in err.value.details()
        # Negative-cached: not one request per caller.
        failed = sim.stats()["token_requests_failed"]
        assert sum(failed.values()) == 1, failed
        # The other provider is unaffected.
        assert (await client.get_token("other")).access_token
    finally:
        await client.close()


async def test_list_providers_answers_what_each_caller_may_use(sim, cluster_factory):
    """Configured and in the caller's allow-list, sorted; credentials are checked as
    for every RPC."""
    cluster = cluster_factory(sim, replicas=1)
    channel, stub = cluster.stub(cluster.replicas[0])
    request = pb.ListProvidersRequest()
    try:
        search = await stub.ListProviders(request, metadata=cluster.metadata("search"))
        assert list(search.providers) == ["amadeus", "other"]
        booking = await stub.ListProviders(request, metadata=cluster.metadata("booking"))
        assert list(booking.providers) == ["amadeus"]
        limited = await stub.ListProviders(request, metadata=cluster.metadata("limited"))
        assert list(limited.providers) == ["other"]
        assert await _code(stub.ListProviders(request)) == grpc.StatusCode.UNAUTHENTICATED
        client = cluster.client("booking")
        try:
            assert await client.list_providers() == ["amadeus"]
        finally:
            await client.close()
    finally:
        await channel.close()
