"""One server interceptor for request ids, caller authentication, the text rule for
every request (services.text), metrics, access logs and the mapping of domain errors
to rich gRPC status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from services.context import REQUEST_ID_HEADER, caller_var, new_request_id, request_id_var
from services.errors import DomainError, internal_status
from services.metrics import ServerMetrics
from services.text import check_request

log = logging.getLogger("skyroute.rpc")

# Probes and debugging tools call these without caller credentials.
UNAUTHENTICATED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class Authenticator(Protocol):
    def __call__(self, method: str, metadata: Mapping[str, str]) -> str | None:
        """Returns the caller id, or raises UnauthenticatedError."""


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: ServerMetrics, authenticator: Authenticator | None = None) -> None:
        self._metrics = metrics
        self._authenticator = authenticator
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
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, needs_auth),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, needs_auth),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client/bidi streaming: not used by our services

    def _enter(self, method: str, context: grpc.aio.ServicerContext, needs_auth: bool) -> None:
        metadata = {k: v for k, v in (context.invocation_metadata() or ())
                    if isinstance(v, str)}
        request_id_var.set(metadata.get(REQUEST_ID_HEADER) or new_request_id())
        caller_var.set(None)
        if needs_auth and self._authenticator is not None:
            caller_var.set(self._authenticator(method, metadata))

    def _wrap_unary(self, behavior: Any, method: str, needs_auth: bool) -> Any:
        observe = self._observer(method)

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                self._enter(method, context, needs_auth)
                # After authentication: a caller without credentials learns nothing
                # about its request. Before the servicer: it validates NFC text.
                if isinstance(request, Message):
                    check_request(request)
                return await behavior(request, context)
            except BaseException as exc:
                code = _code_of(exc, context)
                await self._abort(exc, method, context)
                raise
            finally:
                observe(code, started)

        return wrapper

    def _wrap_stream(self, behavior: Any, method: str, needs_auth: bool) -> Any:
        observe = self._observer(method)

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                self._enter(method, context, needs_auth)
                if isinstance(request, Message):
                    check_request(request)
                async for item in behavior(request, context):
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
                observe(code, started)

        return wrapper

    async def _abort(self, exc: BaseException, method: str,
                     context: grpc.aio.ServicerContext) -> None:
        """Aborts the call with the status for ``exc`` (raises AbortError)."""
        if isinstance(exc, asyncio.CancelledError | grpc.aio.AbortError):
            return
        if isinstance(exc, DomainError):
            level = logging.ERROR if exc.code == grpc.StatusCode.INTERNAL else logging.INFO
            log.log(level, "rpc failed", extra={"method": method, "code": exc.code.name,
                                                "reason": exc.reason, "error": exc.message})
            await context.abort_with_status(rpc_status.to_status(exc.to_status()))
        log.error("unexpected error", exc_info=exc, extra={"method": method})
        await context.abort_with_status(
            rpc_status.to_status(
                internal_status(f"internal error (request {request_id_var.get()})"))
        )

    def _observer(self, method: str) -> Callable[[grpc.StatusCode, float], None]:
        """Metric children resolved once per method; the OK counter is the hot one."""
        latency = self._metrics.latency.labels(method)
        handled = self._metrics.handled
        ok = handled.labels(method, grpc.StatusCode.OK.name)

        def observe(code: grpc.StatusCode, started: float) -> None:
            (ok if code is grpc.StatusCode.OK else handled.labels(method, code.name)).inc()
            latency.observe(time.perf_counter() - started)

        return observe


def _code_of(exc: BaseException, context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.UNKNOWN
    if isinstance(exc, DomainError):
        return exc.code
    return grpc.StatusCode.INTERNAL
