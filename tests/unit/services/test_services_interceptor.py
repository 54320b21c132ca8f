"""The server interceptor through a real in-process grpc.aio server on 127.0.0.1:0:
error mapping, request ids in logs, authentication and metrics.

grpcio-testing cannot drive aio servicers (grpc/grpc#24942), hence a real server.
"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.utils.probe import GOOD_KEY, KEY_HEADER, SERVICE, Running, Text, details, eventually


async def test_ok_passes_through_and_counts(running: Running) -> None:
    assert await running.unary("Ok")(b"ping", timeout=5) == b"ok:ping"
    await eventually(lambda: running.handled("Ok", "OK") == 1)
    assert await running.unary("Ok")(b"again", timeout=5) == b"ok:again"
    await eventually(lambda: running.handled("Ok", "OK") == 2)
    assert (
        running.registry.get_sample_value(
            "grpc_server_handling_seconds_count", running.labels("Ok")
        )
        == 2
    )


async def test_a_response_serialized_by_the_servicer_is_sent_as_it_is(running: Running) -> None:
    kept = running.channel.unary_unary(
        f"/{SERVICE}/Kept",
        request_serializer=Text.SerializeToString,
        response_deserializer=lambda raw: raw,
    )
    sent = await kept(Text(value="page"), timeout=5)
    assert sent == Text(value="kept:page").SerializeToString()
    # A message from the same method is serialized as usual.
    assert await kept(Text(value="fresh"), timeout=5) == Text(value="fresh").SerializeToString()
    await eventually(lambda: running.handled("Kept", "OK") == 2)


async def test_validation_error_is_invalid_argument_with_field_violations(running: Running) -> None:
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


async def test_unexpected_error_is_generic_internal(running: Running, rpc_log: list[dict]) -> None:
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
        await running.unary("Missing")(b"", timeout=5, metadata=(("x-request-id", "req-abc-123"),))
    [line] = [line for line in rpc_log if line["message"] == "rpc failed"]
    assert line["request_id"] == "req-abc-123"
    assert line["method"] == f"/{SERVICE}/Missing"
    assert line["code"] == "NOT_FOUND" and line["reason"] == "BOOKING_NOT_FOUND"


async def test_request_id_is_generated_when_absent(running: Running, rpc_log: list[dict]) -> None:
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
        b"ok", timeout=5, metadata=((KEY_HEADER, "wrong"),)
    )
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
    await eventually(lambda: authed.handled("/grpc.health.v1.Health/Check", "OK") == 1)


async def test_unknown_method_is_unimplemented(running: Running) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running.unary("NoSuchMethod")(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
