"""The hotel supplier adapter (services/providers/amadeus_hotels) against the real
stand-in (provider_sim) on an in-process HTTP server: search, pricing, and the order
calls booking will use (create, get, find by remark, cancel), classified as the
interface says (price changed / sold out refused, an unknown outcome found by remark,
never created twice)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from provider_sim.app import create_app
from provider_sim.state import SimState
from services.providers.amadeus.http import Rejected
from services.providers.amadeus_hotels import AmadeusHotelProvider
from services.providers.amadeus_hotels import search as hotel_search
from services.providers.amadeus_hotels.search import INVALID_PROPERTY_CODE, NO_ROOMS
from services.providers.base import (
    OfferGone,
    OrderOutcomeUnknown,
    OrderRejected,
    ProviderConfig,
    ProviderFailure,
)
from services.providers.hotels import (
    HotelGuest,
    HotelOrderRequest,
    HotelQuery,
    QueryRejected,
    UnknownDestination,
)
from tests.utils.hotel_login import HOTEL_CLIENT, LoginTokens, hotel_sim_state

CHECK_IN = datetime.now(UTC).date() + timedelta(days=45)


@pytest_asyncio.fixture
async def stand_in() -> AsyncIterator[tuple[SimState, AmadeusHotelProvider, LoginTokens]]:
    state = hotel_sim_state()
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    base_url = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as session:
        tokens = LoginTokens(session, base_url)
        config = ProviderConfig(name="hotel", base_url=base_url, timeout_seconds=5.0)
        yield state, AmadeusHotelProvider(config, session, tokens), tokens
    await server.close()


def query(**fields: object) -> HotelQuery:
    values: dict[str, object] = {
        "check_in": CHECK_IN,
        "check_out": CHECK_IN + timedelta(days=2),
        "adults": 2,
        "city_code": "LIS",
        "radius_km": 20,
    }
    return HotelQuery(**(values | fields))  # type: ignore[arg-type]


def order(offer_id: str, remark: str, rooms: int = 1) -> HotelOrderRequest:
    return HotelOrderRequest(
        offer_id, rooms, (HotelGuest("Ada", "Lovelace"),), "ada@example.com", remark
    )


async def test_cities_search_and_rates(stand_in) -> None:
    _, provider, _ = stand_in
    (lisbon,) = await provider.find_cities("LISBON")
    assert lisbon.code == "LIS" and lisbon.utc_offset_minutes in (0, 60)
    found = await provider.search(query())
    assert found and all(h.hotel.city_code == "LIS" for h in found)
    assert all(h.hotel.rating > 0 and h.hotel.stars >= 1 for h in found)
    rates = [r for h in found for r in h.rates]
    assert {r.refundable for r in rates} == {True, False}
    assert all(r.nights == 2 and r.rooms == 1 and r.currency == "EUR" for r in rates)
    assert all((r.cancellation_deadline is not None) == r.refundable for r in rates)
    four = await provider.search(query(stars=(4, 5)))
    assert all(h.hotel.stars >= 4 for h in four)
    around = await provider.search(
        query(city_code="", latitude=38.72, longitude=-9.14, radius_km=3)
    )
    assert around and all(h.hotel.distance_km <= 3 for h in around)


async def test_search_by_hotel_ids_asks_for_those_hotels_only(stand_in) -> None:
    state, provider, _ = stand_in
    in_city = await provider.search(query())
    wanted = sorted(h.hotel.hotel_id for h in in_city)[:2]
    before = state.hotels.stats()
    found = await provider.search(query(city_code="", hotel_ids=(*wanted, "ZZLIS999")))
    after = state.hotels.stats()
    assert sorted(h.hotel.hotel_id for h in found) == wanted
    by_id = {h.hotel.hotel_id: h for h in in_city}
    for item in found:
        listed = by_id[item.hotel.hotel_id].hotel
        # Details from the list by ids (no centre, so no distance), the rating too.
        assert item.hotel == dataclasses.replace(listed, distance_km=0.0)
    # No list by city: the details, offers and ratings at once.
    assert after["hotel_lists"] == before["hotel_lists"]
    assert after["hotel_lists_by_id"] - before["hotel_lists_by_id"] == 1
    assert after["hotel_offer_searches"] - before["hotel_offer_searches"] == 1
    assert await provider.search(query(city_code="", hotel_ids=("ZZLIS999",))) == []


class _Refusing:
    """An Amadeus that refuses every call with these codes (as it does per hotel id)."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes

    async def call(self, name: str, method: str, path: str, **kwargs: object) -> object:
        raise Rejected(400, self.codes)


async def test_hotels_refused_per_id_are_an_empty_result() -> None:
    by_ids = query(city_code="", hotel_ids=("XXLIS001",))
    for codes in ([NO_ROOMS], [INVALID_PROPERTY_CODE, NO_ROOMS]):
        assert await hotel_search.search(_Refusing(codes), by_ids) == []  # type: ignore[arg-type]
    with pytest.raises(QueryRejected):
        await hotel_search.search(_Refusing([425]), by_ids)  # type: ignore[arg-type]
    with pytest.raises(Rejected):
        await hotel_search.search(_Refusing([477]), by_ids)  # type: ignore[arg-type]


async def test_unknown_city_and_refused_dates(stand_in) -> None:
    _, provider, _ = stand_in
    with pytest.raises(UnknownDestination):
        await provider.search(query(city_code="ZZZ"))
    past = datetime.now(UTC).date() - timedelta(days=2)
    with pytest.raises(QueryRejected) as caught:
        await provider.search(query(check_in=past, check_out=past + timedelta(days=1)))
    assert caught.value.field == "check_in_date"


async def test_order_lifecycle_and_refusals(stand_in) -> None:
    state, provider, _ = stand_in
    rate = (await provider.search(query()))[0].rates[0]
    quote = await provider.price_offer(rate.offer_id)
    assert quote.rate is not None and quote.rate.total_cents == rate.total_cents

    state.hotels.set_price_percent(Decimal(15))
    with pytest.raises(OrderRejected) as changed:
        await provider.create_order(order(rate.offer_id, "r-1"))
    assert changed.value.price_changed and not changed.value.sold_out
    repriced = (await provider.price_offer(rate.offer_id)).rate
    assert repriced is not None and repriced.total_cents > rate.total_cents

    placed = await provider.create_order(order(repriced.offer_id, "r-2"))
    assert placed.order_id and placed.record_locator
    assert await provider.get_order(placed.order_id) == placed
    assert await provider.find_order("r-2") == placed
    assert await provider.cancel_order(placed.order_id) is True
    assert await provider.cancel_order(placed.order_id) is False
    assert await provider.get_order(placed.order_id) is None
    assert await provider.find_order("r-2") is None

    with pytest.raises(OfferGone):
        await provider.price_offer("NOTANOFFER")


async def test_sold_out_and_unknown_outcome(stand_in) -> None:
    state, provider, _ = stand_in
    rate = (await provider.search(query()))[0].rates[0]
    hotel = state.hotel_inventory.hotel(rate.hotel_id)
    assert hotel is not None
    room = next(r for r, _ in hotel.rooms if r.code == rate.room_type)
    state.hotels.set_available(hotel, room, CHECK_IN + timedelta(days=1), 0)
    assert (await provider.price_offer(rate.offer_id)).rate is None
    with pytest.raises(OrderRejected) as sold_out:
        await provider.create_order(order(rate.offer_id, "r-3"))
    assert sold_out.value.sold_out
    state.hotels.set_available(hotel, room, CHECK_IN + timedelta(days=1), 3)

    # The supplier makes the order, then the answer fails: outcome unknown, found by
    # its remark, exactly one order.
    state.hotels.fail_orders(1, 502, "after", 0)
    with pytest.raises(OrderOutcomeUnknown):
        await provider.create_order(order(rate.offer_id, "r-4"))
    found = await provider.find_order("r-4")
    assert found is not None and len(state.hotels.orders()) == 1


async def test_revoked_token_is_replaced_once_and_outage_is_a_failure(stand_in) -> None:
    state, provider, tokens = stand_in
    await provider.find_cities("PAR")
    assert tokens.logins == 1
    state.revoke(HOTEL_CLIENT)
    assert await provider.find_cities("PAR")
    assert tokens.logins == 2
    state.fail_next_api_requests(10, 503)
    with pytest.raises(ProviderFailure):
        await provider.search(query())
