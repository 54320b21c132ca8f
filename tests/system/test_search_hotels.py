"""Hotel search with the whole stack as processes: the stand-in (hotel supplier with its
own login), two token replicas holding the supplier's token through the password grant
(rotating refresh tokens), two search replicas sharing Redis and PostgreSQL.

Search, filters, sorts and pagination; GetHotelOffer and PriceHotelOffer (a changed
price is reported, never applied silently; a sold-out offer is not available); a revoked
supplier token costs one refresh and the searches succeed; a supplier that is down is
UNAVAILABLE; N concurrent identical searches on both replicas cost one supplier search.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc_status import rpc_status

from search_service.pricing import money_cents
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from services.redis_client import sync_client
from skyroute_cli.__main__ import main as cli_main
from tests.utils.hotel_stack import HOTEL_ID, HOTEL_SECRET, PASSWORD, HotelStack
from tests.utils.search_cluster import error_details, seeded_database

CHECK_IN = datetime.now(UTC).date() + timedelta(days=30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[HotelStack]:
    with seeded_database() as database:
        stack = HotelStack(tmp_path_factory.mktemp("hotel-stack"), database, redis_url)
        try:
            yield stack
            stack.search.stop()
            logs = stack.search.logs()
            leaked = [
                t["access_token"][:4] for t in stack.sim.tokens() if t["access_token"] in logs
            ]
            assert not leaked, f"tokens in search logs: {leaked}"
            assert PASSWORD not in logs and HOTEL_SECRET not in logs
            stack.tokens.assert_no_secrets_in_logs()
        finally:
            stack.stop()


@pytest.fixture
def fresh(stack: HotelStack) -> HotelStack:
    stack.flush_cache()
    stack.sim._call("POST", "/_sim/reset")
    return stack


def hotels_query(days: int = 0, nights: int = 3, **fields: object) -> pb.SearchHotelsRequest:
    check_in = CHECK_IN + timedelta(days=days)
    request = pb.SearchHotelsRequest(
        destination=pb.HotelDestination(code="PAR"),
        check_in_date=check_in.isoformat(),
        check_out_date=(check_in + timedelta(days=nights)).isoformat(),
        rooms=[pb.RoomOccupancy(adults=2)],
        page_size=100,
    )
    for name, value in fields.items():
        if isinstance(value, list):
            del getattr(request, name)[:]
            getattr(request, name).extend(value)
        elif hasattr(value, "DESCRIPTOR"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return request


async def _search(
    stub: pb_grpc.SearchServiceStub, request: pb.SearchHotelsRequest
) -> pb.SearchHotelsResponse:
    response: pb.SearchHotelsResponse = await stub.SearchHotels(request, timeout=20)
    return response


async def test_search_filter_sort_and_paginate(fresh: HotelStack) -> None:
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        full = await _search(stub, hotels_query())
        assert full.total_size == len(full.hotels) >= 5
        cheapest = [money_cents(h.offers[0].total_price) for h in full.hotels]
        assert cheapest == sorted(cheapest)
        assert all(h.hotel.provider == "hotel" and h.hotel.city_code == "PAR" for h in full.hotels)
        for result in full.hotels:
            totals = [money_cents(o.total_price) for o in result.offers]
            assert totals == sorted(totals)
            assert all(o.nights == 3 and o.rooms == 1 for o in result.offers)

        # The same search by name shares the results (and the page tokens).
        by_name = await _search(stub, hotels_query(destination=pb.HotelDestination(name="paris")))
        assert [h.hotel.hotel_id for h in by_name.hotels] == [h.hotel.hotel_id for h in full.hotels]

        # Pages of 3 through both replicas: every hotel once, in order.
        seen: list[str] = []
        token = ""
        while True:
            page = await _search(stub, hotels_query(page_size=3, page_token=token))
            seen += [h.hotel.hotel_id for h in page.hotels]
            token = page.next_page_token
            if not token:
                break
        assert seen == [h.hotel.hotel_id for h in full.hotels]
        # A token is bound to its query.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            page = await _search(stub, hotels_query(page_size=3))
            await _search(stub, hotels_query(days=1, page_token=page.next_page_token))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(caught.value)[0] == ["page_token"]

        filters = pb.HotelFilters(
            min_stars=4, refundable_only=True, board_types=[pb.BOARD_TYPE_BREAKFAST]
        )
        narrowed = await _search(stub, hotels_query(filters=filters))
        assert 0 < len(narrowed.hotels) < len(full.hotels)
        for result in narrowed.hotels:
            assert result.hotel.stars >= 4
            assert all(
                o.refundable
                and o.board_type == pb.BOARD_TYPE_BREAKFAST
                and o.HasField("cancellation_deadline")
                for o in result.offers
            )
        currency = full.hotels[0].offers[0].total_price.currency_code
        cap_cents = sorted(money_cents(h.offers[0].price_per_night) for h in full.hotels)[2]
        cap = money_pb2.Money(
            currency_code=currency, units=cap_cents // 100, nanos=cap_cents % 100 * 10_000_000
        )
        capped = await _search(stub, hotels_query(filters=pb.HotelFilters(max_price_per_night=cap)))
        assert 3 <= len(capped.hotels) < len(full.hotels)
        assert all(
            money_cents(o.price_per_night) <= cap_cents for h in capped.hotels for o in h.offers
        )

        by_stars = await _search(stub, hotels_query(sort_order=pb.HOTEL_SORT_ORDER_STARS))
        stars = [h.hotel.stars for h in by_stars.hotels]
        assert stars == sorted(stars, reverse=True) and len(set(stars)) > 1
        by_distance = await _search(stub, hotels_query(sort_order=pb.HOTEL_SORT_ORDER_DISTANCE))
        distances = [h.hotel.distance_km for h in by_distance.hotels]
        assert distances == sorted(distances)
        by_rating = await _search(stub, hotels_query(sort_order=pb.HOTEL_SORT_ORDER_RATING))
        ratings = [h.hotel.guest_rating for h in by_rating.hotels]
        assert ratings == sorted(ratings, reverse=True) and ratings[0] > 0
    finally:
        await channel.close()


@pytest.mark.redis_backends
async def test_price_recheck_reports_a_changed_price(fresh: HotelStack) -> None:
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        found = await _search(stub, hotels_query(days=2))
        offer = found.hotels[0].offers[0]
        got = await stub.GetHotelOffer(pb.GetHotelOfferRequest(offer_id=offer.offer_id), timeout=10)
        assert got.offer == offer and got.hotel.hotel_id == found.hotels[0].hotel.hotel_id

        same = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=offer.offer_id), timeout=10
        )
        assert same.available and not same.price_changed
        assert same.current_total_price == offer.total_price
        now = datetime.now(UTC).timestamp()
        assert now < same.price_guarantee_expire_time.seconds <= now + 901
        assert json.loads(same.provider_offer_json)["id"]

        fresh.sim.hotel_price_change(25)
        changed = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=offer.offer_id), timeout=10
        )
        assert changed.available and changed.price_changed
        assert changed.original_total_price == offer.total_price
        assert money_cents(changed.current_total_price) > money_cents(offer.total_price)
        assert changed.offer.total_price == changed.current_total_price
        assert changed.offer.offer_id != offer.offer_id
        # The new id is quoted at the new price, unchanged on a second recheck.
        again = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=changed.offer.offer_id), timeout=10
        )
        assert not again.price_changed

        fresh.sim.hotel_sold_out(
            offer.hotel_id, offer.room_type, offer.check_in_date, offer.check_out_date
        )
        gone = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=changed.offer.offer_id), timeout=10
        )
        assert not gone.available and not gone.HasField("price_guarantee_expire_time")

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetHotelOffer(pb.GetHotelOfferRequest(offer_id="not-an-id"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await channel.close()


async def test_price_with_omit_offer_id_keeps_nothing(fresh: HotelStack) -> None:
    """omit_offer_id (the booking service's recheck): the same price and supplier offer,
    no offer id, and nothing written to the offer store; without it, an id that is kept."""
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    redis = sync_client(fresh.redis_url)

    def stored() -> dict[bytes, object]:
        keys = redis.scan_iter(match=f"{fresh.prefix}:search:hotel-offer*")
        return {
            key: sorted(redis.hkeys(key)) if redis.type(key) == b"hash" else redis.get(key)
            for key in keys
        }

    try:
        found = await _search(stub, hotels_query(days=4))
        offer = found.hotels[0].offers[0]
        before = stored()
        assert before
        bare = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=offer.offer_id, omit_offer_id=True), timeout=10
        )
        assert bare.available and not bare.price_changed
        assert bare.offer.offer_id == ""
        assert bare.current_total_price == offer.total_price
        assert json.loads(bare.provider_offer_json)["id"]
        assert stored() == before
        kept = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=offer.offer_id), timeout=10
        )
        assert kept.offer.offer_id and stored() != before
        assert kept.provider_offer_json == bare.provider_offer_json
        got = await stub.GetHotelOffer(
            pb.GetHotelOfferRequest(offer_id=kept.offer.offer_id), timeout=10
        )
        assert got.offer.total_price == bare.current_total_price
    finally:
        redis.close()
        await channel.close()


async def test_price_items_prices_the_hotel_as_price_hotel_offer(fresh: HotelStack) -> None:
    """PriceItems' hotel item: PriceHotelOffer's answer (omit_hotel_offer_id as
    omit_offer_id: no id, nothing stored), and its error with PriceHotelOffer's status."""
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    redis = sync_client(fresh.redis_url)

    def stored() -> set[bytes]:
        return set(redis.scan_iter(match=f"{fresh.prefix}:search:hotel-offer*"))

    try:
        found = await _search(stub, hotels_query(days=30))
        offer = found.hotels[0].offers[0]
        before = stored()
        items = await stub.PriceItems(
            pb.PriceItemsRequest(hotel_offer_id=offer.offer_id, omit_hotel_offer_id=True),
            timeout=10,
        )
        assert not items.offers and items.hotel.WhichOneof("result") == "priced"
        single = await stub.PriceHotelOffer(
            pb.PriceHotelOfferRequest(offer_id=offer.offer_id, omit_offer_id=True), timeout=10
        )
        priced = items.hotel.priced
        assert priced.offer.offer_id == "" and stored() == before
        priced.ClearField("price_guarantee_expire_time")
        single.ClearField("price_guarantee_expire_time")
        assert priced == single and single.available

        unknown = offer.offer_id[:-2] + ("AA" if not offer.offer_id.endswith("AA") else "BB")
        items = await stub.PriceItems(
            pb.PriceItemsRequest(offer_ids=["nonsense"], hotel_offer_id=unknown), timeout=10
        )
        assert items.offers[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PriceHotelOffer(pb.PriceHotelOfferRequest(offer_id=unknown), timeout=10)
        status = rpc_status.from_call(caught.value)
        assert status is not None and status.code != 0
        assert items.hotel.error.SerializeToString() == status.SerializeToString()
    finally:
        redis.close()
        await channel.close()


async def test_an_offer_no_longer_stored_or_unreadable_says_search_again(
    fresh: HotelStack,
) -> None:
    """NOT_FOUND, OFFER_EXPIRED (never INTERNAL) for an offer whose stored value is gone
    or is not one this version reads (as a replica of an older or newer version meets
    during a rolling update)."""
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    redis = sync_client(fresh.redis_url)
    try:
        found = await _search(stub, hotels_query(days=3))
        offer_id = found.hotels[0].offers[0].offer_id
        await stub.GetHotelOffer(pb.GetHotelOfferRequest(offer_id=offer_id), timeout=10)
        batches = list(redis.scan_iter(match=f"{fresh.prefix}:search:hotel-offers:*"))
        assert batches
        for key in batches:
            for field in redis.hkeys(key):
                redis.hset(key, field, "not an offer this version wrote")
        for step in ("unreadable", "gone"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetHotelOffer(pb.GetHotelOfferRequest(offer_id=offer_id), timeout=10)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND, step
            assert error_details(caught.value)[1] == "OFFER_EXPIRED", step
            assert "search again" in (caught.value.details() or ""), step
            fresh.flush_cache()
    finally:
        redis.close()
        await channel.close()


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"check_out_date": CHECK_IN.isoformat()}, "check_out_date"),
        ({"check_out_date": (CHECK_IN + timedelta(days=31)).isoformat()}, "check_out_date"),
        ({"check_in_date": "2020-01-01", "check_out_date": "2020-01-03"}, "check_in_date"),
        ({"rooms": [pb.RoomOccupancy(adults=1)] * 10}, "rooms"),
        (
            {"rooms": [pb.RoomOccupancy(adults=2, children_ages=[4, 18])]},
            "rooms[0].children_ages[1]",
        ),
        ({"destination": pb.HotelDestination(code="XXX")}, "destination.code"),
        ({"destination": pb.HotelDestination(name="Atlantis")}, "destination.name"),
    ],
)
async def test_validation_names_the_field(
    stack: HotelStack, fields: dict[str, object], violation: str
) -> None:
    channel = stack.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        merged = hotels_query(**fields)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SearchHotels(merged, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violation in error_details(caught.value)[0]
    finally:
        await channel.close()


def by_ids(*ids: str, **fields: object) -> pb.SearchHotelsRequest:
    request = hotels_query(**fields)
    if "destination" not in fields:
        request.ClearField("destination")
    request.hotel_ids.extend(ids)
    return request


@pytest.mark.redis_backends
async def test_search_by_hotel_ids(fresh: HotelStack) -> None:
    stack = fresh
    pairs = [grpc.aio.insecure_channel(a) for a in stack.search.addresses]
    stubs = [pb_grpc.SearchServiceStub(c) for c in pairs]
    try:
        city = await _search(stubs[0], hotels_query(days=4))
        wanted = [h.hotel.hotel_id for h in city.hotels[1:4]]
        before = stack.sim.hotel_stats()
        found = await _search(stubs[0], by_ids(*wanted, "ZZPAR999", days=4))
        after = stack.sim.hotel_stats()
        # Those hotels only (an unknown id has no results), as the city search has them.
        assert sorted(h.hotel.hotel_id for h in found.hotels) == sorted(wanted)
        assert found.total_size == 3
        in_city = {h.hotel.hotel_id: h for h in city.hotels}
        for result in found.hotels:
            mine = in_city[result.hotel.hotel_id]
            assert result.hotel.stars == mine.hotel.stars and result.hotel.guest_rating
            assert [o.total_price for o in result.offers] == [o.total_price for o in mine.offers]
        # No hotel list by city: one list by ids and one offers call.
        assert after["hotel_lists"] == before["hotel_lists"]
        assert after["hotel_lists_by_id"] - before["hotel_lists_by_id"] == 1
        assert after["hotel_offer_searches"] - before["hotel_offer_searches"] == 1

        # The same ids in another order, a duplicate, lower case, on the other replica:
        # the cached result, and each other's page tokens.
        again = by_ids("zzpar999", *reversed(wanted), wanted[0].lower(), days=4, page_size=2)
        first = await _search(stubs[1], again)
        assert stack.sim.hotel_stats()["hotel_offer_searches"] == after["hotel_offer_searches"]
        assert [h.hotel.hotel_id for h in first.hotels] == [
            h.hotel.hotel_id for h in found.hotels[:2]
        ]
        rest = await _search(
            stubs[0],
            by_ids(*wanted, "ZZPAR999", days=4, page_token=first.next_page_token, page_size=2),
        )
        assert rest.hotels == found.hotels[2:] and not rest.next_page_token

        # Filters apply as for a city; concurrent identical searches cost one call.
        four = by_ids(*wanted, days=9, filters=pb.HotelFilters(min_stars=4))
        responses = await asyncio.gather(*(_search(stubs[i % 2], four) for i in range(12)))
        assert all(r == responses[0] for r in responses)
        assert {h.hotel.hotel_id for h in responses[0].hotels} == {
            i for i in wanted if in_city[i].hotel.stars >= 4
        }
        final = stack.sim.hotel_stats()
        assert final["hotel_offer_searches"] - after["hotel_offer_searches"] == 1

        unknown = await _search(stubs[0], by_ids("ZZPAR999", "ZZLON001", days=4))
        assert not unknown.hotels and unknown.total_size == 0
    finally:
        for channel in pairs:
            await channel.close()


@pytest.mark.parametrize(
    ("request_", "violation"),
    [
        (by_ids("HVPAR018", "HV PAR18"), "hotel_ids[1]"),
        (by_ids("HVPAR018", sort_order=pb.HOTEL_SORT_ORDER_DISTANCE), "sort_order"),
        (by_ids("HVPAR018", destination=pb.HotelDestination(code="PAR")), "destination"),
        (by_ids("HVPAR018", days=-40), "check_in_date"),
    ],
)
async def test_search_by_hotel_ids_names_the_field(
    stack: HotelStack, request_: pb.SearchHotelsRequest, violation: str
) -> None:
    channel = stack.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SearchHotels(request_, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(caught.value)[0] == [violation]
    finally:
        await channel.close()


async def test_revoked_supplier_token_one_refresh_then_searches_work(fresh: HotelStack) -> None:
    stack = fresh
    pairs = [grpc.aio.insecure_channel(a) for a in stack.search.addresses]
    stubs = [pb_grpc.SearchServiceStub(c) for c in pairs]
    try:
        for i, stub in enumerate(stubs):  # both replicas hold and use the current token
            await _search(stub, hotels_query(days=10 + i))
        issued = stack.sim.issued(HOTEL_ID)
        assert stack.sim.revoke(HOTEL_ID) >= 1
        results = await asyncio.gather(
            *(_search(stub, hotels_query(days=20 + i)) for i, stub in enumerate(stubs * 3))
        )
        assert all(r.hotels for r in results)
        assert stack.sim.issued(HOTEL_ID) == issued + 1
    finally:
        for channel in pairs:
            await channel.close()


async def test_supplier_down_is_unavailable_and_not_cached(fresh: HotelStack) -> None:
    channel = fresh.search.channel()
    stub = pb_grpc.SearchServiceStub(channel)
    try:
        await _search(stub, hotels_query(days=5))  # destination known: the lookup is cached
        fresh.sim.fail_api(1000, 503)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _search(stub, hotels_query(days=6))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_details(caught.value)[1] == "PROVIDER_UNAVAILABLE"
        fresh.sim.fail_api(0)
        assert (await _search(stub, hotels_query(days=6))).hotels
    finally:
        await channel.close()


@pytest.mark.redis_backends
async def test_identical_searches_on_two_replicas_cost_one_supplier_search(
    fresh: HotelStack,
) -> None:
    stack = fresh
    pairs = [grpc.aio.insecure_channel(a) for a in stack.search.addresses]
    stubs = [pb_grpc.SearchServiceStub(c) for c in pairs]
    try:
        # Both replicas know the city already (a per-replica lookup).
        for stub in stubs:
            await _search(stub, hotels_query(days=3, nights=1))
        before = stack.sim.hotel_stats()
        request = hotels_query(days=7, nights=2)
        responses = await asyncio.gather(*(_search(stubs[i % 2], request) for i in range(24)))
        after = stack.sim.hotel_stats()
        assert after["hotel_offer_searches"] - before["hotel_offer_searches"] == 1
        assert after["hotel_lists"] - before["hotel_lists"] == 1
        assert all(r == responses[0] for r in responses) and responses[0].hotels
    finally:
        for channel in pairs:
            await channel.close()


async def _raw_pages(channel: grpc.aio.Channel, request: pb.SearchHotelsRequest) -> list[bytes]:
    """Every page of ``request`` as one replica sent it (the bytes on the wire)."""
    call = channel.unary_unary(
        "/skyroute.search.v1.SearchService/SearchHotels",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    page_request = pb.SearchHotelsRequest()
    page_request.CopyFrom(request)
    pages: list[bytes] = []
    while True:
        raw: bytes = await call(page_request.SerializeToString(), timeout=20)
        pages.append(raw)
        page_request.page_token = pb.SearchHotelsResponse.FromString(raw).next_page_token
        if not page_request.page_token:
            return pages


async def test_cached_pages_are_the_bytes_the_computed_search_answered(
    fresh: HotelStack,
) -> None:
    """A replica keeps the pages it answered from a cached result serialized: for every
    sort and some filters, page by page, a cache hit on the replica that computed the
    result and on the other one (which only read it from Redis) sends exactly the bytes
    the computation's own answer had, and all pages together are the whole list."""
    stack = fresh
    channels = [grpc.aio.insecure_channel(a) for a in stack.search.addresses]
    stubs = [pb_grpc.SearchServiceStub(c) for c in channels]
    filters = [
        pb.HotelFilters(),
        pb.HotelFilters(min_stars=4, refundable_only=True),
        pb.HotelFilters(board_types=[pb.BOARD_TYPE_BREAKFAST, pb.BOARD_TYPE_ROOM_ONLY]),
    ]
    sorts = [
        pb.HOTEL_SORT_ORDER_PRICE,
        pb.HOTEL_SORT_ORDER_STARS,
        pb.HOTEL_SORT_ORDER_DISTANCE,
        pb.HOTEL_SORT_ORDER_RATING,
    ]
    try:
        for stub in stubs:  # both replicas know the city (a per-replica lookup)
            await _search(stub, hotels_query(days=3, nights=1))
        before = stack.sim.hotel_stats()
        searches = 0
        for n, (sort, narrowed) in enumerate((s, f) for s in sorts for f in filters):
            request = hotels_query(days=11, nights=1 + n % 3, sort_order=sort, filters=narrowed)
            request.page_size = 2
            computed = await _raw_pages(channels[n % 2], request)  # the first page: a miss
            searches += 1
            for channel in (channels[n % 2], channels[(n + 1) % 2], channels[n % 2]):
                assert await _raw_pages(channel, request) == computed, (sort, narrowed)
            pages = [pb.SearchHotelsResponse.FromString(raw) for raw in computed]
            request.page_size = 100
            whole = pb.SearchHotelsResponse.FromString((await _raw_pages(channels[0], request))[0])
            assert [h for p in pages for h in p.hotels] == list(whole.hotels)
            assert all(p.total_size == whole.total_size == len(whole.hotels) for p in pages)
            assert len(pages) == max(1, (whole.total_size + 1) // 2)
        after = stack.sim.hotel_stats()
        # Each search asked the supplier once: every other page came from the cache.
        assert after["hotel_offer_searches"] - before["hotel_offer_searches"] == searches
    finally:
        for channel in channels:
            await channel.close()


def test_cli_hotels_search_and_price(stack: HotelStack, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"SEARCH_SERVICE_ADDRESSES": ",".join(stack.search.addresses)}
    code = cli_main(
        [
            "hotels", "search", "--city-name", "London", "--check-in", "+35", "--check-out",
            "+37", "--adults", "2", "--min-stars", "3", "--sort", "rating", "--page-size", "2",
        ],
        env,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split() == ["TOTAL", "PER", "NIGHT", "ROOM", "BOARD", "CANCELLATION"]
    [next_page] = [line for line in lines if line.startswith("next page: ")]
    assert next_page.split()[-2] == "--page-token" and "hotels search" in next_page
    offer_id = next(line.split()[-1] for line in lines if line.startswith("    offer "))
    assert lines[-1].endswith(f" hotels price {offer_id}")  # the hint to price it
    assert cli_main(["hotels", "price", offer_id], env) == 0
    priced = capsys.readouterr().out
    assert "(unchanged)" in priced and "\n    offer to book " in priced
    code = cli_main(
        ["hotels", "search", "--city", "PAR", "--check-in", "+3", "--check-out", "+40"], env
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: check_out_date: ") and len(err.splitlines()) == 1
    hotel_id = lines[0].split()[-1]
    code = cli_main(
        ["hotels", "search", "--hotel-id", hotel_id, "--check-in", "+35", "--check-out", "+37"],
        env,
    )
    out = capsys.readouterr().out
    assert code == 0 and out.splitlines()[0].split()[-1] == hotel_id, out
