"""Hotel trackers: validation names the fields as SearchHotels does (under
``tracker.hotel.``), equal searches share one key, a run takes the cheapest offer
(of the one hotel), and the triggers work on hotel observations as on flights."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf import duration_pb2

from services.errors import ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service import hotels, validation
from tracking_service.convert import observation_pb, tracker_pb
from tracking_service.kinds import ends_at
from tracking_service.models import AlertKind, TrackerKind
from tracking_service.store import RunRow, TrackerRow
from tracking_service.triggers import TriggerSpec, TriggerState, evaluate

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def hotel(**fields: Any) -> pb.HotelSearch:
    base: dict[str, Any] = {
        "destination": search_pb.HotelDestination(code="PAR"),
        "check_in_date": "2027-01-10",
        "check_out_date": "2027-01-13",
        "rooms": [search_pb.RoomOccupancy(adults=2)],
    }
    base.update(fields)
    return pb.HotelSearch(**{k: v for k, v in base.items() if v is not None})


def create(search: pb.HotelSearch) -> validation.TrackerInput:
    tracker = pb.Tracker(
        hotel=search,
        frequency=duration_pb2.Duration(seconds=3600),
        triggers=pb.Triggers(drop_percent=10.0, back_in_stock=True),
    )
    return validation.create_input(pb.CreateTrackerRequest(tracker=tracker), NOW, 900)


def problems(search: pb.HotelSearch) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        create(search)
    return {v.field: v.description for v in error.value.violations}


def test_a_hotel_search_is_canonical_keyed_and_ends_after_check_in() -> None:
    given = create(hotel())
    assert given.search.kind is TrackerKind.HOTEL
    # No rooms is one room for one adult: another search.
    alone = create(hotel(rooms=None))
    assert alone.search.key != given.search.key
    # The rooms' children in any order, the default radius written out or a lower-case
    # code: the same search.
    two = [search_pb.RoomOccupancy(adults=2, children_ages=[9, 4])] * 2
    a = create(hotel(rooms=two))
    b = create(hotel(rooms=[search_pb.RoomOccupancy(adults=2, children_ages=[4, 9])] * 2))
    assert a.search.key == b.search.key and a.search.key != given.search.key
    c = create(hotel(destination=search_pb.HotelDestination(code="par", radius_km=5)))
    assert c.search.key == given.search.key
    assert create(hotel(filters=pb.HotelTrackerFilters(min_stars=4))).search.key != c.search.key
    # At the end of check-in day in Paris (CET, UTC+1).
    assert ends_at(given.search) == datetime(2027, 1, 10, 23, tzinfo=UTC)
    # Stored and shown back as it was asked.
    shown = hotels.to_proto(a.search.params)
    assert shown.destination.code == "PAR" and len(shown.rooms) == 2
    assert list(shown.rooms[0].children_ages) == [4, 9]


def test_one_hotel_is_searched_by_its_id() -> None:
    given = create(hotel(destination=None, hotel_id="hvpar018"))
    assert given.search.params["hotel_id"] == "HVPAR018"
    assert given.search.params["city_code"] == "PAR"  # what the create checks exists
    request = hotels.search_request(given.search.params)
    assert list(request.hotel_ids) == ["HVPAR018"] and not request.HasField("destination")
    assert request.page_size == 1
    assert request.sort_order == search_pb.HOTEL_SORT_ORDER_PRICE
    city = hotels.search_request({**given.search.params, "hotel_id": ""})
    assert city.destination.code == "PAR" and not city.hotel_ids
    assert problems(hotel(hotel_id="HVPAR018")) == {
        "tracker.hotel.destination": "must be unset with hotel_id (one or the other)"
    }
    assert set(problems(hotel(destination=None, hotel_id="PAR"))) == {"tracker.hotel.hotel_id"}


@pytest.mark.parametrize(
    ("search", "field", "words"),
    [
        (hotel(check_out_date="2027-01-10"), "check_out_date", "must be after check_in_date"),
        (hotel(check_out_date="2027-02-10"), "check_out_date", "at most 30 nights"),
        (hotel(check_in_date="2026-11-30"), "check_in_date", "is in the past"),
        (hotel(check_in_date="2027-1-10"), "check_in_date", "YYYY-MM-DD"),
        (hotel(rooms=[search_pb.RoomOccupancy(adults=1)] * 10), "rooms", "at most 9 rooms"),
        (
            hotel(rooms=[search_pb.RoomOccupancy(adults=1, children_ages=[3, 18])]),
            "rooms[0].children_ages[1]",
            "between 0 and 17",
        ),
        (hotel(rooms=[search_pb.RoomOccupancy(adults=0)]), "rooms[0].adults", "between 1"),
        (hotel(filters=pb.HotelTrackerFilters(min_stars=6)), "filters.min_stars", "0 and 5"),
        (
            hotel(filters=pb.HotelTrackerFilters(board_types=[1, 42])),
            "filters.board_types[1]",
            "not a known board type",
        ),
        (hotel(destination=search_pb.HotelDestination(code="P4R")), "destination.code", "IATA"),
        (hotel(destination=search_pb.HotelDestination(name="Paris")), "destination.name", "code"),
        (hotel(destination=None), "destination", "is required"),
        (
            hotel(destination=search_pb.HotelDestination(code="PAR", radius_km=51)),
            "destination.radius_km",
            "between 1 and 50",
        ),
        (
            hotel(
                destination=search_pb.HotelDestination(
                    point=search_pb.GeoPoint(latitude=91, longitude=2)
                )
            ),
            "destination.point.latitude",
            "between -90 and 90",
        ),
    ],
)
def test_each_problem_names_its_field_as_search_hotels_does(
    search: pb.HotelSearch, field: str, words: str
) -> None:
    found = problems(search)
    assert f"tracker.hotel.{field}" in found, found
    assert words in found[f"tracker.hotel.{field}"]


def money(units: int, nanos: int = 0, currency: str = "EUR") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def result(hotel_id: str, *totals: int) -> search_pb.HotelResult:
    return search_pb.HotelResult(
        hotel=search_pb.Hotel(hotel_id=hotel_id, name=f"Hotel {hotel_id}"),
        offers=[
            search_pb.HotelOffer(
                offer_id=f"{hotel_id}-{t}",
                room_type="A1D",
                room_description="standard room",
                board_type=search_pb.BOARD_TYPE_BREAKFAST,
                refundable=True,
                total_price=money(t, 500_000_000),
            )
            for t in totals
        ],
    )


async def test_a_run_takes_the_cheapest_offer_or_the_one_hotels() -> None:
    asked: list[search_pb.SearchHotelsRequest] = []
    city_page = search_pb.SearchHotelsResponse(
        hotels=[result("HVPAR001", 300), result("HVPAR002", 350)],
        next_page_token="p2",
        total_size=3,
    )
    by_id = {"HVPAR018": result("HVPAR018", 400, 450)}

    async def search(request: search_pb.SearchHotelsRequest) -> search_pb.SearchHotelsResponse:
        asked.append(request)
        if not request.hotel_ids:
            return city_page
        found = [by_id[i] for i in request.hotel_ids if i in by_id]
        return search_pb.SearchHotelsResponse(hotels=found, total_size=len(found))

    city = create(hotel()).search.params
    seen = await hotels.price(search, city)
    assert (seen.price, seen.currency, seen.best_offer_id) == (
        Decimal("300.50"),
        "EUR",
        "HVPAR001-300",
    )
    assert seen.offers_found == 3 and len(asked) == 1
    one = create(hotel(destination=None, hotel_id="HVPAR018")).search.params
    mine = await hotels.price(search, one)
    # One search of that hotel only.
    assert mine.price == Decimal("400.50") and mine.offers_found == 2 and len(asked) == 2
    assert list(asked[1].hotel_ids) == ["HVPAR018"]
    assert mine.details == {
        "hotel_id": "HVPAR018",
        "hotel_name": "Hotel HVPAR018",
        "room_type": "A1D",
        "room_description": "standard room",
        "board_type": "BREAKFAST",
        "refundable": True,
    }
    # The one hotel missing from the results: sold out (or unknown), nothing found.
    gone = await hotels.price(search, {**one, "hotel_id": "HVPAR099"})
    assert gone.price is None and gone.offers_found == 0
    # The run as the API shows it.
    shown = observation_pb(
        RunRow(NOW, NOW, NOW, mine.price, mine.currency, mine.best_offer_id, 2, mine.details)
    )
    assert shown.best_hotel_offer.hotel_name == "Hotel HVPAR018"
    assert shown.best_hotel_offer.board_type == search_pb.BOARD_TYPE_BREAKFAST
    assert shown.lowest_price.units == 400


async def test_hotel_triggers_drop_and_back_in_stock_once_each() -> None:
    spec = TriggerSpec(Decimal(10), None, None, True)
    state = TriggerState()
    pages: dict[str, search_pb.SearchHotelsResponse] = {}

    async def search(request: search_pb.SearchHotelsRequest) -> search_pb.SearchHotelsResponse:
        assert list(request.hotel_ids) == ["HVPAR018"]
        return pages[request.page_token]

    params = create(hotel(destination=None, hotel_id="HVPAR018")).search.params
    raised: list[list[AlertKind]] = []
    for offers in ([500], [], [500], [440], [440]):
        pages[""] = search_pb.SearchHotelsResponse(
            hotels=[result("HVPAR018", *offers)] if offers else []
        )
        state, drafts = evaluate(spec, state, await hotels.price(search, params))
        raised.append([d.kind for d in drafts])
    assert raised == [[], [], [AlertKind.BACK_IN_STOCK], [AlertKind.PRICE_DROP], []]


def test_a_stored_hotel_tracker_shows_its_search() -> None:
    given = create(hotel(filters=pb.HotelTrackerFilters(refundable_only=True, board_types=[2])))
    row = TrackerRow(
        id=7,
        user_id="u",
        kind=given.search.kind.value,
        search=given.search.params,
        search_key=given.search.key,
        frequency_seconds=3600,
        triggers=given.triggers,
        paused=False,
        ended=False,
        ends_at=ends_at(given.search),
        next_run_at=NOW,
        fence=0,
        state=TriggerState(),
        last_period=None,
        created_at=NOW,
        updated_at=NOW,
    )
    shown = tracker_pb(row)
    assert shown.WhichOneof("search") == "hotel"
    assert shown.hotel.filters.refundable_only
    assert list(shown.hotel.filters.board_types) == [search_pb.BOARD_TYPE_BREAKFAST]
