"""A broken refresh-token chain without a bootstrap grant: REAUTHORIZATION_REQUIRED on
every replica, and an operator's InstallGrant (RPC and CLI) mends it for all at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from tests.utils.token_cluster import TokenCluster

ACCESS_TTL = 2.0


def _reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _page(cluster: TokenCluster, path: str) -> str:
    """Every replica's status page or metrics, concatenated."""
    return "".join(_get(f"http://127.0.0.1:{r.metrics_port}{path}") for r in cluster.replicas)


def _latest_family(sim) -> int:
    return max(t["family"] for t in sim._call("GET", "/_sim/refresh-stats")["refresh_tokens"])


async def _statuses(cluster: TokenCluster) -> list[pb.GetTokenStatusResponse]:
    out = []
    for replica in cluster.replicas:
        channel, stub = cluster.stub(replica)
        try:
            out.append(
                await stub.GetTokenStatus(
                    pb.GetTokenStatusRequest(provider="amadeus"),
                    metadata=cluster.metadata(),
                    timeout=5,
                )
            )
        finally:
            await channel.close()
    return out


async def _get_on_every_replica(cluster: TokenCluster) -> list[pb.AccessToken]:
    tokens = []
    for replica in cluster.replicas:
        client = cluster.client(replicas=[replica], timeout=5)
        try:
            tokens.append(await client.get_token("amadeus"))
        finally:
            await client.close()
    return tokens


async def test_broken_chain_needs_and_gets_an_operator(sim_factory, cluster_factory):
    sim = sim_factory()
    client_id = next(iter(sim.clients))
    sim.grant_policy(client_id, refresh=True, rotation=True, grace_s=0, access_ttl=ACCESS_TTL)
    seed = sim.refresh_token(client_id)
    cluster = cluster_factory(
        sim,
        replicas=3,
        env={
            "PROVIDER_AMADEUS_GRANT": "refresh_token",
            "PROVIDER_AMADEUS_REFRESH_TOKEN": seed,
            "TOKEN_ADMIN_CALLERS": "booking",
            "TOKEN_MIN_HANDOUT_SECONDS": "0.5",
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
        },
    )
    cluster.secrets.append(seed)
    caller = cluster.client("search", timeout=5)
    admin = cluster.client("booking", timeout=10)
    try:
        first = await caller.get_token("amadeus")
        assert first.generation >= 1
        # The user logs out everywhere: the family dies, the next refresh is invalid_grant.
        sim.revoke_family(_latest_family(sim))
        deadline = time.monotonic() + 15
        while True:
            try:
                await caller.get_token("amadeus")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
                assert _reason(exc) == "REAUTHORIZATION_REQUIRED"
                break
            assert time.monotonic() < deadline, "no REAUTHORIZATION_REQUIRED"
            await asyncio.sleep(0.1)
        failed_at = time.monotonic()
        assert all(
            s.reauthorization_required and s.grant == "refresh_token"
            for s in await _statuses(cluster)
        )
        for replica in cluster.replicas:
            page = json.loads(_get(f"http://127.0.0.1:{replica.metrics_port}/status.json"))
            assert "REAUTHORIZATION_REQUIRED" in page["providers"]["amadeus"]["alarm"], page
        assert 'skyroute_token_reauthorization_required{provider="amadeus"} 1.0' in _page(
            cluster, "/metrics"
        )
        # Failing fast: no retry storm against the provider while the flag is up.
        before = sim.refresh_stats(client_id)["invalid_grant"]
        await asyncio.sleep(1.0)
        assert sim.refresh_stats(client_id)["invalid_grant"] == before
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await caller.install_grant("amadeus", code="whatever")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.install_grant("amadeus", code="not-a-code")
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert _reason(refused.value) == "GRANT_REJECTED"
        assert "not-a-code" not in (refused.value.details() or "")

        # The operator logs in once: every replica serves the new chain at once.
        installed = await admin.install_grant("amadeus", code=sim.authorization_code(client_id))
        tokens = await _get_on_every_replica(cluster)
        assert {t.generation for t in tokens} >= {installed.generation}
        assert not any(s.reauthorization_required for s in await _statuses(cluster))
        print(
            f"\nREAUTHORIZATION_REQUIRED until the operator's install: "
            f"{time.monotonic() - failed_at:.1f}s"
        )

        # Break it again, then mend it with the CLI and a refresh token on stdin.
        sim.revoke_family(_latest_family(sim))
        deadline = time.monotonic() + 15
        while not all(s.reauthorization_required for s in await _statuses(cluster)):
            assert time.monotonic() < deadline, "chain break not detected"
            await asyncio.sleep(0.2)
        fresh = sim.refresh_token(client_id)
        cluster.secrets.append(fresh)
        env = {
            **os.environ,
            "TOKEN_SERVICE_ADDRESSES": ",".join(cluster.addresses),
            "TOKEN_CALLER_ID": "booking",
            "TOKEN_CALLER_KEY": cluster.keys["booking"],
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "skyroute_cli",
                "token",
                "install-refresh-token",
                "--provider",
                "amadeus",
                "--token-stdin",
            ],
            input=fresh + "\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert fresh not in done.stdout + done.stderr
        await _get_on_every_replica(cluster)
        assert not any(s.reauthorization_required for s in await _statuses(cluster))
        assert sim.refresh_stats(client_id)["reuses_detected"] == 0
        # No refresh token in any status page or metric.
        shown = _page(cluster, "/status.json") + _page(cluster, "/metrics")
        values = [t["refresh_token"] for t in sim.refresh_tokens()]
        assert values and not [v for v in values if v in shown]
    finally:
        await caller.close()
        await admin.close()
