"""PriceItems: each item priced as its own RPC prices it, with its own outcome (the
response, or the status the single call fails with: same code, message and details),
and INVALID_ARGUMENT naming the field for a request that is invalid as a whole."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.search_cluster import (
    InProcessSearch,
    error_details,
    in_process_search,
    search_env,
    seeded_database,
)

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


@pytest.fixture(scope="module")
def own_db() -> Iterator[str]:
    with seeded_database() as url:
        yield url


@pytest.fixture
async def search(own_db: str, redis_url: str, key_prefix: str) -> AsyncIterator[InProcessSearch]:
    async with in_process_search(search_env(own_db, redis_url, key_prefix)) as s:
        yield s


async def offer_ids(search: InProcessSearch, count: int) -> list[str]:
    for days in range(3):
        response = await search.stub.SearchFlights(
            pb.SearchFlightsRequest(
                origin="ORD",
                destination="ATL",
                departure_date=(TOMORROW + timedelta(days=days)).isoformat(),
                passengers=pb.Passengers(adults=1),
                cabin=pb.CABIN_ECONOMY,
                page_size=count,
            ),
            timeout=10,
        )
        if len(response.itineraries) >= count:
            return [i.offer_id for i in response.itineraries]
    raise AssertionError("the seed has too few flights ORD -> ATL")


async def single_error(call, request) -> pb.ItemError:  # type: ignore[no-untyped-def]
    """The status the single call fails with, as an ItemError."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(request, timeout=10)
    status = rpc_status.from_call(err.value)
    assert status is not None
    return pb.ItemError.FromString(status.SerializeToString())


def without_moment(response: pb.PriceOfferResponse) -> pb.PriceOfferResponse:
    """The response without what depends on the second it was priced in (the priced
    id carries the guarantee's end)."""
    out = pb.PriceOfferResponse()
    out.CopyFrom(response)
    out.itinerary.offer_id = ""
    out.ClearField("price_guarantee_expire_time")
    return out


async def test_mixed_items_each_as_its_own_call(search: InProcessSearch) -> None:
    good, other = await offer_ids(search, 2)
    body, mac = good.split(".")
    forged = ("A" if mac[0] != "A" else "B") + mac[1:]
    items = [good, f"{body}.{forged}", "nonsense", "", other]
    response = await search.stub.PriceItems(
        pb.PriceItemsRequest(offer_ids=items, hotel_offer_id="some-hotel-offer"), timeout=10
    )
    assert [r.WhichOneof("result") for r in response.offers] == [
        "priced",
        "error",
        "error",
        "error",
        "priced",
    ]
    for offer_id, result in zip(items, response.offers, strict=True):
        if result.WhichOneof("result") == "priced":
            single = await search.stub.PriceOffer(
                pb.PriceOfferRequest(offer_id=offer_id), timeout=10
            )
            assert without_moment(result.priced) == without_moment(single)
            assert result.priced.HasField("price_guarantee_expire_time")
        else:
            assert result.error == await single_error(
                search.stub.PriceOffer, pb.PriceOfferRequest(offer_id=offer_id)
            )
    codes = [r.error.code for r in response.offers if r.HasField("error")]
    assert codes == [
        grpc.StatusCode.NOT_FOUND.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
    ]
    # Hotels are not enabled on this replica: the hotel item fails as PriceHotelOffer
    # does, and the flights are priced all the same.
    assert response.hotel.error == await single_error(
        search.stub.PriceHotelOffer, pb.PriceHotelOfferRequest(offer_id="some-hotel-offer")
    )
    assert response.hotel.error.code == grpc.StatusCode.UNAVAILABLE.value[0]

    # The call succeeded, so the interceptor counted none of these: PriceItems counts
    # each item's error by item, code and reason (what its own call would fail with).
    expected: Counter[tuple[str, str, str]] = Counter(
        ("flight", *code_and_reason(r.error)) for r in response.offers if r.HasField("error")
    )
    expected[("hotel", *code_and_reason(response.hotel.error))] += 1
    counted = {
        key: search.metric(
            "skyroute_search_price_items_item_errors_total",
            {"item": key[0], "code": key[1], "reason": key[2]},
        )
        for key in expected
    }
    assert counted == expected and sum(expected.values()) == 4
    assert ("hotel", "UNAVAILABLE", "PROVIDER_UNAVAILABLE") in expected


def code_and_reason(error: pb.ItemError) -> tuple[str, str]:
    infos = [d for d in error.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    return grpc.StatusCode(_CODES[error.code]).name, info.reason


_CODES = {code.value[0]: code.value for code in grpc.StatusCode}


async def test_flights_only_has_no_hotel_result(search: InProcessSearch) -> None:
    (good,) = await offer_ids(search, 1)
    response = await search.stub.PriceItems(pb.PriceItemsRequest(offer_ids=[good]), timeout=10)
    assert len(response.offers) == 1 and response.offers[0].HasField("priced")
    assert not response.HasField("hotel")


@pytest.mark.parametrize(
    "request_, fields",
    [
        (pb.PriceItemsRequest(), ["offer_ids"]),
        (pb.PriceItemsRequest(omit_hotel_offer_id=True), ["offer_ids"]),
        (pb.PriceItemsRequest(offer_ids=["x"] * 9), ["offer_ids"]),
        (
            pb.PriceItemsRequest(offer_ids=["x", "y" * 2049], hotel_offer_id="z" * 2049),
            ["offer_ids[1]", "hotel_offer_id"],
        ),
        (
            pb.PriceItemsRequest(offer_ids=["y" * 2049] * 9),
            ["offer_ids", *(f"offer_ids[{i}]" for i in range(9))],
        ),
    ],
)
async def test_invalid_requests_name_the_field(
    search: InProcessSearch, request_: pb.PriceItemsRequest, fields: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await search.stub.PriceItems(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(err.value) == (fields, "INVALID_ARGUMENT")


async def test_eight_offers_are_priced(search: InProcessSearch) -> None:
    (good,) = await offer_ids(search, 1)
    response = await search.stub.PriceItems(pb.PriceItemsRequest(offer_ids=[good] * 8), timeout=10)
    assert [r.WhichOneof("result") for r in response.offers] == ["priced"] * 8
