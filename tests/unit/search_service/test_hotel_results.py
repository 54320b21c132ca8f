"""Hotel result filters and sorts: each filter keeps exactly what matches, offers are
cheapest first, each sort order holds with its tie-breaks, and the proto sort key agrees
with the one used to sort."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from search_service.hotels.query import HotelQuery, HotelSort
from search_service.hotels.results import (
    hotel_pb,
    offer_pb,
    per_night_cents,
    proto_sort_key,
    select,
    sort_key,
)
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.hotels import Hotel, HotelOffers, HotelRate

IN, OUT = date(2026, 9, 1), date(2026, 9, 3)
STAY = {"checkInDate": IN.isoformat(), "checkOutDate": OUT.isoformat()}
SPA = ("WIFI", "SPA")


def hotel(
    hid: str, stars: int, rating: int, km: float, amenities: tuple[str, ...] = ("WIFI",)
) -> Hotel:
    return Hotel(
        hid, f"HOTEL {hid}", "GH", "PAR", 48.8, 2.3, stars, amenities, km, "CITY CENTRE", rating
    )


def rate(
    hid: str,
    n: int,
    cents: int,
    *,
    refundable: bool = True,
    board: str = "ROOM_ONLY",
    currency: str = "EUR",
) -> HotelRate:
    deadline = datetime(2026, 8, 31, 16, tzinfo=UTC) if refundable else None
    return HotelRate(
        f"{hid}-{n}", hid, "A1D", "STANDARD_ROOM", "Standard", board, refundable, deadline,
        cents, currency, 2, 1, "FLX", STAY,
    )  # fmt: skip


FOUND = [
    HotelOffers(
        hotel("A", 3, 70, 2.5), (rate("A", 1, 30000), rate("A", 2, 20000, refundable=False))
    ),
    HotelOffers(hotel("B", 5, 90, 0.4, SPA), (rate("B", 1, 90000, board="BREAKFAST"),)),
    HotelOffers(
        hotel("C", 4, 90, 1.0, SPA), (rate("C", 1, 40000), rate("C", 2, 45000, board="BREAKFAST"))
    ),
    HotelOffers(hotel("D", 4, 60, 1.0), (rate("D", 1, 40000, currency="USD"),)),
]


def query(**fields: object) -> HotelQuery:
    return HotelQuery(check_in=IN, check_out=OUT, adults=2, rooms=1, **fields)  # type: ignore[arg-type]


def ids(found: list[HotelOffers]) -> list[str]:
    return [h.hotel.hotel_id for h in found]


def test_price_sort_uses_the_cheapest_offer_and_ids_break_ties() -> None:
    got = select(FOUND, query())
    assert ids(got) == ["A", "C", "D", "B"]
    assert [r.total_cents for r in got[0].rates] == [20000, 30000]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (HotelSort.STARS, ["B", "C", "D", "A"]),
        (HotelSort.DISTANCE, ["B", "C", "D", "A"]),
        (HotelSort.RATING, ["C", "B", "A", "D"]),
    ],
)
def test_sort_orders(sort: HotelSort, expected: list[str]) -> None:
    assert ids(select(FOUND, query(sort=sort))) == expected


def test_filters() -> None:
    assert ids(select(FOUND, query(min_stars=4))) == ["C", "D", "B"]
    assert ids(select(FOUND, query(amenities=("SPA",)))) == ["C", "B"]
    refundable = select(FOUND, query(refundable_only=True))
    assert all(r.refundable for h in refundable for r in h.rates)
    assert [r.total_cents for r in refundable[0].rates] == [30000]
    breakfast = select(FOUND, query(boards=("BREAKFAST",)))
    assert ids(breakfast) == ["C", "B"] and breakfast[0].rates[0].total_cents == 45000
    # A cap in EUR: USD offers never match; per night is the total over 2 nights.
    capped = select(FOUND, query(max_night_cents=20000, max_night_currency="EUR"))
    assert ids(capped) == ["A", "C"]
    assert all(per_night_cents(r) <= 20000 for h in capped for r in h.rates)
    total = select(FOUND, query(max_total_cents=40000, max_total_currency="USD"))
    assert ids(total) == ["D"]


@pytest.mark.parametrize("sort", list(HotelSort))
def test_proto_sort_key_agrees(sort: HotelSort) -> None:
    for item in select(FOUND, query(sort=sort)):
        result = pb.HotelResult(
            hotel=hotel_pb(item.hotel, "hotel"),
            offers=[offer_pb(r, 2, (), "id") for r in item.rates],
        )
        assert proto_sort_key(sort, result) == sort_key(sort, item.hotel, item.rates[0].total_cents)


def test_offer_proto_carries_policy_and_prices() -> None:
    offer = offer_pb(rate("A", 1, 30001), 2, (5,), "the-id")
    assert offer.offer_id == "the-id" and offer.nights == 2
    assert offer.total_price.units == 300 and offer.total_price.nanos == 10_000_000
    assert offer.price_per_night.units == 150 and offer.price_per_night.nanos == 0
    assert offer.refundable and offer.cancellation_deadline.seconds > 0
    assert list(offer.occupancy.children_ages) == [5]
    assert (
        offer_pb(rate("A", 2, 100, refundable=False), 1, (), "x").HasField("cancellation_deadline")
        is False
    )
