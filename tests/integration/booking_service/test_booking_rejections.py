"""Rejected CreateBooking requests: every problem named as a field, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.pricing.passengers import Party
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from tests.utils.booking_cluster import add_fare, create_request, passenger, seats_available


def violations(exc: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    raise AssertionError("no BadRequest details")


def reason(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(exc)
    assert status is not None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    raise AssertionError("no ErrorInfo")


async def bookings_of(engine: AsyncEngine, user: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT count(*) FROM bookings WHERE user_id = :u"), {"u": user}
                )
            ).scalar_one()
        )


async def test_every_static_problem_is_reported_at_once(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    bad_doc = pb.Passenger(
        given_name="Ann3",
        family_name="",
        birth_date=future,
        document=pb.TravelDocument(number="12", issuing_country="gbr", expire_date="2020-01-01"),
    )
    request = pb.CreateBookingRequest(
        offer_ids=[fare.ref(), fare.ref(), "nonsense"],
        passengers=[
            bad_doc,
            pb.Passenger(given_name="Bo", family_name="Li", birth_date="1990-02-30"),
        ],
        contact=pb.Contact(email="not-an-email", phone="0207"),
        request_id="bad id!",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(err.value)
    assert set(found) == {
        "request_id",
        "offer_ids[1]",
        "offer_ids[2]",
        "passengers[0].given_name",
        "passengers[0].family_name",
        "passengers[0].birth_date",
        "passengers[0].document.type",
        "passengers[0].document.number",
        "passengers[0].document.issuing_country",
        "passengers[0].document.expire_date",
        "passengers[1].birth_date",
        "passengers[1].document",
        "contact.email",
        "contact.phone",
    }
    assert found["passengers[0].birth_date"] == "is in the future"
    assert await bookings_of(engine, user) == 0
    assert await seats_available(engine, fare.fare_id) == 5


@pytest.mark.parametrize("case", ["no_contact", "no_offers", "no_passengers"])
async def test_missing_parts(booking, engine: AsyncEngine, user: str, case: str) -> None:
    fare = await add_fare(engine)
    request = create_request([fare.ref()])
    field = {"no_contact": "contact", "no_offers": "offer_ids", "no_passengers": "passengers"}[case]
    request.ClearField(field)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(err.value)
    assert await bookings_of(engine, user) == 0


async def test_party_problems_against_the_offers(booking, engine: AsyncEngine, user: str) -> None:
    outbound = await add_fare(engine, seats=9)
    inbound = await add_fare(
        engine, seats=9, origin="JFK", destination="LHR", departs_in=timedelta(days=40)
    )
    infant_birth = (datetime.now(UTC) - timedelta(days=200)).date().isoformat()
    # One adult, two infants; the outbound offer is priced for one adult only, the
    # return for the right party; a passport runs out between the two flights.
    request = create_request(
        [outbound.ref(Party(adults=1)), inbound.ref(Party(adults=1, infants=2))],
        [
            passenger("Ann", "Lee"),
            passenger("Baby", "Lee", infant_birth),
            passenger("Tiny", "Lee", infant_birth),
        ],
    )
    request.passengers[0].document.expire_date = (
        (datetime.now(UTC) + timedelta(days=35)).date().isoformat()
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(err.value)
    assert set(found) == {"passengers", "offer_ids[0]", "passengers[0].document.expire_date"}
    assert "more infants (2) than adults (1)" in found["passengers"]
    assert "priced for 1 adult(s), 0 child(ren), 0 infant(s)" in found["offer_ids[0]"]
    assert await bookings_of(engine, user) == 0
    assert await seats_available(engine, outbound.fare_id) == 9


async def test_one_document_for_two_passengers_is_refused(
    booking, engine: AsyncEngine, user: str
) -> None:
    fare = await add_fare(engine, seats=5)
    request = create_request(
        [fare.ref(Party(adults=2))],
        [passenger("Ann", "Lee", number="P7654321"), passenger("Ben", "Lee", number="p7654321")],
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(err.value)) == ["passengers[1].document.number"]
    assert await bookings_of(engine, user) == 0
    assert await seats_available(engine, fare.fare_id) == 5


async def test_another_spelling_of_an_offer_reference_is_refused(
    booking, engine: AsyncEngine, user: str
) -> None:
    """One offer, one id: '100.0' or a trailing newline was read as the same reference
    (and so slipped past the check for an offer given twice)."""
    fare = await add_fare(engine, price="100.00", seats=5)
    canonical = fare.ref()
    for other in (canonical.replace(":100.00:", ":100.0:"), canonical + "\n"):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await booking.stub.CreateBooking(create_request([other]), metadata=booking.auth(user))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert list(violations(err.value)) == ["offer_ids[0]"]
    assert await bookings_of(engine, user) == 0
    assert await seats_available(engine, fare.fare_id) == 5


async def test_children_alone_are_refused(booking, engine: AsyncEngine, user: str) -> None:
    fare = await add_fare(engine)
    request = create_request(
        [fare.ref(Party(adults=0, children=1))], [passenger("Kid", "Lee", "2018-01-01")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(request, metadata=booking.auth(user))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The reference format itself requires an adult.
    assert "offer_ids[0]" in violations(err.value)


async def test_unknown_offers_are_not_found_and_departed_ones_departed(
    booking, engine: AsyncEngine, user: str
) -> None:
    """A departed flight is FAILED_PRECONDITION / OFFER_DEPARTED, as search's PriceOffer
    answers it (it was NOT_FOUND / OFFER_EXPIRED here)."""
    departed = await add_fare(engine, departs_in=timedelta(hours=-1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request(["fare:999999999:10.00:1:0:0", "fare:999999998:10.00:1:0:0"]),
            metadata=booking.auth(user),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(err.value) == (
        "OFFER_NOT_FOUND",
        {"field": "offer_ids[0]", "fields": "offer_ids[0],offer_ids[1]"},
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request([departed.ref()]), metadata=booking.auth(user)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err.value) == (
        "OFFER_DEPARTED",
        {"field": "offer_ids[0]", "fields": "offer_ids[0]"},
    )
    assert await bookings_of(engine, user) == 0


async def test_currency_mismatch_and_the_same_flight_twice(
    booking, engine: AsyncEngine, user: str
) -> None:
    eur = await add_fare(engine)
    usd = await add_fare(engine, currency="USD", origin="JFK", destination="LHR")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request([eur.ref(), usd.ref()]), metadata=booking.auth(user)
        )
    assert "offer_ids[1]" in violations(err.value)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.CreateBooking(
            create_request([eur.ref(), eur.ref(price=eur.price + 1)]), metadata=booking.auth(user)
        )
    assert "is also in offer_ids[0]" in violations(err.value)["offer_ids[1]"]
    assert await bookings_of(engine, user) == 0


@pytest.mark.parametrize("reference", ["", "ABC", "ABCDE0", "IIIIII"])
async def test_malformed_references(booking, user: str, reference: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await booking.stub.GetBooking(
            pb.GetBookingRequest(booking_reference=reference), metadata=booking.auth(user)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "booking_reference" in violations(err.value)
