"""The gRPC edge of every service, as real processes: bytes that are not the request
message (INVALID_ARGUMENT after authentication, counted, logged once), a 1 MB value in
a request (a short status of the right code, bounded log lines), and health Watch
pushing NOT_SERVING on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from booking_service.api.servicer import PUBLIC_METHODS
from services.generated.skyroute.booking.v1 import booking_service_pb2 as booking_pb
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.token.v1 import token_service_pb2 as token_pb
from services.logs import LINE_CHARS
from services.metrics import split_method
from tests.utils.booking_cluster import BookingCluster, bearer
from tests.utils.db import temporary_database_sync
from tests.utils.processes import ServiceProcess
from tests.utils.search_cluster import SearchCluster
from tests.utils.sim import Sim
from tests.utils.token_cluster import TokenCluster

GARBAGE = b"\x0a\x05ab"  # field 1, 5 bytes long, only 2 there: no message decodes it
HUGE = "x" * 1_000_000
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
Metadata = tuple[tuple[str, str], ...]


@dataclass
class Service:
    """One replica of a service, with what a caller needs to call it."""

    address: str
    metrics_port: int
    process: ServiceProcess
    descriptor: ServiceDescriptor
    credentials: Metadata  # empty for a service without caller authentication
    public: frozenset[str] = field(default_factory=frozenset)  # methods needing none
    huge_call: tuple[str, Any] = ("", None)  # a method and a request holding HUGE
    huge_code: frozenset[grpc.StatusCode] = frozenset()

    def metric(self, method: str, code: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        service, name = split_method(method)
        wanted = {"grpc_service": service, "grpc_method": name, "grpc_code": code}
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and wanted.items() <= sample.labels.items()
        )


def _ports(process: ServiceProcess) -> dict[str, int]:
    return dict(json.loads(process.port_file.read_text()))


def _token(sim: Sim, cluster_factory: Callable[..., TokenCluster]) -> Service:
    cluster = cluster_factory(sim, replicas=1)
    replica = cluster.replicas[0]
    return Service(
        replica.address,
        replica.metrics_port,
        replica.process,
        token_pb.DESCRIPTOR.services_by_name["TokenService"],
        cluster.metadata(),
        huge_call=("GetToken", token_pb.GetTokenRequest(provider=HUGE)),
        huge_code=frozenset(
            {
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.INVALID_ARGUMENT,
            }
        ),
    )


@pytest.fixture(params=["token", "search", "booking"])
def service(
    request: pytest.FixtureRequest, workdir: Path, redis_url: str, key_prefix: str
) -> Iterator[Service]:
    if request.param == "token":
        yield _token(request.getfixturevalue("sim"), request.getfixturevalue("cluster_factory"))
        return
    with temporary_database_sync() as url:
        if request.param == "search":
            search = SearchCluster(workdir, url, redis_url, key_prefix, 1)
            try:
                search.start()
                yield Service(
                    search.addresses[0],
                    search.metrics_ports[0],
                    search.processes[0],
                    search_pb.DESCRIPTOR.services_by_name["SearchService"],
                    (),
                    huge_call=("PriceOffer", search_pb.PriceOfferRequest(offer_id=HUGE)),
                    huge_code=frozenset({grpc.StatusCode.INVALID_ARGUMENT}),
                )
            finally:
                search.stop()
        else:
            booking = BookingCluster(workdir, url, replicas=1, env={"METRICS_PORT": "0"})
            try:
                booking.start()
                process = booking.processes[0]
                yield Service(
                    booking.addresses[0],
                    _ports(process)["metrics"],
                    process,
                    booking_pb.DESCRIPTOR.services_by_name["BookingService"],
                    bearer(booking.token("edge-user")),
                    public=frozenset(PUBLIC_METHODS),
                    huge_call=("GetBooking", booking_pb.GetBookingRequest(booking_reference=HUGE)),
                    huge_code=frozenset({grpc.StatusCode.INVALID_ARGUMENT}),
                )
            finally:
                booking.stop()


async def _call(
    channel: grpc.aio.Channel,
    method: str,
    client_streaming: bool,
    server_streaming: bool,
    body: bytes,
    metadata: Metadata,
) -> grpc.aio.AioRpcError:
    """Sends ``body`` as-is (no serializer) and returns the error it must end in."""
    if client_streaming:
        make: Any = channel.stream_stream if server_streaming else channel.stream_unary
        call = make(method)(iter([body]), timeout=10, metadata=metadata)
    else:
        make = channel.unary_stream if server_streaming else channel.unary_unary
        call = make(method)(body, timeout=10, metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if server_streaming:
            async for _ in call:
                pass
        else:
            await call
    return caught.value


def _methods(service: Service) -> list[tuple[str, str, bool, bool, bool]]:
    """(path, input type, client streaming, server streaming, needs credentials)."""
    out = []
    for descriptor, needs in ((service.descriptor, bool(service.credentials)), (HEALTH, False)):
        for m in descriptor.methods:
            path = f"/{descriptor.full_name}/{m.name}"
            out.append(
                (
                    path,
                    m.input_type.full_name,
                    m.client_streaming,
                    m.server_streaming,
                    needs and path not in service.public,
                )
            )
    out.append((REFLECTION, "grpc.reflection.v1alpha.ServerReflectionRequest", True, True, False))
    return out


async def test_garbage_is_invalid_argument_after_authentication(service: Service) -> None:
    async with grpc.aio.insecure_channel(service.address) as channel:
        for path, input_type, cs, ss, needs_credentials in _methods(service):
            err = await _call(
                channel,
                path,
                cs,
                ss,
                GARBAGE,
                (*service.credentials, ("x-request-id", "req-garbage-edge")),
            )
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (path, err.details())
            assert err.details() == f"request body is not a valid {input_type}"
            if needs_credentials:
                err = await _call(channel, path, cs, ss, GARBAGE, ())
                assert err.code() == grpc.StatusCode.UNAUTHENTICATED, path
    for path, _, _, _, needs_credentials in _methods(service):
        assert service.metric(path, "INVALID_ARGUMENT") == 1, path
        assert service.metric(path, "UNAUTHENTICATED") == (1 if needs_credentials else 0)
    log = service.process.log_text()
    assert "DecodeError" not in log and "Traceback" not in log
    malformed = [json.loads(line) for line in log.splitlines() if "MALFORMED_REQUEST" in line]
    assert malformed and all(line["request_id"] == "req-garbage-edge" for line in malformed)
    assert all(line["severity"] == "INFO" for line in malformed)


async def test_a_huge_value_gets_a_short_status_and_bounded_log_lines(service: Service) -> None:
    method, request = service.huge_call
    path = f"/{service.descriptor.full_name}/{method}"
    async with grpc.aio.insecure_channel(service.address) as channel:
        call = channel.unary_unary(path, request_serializer=type(request).SerializeToString)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, timeout=10, metadata=service.credentials)
    err = caught.value
    assert err.code() in service.huge_code, (err.code(), err.details()[:200])
    assert len(err.details().encode()) <= 1024
    lines = service.process.log_text().splitlines()
    assert max(len(line) for line in lines) <= LINE_CHARS


async def test_health_watch_pushes_not_serving_on_sigterm(service: Service) -> None:
    async with grpc.aio.insecure_channel(service.address) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=30
        )
        first = await asyncio.wait_for(call.read(), 10)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        service.process.signal(signal.SIGTERM)
        pushed = await asyncio.wait_for(call.read(), 10)
        assert pushed.status == health_pb2.HealthCheckResponse.NOT_SERVING
        call.cancel()
    assert "requires an object with __aiter__" not in service.process.log_text()
