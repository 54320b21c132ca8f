"""One server interceptor for request ids, caller authentication, the text rule for
every request (services.text), metrics, failure logs (repeats counted,
services/failure_log.py), the mapping of domain errors to rich gRPC status (bounded in
size), undecodable requests (INVALID_ARGUMENT instead of grpc's UNKNOWN), and responses
the servicer serialized itself (services/preserialized.py)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from services.context import REQUEST_ID_HEADER, caller_var, new_request_id, request_id_var
from services.errors import (
    DomainError,
    internal_status,
    logged_failure,
    malformed_request,
    wire_status,
)
from services.failure_log import FailureLog
from services.metrics import MethodMetrics, ServerMetrics
from services.preserialized import passing_serialized
from services.text import KnownClean

log = logging.getLogger("skyroute.rpc")

# Probes and debugging tools call these without caller credentials.
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

# Every handler kind (grpc.reflection's ServerReflectionInfo is bidi-streaming):
# attribute, builder, streams requests, streams responses.
_HANDLER_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler, False, False),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, False, True),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, True, False),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, True, True),
)


class Authenticator(Protocol):
    def __call__(self, method: str, metadata: Mapping[str, str]) -> str | None:
        """Returns the caller id, or raises UnauthenticatedError."""


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        metrics: ServerMetrics,
        authenticator: Authenticator | None = None,
        failures: FailureLog | None = None,
    ) -> None:
        self._metrics = metrics
        self._authenticator = authenticator
        self._failures = failures or FailureLog(log)
        # Wrapped handlers are built once per method, not once per call: the wrapper
        # reads the call's metadata from its context.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        needs_auth = self._authenticator is not None and not method.startswith(
            UNAUTHENTICATED_PREFIXES
        )
        for attr, build, streams_in, streams_out in _HANDLER_KINDS:
            behavior = getattr(handler, attr)
            if behavior is None:
                continue
            # grpc.aio picks the streaming style from the function it is given: an async
            # generator yields responses, a coroutine (health's Watch) calls context.write.
            metrics = self._metrics.method(method, attr)
            if streams_out and not inspect.iscoroutinefunction(behavior):
                wrapped = self._wrap_generator(behavior, method, needs_auth, streams_in, metrics)
            else:
                wrapped = self._wrap_coroutine(behavior, method, needs_auth, streams_in, metrics)
            return build(
                wrapped,
                request_deserializer=tolerant(handler.request_deserializer),
                response_serializer=passing_serialized(handler.response_serializer),
            )
        return handler

    def _enter(self, method: str, context: grpc.aio.ServicerContext, needs_auth: bool) -> None:
        pairs = context.invocation_metadata() or ()
        caller_var.set(None)
        if needs_auth and self._authenticator is not None:
            metadata = {k: v for k, v in pairs if isinstance(v, str)}
            request_id_var.set(metadata.get(REQUEST_ID_HEADER) or new_request_id())
            caller_var.set(self._authenticator(method, metadata))
            return
        # No authenticator to hand the metadata to: only the request id is read, without
        # building the mapping (the last text value of the header, as the mapping has).
        request_id = None
        for key, value in pairs:
            if key == REQUEST_ID_HEADER and isinstance(value, str):
                request_id = value
        request_id_var.set(request_id or new_request_id())

    def _wrap_coroutine(
        self, behavior: Any, method: str, needs_auth: bool, streams_in: bool, metrics: MethodMetrics
    ) -> Any:
        failures = self._failures
        sent = metrics.sent

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            metrics.started.inc()
            if not streams_in:
                metrics.received.inc()
            code = grpc.StatusCode.OK
            try:
                self._enter(method, context, needs_auth)  # authentication comes first
                response = await behavior(_checked(request, streams_in, metrics), context)
                # None: a stream written with context.write (health's Watch), whose
                # messages are not counted.
                if response is not None:
                    sent.inc()
                return response
            except BaseException as exc:
                code = _code_of(exc, context)
                await self._abort(exc, method, context)
                raise
            finally:
                metrics.done(code, started)
                failures.tick()

        return wrapper

    def _wrap_generator(
        self, behavior: Any, method: str, needs_auth: bool, streams_in: bool, metrics: MethodMetrics
    ) -> Any:
        failures = self._failures
        sent = metrics.sent

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            metrics.started.inc()
            if not streams_in:
                metrics.received.inc()
            code = grpc.StatusCode.OK
            try:
                self._enter(method, context, needs_auth)
                responses = behavior(_checked(request, streams_in, metrics), context)
                if inspect.isawaitable(responses):  # a plain function returning a coroutine
                    await responses
                else:
                    async for item in responses:
                        sent.inc()
                        yield item
            except GeneratorExit:
                # The caller went away mid-stream (cancelled, deadline): the generator
                # is closed, there is no call left to abort.
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException as exc:
                code = _code_of(exc, context)
                await self._abort(exc, method, context)
                raise
            finally:
                metrics.done(code, started)
                failures.tick()

        return wrapper

    async def _abort(
        self, exc: BaseException, method: str, context: grpc.aio.ServicerContext
    ) -> None:
        """Aborts the call with the status for ``exc`` (raises AbortError)."""
        if isinstance(exc, asyncio.CancelledError | grpc.aio.AbortError):
            return
        if isinstance(exc, DomainError):
            level, fields = logged_failure(exc)
            self._failures.failed(
                (method, exc.code.name, exc.reason),
                level,
                "rpc failed",
                {"method": method, **fields},
            )
            # Capped whatever the message holds: an oversized status would reach a
            # default client as RESOURCE_EXHAUSTED instead of the real code.
            await context.abort_with_status(rpc_status.to_status(wire_status(exc)))
        self._failures.failed(
            (method, "INTERNAL", type(exc).__qualname__),
            logging.ERROR,
            "unexpected error",
            {"method": method},
            exc_info=exc,
        )
        await context.abort_with_status(
            rpc_status.to_status(
                internal_status(f"internal error (request {request_id_var.get()})")
            )
        )


class Undecodable:
    """Handed on by ``tolerant`` for bytes that are not the request message."""

    __slots__ = ("message_type",)

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` answering ``Undecodable`` instead of raising. grpc-python decodes
    the request before any interceptor code runs and turns a DecodeError into UNKNOWN
    with the parser's text; the wrapper turns ``Undecodable`` into INVALID_ARGUMENT after
    authentication instead."""
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    message_type = getattr(descriptor, "full_name", None) or "request message"

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # the bytes are the caller's, whatever the parser makes of them
            return Undecodable(message_type)

    return deserialize


def _checked(request: Any, streams_in: bool, metrics: MethodMetrics) -> Any:
    """The request as the servicer may see it: decodable, and its text under the text
    rule (NFC, no control characters; services.text). Called after authentication: a
    caller without credentials learns nothing about its request. A stream's messages
    are counted as received as the servicer reads them."""
    if streams_in:
        return _checked_stream(request, metrics)
    return _checked_one(request)


# One per process: a request's bytes mean the same strings whichever server sees them.
_known_clean = KnownClean()


def _checked_one(request: Any) -> Any:
    if isinstance(request, Undecodable):
        raise malformed_request(request.message_type)
    if isinstance(request, Message):
        _known_clean.check(request)
    return request


async def _checked_stream(
    requests: AsyncIterator[Any], metrics: MethodMetrics
) -> AsyncIterator[Any]:
    async for request in requests:
        metrics.received.inc()
        yield _checked_one(request)


def _code_of(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    if isinstance(exc, DomainError):
        return exc.code
    return grpc.StatusCode.INTERNAL
