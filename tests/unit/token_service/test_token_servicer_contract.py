"""The token servicer's request contract through a real in-process grpc.aio server
(with the real interceptor and caller authentication) over a stand-in broker:
unknown providers, and durations outside google.protobuf.Duration's range."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

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

KEY = "caller-key-for-servicer-tests-7c2e"
RECORD = TokenRecord(
    access_token="tok-servicer-test",
    token_type="Bearer",
    generation=3,
    issued_ms=0,
    expires_ms=4_000_000_000_000,
    refresh_ms=3_000_000_000_000,
    invalid=False,
)


@dataclass
class StandInBroker:
    name: str
    asked: list[int] = field(default_factory=list)

    async def get_token(self, need_ms: int = 0, wait_seconds: float | None = None) -> TokenRecord:
        self.asked.append(need_ms)
        return RECORD


class ServicerApp:
    service_names = ("skyroute.token.v1.TokenService",)

    def __init__(self, brokers: dict[str, StandInBroker]) -> None:
        # "sabre" is allowed but not configured here.
        auth = CallerAuth([CallerConfig("search", KEY, frozenset({"amadeus", "sabre"}))])
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


METADATA = ((CALLER_HEADER, "search"), (CALLER_KEY_HEADER, KEY))


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    # "other" is configured but not in the caller's allow-list.
    brokers = {"amadeus": StandInBroker("amadeus"), "other": StandInBroker("other")}
    server, port, _ = create_server(
        "127.0.0.1:0", ServicerApp(brokers), ServerMetrics(CollectorRegistry())
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Running(pb_grpc.TokenServiceStub(channel), brokers)
    await channel.close()
    await server.stop(0)


def _reason(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def test_unknown_provider_is_not_found(running: Running) -> None:
    for call in (
        running.stub.GetToken(pb.GetTokenRequest(provider="sabre"), metadata=METADATA),
        running.stub.GetTokenStatus(pb.GetTokenStatusRequest(provider="sabre"), metadata=METADATA),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert _reason(err.value) == "PROVIDER_NOT_FOUND"
        assert "sabre" in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.WatchToken(
            pb.WatchTokenRequest(provider="sabre"), metadata=METADATA
        ).read()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_known_provider_not_allowed_is_permission_denied(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.GetToken(pb.GetTokenRequest(provider="other"), metadata=METADATA)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert _reason(err.value) == "PROVIDER_NOT_ALLOWED"


async def test_list_providers_is_configured_and_allowed(running: Running) -> None:
    # "other" is configured but not allowed, "sabre" allowed but not configured.
    listed = await running.stub.ListProviders(pb.ListProvidersRequest(), metadata=METADATA)
    assert list(listed.providers) == ["amadeus"]
    running.brokers["sabre"] = StandInBroker("sabre")  # the servicer holds this dict
    listed = await running.stub.ListProviders(pb.ListProvidersRequest(), metadata=METADATA)
    assert list(listed.providers) == ["amadeus", "sabre"]


async def test_unknown_provider_still_needs_credentials(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.GetToken(pb.GetTokenRequest(provider="sabre"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (315_576_000_001, 0),
        (-315_576_000_001, 0),
        (2**62, 0),
        (1, 1_000_000_000),
        (0, -1_000_000_000),
        (2, -1),
        (-1, 5),
    ],
)
async def test_min_validity_outside_duration_range_is_invalid(
    running: Running, seconds: int, nanos: int
) -> None:
    request = pb.GetTokenRequest(
        provider="amadeus", min_validity=duration_pb2.Duration(seconds=seconds, nanos=nanos)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await running.stub.GetToken(request, metadata=METADATA)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "min_validity" in (err.value.details() or "")
    assert running.brokers["amadeus"].asked == []


@pytest.mark.parametrize(
    ("seconds", "nanos", "need_ms"),
    [(315_576_000_000, 999_999_999, 315_576_000_000_999), (30, 500_000_000, 30_500), (0, 0, 0)],
)
async def test_min_validity_in_range_is_accepted(
    running: Running, seconds: int, nanos: int, need_ms: int
) -> None:
    request = pb.GetTokenRequest(
        provider="amadeus", min_validity=duration_pb2.Duration(seconds=seconds, nanos=nanos)
    )
    reply = await running.stub.GetToken(request, metadata=METADATA)
    assert reply.token.generation == RECORD.generation
    assert running.brokers["amadeus"].asked == [need_ms]
