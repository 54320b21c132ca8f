"""The text rule on the booking service (real server, real database): control characters
in a request are INVALID_ARGUMENT naming the field, in a JWT's subject UNAUTHENTICATED,
and names typed in decomposed form are booked in NFC."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.booking_cluster import add_fare, bearer, create_request, passenger


def violations(exc: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return [v.field for v in bad.field_violations]
    raise AssertionError("no BadRequest details")


async def bookings_of(engine: AsyncEngine, user: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT count(*) FROM bookings WHERE user_id = :u"), {"u": user}
                )
            ).scalar_one()
        )


@pytest.mark.parametrize(
    "email", ["a\x00b@x.com", "\x1b[31ma@x.com", "a@x.com\r\n", "a\x85b@x.com"]
)
async def test_a_control_character_in_the_email_is_invalid_argument(
    booking, engine: AsyncEngine, user: str, email: str
) -> None:
    fare = await add_fare(engine, seats=5)
    request = create_request([fare.ref()], contact=pb.Contact(email=email))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(err.value) == ["contact.email"]
    assert email not in err.value.details()
    assert await bookings_of(engine, user) == 0


async def test_a_control_character_in_a_name_names_the_passenger(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    request = create_request(
        [fare.ref()], [passenger(number="P1234567"), passenger("Bo\x00b", number="P7654321")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(err.value) == ["passengers[1].given_name"]


async def test_a_decomposed_name_is_booked_like_the_composed_one(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    request = create_request(
        [fare.ref()], [passenger("Rene\u0301", "Lefe\u0300vre", number="P1234567")]
    )
    response = await booking.stub.CreateBooking(request, metadata=booking.auth(user), timeout=10)
    [held] = response.booking.passengers
    assert (held.given_name, held.family_name) == ("Ren\u00e9", "Lef\u00e8vre")
    # A retry typed in composed form is the same request (same fingerprint).
    retry = create_request(
        [fare.ref()],
        [passenger("Ren\u00e9", "Lef\u00e8vre", number="P1234567")],
        request_id=request.request_id,
    )
    again = await booking.stub.CreateBooking(retry, metadata=booking.auth(user), timeout=10)
    assert again.booking.booking_reference == response.booking.booking_reference


def every_jwt_rpc() -> list[tuple[str, Any]]:
    return [
        ("CreateBooking", create_request(["x"])),
        (
            "ConfirmBooking",
            pb.ConfirmBookingRequest(booking_reference="ABCDEF", payment_token="tok_visa"),
        ),
        ("GetBooking", pb.GetBookingRequest(booking_reference="ABCDEF")),
        ("ListBookings", pb.ListBookingsRequest()),
        ("CancelBooking", pb.CancelBookingRequest(booking_reference="ABCDEF")),
        ("IssueItineraryLink", pb.IssueItineraryLinkRequest(booking_reference="ABCDEF")),
    ]


@pytest.mark.parametrize("subject", ["us\x00er", "user\n", "\x1b[2Juser"])
async def test_a_control_character_in_the_subject_is_unauthenticated_everywhere(
    booking, subject: str
) -> None:
    auth = bearer(booking.token(subject))
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["BookingService"].methods}
    calls = every_jwt_rpc()
    # Every RPC but the public GetItinerary (its download token is the credential).
    assert {name for name, _ in calls} == methods - {"GetItinerary"}
    for name, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await getattr(booking.stub, name)(request, metadata=auth, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
