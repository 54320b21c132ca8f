"""Itinerary links: download tokens of a real token service (a replica as a process),
redeemed with GetItinerary without a JWT. (Across booking replicas as processes:
tests/system/test_booking_end_to_end.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.integration.booking_service.conftest import BookingServer, Upstream
from tests.integration.booking_service.test_booking_search_prices import error_reason
from tests.utils.booking_cluster import add_fare, create_request, passenger, token_service_env


@pytest.fixture
def start(server_factory: Callable[..., Any], upstream: Upstream) -> Callable[..., Any]:
    async def start(**env: str) -> BookingServer:
        server: BookingServer = await server_factory(**token_service_env(upstream.tokens), **env)
        return server

    return start


async def confirmed(
    server: BookingServer, engine: AsyncEngine, user: str
) -> pb.ConfirmBookingResponse:
    fare = await add_fare(engine, price="250.00")
    held = (
        await server.stub.CreateBooking(
            create_request([fare.ref()], [passenger(number="X98765432")]),
            metadata=server.auth(user),
        )
    ).booking
    response: pb.ConfirmBookingResponse = await server.stub.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token="tok_visa"
        ),
        metadata=server.auth(user),
    )
    return response


async def refused(server: BookingServer, token: str) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.GetItinerary(pb.GetItineraryRequest(download_token=token))
    return err.value.code(), error_reason(err.value)[0]


async def test_confirm_gives_a_link_to_the_itinerary(start, engine: AsyncEngine, user: str) -> None:
    server = await start()
    response = await confirmed(server, engine, user)
    booking, link = response.booking, response.itinerary_link
    assert link.download_token and link.max_uses == 10
    lifetime = link.expire_time.ToDatetime(UTC) - datetime.now(UTC)
    assert timedelta(hours=23) < lifetime <= timedelta(hours=24)

    # No JWT: the token is the credential.
    got = await server.stub.GetItinerary(pb.GetItineraryRequest(download_token=link.download_token))
    assert got.booking_reference == booking.booking_reference and got.remaining_uses == 9
    doc = json.loads(got.itinerary_json)
    assert doc["booking_reference"] == booking.booking_reference
    assert doc["status"] == "CONFIRMED"
    ticket = booking.passengers[0].ticket_number
    assert [p["ticket_number"] for p in doc["passengers"]] == [ticket]
    assert doc["passengers"][0]["document"]["number"] == "*****5432"
    [segment] = doc["segments"]
    departure = booking.offers[0].segments[0].departure_time.ToDatetime(UTC)
    local = datetime.fromisoformat(segment["departure_local_time"])
    assert local == departure and local.utcoffset() == timedelta(0)  # London in winter
    assert datetime.fromisoformat(segment["arrival_local_time"]).utcoffset() in (
        timedelta(hours=-5),
        timedelta(hours=-4),
    )  # New York
    assert doc["totals"] == {"currency": "EUR", "total": "250.00", "per_segment": ["250.00"]}
    assert booking.booking_reference in got.itinerary_text
    assert ticket in got.itinerary_text and "LHR -> JFK" in got.itinerary_text
    assert "X98765432" not in got.itinerary_json + got.itinerary_text


async def test_issue_itinerary_link(start, engine: AsyncEngine, user: str) -> None:
    server = await start()
    booking = (await confirmed(server, engine, user)).booking
    reference = booking.booking_reference
    link = (
        await server.stub.IssueItineraryLink(
            pb.IssueItineraryLinkRequest(booking_reference=reference), metadata=server.auth(user)
        )
    ).itinerary_link
    got = await server.stub.GetItinerary(pb.GetItineraryRequest(download_token=link.download_token))
    assert got.booking_reference == reference

    # Someone else's booking does not exist for them; a held one has no itinerary.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.IssueItineraryLink(
            pb.IssueItineraryLinkRequest(booking_reference=reference),
            metadata=server.auth(user + "-other"),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    fare = await add_fare(engine)
    held = (
        await server.stub.CreateBooking(create_request([fare.ref()]), metadata=server.auth(user))
    ).booking
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.IssueItineraryLink(
            pb.IssueItineraryLinkRequest(booking_reference=held.booking_reference),
            metadata=server.auth(user),
        )
    assert (err.value.code(), error_reason(err.value)[0]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "BOOKING_NOT_CONFIRMED",
    )
    assert err.value.details().startswith(
        f"booking {held.booking_reference} is BOOKING_STATUS_HELD:"
    )
    assert error_reason(err.value)[1]["status"] == "BOOKING_STATUS_HELD"
    # Only GetItinerary goes without a JWT.
    for call, request in (
        (server.stub.IssueItineraryLink, pb.IssueItineraryLinkRequest(booking_reference=reference)),
        (server.stub.GetBooking, pb.GetBookingRequest(booking_reference=reference)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_used_up_expired_revoked_and_unknown_links(
    start, upstream: Upstream, engine: AsyncEngine, user: str
) -> None:
    once = await start(BOOKING_ITINERARY_LINK_MAX_USES="1")
    token = (await confirmed(once, engine, user)).itinerary_link.download_token
    assert (
        await once.stub.GetItinerary(pb.GetItineraryRequest(download_token=token))
    ).remaining_uses == 0
    assert await refused(once, token) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "DOWNLOAD_TOKEN_USED_UP",
    )

    short = await start(BOOKING_ITINERARY_LINK_TTL_SECONDS="1")
    token = (await confirmed(short, engine, user)).itinerary_link.download_token
    await asyncio.sleep(1.1)
    assert await refused(short, token) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "DOWNLOAD_TOKEN_EXPIRED",
    )

    server = await start()
    booking = (await confirmed(server, engine, user)).booking
    client = upstream.tokens.client("booking")
    try:
        revoked = await client.issue_download_token(f"itinerary/{booking.booking_reference}", 60)
        assert await client.revoke_download_token(revoked.download_token)
        # A download token for something other than an itinerary opens nothing here.
        other = await client.issue_download_token(f"eticket/{booking.booking_reference}", 60)
    finally:
        await client.close()
    assert await refused(server, revoked.download_token) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "DOWNLOAD_TOKEN_REVOKED",
    )
    assert await refused(server, other.download_token) == (
        grpc.StatusCode.NOT_FOUND,
        "DOWNLOAD_TOKEN_NOT_FOUND",
    )
    assert await refused(server, "no-such-token") == (
        grpc.StatusCode.NOT_FOUND,
        "DOWNLOAD_TOKEN_NOT_FOUND",
    )
    assert (await refused(server, ""))[0] == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_cancelled_booking_has_no_itinerary(start, engine: AsyncEngine, user: str) -> None:
    server = await start()
    response = await confirmed(server, engine, user)
    await server.stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=response.booking.booking_reference),
        metadata=server.auth(user),
    )
    assert await refused(server, response.itinerary_link.download_token) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "BOOKING_NOT_CONFIRMED",
    )


async def test_without_a_token_service_there_are_no_links(
    booking: BookingServer, engine: AsyncEngine, user: str
) -> None:
    response = await confirmed(booking, engine, user)
    assert response.booking.status == pb.BOOKING_STATUS_CONFIRMED
    assert not response.HasField("itinerary_link")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.IssueItineraryLink(
            pb.IssueItineraryLinkRequest(booking_reference=response.booking.booking_reference),
            metadata=booking.auth(user),
        )
    assert (err.value.code(), error_reason(err.value)[0]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ITINERARY_LINKS_DISABLED",
    )
