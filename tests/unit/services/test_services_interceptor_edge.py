"""The interceptor at the edge: bytes that are not the request message, every handler
kind (client and bidi streaming, context.write streams such as health's Watch), and
statuses bounded whatever a caller sends."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.server import NOT_SERVING, SERVING
from tests.utils.probe import GOOD_KEY, KEY_HEADER, SERVICE, Running, Text, details, eventually

GARBAGE = b"\x0a\x05ab"  # field 1, 5 bytes long, only 2 there: no message decodes it
HUGE = "p" * 1_000_000
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def _text(value: str) -> bytes:
    return Text(value=value).SerializeToString()


async def _raise_from(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if hasattr(call, "__aiter__"):
            async for _ in call:  # type: ignore[attr-defined]
                pass
        else:
            await call  # type: ignore[misc]
    return caught.value


def _assert_malformed(err: grpc.aio.AioRpcError, message_type: str) -> None:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    assert err.details() == f"request body is not a valid {message_type}"
    [info] = details(err, error_details_pb2.ErrorInfo)
    assert info.reason == "MALFORMED_REQUEST"
    [bad] = details(err, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["request"]


async def test_undecodable_request_is_invalid_argument_counted_and_logged_once(
    running: Running, rpc_log: list[dict]
) -> None:
    err = await _raise_from(
        running.unary("Echo")(GARBAGE, timeout=5, metadata=(("x-request-id", "req-garbage-1"),))
    )
    _assert_malformed(err, "google.protobuf.StringValue")
    assert "DecodeError" not in f"{err.details()} {err.debug_error_string()}"
    await eventually(lambda: running.handled("Echo", "INVALID_ARGUMENT") == 1)
    assert (
        running.registry.get_sample_value(
            "grpc_server_handling_seconds_count", running.labels("Echo")
        )
        == 1
    )
    [line] = rpc_log
    assert line["severity"] == "INFO" and line["request_id"] == "req-garbage-1"
    assert line["reason"] == "MALFORMED_REQUEST" and "exception" not in line


async def test_undecodable_request_on_every_handler_kind(running: Running) -> None:
    channel = running.channel
    calls = {
        "Written": channel.unary_stream(f"/{SERVICE}/Written")(GARBAGE, timeout=5),
        "Join": channel.stream_unary(f"/{SERVICE}/Join")(iter([_text("a"), GARBAGE]), timeout=5),
        "Chat": channel.stream_stream(f"/{SERVICE}/Chat")(iter([GARBAGE]), timeout=5),
    }
    for method, call in calls.items():
        _assert_malformed(await _raise_from(call), "google.protobuf.StringValue")
        await eventually(lambda m=method: running.handled(m, "INVALID_ARGUMENT") == 1)


async def test_health_and_reflection_answer_garbage_with_invalid_argument(authed: Running) -> None:
    # No credentials needed for these; the garbage is still refused properly.
    channel = authed.channel
    check = channel.unary_unary("/grpc.health.v1.Health/Check")(GARBAGE, timeout=5)
    _assert_malformed(await _raise_from(check), "grpc.health.v1.HealthCheckRequest")
    watch = channel.unary_stream("/grpc.health.v1.Health/Watch")(GARBAGE, timeout=5)
    _assert_malformed(await _raise_from(watch), "grpc.health.v1.HealthCheckRequest")
    reflect = channel.stream_stream(REFLECTION)(iter([GARBAGE]), timeout=5)
    _assert_malformed(await _raise_from(reflect), "grpc.reflection.v1alpha.ServerReflectionRequest")
    await eventually(lambda: authed.handled(REFLECTION, "INVALID_ARGUMENT") == 1)


async def test_authentication_comes_before_decoding(authed: Running) -> None:
    err = await _raise_from(authed.unary("Echo")(GARBAGE, timeout=5))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    await eventually(lambda: authed.handled("Echo", "UNAUTHENTICATED") == 1)
    err = await _raise_from(
        authed.channel.stream_stream(f"/{SERVICE}/Chat")(iter([GARBAGE]), timeout=5)
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    good = ((KEY_HEADER, GOOD_KEY),)
    err = await _raise_from(authed.unary("Echo")(GARBAGE, timeout=5, metadata=good))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_client_and_bidi_streaming_are_served_and_counted(running: Running) -> None:
    joined = await running.channel.stream_unary(f"/{SERVICE}/Join")(
        iter([_text("a"), _text("b")]), timeout=5
    )
    assert Text.FromString(joined).value == "a+b"
    call = running.channel.stream_stream(f"/{SERVICE}/Chat")(
        iter([_text("x"), _text("y")]), timeout=5
    )
    assert [Text.FromString(r).value async for r in call] == ["re:x", "re:y"]
    await eventually(
        lambda: running.handled("Join", "OK") == 1 and running.handled("Chat", "OK") == 1
    )


async def test_context_write_streams_are_served_and_their_errors_mapped(running: Running) -> None:
    call = running.channel.unary_stream(f"/{SERVICE}/Written")(_text("a,b"), timeout=5)
    assert [Text.FromString(r).value async for r in call] == ["a", "b"]
    await eventually(lambda: running.handled("Written", "OK") == 1)
    call = running.channel.unary_stream(f"/{SERVICE}/Written")(_text("a,fail"), timeout=5)
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for r in call:
            received.append(Text.FromString(r).value)
    assert received == ["a", "fail"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await eventually(lambda: running.handled("Written", "NOT_FOUND") == 1)


async def test_health_watch_pushes_status_changes(running: Running) -> None:
    stub = health_pb2_grpc.HealthStub(running.channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    first = await asyncio.wait_for(call.read(), 5)
    assert first.status == SERVING
    await running.health.set("", NOT_SERVING)
    assert (await asyncio.wait_for(call.read(), 5)).status == NOT_SERVING
    await running.health.enter_graceful_shutdown()
    call.cancel()
    await eventually(lambda: running.handled("/grpc.health.v1.Health/Watch", "CANCELLED") == 1)
    assert running.handled("/grpc.health.v1.Health/Watch", "INTERNAL") == 0


async def test_huge_values_do_not_make_a_huge_status(running: Running, rpc_log: list[dict]) -> None:
    for method, code in (
        ("DenyVerbatim", grpc.StatusCode.INVALID_ARGUMENT),
        ("DenyShown", grpc.StatusCode.PERMISSION_DENIED),
    ):
        err = await _raise_from(running.unary(method)(_text(HUGE), timeout=10))
        assert err.code() == code, err.details()  # not RESOURCE_EXHAUSTED
        assert len(err.details().encode()) <= 1024
        [info] = details(err, error_details_pb2.ErrorInfo)
        assert info.reason == "PROBE_DENIED" and len(info.metadata["value"]) <= 256
    err = await _raise_from(running.unary("DenyShown")(_text(HUGE), timeout=10))
    assert err.details() == f"no access to {'p' * 64 + '…'!r}"
    assert all(len(str(line)) < 4096 for line in rpc_log)
