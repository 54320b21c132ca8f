"""SearchHotelsRequest validation: every violation names its field, several at once;
defaults; and the destination resolver (code, name, ambiguity, one lookup per keyword)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from search_service.hotels.destinations import DestinationResolver
from search_service.hotels.offer_ids import HotelOfferIds, HotelOfferRef
from search_service.hotels.query import HotelSort
from search_service.hotels.validation import validate_hotel_search
from search_service.offers import OfferIds
from search_service.pagination import PageTokens
from search_service.settings import SearchPolicy
from search_service.signing import MalformedToken
from services.errors import ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.hotels import City

SECRET = "unit-test-secret-0123456789"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKENS = PageTokens(SECRET)


def request(**fields: object) -> pb.SearchHotelsRequest:
    base = pb.SearchHotelsRequest(
        destination=pb.HotelDestination(code="par"),
        check_in_date="2026-06-10",
        check_out_date="2026-06-13",
        rooms=[pb.RoomOccupancy(adults=2, children_ages=[7, 3])],
    )
    for name, value in fields.items():
        if isinstance(value, list):
            del getattr(base, name)[:]
            getattr(base, name).extend(value)
        elif hasattr(value, "DESCRIPTOR"):
            getattr(base, name).CopyFrom(value)
        else:
            setattr(base, name, value)
    return base


def violations(req: pb.SearchHotelsRequest) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        validate_hotel_search(req, NOW, SearchPolicy(), TOKENS)
    return [v.field for v in caught.value.violations]


def test_valid_request_normalised() -> None:
    got = validate_hotel_search(request(), NOW, SearchPolicy(), TOKENS)
    assert got.city_code == "PAR" and got.rooms == 1 and got.adults == 2
    assert got.child_ages == (3, 7)
    assert got.sort == HotelSort.PRICE and got.page_size == 20 and got.radius_km == 5


def test_empty_rooms_mean_one_adult_in_one_room() -> None:
    got = validate_hotel_search(request(rooms=[]), NOW, SearchPolicy(), TOKENS)
    assert (got.adults, got.rooms, got.child_ages) == (1, 1, ())


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"check_out_date": "2026-06-10"}, "check_out_date"),
        ({"check_out_date": "2026-06-09"}, "check_out_date"),
        ({"check_out_date": "2026-07-11"}, "check_out_date"),
        ({"check_in_date": "2026-05-30"}, "check_in_date"),
        ({"check_in_date": "2026-13-01"}, "check_in_date"),
        ({"check_in_date": ""}, "check_in_date"),
        ({"check_in_date": "2027-07-01", "check_out_date": "2027-07-02"}, "check_in_date"),
        ({"rooms": [pb.RoomOccupancy(adults=1)] * 10}, "rooms"),
        ({"rooms": [pb.RoomOccupancy(adults=0)]}, "rooms[0].adults"),
        ({"rooms": [pb.RoomOccupancy(adults=10)]}, "rooms[0].adults"),
        ({"rooms": [pb.RoomOccupancy(adults=1, children_ages=[18])]}, "rooms[0].children_ages[0]"),
        ({"rooms": [pb.RoomOccupancy(adults=1, children_ages=[-1])]}, "rooms[0].children_ages[0]"),
        ({"rooms": [pb.RoomOccupancy(adults=2), pb.RoomOccupancy(adults=1)]}, "rooms[1]"),
        ({"destination": pb.HotelDestination(code="PA1")}, "destination.code"),
        ({"destination": pb.HotelDestination(name="  ")}, "destination.name"),
        (
            {"destination": pb.HotelDestination(point=pb.GeoPoint(latitude=91, longitude=0))},
            "destination.point.latitude",
        ),
        ({"destination": pb.HotelDestination(code="PAR", radius_km=51)}, "destination.radius_km"),
        ({"destination": pb.HotelDestination()}, "destination"),
        ({"filters": pb.HotelFilters(min_stars=6)}, "filters.min_stars"),
        ({"filters": pb.HotelFilters(amenities=["WIFI", "no such"])}, "filters.amenities[1]"),
        (
            {"filters": pb.HotelFilters(board_types=[pb.BOARD_TYPE_UNSPECIFIED])},
            "filters.board_types[0]",
        ),
        (
            {
                "filters": pb.HotelFilters(
                    max_total_price=money_pb2.Money(currency_code="EU", units=1)
                )
            },
            "filters.max_total_price.currency_code",
        ),
        (
            {
                "filters": pb.HotelFilters(
                    max_price_per_night=money_pb2.Money(currency_code="EUR", units=-5)
                )
            },
            "filters.max_price_per_night",
        ),
        ({"sort_order": 99}, "sort_order"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "garbage"}, "page_token"),
        ({"currency_code": "EURO"}, "currency_code"),
    ],
)
def test_violation_names_the_field(fields: dict[str, object], field: str) -> None:
    assert field in violations(request(**fields))


def test_every_violation_at_once() -> None:
    got = violations(
        request(
            check_out_date="2026-06-01",
            rooms=[pb.RoomOccupancy(adults=0, children_ages=[20])],
            filters=pb.HotelFilters(min_stars=-1),
        )
    )
    assert {
        "check_out_date",
        "rooms[0].adults",
        "rooms[0].children_ages[0]",
        "filters.min_stars",
    } <= set(got)


def by_ids(*ids: str, **fields: object) -> pb.SearchHotelsRequest:
    req = request(**fields)
    if "destination" not in fields:
        req.ClearField("destination")
    req.hotel_ids.extend(ids)
    return req


def test_hotel_ids_are_distinct_upper_case_and_order_free() -> None:
    a = validate_hotel_search(by_ids("hvpar018", "GHPAR004 "), NOW, SearchPolicy(), TOKENS)
    b = validate_hotel_search(
        by_ids("GHPAR004", "HVPAR018", "hvpar018"), NOW, SearchPolicy(), TOKENS
    )
    assert a.hotel_ids == b.hotel_ids == ("GHPAR004", "HVPAR018")
    assert a.city_code == "" and a.latitude is None


@pytest.mark.parametrize(
    ("req", "fields"),
    [
        (by_ids("HVPAR018", "HV-PAR01", "HVPAR0189"), ["hotel_ids[1]", "hotel_ids[2]"]),
        (by_ids("HV1AR018"), ["hotel_ids[0]"]),
        (by_ids(*(f"HVPAR{i:03d}" for i in range(21))), ["hotel_ids"]),
        (
            by_ids("HVPAR018", destination=pb.HotelDestination(code="PAR")),
            ["destination"],
        ),
        (by_ids("HVPAR018", sort_order=pb.HOTEL_SORT_ORDER_DISTANCE), ["sort_order"]),
    ],
)
def test_hotel_id_violations_name_their_field(
    req: pb.SearchHotelsRequest, fields: list[str]
) -> None:
    assert violations(req) == fields


def test_twenty_hotel_ids_and_other_sorts_are_allowed() -> None:
    ids = [f"HVPAR{i:03d}" for i in range(20)]
    got = validate_hotel_search(
        by_ids(*ids, sort_order=pb.HOTEL_SORT_ORDER_STARS), NOW, SearchPolicy(), TOKENS
    )
    assert len(got.hotel_ids) == 20 and got.sort == HotelSort.STARS


def test_a_date_is_past_only_once_past_everywhere() -> None:
    # 12:00 UTC on June 1st: June 1st is still today at UTC-12, May 31st is past.
    ok = request(check_in_date="2026-06-01", check_out_date="2026-06-02")
    validate_hotel_search(ok, NOW, SearchPolicy(), TOKENS)
    early = NOW.replace(hour=5)  # 05:00 UTC: still May 31st at UTC-12
    late = request(check_in_date="2026-05-31", check_out_date="2026-06-02")
    validate_hotel_search(late, early, SearchPolicy(), TOKENS)
    assert violations(late) == ["check_in_date"]


def test_hotel_offer_ids_are_signed_for_their_purpose() -> None:
    ids = HotelOfferIds(SECRET)
    ref = HotelOfferRef("hotel", "abc", 12345, "EUR", 99)
    assert ids.decode(ids.encode(ref)) == ref
    # A flight offer id, or an id signed with another secret, is not a hotel offer id.
    flight = OfferIds(SECRET)._signer.sign(b"1|P|Y|1.0.0|1|EUR||hotel|abc|0")
    assert ids.decode(flight) is None
    assert HotelOfferIds("another-secret-0123456789").decode(ids.encode(ref)) is None
    with pytest.raises(MalformedToken):
        ids.decode("nope")


def _city(code: str, name: str) -> City:
    return City(code, name, "FR", 48.8, 2.3, 60)


async def test_destinations_by_code_and_name_with_one_lookup_per_keyword() -> None:
    calls: list[str] = []

    async def find(keyword: str) -> list[City]:
        calls.append(keyword)
        await asyncio.sleep(0.01)
        cities = [_city("PAR", "PARIS"), _city("YTO", "TORONTO"), _city("SFO", "SAN FRANCISCO")]
        return [c for c in cities if c.code == keyword or keyword in c.name]

    resolver = DestinationResolver(find)
    found = await asyncio.gather(*(resolver.by_code("PAR") for _ in range(10)))
    assert {c.code for c in found} == {"PAR"} and calls == ["PAR"]
    assert (await resolver.by_name("Paris")).code == "PAR"
    with pytest.raises(ValidationError) as unknown:
        await resolver.by_code("XXX")
    assert unknown.value.violations[0].field == "destination.code"
    with pytest.raises(ValidationError) as several:
        await resolver.by_name("O")  # TORONTO, SAN FRANCISCO
    assert several.value.violations[0].field == "destination.name"
    assert "several" in several.value.violations[0].description


def test_check_in_more_than_a_year_ahead() -> None:
    far = (NOW + timedelta(days=400)).date()
    assert violations(
        request(check_in_date=far.isoformat(), check_out_date=(far + timedelta(days=1)).isoformat())
    ) == ["check_in_date"]
