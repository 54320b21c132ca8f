"""A probe service behind the real server bootstrap (interceptor, health, reflection):
one method per behaviour the interceptor must handle, served by a real grpc.aio server
on 127.0.0.1:0 (grpcio-testing cannot drive aio servicers, grpc/grpc#24942)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health
from grpc_status import rpc_status
from prometheus_client import CollectorRegistry

from services.context import caller_var
from services.errors import (
    FieldViolation,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    ValidationError,
    shown,
)
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.interceptors import Authenticator
from services.logs import JsonFormatter
from services.metrics import ServerMetrics, split_method
from services.preserialized import Serialized
from services.server import SERVING, create_server

SERVICE = "skyroute.test.v1.ProbeService"
KEY_HEADER = "x-test-key"
GOOD_KEY = "right-key-for-tests"
Text = wrappers_pb2.StringValue


async def ok(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return b"ok:" + request


async def invalid(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValidationError(
        [
            FieldViolation("provider", "is required"),
            FieldViolation("page_size", "must not be negative"),
        ]
    )


async def missing(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise NotFoundError("booking ABC123 not found", reason="BOOKING_NOT_FOUND")


async def boom(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise RuntimeError("secret detail")


async def whoami(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return (caller_var.get() or "").encode()


async def many_invalid(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValidationError(
        [FieldViolation(f"offer_ids[{i}]", "repeats offer_ids[0]") for i in range(1, 5000)]
    )


async def count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"1"
    if request == b"many":  # more than the transport buffers: a reader that leaves
        for _ in range(10_000):
            yield b"x" * 65_536
    yield b"2"
    if request == b"fail":
        raise NotFoundError("stream source gone")


# Typed methods (a real request message, so a real deserializer), one per handler kind.


async def echo(request: Text, context: grpc.aio.ServicerContext) -> Text:
    return Text(value=request.value)


async def kept(request: Text, context: grpc.aio.ServicerContext) -> Text | Serialized:
    """Answers with bytes it serialized itself (services/preserialized.py), except for
    "fresh", which gets a message."""
    if request.value == "fresh":
        return Text(value="fresh")
    return Serialized(Text(value=f"kept:{request.value}").SerializeToString())


async def deny_verbatim(request: Text, context: grpc.aio.ServicerContext) -> Text:
    """Embeds the caller's value unclipped everywhere: what the interceptor's cap is for."""
    raise ValidationError(
        [FieldViolation(request.value, request.value)] * 3,
        f"no access to {request.value}",
        reason="PROBE_DENIED",
        metadata={"value": request.value},
    )


async def deny_shown(request: Text, context: grpc.aio.ServicerContext) -> Text:
    raise PermissionDeniedError(
        f"no access to {shown(request.value)!r}",
        reason="PROBE_DENIED",
        metadata={"value": shown(request.value)},
    )


async def join(requests: AsyncIterator[Text], context: grpc.aio.ServicerContext) -> Text:
    return Text(value="+".join([r.value async for r in requests]))


async def chat(
    requests: AsyncIterator[Text], context: grpc.aio.ServicerContext
) -> AsyncIterator[Text]:
    async for r in requests:
        yield Text(value=f"re:{r.value}")


async def written(request: Text, context: grpc.aio.ServicerContext) -> None:
    """Streams with context.write, as grpc.health.v1's Watch does."""
    for part in request.value.split(","):
        await context.write(Text(value=part))
    if request.value.endswith("fail"):
        raise NotFoundError("written source gone")


async def email(request: pb.Contact, context: grpc.aio.ServicerContext) -> bytes:
    return request.email.encode()


async def emails(request: pb.Contact, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield request.email.encode()


def _typed(
    kind: Callable[..., grpc.RpcMethodHandler], fn: Callable[..., object]
) -> grpc.RpcMethodHandler:
    return kind(
        fn, request_deserializer=Text.FromString, response_serializer=Text.SerializeToString
    )


class ProbeApp:
    service_names = (SERVICE,)

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self.authenticator = authenticator

    def register(self, server: grpc.aio.Server) -> None:
        unary = {
            name: grpc.unary_unary_rpc_method_handler(fn)
            for name, fn in {
                "Ok": ok,
                "Invalid": invalid,
                "ManyInvalid": many_invalid,
                "Missing": missing,
                "Boom": boom,
                "WhoAmI": whoami,
            }.items()
        }
        typed = {
            "Echo": _typed(grpc.unary_unary_rpc_method_handler, echo),
            "Kept": _typed(grpc.unary_unary_rpc_method_handler, kept),
            "DenyVerbatim": _typed(grpc.unary_unary_rpc_method_handler, deny_verbatim),
            "DenyShown": _typed(grpc.unary_unary_rpc_method_handler, deny_shown),
            "Join": _typed(grpc.stream_unary_rpc_method_handler, join),
            "Chat": _typed(grpc.stream_stream_rpc_method_handler, chat),
            "Written": _typed(grpc.unary_stream_rpc_method_handler, written),
            # A message with several string fields: the text rule's field paths.
            "Email": grpc.unary_unary_rpc_method_handler(
                email, request_deserializer=pb.Contact.FromString
            ),
            "Emails": grpc.unary_stream_rpc_method_handler(
                emails, request_deserializer=pb.Contact.FromString
            ),
        }
        handlers = {**unary, **typed, "Count": grpc.unary_stream_rpc_method_handler(count)}
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
    health: health.aio.HealthServicer

    def unary(self, method: str) -> grpc.aio.UnaryUnaryMultiCallable:
        return self.channel.unary_unary(f"/{SERVICE}/{method}")

    def labels(self, method: str, grpc_type: str = "unary") -> dict[str, str]:
        """The standard labels of ``method`` (``Ok`` or ``/pkg.Service/Method``)."""
        service, name = split_method(method if method.startswith("/") else f"/{SERVICE}/{method}")
        return {"grpc_type": grpc_type, "grpc_service": service, "grpc_method": name}

    def handled(self, method: str, code: str) -> float:
        """``grpc_server_handled_total`` of ``method`` with ``code``, whatever its type."""
        wanted = {k: v for k, v in self.labels(method).items() if k != "grpc_type"}
        wanted["grpc_code"] = code
        return sum(
            sample.value
            for family in self.registry.collect()
            if family.name == "grpc_server_handled"
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and wanted.items() <= sample.labels.items()
        )


async def start(authenticator: Authenticator | None = None) -> tuple[grpc.aio.Server, Running]:
    registry = CollectorRegistry()
    server, port, health_servicer = create_server(
        "127.0.0.1:0", ProbeApp(authenticator), ServerMetrics(registry)
    )
    await server.start()
    await health_servicer.set("", SERVING)
    return server, Running(
        grpc.aio.insecure_channel(f"127.0.0.1:{port}"), registry, health_servicer
    )


@contextmanager
def captured_log(name: str = "skyroute.rpc") -> Iterator[list[dict]]:
    """JSON lines of a logger, formatted at emit time (inside the request's context, as
    the real handler does)."""
    lines: list[dict] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = ListHandler()
    handler.setFormatter(JsonFormatter("probe", "probe-1"))
    logger = logging.getLogger(name)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
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
