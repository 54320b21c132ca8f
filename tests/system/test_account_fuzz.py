"""Fuzz every AccountService RPC (discovered from its descriptor) with hostile requests,
with and without a valid access token, against an account replica as a process: each
call ends with a documented code (never INTERNAL, UNKNOWN or a hang), and the replica
still serves afterwards. Undecodable bodies are INVALID_ARGUMENT."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings

from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from tests.conftest import REDIS_URL
from tests.system.test_fuzz_rpcs import DOCUMENTED, EXAMPLES, MAX_REQUEST_BYTES, call
from tests.utils.account_cluster import AccountCluster, account_facts, new_email, sign_up
from tests.utils.db import temporary_database_sync
from tests.utils.fuzz import UNDECODABLE_BODIES, Rpc, Shown, requests
from tests.utils.redis_keys import delete_matching

SERVICE = pb.DESCRIPTOR.services_by_name["AccountService"]
RPCS = [Rpc(SERVICE.full_name, m) for m in SERVICE.methods]
PASSWORD = "fuzzy horse battery"


@dataclass
class Stack:
    cluster: AccountCluster
    channel: grpc.Channel
    auth: tuple[tuple[str, str], ...]
    seeds: dict[str, list[Message]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("account-fuzz")
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    with temporary_database_sync() as url:
        cluster = AccountCluster(
            workdir,
            account_facts(url, REDIS_URL, prefix),
            replicas=1,
            env={
                "ACCOUNT_LOGIN_PER_ADDRESS_PER_MINUTE": "0",
                "ACCOUNT_LOGIN_PER_ACCOUNT_PER_MINUTE": "0",
                "ACCOUNT_REGISTER_PER_ADDRESS_PER_MINUTE": "0",
                "ACCOUNT_REGISTER_PER_ACCOUNT_PER_MINUTE": "0",
            },
        ).start()
        try:
            email = new_email()

            async def signed_up() -> pb.SessionTokens:
                channel = cluster.channel()
                try:
                    return await sign_up(cluster.stub(channel), email, PASSWORD)
                finally:
                    await channel.close()

            tokens = asyncio.run(signed_up())
            seeds: dict[str, list[Message]] = {
                "Register": [pb.RegisterRequest(email=new_email(), password=PASSWORD)],
                "Login": [pb.LoginRequest(email=email, password=PASSWORD, device_name="d")],
                "Refresh": [pb.RefreshRequest(refresh_token=tokens.refresh_token)],
                "RequestPasswordReset": [pb.RequestPasswordResetRequest(email=email)],
                "ResetPassword": [pb.ResetPasswordRequest(token="x" * 43, new_password=PASSWORD)],
                "RevokeSession": [pb.RevokeSessionRequest(session_id=tokens.session_id)],
                "ListOutbox": [pb.ListOutboxRequest(email=email)],
            }
            channel = grpc.insecure_channel(cluster.addresses[0])
            yield Stack(
                cluster, channel, (("authorization", f"Bearer {tokens.access_token}"),), seeds
            )
            channel.close()
            assert "Traceback" not in cluster.logs()
        finally:
            cluster.stop()
            delete_matching(REDIS_URL, f"{prefix}:*")


def assert_serving(stack: Stack) -> None:
    health = health_pb2_grpc.HealthStub(stack.channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_hostile_requests_get_documented_codes(stack: Stack, rpc: Rpc) -> None:
    # RESOURCE_EXHAUSTED is documented here: the login and registration throttle.
    documented = DOCUMENTED | {grpc.StatusCode.RESOURCE_EXHAUSTED}

    @settings(
        max_examples=max(10, EXAMPLES // 3),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests(rpc, stack.seeds.get(rpc.name, [])))
    def run(request: Shown) -> None:
        body = request.message.SerializeToString()
        for metadata in (stack.auth, ()):
            code = call(stack.channel, rpc, body, metadata)
            assert code in documented, f"{rpc} answered {code.name} ({len(body)} bytes)"
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                assert len(body) > MAX_REQUEST_BYTES or rpc.name in {
                    "Register",
                    "Login",
                    "RequestPasswordReset",
                }

    run()
    assert_serving(stack)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_undecodable_bodies_are_invalid_argument(stack: Stack, rpc: Rpc) -> None:
    for body in UNDECODABLE_BODIES:
        try:
            rpc.request_class.FromString(body)
            expected = DOCUMENTED | {grpc.StatusCode.RESOURCE_EXHAUSTED}
        except DecodeError:
            expected = {grpc.StatusCode.INVALID_ARGUMENT}
        code = call(stack.channel, rpc, body, stack.auth)
        assert code in expected, (rpc.path, body, code.name)
    assert_serving(stack)
