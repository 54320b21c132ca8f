"""GetOffer and PriceOffer: offer ids resolve until departure or a price change, a
changed price is reported (never applied silently), seats are rechecked, the price
guarantee holds until it expires, unknown ids are NOT_FOUND."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from search_service.offers import OfferIds
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.respell import respell
from tests.utils.search_cluster import (
    PAGE_TOKEN_SECRET,
    InProcessSearch,
    error_details,
    in_process_search,
    search_env,
    seeded_database,
)

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


@pytest.fixture(scope="module")
def own_db() -> Iterator[str]:
    """This module changes rows: a seeded database of its own."""
    with seeded_database() as url:
        yield url


@pytest.fixture
async def engine(own_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(own_db)
    yield engine
    await engine.dispose()


@pytest.fixture
async def search(own_db: str, redis_url: str, key_prefix: str) -> AsyncIterator[InProcessSearch]:
    async with in_process_search(search_env(own_db, redis_url, key_prefix)) as s:
        yield s


def cents(money) -> int:
    return money.units * 100 + money.nanos // 10_000_000


async def find(
    search: InProcessSearch,
    destination: str | tuple[str, ...] = "ATL",
    *,
    adults: int = 1,
    children: int = 0,
    infants: int = 0,
    round_trip: bool = False,
) -> pb.Itinerary:
    """The first itinerary ORD -> ``destination`` (or the first of several that has one)
    from tomorrow on. The tiny seed holds three days from tomorrow, and some of its
    routes fly on some weekdays only (ORD's one-stop destinations, through a hub, most
    of all): so the day after is tried too, and a test that only needs a one-stop
    itinerary names more than one destination."""
    wanted = (destination,) if isinstance(destination, str) else destination
    for departure, to in itertools.product((TOMORROW, TOMORROW + timedelta(days=1)), wanted):
        request = pb.SearchFlightsRequest(
            origin="ORD",
            destination=to,
            departure_date=departure.isoformat(),
            passengers=pb.Passengers(adults=adults, children=children, infants=infants),
            cabin=pb.CABIN_ECONOMY,
            page_size=1,
        )
        if round_trip:
            request.return_date = (departure + timedelta(days=1)).isoformat()
        response = await search.stub.SearchFlights(request, timeout=10)
        if response.itineraries:
            return response.itineraries[0]
    raise AssertionError(f"the seed has no flight ORD -> {wanted} tomorrow or the day after")


async def fare_ids(item: pb.Itinerary) -> list[int]:
    return [s.fare_id for j in item.journeys for s in j.segments]


async def execute(engine: AsyncEngine, sql: str, **params: object) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(sql), params)


async def get_error(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(request, timeout=10)
    return err.value.code(), error_details(err.value)[1]


async def test_get_offer_resolves_a_search_result(search: InProcessSearch) -> None:
    item = await find(search, round_trip=True)
    got = (
        await search.stub.GetOffer(pb.GetOfferRequest(offer_id=item.offer_id), timeout=10)
    ).itinerary
    assert got == item


async def test_party_pricing(search: InProcessSearch, engine: AsyncEngine) -> None:
    item = await find(search, "DEN", adults=2, children=3, infants=1)
    fare_id = item.journeys[0].segments[0].fare_id
    async with engine.connect() as conn:
        price = (
            await conn.execute(text("SELECT price FROM fares WHERE id = :id"), {"id": fare_id})
        ).scalar_one()
    expected = (price * Decimal("4.35")).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert item.passengers == pb.Passengers(adults=2, children=3, infants=1)
    assert cents(item.journeys[0].segments[0].price) == int(expected * 100)
    assert cents(item.total_price) == sum(cents(s.price) for j in item.journeys for s in j.segments)


async def test_unknown_and_forged_offer_ids(search: InProcessSearch) -> None:
    item = await find(search)
    body, mac = item.offer_id.split(".")
    forged = OfferIds("not-the-service-secret-at-all").encode(
        OfferIds(PAGE_TOKEN_SECRET).decode(item.offer_id)
    )  # type: ignore[arg-type]

    def tampered(part: str) -> str:
        return ("A" if part[0] != "A" else "B") + part[1:]

    for offer_id in (body + "." + tampered(mac), tampered(body) + "." + mac, forged):
        for call, request in (
            (search.stub.GetOffer, pb.GetOfferRequest(offer_id=offer_id)),
            (search.stub.PriceOffer, pb.PriceOfferRequest(offer_id=offer_id)),
        ):
            code, reason = await get_error(call, request)
            assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "OFFER_NOT_FOUND")


async def test_malformed_offer_ids_and_other_spellings_are_invalid(search: InProcessSearch) -> None:
    """Not shaped like an offer id, or a valid id spelled differently (a lenient base64
    decoder ignores the unused bits of the last character): INVALID_ARGUMENT naming
    offer_id, so one offer has exactly one id."""
    item = await find(search)
    body, mac = item.offer_id.split(".")
    for offer_id in (
        "nonsense",
        body[:-1] + "." + mac,
        f"{respell(body)}.{mac}",
        f"{body}.{respell(mac)}",
        f"{body}=.{mac}",
    ):
        for call, request in (
            (search.stub.GetOffer, pb.GetOfferRequest(offer_id=offer_id)),
            (search.stub.PriceOffer, pb.PriceOfferRequest(offer_id=offer_id)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(request, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, offer_id
            assert error_details(err.value)[0] == ["offer_id"]


async def test_price_offer_unchanged(search: InProcessSearch) -> None:
    item = await find(search)
    started = time.time()
    priced = await search.stub.PriceOffer(pb.PriceOfferRequest(offer_id=item.offer_id), timeout=10)
    assert not priced.price_changed and priced.available
    assert priced.original_total_price == priced.current_total_price == item.total_price
    assert not priced.provider_offer_json  # only provider offers carry one
    expiry = priced.price_guarantee_expire_time.seconds
    assert started + 14 * 60 <= expiry <= time.time() + 15 * 60 + 1
    # The priced id resolves too, and carries the same offer.
    got = await search.stub.GetOffer(
        pb.GetOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10
    )
    assert await fare_ids(got.itinerary) == await fare_ids(item)


async def test_changed_price_is_reported(search: InProcessSearch, engine: AsyncEngine) -> None:
    item = await find(search, "DFW")
    fare_id = item.journeys[0].segments[0].fare_id
    await execute(
        engine,
        "UPDATE fares SET price = price + 25, version = version + 1 WHERE id = :id",
        id=fare_id,
    )
    code, reason = await get_error(search.stub.GetOffer, pb.GetOfferRequest(offer_id=item.offer_id))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OFFER_CHANGED")
    priced = await search.stub.PriceOffer(pb.PriceOfferRequest(offer_id=item.offer_id), timeout=10)
    assert priced.price_changed and priced.available
    assert priced.original_total_price == item.total_price
    assert cents(priced.current_total_price) == cents(item.total_price) + 2500
    assert priced.itinerary.total_price == priced.current_total_price
    # The new id is current: it resolves, and pricing it again reports no change.
    assert priced.itinerary.offer_id != item.offer_id
    again = await search.stub.PriceOffer(
        pb.PriceOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10
    )
    assert not again.price_changed
    await search.stub.GetOffer(pb.GetOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10)


async def test_guarantee_holds_until_it_expires(
    own_db: str, redis_url: str, key_prefix: str, engine: AsyncEngine
) -> None:
    # Expiry times are whole seconds (rounded down), so a guarantee of N seconds lasts
    # N-1 to N: 3 leaves the checks below at least 2 s on a slow machine.
    env = search_env(own_db, redis_url, key_prefix, {"SEARCH_PRICE_GUARANTEE_SECONDS": "3"})
    async with in_process_search(env) as search:
        item = await find(search, ("LAS", "LAX", "CDG", "SFO"))
        priced = await search.stub.PriceOffer(
            pb.PriceOfferRequest(offer_id=item.offer_id), timeout=10
        )
        fare_id = item.journeys[0].segments[0].fare_id
        await execute(
            engine,
            "UPDATE fares SET price = price + 7, version = version + 1 WHERE id = :id",
            id=fare_id,
        )
        guaranteed = await search.stub.PriceOffer(
            pb.PriceOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10
        )
        assert not guaranteed.price_changed
        assert guaranteed.current_total_price == item.total_price
        assert (
            guaranteed.price_guarantee_expire_time == priced.price_guarantee_expire_time
        )  # not extended
        got = await search.stub.GetOffer(
            pb.GetOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10
        )
        assert got.itinerary.total_price == item.total_price
        await asyncio.sleep(
            max(0.0, priced.price_guarantee_expire_time.seconds - time.time()) + 0.2
        )
        expired = await search.stub.PriceOffer(
            pb.PriceOfferRequest(offer_id=priced.itinerary.offer_id), timeout=10
        )
        assert expired.price_changed
        assert cents(expired.current_total_price) == cents(item.total_price) + 700


async def test_no_seats_left(search: InProcessSearch, engine: AsyncEngine) -> None:
    item = await find(search, ("SFO", "LAX", "CDG", "LAS"))
    fare_id = item.journeys[0].segments[-1].fare_id
    await execute(engine, "UPDATE fares SET seats_available = 0 WHERE id = :id", id=fare_id)
    priced = await search.stub.PriceOffer(pb.PriceOfferRequest(offer_id=item.offer_id), timeout=10)
    assert not priced.available and not priced.price_changed
    assert not priced.HasField("price_guarantee_expire_time")
    got = await search.stub.GetOffer(pb.GetOfferRequest(offer_id=item.offer_id), timeout=10)
    assert got.itinerary.seats_available == 0


async def test_departed_offer(search: InProcessSearch, engine: AsyncEngine) -> None:
    item = await find(search, "DEN", round_trip=True)
    fare_id = item.journeys[0].segments[0].fare_id
    await execute(
        engine,
        "UPDATE flights SET departure_at = now() - interval '2 hours', "
        "arrival_at = now() - interval '1 hour' "
        "WHERE id = (SELECT flight_id FROM fares WHERE id = :id)",
        id=fare_id,
    )
    for call, request in (
        (search.stub.GetOffer, pb.GetOfferRequest(offer_id=item.offer_id)),
        (search.stub.PriceOffer, pb.PriceOfferRequest(offer_id=item.offer_id)),
    ):
        code, reason = await get_error(call, request)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OFFER_DEPARTED")


async def test_deleted_fare(search: InProcessSearch, engine: AsyncEngine) -> None:
    item = await find(search, "ATL", adults=3)
    await execute(
        engine, "DELETE FROM fares WHERE id = :id", id=item.journeys[0].segments[0].fare_id
    )
    code, reason = await get_error(search.stub.GetOffer, pb.GetOfferRequest(offer_id=item.offer_id))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "OFFER_NOT_FOUND")
