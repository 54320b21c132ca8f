"""BOOKING_PRICE_SOURCE=search: offers revalidated with the search service's PriceOffer
(a stand-in SearchService on a real grpc.aio server, following search_service.proto),
seats held on the inventory fares the offers name. Several items go in one PriceItems
call; a replica without it (one that predates it: UNIMPLEMENTED) gets the separate
calls, with the same outcome to the byte."""

from __future__ import annotations

from collections import Counter
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

from booking_service.pricing.from_search import SearchPriceChecker
from booking_service.pricing.passengers import Party
from search_service.price_items import item_error
from services.errors import (
    DomainError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
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
        self.hotels: dict[str, spb.PriceHotelOfferResponse | DomainError] = {}
        self.calls: Counter[str] = Counter()  # RPCs answered, by method
        # Offers PriceItems (only) answers UNAVAILABLE for, once each.
        self.unavailable_in_items: set[str] = set()

    def _offer(self, offer_id: str) -> spb.PriceOfferResponse | DomainError:
        return self.offers.get(offer_id) or NotFoundError("unknown offer", reason="OFFER_NOT_FOUND")

    def _hotel(self, offer_id: str) -> spb.PriceHotelOfferResponse | DomainError:
        return self.hotels.get(offer_id) or NotFoundError(
            "unknown hotel offer", reason="OFFER_NOT_FOUND"
        )

    async def PriceOffer(
        self, request: spb.PriceOfferRequest, context: grpc.aio.ServicerContext
    ) -> spb.PriceOfferResponse:
        self.calls["PriceOffer"] += 1
        found = self._offer(request.offer_id)
        if isinstance(found, DomainError):
            await context.abort_with_status(rpc_status.to_status(found.to_status()))
        assert isinstance(found, spb.PriceOfferResponse)
        return found

    async def PriceHotelOffer(
        self, request: spb.PriceHotelOfferRequest, context: grpc.aio.ServicerContext
    ) -> spb.PriceHotelOfferResponse:
        self.calls["PriceHotelOffer"] += 1
        assert request.omit_offer_id
        found = self._hotel(request.offer_id)
        if isinstance(found, DomainError):
            await context.abort_with_status(rpc_status.to_status(found.to_status()))
        assert isinstance(found, spb.PriceHotelOfferResponse)
        return found

    async def PriceItems(
        self, request: spb.PriceItemsRequest, context: grpc.aio.ServicerContext
    ) -> spb.PriceItemsResponse:
        """As search's: each item as its own call answers it (search_service/
        price_items.py's item_error for the errors)."""
        self.calls["PriceItems"] += 1
        response = spb.PriceItemsResponse()
        for offer_id in request.offer_ids:
            found = self._offer(offer_id)
            if offer_id in self.unavailable_in_items:
                self.unavailable_in_items.discard(offer_id)
                found = UnavailableError("offer store unavailable", reason="CACHE_UNAVAILABLE")
            if isinstance(found, DomainError):
                response.offers.add().error.CopyFrom(item_error(found))
            else:
                response.offers.add().priced.CopyFrom(found)
        if request.hotel_offer_id:
            assert request.omit_hotel_offer_id
            hotel = self._hotel(request.hotel_offer_id)
            if isinstance(hotel, DomainError):
                response.hotel.error.CopyFrom(item_error(hotel))
            else:
                response.hotel.priced.CopyFrom(hotel)
        return response


def without_price_items(fake: FakeSearch) -> grpc.GenericRpcHandler:
    """The fake as a replica that predates PriceItems serves it: no such method (grpc
    answers UNIMPLEMENTED)."""
    methods = {
        "PriceOffer": grpc.unary_unary_rpc_method_handler(
            fake.PriceOffer,
            request_deserializer=spb.PriceOfferRequest.FromString,
            response_serializer=spb.PriceOfferResponse.SerializeToString,
        ),
        "PriceHotelOffer": grpc.unary_unary_rpc_method_handler(
            fake.PriceHotelOffer,
            request_deserializer=spb.PriceHotelOfferRequest.FromString,
            response_serializer=spb.PriceHotelOfferResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler("skyroute.search.v1.SearchService", methods)


async def start_fake(old: bool) -> tuple[FakeSearch, str, grpc.aio.Server]:
    fake = FakeSearch()
    server = grpc.aio.server()
    if old:
        server.add_generic_rpc_handlers((without_price_items(fake),))
    else:
        spb_grpc.add_SearchServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return fake, f"127.0.0.1:{port}", server


@pytest.fixture
async def search() -> AsyncIterator[tuple[FakeSearch, str]]:
    fake, address, server = await start_fake(old=False)
    yield fake, address
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


# -- several items: one PriceItems call, or the separate calls of an older replica ----


def status_of(exc: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, bytes]:
    """Everything a caller reads of a failed call: its code and its whole status."""
    status = rpc_status.from_call(exc)
    return exc.code(), status.SerializeToString(deterministic=True) if status else b""


async def test_several_offers_take_one_call_and_an_old_replica_answers_the_same(
    server_factory: Callable[..., Any], engine: AsyncEngine, user: str
) -> None:
    """Two offers: one PriceItems call; a search replica without PriceItems
    (UNIMPLEMENTED) gets one PriceOffer per offer instead, and every answer, held or
    refused, is the same to the byte."""
    out = await add_fare(engine, price="200.00", seats=6)
    back = await add_fare(engine, price="150.00", seats=6, origin="JFK", destination="LHR")
    replicas = [await start_fake(old=False), await start_fake(old=True)]
    try:
        servers = []
        for fake, address, _ in replicas:
            fake.offers["out"] = priced([out], Party())
            fake.offers["back"] = priced([back], Party())
            fake.offers["departed"] = FailedPreconditionError(
                "the offer's flight has departed", reason="OFFER_DEPARTED"
            )
            fake.offers["expired"] = NotFoundError(
                "the offer has expired; search again", reason="OFFER_EXPIRED"
            )
            fake.offers["malformed"] = ValidationError.field("offer_id", "is not an offer id")
            fake.offers["provider"] = priced([out], Party(), provider=True)
            servers.append(
                await server_factory(
                    BOOKING_PRICE_SOURCE="search",
                    SEARCH_SERVICE_ADDRESSES=address,
                    SEARCH_TIMEOUT_SECONDS="2",
                )
            )
        (new, _, _), (old, _, _) = replicas

        held = []
        for server in servers:
            booked = await server.stub.CreateBooking(
                create_request(["out", "back"]), metadata=server.auth(user)
            )
            held.append(booked.booking)
        assert new.calls == Counter({"PriceItems": 1})
        assert old.calls == Counter({"PriceOffer": 2})
        assert [b.status for b in held] == [bpb.BOOKING_STATUS_HELD] * 2
        assert held[0].total_price == held[1].total_price
        assert [[s.fare_id for o in b.offers for s in o.segments] for b in held] == [
            [out.fare_id, back.fare_id]
        ] * 2
        assert await seats_available(engine, out.fare_id) == 4

        for offers in (
            ["out", "unknown", "expired", "departed"],  # the unknown ones named together
            ["expired", "out", "expired"],
            ["departed", "out", "malformed"],
            ["out", "malformed"],
            ["provider", "back"],
        ):
            answers = []
            for server in servers:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await server.stub.CreateBooking(
                        create_request(offers), metadata=server.auth(user)
                    )
                answers.append(status_of(err.value))
            assert answers[0] == answers[1], offers
            assert answers[0][0] != grpc.StatusCode.UNAVAILABLE, offers
        assert new.calls["PriceOffer"] == 0 and old.calls["PriceItems"] == 0
        assert await seats_available(engine, out.fare_id) == 4
    finally:
        for _, _, grpc_server in replicas:
            await grpc_server.stop(0)


def hotel_priced(provider: str = "hotel") -> spb.PriceHotelOfferResponse:
    check_in = datetime.now(UTC).date() + timedelta(days=30)
    return spb.PriceHotelOfferResponse(
        hotel=spb.Hotel(hotel_id="H1", provider=provider, name="Grand", city_code="NYC"),
        offer=spb.HotelOffer(
            hotel_id="H1",
            room_type="DBL",
            check_in_date=check_in.isoformat(),
            check_out_date=(check_in + timedelta(days=2)).isoformat(),
            rooms=1,
            occupancy=spb.RoomOccupancy(adults=1),
            refundable=True,
        ),
        price_changed=True,
        original_total_price=money("300.00"),
        current_total_price=money("320.00"),
        available=True,
        provider_offer_json='{"id":"SUPPLIER-1"}',
    )


@pytest.mark.parametrize("old", [False, True], ids=["new", "old"])
async def test_offers_with_a_hotel_priced_together_or_separately(
    engine: AsyncEngine, old: bool
) -> None:
    """A package's items through SearchPriceChecker.price_items: one PriceItems call,
    or (UNIMPLEMENTED) one PriceOffer per offer and one PriceHotelOffer, with the same
    result and the same errors (the offers' first, naming offer_ids[i]; the hotel's
    naming hotel_offer_id)."""
    fare = await add_fare(engine, price="200.00")
    fake, address, server = await start_fake(old)
    fake.offers["out"] = priced([fare], Party())
    fake.hotels["stay"] = hotel_priced()
    fake.hotels["gone"] = NotFoundError(
        "the offer has expired; search again", reason="OFFER_EXPIRED"
    )
    fake.hotels["sold"] = FailedPreconditionError("sold out", reason="SOLD_OUT")
    checker = SearchPriceChecker([address], 2)
    try:
        offers, hotel = await checker.price_items(["out"], "stay")
        assert fake.calls == (
            Counter({"PriceOffer": 1, "PriceHotelOffer": 1}) if old else Counter({"PriceItems": 1})
        )
        assert [o.current_total for o in offers] == [Decimal("200.00")]
        assert hotel is not None
        assert (hotel.supplier_offer_id, hotel.total, hotel.original_total) == (
            "SUPPLIER-1",
            Decimal("320.00"),
            Decimal("300.00"),
        )
        assert hotel.price_changed and hotel.provider == "hotel"

        async def error(offer_ids: list[str], hotel_offer_id: str) -> tuple[str, str, str]:
            with pytest.raises(DomainError) as err:
                await checker.price_items(offer_ids, hotel_offer_id)
            e = err.value
            return type(e).__name__, e.reason, e.metadata.get("field", "")

        assert await error(["out"], "gone") == ("NotFoundError", "OFFER_EXPIRED", "hotel_offer_id")
        assert await error(["out"], "nope") == (
            "NotFoundError",
            "OFFER_NOT_FOUND",
            "hotel_offer_id",
        )
        assert await error(["out"], "sold") == (
            "FailedPreconditionError",
            "SOLD_OUT",
            "hotel_offer_id",
        )
        assert await error(["out", "nope"], "gone") == (
            "NotFoundError",
            "OFFER_NOT_FOUND",
            "offer_ids[1]",
        )
    finally:
        await checker.close()
        await server.stop(0)


async def test_an_item_search_could_not_price_is_asked_again_alone(
    server_factory: Callable[..., Any], engine: AsyncEngine, user: str
) -> None:
    """An item answered UNAVAILABLE inside PriceItems gets its own call (which the
    channel retries, as the separate calls always were)."""
    out = await add_fare(engine, price="200.00")
    back = await add_fare(engine, price="150.00", origin="JFK", destination="LHR")
    fake, address, grpc_server = await start_fake(old=False)
    fake.unavailable_in_items.add("back")
    fake.offers["back"] = priced([back], Party())
    fake.offers["out"] = priced([out], Party())
    try:
        server = await server_factory(
            BOOKING_PRICE_SOURCE="search",
            SEARCH_SERVICE_ADDRESSES=address,
            SEARCH_TIMEOUT_SECONDS="2",
        )
        booked = await server.stub.CreateBooking(
            create_request(["out", "back"]), metadata=server.auth(user)
        )
        assert booked.booking.status == bpb.BOOKING_STATUS_HELD
        assert fake.calls == Counter({"PriceItems": 1, "PriceOffer": 1})
    finally:
        await grpc_server.stop(0)
