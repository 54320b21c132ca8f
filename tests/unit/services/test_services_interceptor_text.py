"""The interceptor's own checks through the probe server (tests/utils/probe.py): the
text rule on every request, bounded validation errors, and streams the caller leaves."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.probe import SERVICE, Running, details, eventually


async def test_request_text_is_nfc_before_the_servicer(running: Running) -> None:
    request = pb.Contact(email="Rene\u0301@example.com").SerializeToString()
    assert await running.unary("Email")(request, timeout=5) == "Ren\u00e9@example.com".encode()
    call = running.channel.unary_stream(f"/{SERVICE}/Emails")(request, timeout=5)
    assert [item async for item in call] == ["Ren\u00e9@example.com".encode()]


async def test_control_characters_are_invalid_argument_naming_the_field(running: Running) -> None:
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


async def test_a_stream_the_caller_leaves_is_not_an_error(
    running: Running, rpc_log: list[dict]
) -> None:
    call = running.channel.unary_stream(f"/{SERVICE}/Count")(b"many", timeout=5)
    assert await call.read() == b"1"
    call.cancel()
    await eventually(lambda: running.handled("Count", "CANCELLED") == 1)
    assert [line for line in rpc_log if line["severity"] == "ERROR"] == []
