"""Reflection serves our protos with their comments (source_code_info), from the
descriptor set `make proto` writes, and the loaded descriptors for everything else;
a stale set is not used. tests/system/test_grpcurl.py drives the real grpcurl."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.generated.skyroute.account.v1 import account_service_pb2
from services.generated.skyroute.booking.v1 import booking_service_pb2
from services.generated.skyroute.search.v1 import search_service_pb2
from services.generated.skyroute.token.v1 import token_service_pb2
from services.generated.skyroute.tracking.v1 import tracking_service_pb2
from services.reflection import DESCRIPTOR_SET, enable_reflection, load_files_with_source_info

OURS = {
    "skyroute/common/v1/money.proto",
    "skyroute/token/v1/token_service.proto",
    "skyroute/search/v1/search_service.proto",
    "skyroute/booking/v1/booking_service.proto",
    "skyroute/account/v1/account_service.proto",
    "skyroute/tracking/v1/tracking_service.proto",
}
SERVICES = [
    token_service_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name,
    search_service_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name,
    booking_service_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
    tracking_service_pb2.DESCRIPTOR.services_by_name["TrackingService"].full_name,
]


def comments(proto: descriptor_pb2.FileDescriptorProto) -> str:
    return "".join(location.leading_comments for location in proto.source_code_info.location)


def test_the_descriptor_set_has_every_proto_with_comments() -> None:
    files = load_files_with_source_info()
    assert set(files) == OURS
    for raw in files.values():
        proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        assert proto.source_code_info.location
    booking = descriptor_pb2.FileDescriptorProto.FromString(
        files["skyroute/booking/v1/booking_service.proto"]
    )
    assert "Seats are held until hold_expire_time" in comments(booking)


def test_a_stale_file_in_the_set_is_not_served(tmp_path: Path) -> None:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    for proto in fds.file:
        if proto.name == "skyroute/search/v1/search_service.proto":
            proto.message_type[0].field[0].number = 99  # edited without `make proto`
    stale = tmp_path / "stale.binpb"
    stale.write_bytes(fds.SerializeToString())
    assert set(load_files_with_source_info(stale)) == OURS - {
        "skyroute/search/v1/search_service.proto"
    }
    assert load_files_with_source_info(tmp_path / "missing.binpb") == {}


@pytest.fixture
async def reflection_stub() -> AsyncIterator[reflection_pb2_grpc.ServerReflectionStub]:
    server = grpc.aio.server()
    enable_reflection(SERVICES, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield reflection_pb2_grpc.ServerReflectionStub(channel)
    finally:
        await channel.close()
        await server.stop(0)


async def ask(
    stub: reflection_pb2_grpc.ServerReflectionStub, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    call = stub.ServerReflectionInfo()
    await call.write(request)
    await call.done_writing()
    response: reflection_pb2.ServerReflectionResponse = await call.read()
    return response


async def test_reflection_answers_with_the_comments(
    reflection_stub: reflection_pb2_grpc.ServerReflectionStub,
) -> None:
    listed = await ask(reflection_stub, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in listed.list_services_response.service}
    assert names == {*SERVICES, "grpc.reflection.v1alpha.ServerReflection"}

    answer = await ask(
        reflection_stub,
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="skyroute.search.v1.SearchService"
        ),
    )
    files = {
        proto.name: proto
        for proto in map(
            descriptor_pb2.FileDescriptorProto.FromString,
            answer.file_descriptor_response.file_descriptor_proto,
        )
    }
    # The file and its dependencies: ours with comments, google's as loaded.
    assert set(files) == {
        "skyroute/search/v1/search_service.proto",
        "skyroute/common/v1/money.proto",
        "google/protobuf/any.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/timestamp.proto",
    }
    assert "Finds itineraries (one-way or round trip)" in comments(
        files["skyroute/search/v1/search_service.proto"]
    )
    assert comments(files["skyroute/common/v1/money.proto"])
    assert files["google/protobuf/timestamp.proto"].message_type[0].name == "Timestamp"

    by_name = await ask(
        reflection_stub,
        reflection_pb2.ServerReflectionRequest(
            file_by_filename="skyroute/token/v1/token_service.proto"
        ),
    )
    token_file = descriptor_pb2.FileDescriptorProto.FromString(
        by_name.file_descriptor_response.file_descriptor_proto[0]
    )
    assert token_file.name == "skyroute/token/v1/token_service.proto"
    assert comments(token_file)

    # A method's file, by the method's name (grpcurl describe pkg.Service.Method).
    method = await ask(
        reflection_stub,
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="skyroute.booking.v1.BookingService.CreateBooking"
        ),
    )
    booking_file = descriptor_pb2.FileDescriptorProto.FromString(
        method.file_descriptor_response.file_descriptor_proto[0]
    )
    assert booking_file.name == "skyroute/booking/v1/booking_service.proto"
    assert comments(booking_file)

    for symbol in ("no.Such", "skyroute.booking.v1.BookingService.NoSuchMethod"):
        unknown = await ask(
            reflection_stub, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        )
        assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    unknown = await ask(
        reflection_stub, reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such")
    )
    assert unknown.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
