"""A first end-to-end check: three replicas serve one shared token."""

from __future__ import annotations

import asyncio

import grpc
import pytest


async def test_replicas_share_one_token(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=3)
    client = cluster.client()
    try:
        tokens = await asyncio.gather(*(client.get_token("amadeus") for _ in range(60)))
        assert {t.access_token for t in tokens} == {tokens[0].access_token}
        assert tokens[0].generation >= 1
        assert sim.issued(cluster.client_ids["amadeus"]) == 1
        status = await client.status("amadeus")
        assert status.has_valid_token and not status.degraded
        assert status.cluster_upstream_requests_ok == 1
    finally:
        await client.close()


async def test_caller_not_allowed_gets_permission_denied(sim, cluster_factory):
    cluster = cluster_factory(sim, replicas=1)
    client = cluster.client(caller="limited")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.get_token("amadeus")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await client.close()


def test_reflection_lists_services_like_grpcurl(sim, cluster_factory):
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    cluster = cluster_factory(sim, replicas=1)
    with grpc.insecure_channel(cluster.addresses[0]) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"skyroute.token.v1.TokenService", "grpc.health.v1.Health"} <= services
        pool = DescriptorPool(database)
        service = pool.FindServiceByName("skyroute.token.v1.TokenService")
        method = service.methods_by_name["GetToken"]
        assert method.input_type.full_name == "skyroute.token.v1.GetTokenRequest"


async def test_status_page_and_metrics_endpoint(sim, cluster_factory):
    import json

    import aiohttp

    cluster = cluster_factory(sim, replicas=2)
    client = cluster.client()
    try:
        await client.get_token("amadeus")
    finally:
        await client.close()
    base = f"http://127.0.0.1:{cluster.replicas[1].metrics_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/status.json") as response:
            status = await response.json()
        async with http.get(f"{base}/status") as response:
            page = await response.text()
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
    assert status["serving"] is True and status["redis"] == "ok"
    amadeus = status["providers"]["amadeus"]
    assert amadeus["has_valid_token"] and amadeus["generation"] >= 1
    assert amadeus["expires_in_seconds"] > 0
    assert "skyroute_token_time_to_expiry_seconds" in metrics
    assert "grpc_server_handled_total" in metrics
    assert "amadeus" in page
    for token in sim.tokens():
        assert token["access_token"] not in page + json.dumps(status) + metrics
