"""The server interceptor through a real in-process grpc.aio server on 127.0.0.1:0:
error mapping, request ids in logs, authentication and metrics.

grpcio-testing cannot drive aio servicers (grpc/grpc#24942), hence a real server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from services.context import caller_var
from services.errors import FieldViolation, NotFoundError, UnauthenticatedError, ValidationError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.interceptors import Authenticator
from services.logs import JsonFormatter
from services.metrics import ServerMetrics
from services.server import SERVING, create_server

SERVICE = "skyroute.test.v1.ProbeService"
KEY_HEADER = "x-test-key"
GOOD_KEY = "right-key-for-tests"


async def ok(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return b"ok:" + request


async def invalid(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValidationError([FieldViolation("provider", "is required"),
                           FieldViolation("page_size", "must not be negative")])


async def many_invalid(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValidationError([FieldViolation(f"offer_ids[{i}]", "repeats offer_ids[0]")
                           for i in range(1, 5000)])


async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise NotFoundError("booking ABC123 not found", reason="BOOKING_NOT_FOUND")


async def boom(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("secret detail")


async def whoami(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return (caller_var.get() or "").encode()


async def email(request: pb.Contact, context: grpc.aio.ServicerContext) -> bytes:
    return request.email.encode()


async def emails(request: pb.Contact, context: grpc.aio.ServicerContext
                 ) -> AsyncIterator[bytes]:
    yield request.email.encode()


async def count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"1"
    if request == b"many":
        for _ in range(10_000):
            yield b"x" * 65_536
    yield b"2"
    if request == b"fail":
        raise NotFoundError("stream source gone")


class ProbeApp:
    service_names = (SERVICE,)

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self.authenticator = authenticator

    def register(self, server: grpc.aio.Server) -> None:
        unary = {name: grpc.unary_unary_rpc_method_handler(fn) for name, fn in
                 {"Ok": ok, "Invalid": invalid, "ManyInvalid": many_invalid, "Missing": missing,
                  "Boom": boom,
                  "WhoAmI": whoami}.items()}
        handlers = {
            **unary, "Count": grpc.unary_stream_rpc_method_handler(count),
            "Email": grpc.unary_unary_rpc_method_handler(
                email, request_deserializer=pb.Contact.FromString),
            "Emails": grpc.unary_stream_rpc_method_handler(
                emails, request_deserializer=pb.Contact.FromString),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))

    async def start(self, health_servicer: health.aio.HealthServicer) -> None:
        pass

    async def close(self) -> None:
        pass


def key_auth(method: str, metadata: Mapping[str, str]) -> str:
    if metadata.get(KEY_HEADER) != GOOD_KEY:
        raise UnauthenticatedError("invalid test credentials", reason="CALLER_CREDENTIALS_INVALID")
    return "tester"


@dataclass
class Running:
    channel: grpc.aio.Channel
    registry: CollectorRegistry

    def unary(self, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
        return self.channel.unary_unary(f"/{SERVICE}/{method}")

    def handled(self, method: str, code: str) -> float:
        return self.registry.get_sample_value(
            "grpc_server_handled_total", {"method": f"/{SERVICE}/{method}", "code": code}) or 0.0


async def start(authenticator: Authenticator | None = None
                ) -> tuple[grpc.aio.Server, Running]:
    registry = CollectorRegistry()
    server, port, health_servicer = create_server("127.0.0.1:0", ProbeApp(authenticator),
                                                  ServerMetrics(registry))
    await server.start()
    await health_servicer.set("", SERVING)
    return server, Running(grpc.aio.insecure_channel(f"127.0.0.1:{port}"), registry)


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    server, r = await start()
    yield r
    await r.channel.close()
    await server.stop(0)


@pytest.fixture
async def authed() -> AsyncIterator[Running]:
    server, r = await start(key_auth)
    yield r
    await r.channel.close()
    await server.stop(0)


@pytest.fixture
def rpc_log() -> Iterator[list[dict]]:
    """JSON lines of the interceptor's logger, formatted at emit time (inside the
    request's context, as the real handler does)."""
    lines: list[dict] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = ListHandler()
    handler.setFormatter(JsonFormatter("probe", "probe-1"))
    logger = logging.getLogger("skyroute.rpc")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def eventually(check: Callable[[], bool], timeout: float = 2.0) -> None:
    """The metric is observed in the handler's `finally`, which may run just after the
    client has its answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def details(err: grpc.aio.AioRpcError, message_type: type) -> list:
    status = rpc_status.from_call(err)
    assert status is not None, "no rich status in the trailers"
    out = []
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            out.append(message)
    return out


async def test_ok_passes_through_and_counts(running: Running) -> None:
    assert await running.unary("Ok")(b"ping", timeout=5) == b"ok:ping"
    await eventually(lambda: running.handled("Ok", "OK") == 1)
    assert await running.unary("Ok")(b"again", timeout=5) == b"ok:again"
    await eventually(lambda: running.handled("Ok", "OK") == 2)
    assert running.registry.get_sample_value(
        "grpc_server_handling_seconds_count", {"method": f"/{SERVICE}/Ok"}) == 2


async def test_validation_error_is_invalid_argument_with_field_violations(
        running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("Invalid")(b"", timeout=5)
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = details(err, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["provider", "page_size"]
    [info] = details(err, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_ARGUMENT", "skyroute.dev")
    await eventually(lambda: running.handled("Invalid", "INVALID_ARGUMENT") == 1)
    assert running.handled("Invalid", "OK") == 0


async def test_not_found_keeps_reason(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("Missing")(b"", timeout=5)
    err = caught.value
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "booking ABC123 not found"
    [info] = details(err, error_details_pb2.ErrorInfo)
    assert info.reason == "BOOKING_NOT_FOUND"
    await eventually(lambda: running.handled("Missing", "NOT_FOUND") == 1)


async def test_unexpected_error_is_generic_internal(running: Running, rpc_log: list[dict]
                                                    ) -> None:
    request_id = "req-boom-4711"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("Boom")(b"", timeout=5, metadata=(("x-request-id", request_id),))
    err = caught.value
    assert err.code() == grpc.StatusCode.INTERNAL
    text = f"{err.details()} {err.debug_error_string()} {err.trailing_metadata()}"
    assert "secret detail" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert request_id in err.details()  # so support can find the log line
    status = rpc_status.from_call(err)
    assert status is not None and status.code == code_pb2.INTERNAL
    await eventually(lambda: running.handled("Boom", "INTERNAL") == 1)
    # The traceback goes to the log only, with the caller's request id.
    [line] = [line for line in rpc_log if line["message"] == "unexpected error"]
    assert line["request_id"] == request_id
    assert line["severity"] == "ERROR"
    assert "secret detail" in line["exception"] and "Traceback" in line["exception"]


async def test_request_id_from_metadata_in_logs(running: Running, rpc_log: list[dict]) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await running.unary("Missing")(b"", timeout=5,
                                        metadata=(("x-request-id", "req-abc-123"),))
    [line] = [line for line in rpc_log if line["message"] == "rpc failed"]
    assert line["request_id"] == "req-abc-123"
    assert line["method"] == f"/{SERVICE}/Missing"
    assert line["code"] == "NOT_FOUND" and line["reason"] == "BOOKING_NOT_FOUND"


async def test_request_id_is_generated_when_absent(running: Running, rpc_log: list[dict]
                                                   ) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await running.unary("Missing")(b"", timeout=5)
    [line] = [line for line in rpc_log if line["message"] == "rpc failed"]
    assert len(line["request_id"]) >= 8


async def test_stream_items_then_error(running: Running) -> None:
    call = running.channel.unary_stream(f"/{SERVICE}/Count")(b"ok", timeout=5)
    assert [item async for item in call] == [b"1", b"2"]
    await eventually(lambda: running.handled("Count", "OK") == 1)

    call = running.channel.unary_stream(f"/{SERVICE}/Count")(b"fail", timeout=5)
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for item in call:
            received.append(item)
    assert received == [b"1", b"2"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await eventually(lambda: running.handled("Count", "NOT_FOUND") == 1)


async def test_missing_credentials_are_unauthenticated(authed: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await authed.unary("Ok")(b"", timeout=5)
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    [info] = details(err, error_details_pb2.ErrorInfo)
    assert info.reason == "CALLER_CREDENTIALS_INVALID"
    await eventually(lambda: authed.handled("Ok", "UNAUTHENTICATED") == 1)


async def test_wrong_credentials_on_a_stream_are_unauthenticated(authed: Running) -> None:
    call = authed.channel.unary_stream(f"/{SERVICE}/Count")(
        b"ok", timeout=5, metadata=((KEY_HEADER, "wrong"),))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_good_credentials_set_the_caller(authed: Running) -> None:
    reply = await authed.unary("WhoAmI")(b"", timeout=5, metadata=((KEY_HEADER, GOOD_KEY),))
    assert reply == b"tester"


async def test_health_needs_no_credentials(authed: Running) -> None:
    stub = health_pb2_grpc.HealthStub(authed.channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await eventually(lambda: authed.registry.get_sample_value(
        "grpc_server_handled_total",
        {"method": "/grpc.health.v1.Health/Check", "code": "OK"}) == 1)


async def test_unknown_method_is_unimplemented(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("NoSuchMethod")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_request_text_is_nfc_before_the_servicer(running: Running) -> None:
    request = pb.Contact(email="Rene\u0301@example.com").SerializeToString()
    assert await running.unary("Email")(request, timeout=5) == "Ren\u00e9@example.com".encode()
    call = running.channel.unary_stream(f"/{SERVICE}/Emails")(request, timeout=5)
    assert [item async for item in call] == ["Ren\u00e9@example.com".encode()]


async def test_control_characters_are_invalid_argument_naming_the_field(
        running: Running) -> None:
    request = pb.Contact(email="a\x00b@x.com", phone="+44\x1b[2J").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("Email")(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = details(caught.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["email", "phone"]
    call = running.channel.unary_stream(f"/{SERVICE}/Emails")(request, timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await eventually(lambda: running.handled("Email", "INVALID_ARGUMENT") == 1)


async def test_credentials_are_checked_before_the_text(authed: Running) -> None:
    request = pb.Contact(email="a\x00b@x.com").SerializeToString()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await authed.unary("Email")(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_thousands_of_violations_still_reach_the_caller(running: Running) -> None:
    """Not RESOURCE_EXHAUSTED from a status trailer over the client's metadata limit."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("ManyInvalid")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = details(caught.value, error_details_pb2.BadRequest)
    assert len(bad.field_violations) == 20
    assert caught.value.details().endswith("; and 4979 more")


async def test_a_stream_the_caller_leaves_is_not_an_error(running: Running,
                                                          rpc_log: list[dict]) -> None:
    call = running.channel.unary_stream(f"/{SERVICE}/Count")(b"many", timeout=5)
    assert await call.read() == b"1"
    call.cancel()
    await eventually(lambda: running.handled("Count", "CANCELLED") == 1)
    assert [line for line in rpc_log if line["severity"] == "ERROR"] == []
