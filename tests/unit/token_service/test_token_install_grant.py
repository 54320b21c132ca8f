"""InstallGrant's contract through a real in-process grpc.aio server (real interceptor
and caller authentication) over a stand-in broker: admins only, one grant required,
fields named, the code and tokens never echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from services.errors import FailedPreconditionError
from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from services.metrics import ServerMetrics
from services.server import create_server
from token_service.auth import CALLER_HEADER, CALLER_KEY_HEADER, CallerAuth
from token_service.broker import ProviderBroker
from token_service.download_tokens import DownloadTokens
from token_service.servicer import TokenServicer
from token_service.settings import CallerConfig
from token_service.store import TokenRecord

OPS_KEY = "ops-caller-key-for-install-tests-1d2e"
SEARCH_KEY = "search-caller-key-for-install-tests-3f4a"
CODE = "one-time-code-5b6c7d"
RECORD = TokenRecord(
    access_token="tok-install-test",
    token_type="Bearer",
    generation=7,
    issued_ms=0,
    expires_ms=4_000_000_000_000,
    refresh_ms=3_000_000_000_000,
    invalid=False,
)
OPS = ((CALLER_HEADER, "ops"), (CALLER_KEY_HEADER, OPS_KEY))
SEARCH = ((CALLER_HEADER, "search"), (CALLER_KEY_HEADER, SEARCH_KEY))


@dataclass
class StandInBroker:
    name: str
    chained: bool = True
    installed: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)

    async def install_grant(
        self, code: str | None, redirect_uri: str | None, refresh_token: str | None
    ) -> TokenRecord:
        if not self.chained:
            raise FailedPreconditionError(
                "client_credentials: nothing to install", reason="GRANT_NOT_CHAINED"
            )
        self.installed.append((code, redirect_uri, refresh_token))
        return RECORD


class App:
    service_names = ("skyroute.token.v1.TokenService",)

    def __init__(self, brokers: dict[str, StandInBroker]) -> None:
        # "ops" is an admin without any provider of its own; "search" is not an admin.
        auth = CallerAuth(
            [
                CallerConfig("ops", OPS_KEY, frozenset()),
                CallerConfig("search", SEARCH_KEY, frozenset({"music"})),
            ],
            admins={"ops"},
        )
        self.authenticator = auth
        self._servicer = TokenServicer(
            cast(dict[str, ProviderBroker], brokers), auth, cast(DownloadTokens, None), 10.0
        )

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_TokenServiceServicer_to_server(self._servicer, server)

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class Running:
    stub: pb_grpc.TokenServiceStub
    brokers: dict[str, StandInBroker]


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    brokers = {"music": StandInBroker("music"), "amadeus": StandInBroker("amadeus", False)}
    server, port, _ = create_server("127.0.0.1:0", App(brokers), ServerMetrics(CollectorRegistry()))
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Running(pb_grpc.TokenServiceStub(channel), brokers)
    await channel.close()
    await server.stop(0)


async def _fails(
    running: Running, request: pb.InstallGrantRequest, metadata: tuple[tuple[str, str], ...] = OPS
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.InstallGrant(request, metadata=metadata)
    assert all(v not in (err.value.details() or "") for v in (CODE, "rt-secret-9e8f"))
    return err.value


def _reason(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def test_admin_installs_a_code_or_a_refresh_token(running: Running) -> None:
    code = pb.AuthorizationCode(code=CODE, redirect_uri="https://ops.example/cb")
    out = await running.stub.InstallGrant(
        pb.InstallGrantRequest(provider="music", authorization_code=code), metadata=OPS
    )
    assert out.generation == 7
    await running.stub.InstallGrant(
        pb.InstallGrantRequest(provider="music", refresh_token="rt-secret-9e8f"), metadata=OPS
    )
    assert running.brokers["music"].installed == [
        (CODE, "https://ops.example/cb", None),
        (None, None, "rt-secret-9e8f"),
    ]


async def test_only_admins(running: Running) -> None:
    err = await _fails(running, pb.InstallGrantRequest(provider="music", refresh_token="x"), SEARCH)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(err) == "ADMIN_REQUIRED"
    assert running.brokers["music"].installed == []


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        (pb.InstallGrantRequest(provider="music"), "grant"),
        (
            pb.InstallGrantRequest(provider="music", authorization_code=pb.AuthorizationCode()),
            "authorization_code.code",
        ),
        (pb.InstallGrantRequest(provider="music", refresh_token=""), "refresh_token"),
        (pb.InstallGrantRequest(provider="music", refresh_token="r" * 5000), "refresh_token"),
        (pb.InstallGrantRequest(refresh_token="rt-secret-9e8f"), "provider"),
    ],
)
async def test_bad_requests_name_the_field(
    running: Running, request_: pb.InstallGrantRequest, named: str
) -> None:
    err = await _fails(running, request_)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in (err.details() or "")


async def test_unknown_and_unchained_providers(running: Running) -> None:
    err = await _fails(running, pb.InstallGrantRequest(provider="sabre", refresh_token="x"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = await _fails(running, pb.InstallGrantRequest(provider="amadeus", refresh_token="x"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(err) == "GRANT_NOT_CHAINED"
