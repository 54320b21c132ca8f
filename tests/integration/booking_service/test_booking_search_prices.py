"""BOOKING_PRICE_SOURCE=search: offers revalidated with the search service's PriceOffer
(a stand-in SearchService on a real grpc.aio server, following search_service.proto),
seats held on the inventory fares the offers name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.pricing.passengers import Party
from services.errors import DomainError, FailedPreconditionError, NotFoundError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as bpb
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from tests.utils.booking_cluster import SeededFare, add_fare, create_request, seats_available


def money(amount: str, currency: str = "EUR") -> money_pb2.Money:
    value = Decimal(amount)
    units = int(value)
    return money_pb2.Money(
        currency_code=currency, units=units, nanos=int((value - units) * 1_000_000_000)
    )


def ts(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment)
    return out


def itinerary(fares: list[SeededFare], party: Party, *, provider: bool = False) -> spb.Itinerary:
    departure = datetime.now(UTC) + timedelta(days=20)
    journeys = []
    for i, fare in enumerate(fares):
        price = party.fare_cost(fare.price)
        journeys.append(
            spb.Journey(
                segments=[
                    spb.Segment(
                        flight_designator=fare.designator,
                        origin="LHR" if i == 0 else "JFK",
                        destination="JFK" if i == 0 else "LHR",
                        departure_time=ts(departure + timedelta(days=7 * i)),
                        arrival_time=ts(departure + timedelta(days=7 * i, hours=7)),
                        price=money(str(price)),
                        seats_available=fare.seats,
                        refundable=True,
                        change_fee=money("10.00"),
                        fare_id=0 if provider else fare.fare_id,
                    )
                ]
            )
        )
    total = sum((party.fare_cost(f.price) for f in fares), Decimal(0))
    return spb.Itinerary(
        offer_id="priced",
        source=spb.SOURCE_PROVIDER if provider else spb.SOURCE_INVENTORY,
        journeys=journeys,
        cabin=spb.CABIN_ECONOMY,
        passengers=spb.Passengers(
            adults=party.adults, children=party.children, infants=party.infants
        ),
        total_price=money(str(total)),
        seats_available=min(f.seats for f in fares),
    )


class FakeSearch(spb_grpc.SearchServiceServicer):
    def __init__(self) -> None:
        self.offers: dict[str, spb.PriceOfferResponse | DomainError] = {}

    async def PriceOffer(
        self, request: spb.PriceOfferRequest, context: grpc.aio.ServicerContext
    ) -> spb.PriceOfferResponse:
        found = self.offers.get(request.offer_id) or NotFoundError(
            "unknown offer", reason="OFFER_NOT_FOUND"
        )
        if isinstance(found, DomainError):
            await context.abort_with_status(rpc_status.to_status(found.to_status()))
        assert isinstance(found, spb.PriceOfferResponse)
        return found


@pytest.fixture
async def search() -> AsyncIterator[tuple[FakeSearch, str]]:
    fake = FakeSearch()
    server = grpc.aio.server()
    spb_grpc.add_SearchServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(0)


def priced(
    fares: list[SeededFare],
    party: Party,
    *,
    original: str | None = None,
    provider: bool = False,
    guarantee: bool = True,
) -> spb.PriceOfferResponse:
    trip = itinerary(fares, party, provider=provider)
    response = spb.PriceOfferResponse(
        itinerary=trip,
        price_changed=original is not None
        and original
        != str(Decimal(trip.total_price.units) + Decimal(trip.total_price.nanos).scaleb(-9)),
        original_total_price=money(original) if original else trip.total_price,
        current_total_price=trip.total_price,
        available=True,
    )
    if guarantee:
        response.price_guarantee_expire_time.CopyFrom(ts(datetime.now(UTC) + timedelta(minutes=15)))
    return response


def error_reason(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    return "", {}


@pytest.fixture
async def server_with_search(
    server_factory: Callable[..., Any], search: tuple[FakeSearch, str]
) -> Any:
    _, address = search
    return await server_factory(
        BOOKING_PRICE_SOURCE="search", SEARCH_SERVICE_ADDRESSES=address, SEARCH_TIMEOUT_SECONDS="2"
    )


async def test_round_trip_offer_from_search_is_held(
    server_with_search, search, engine: AsyncEngine, user: str
) -> None:
    fake, _ = search
    out = await add_fare(engine, price="200.00", seats=4)
    back = await add_fare(engine, price="150.00", seats=4, origin="JFK", destination="LHR")
    fake.offers["opaque-rt"] = priced([out, back], Party(adults=1))
    server = server_with_search
    booked = (
        await server.stub.CreateBooking(create_request(["opaque-rt"]), metadata=server.auth(user))
    ).booking
    assert booked.status == bpb.BOOKING_STATUS_HELD
    assert [s.fare_id for s in booked.offers[0].segments] == [out.fare_id, back.fare_id]
    assert (booked.total_price.units, booked.total_price.currency_code) == (350, "EUR")
    assert await seats_available(engine, out.fare_id) == 3
    assert await seats_available(engine, back.fare_id) == 3


async def test_search_reported_price_change(
    server_with_search, search, engine: AsyncEngine, user: str
) -> None:
    fake, _ = search
    fare = await add_fare(engine, price="120.00")
    fake.offers["changed"] = priced([fare], Party(), original="100.00")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server_with_search.stub.CreateBooking(
            create_request(["changed"]), metadata=server_with_search.auth(user)
        )
    got, metadata = error_reason(err.value)
    assert (err.value.code(), got) == (grpc.StatusCode.FAILED_PRECONDITION, "PRICE_CHANGED")
    assert (metadata["original_total"], metadata["current_total"]) == ("100.00", "120.00")
    assert await seats_available(engine, fare.fare_id) == fare.seats


@pytest.mark.parametrize(
    "case, code, expected",
    [
        ("unknown", grpc.StatusCode.NOT_FOUND, "OFFER_NOT_FOUND"),
        # One situation, one answer: search's own code and reason for a departed flight.
        ("departed", grpc.StatusCode.FAILED_PRECONDITION, "OFFER_DEPARTED"),
        ("expired", grpc.StatusCode.NOT_FOUND, "OFFER_EXPIRED"),
        ("provider", grpc.StatusCode.FAILED_PRECONDITION, "OFFER_NOT_BOOKABLE"),
    ],
)
async def test_offers_search_will_not_price(
    server_with_search,
    search,
    engine: AsyncEngine,
    user: str,
    case: str,
    code: grpc.StatusCode,
    expected: str,
) -> None:
    fake, _ = search
    fare = await add_fare(engine)
    fake.offers["departed"] = FailedPreconditionError(
        "the offer's flight has departed", reason="OFFER_DEPARTED"
    )
    fake.offers["provider"] = priced([fare], Party(), provider=True)
    fake.offers["expired"] = NotFoundError(
        "the offer has expired; search again", reason="OFFER_EXPIRED"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server_with_search.stub.CreateBooking(
            create_request([case]), metadata=server_with_search.auth(user)
        )
    got, metadata = error_reason(err.value)
    assert (err.value.code(), got) == (code, expected)
    assert metadata["field"] == "offer_ids[0]"


async def test_search_down_is_unavailable(server_factory, engine: AsyncEngine, user: str) -> None:
    server = await server_factory(
        BOOKING_PRICE_SOURCE="search",
        SEARCH_SERVICE_ADDRESSES="127.0.0.1:9",
        SEARCH_TIMEOUT_SECONDS="0.5",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(create_request(["anything"]), metadata=server.auth(user))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(err.value)[0] == "SEARCH_UNAVAILABLE"
