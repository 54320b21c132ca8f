"""The hotel kind of tracker: a hotel search (a city, a point and radius, or one hotel;
dates; rooms; the filters worth tracking) validated with search's own rules
(services/hotel_stay.py), its canonical form, and how a run prices it with
SearchHotels (the cheapest offer first).

One hotel is tracked with a SearchHotels by ``hotel_ids`` (that hotel only: one
result at most, no list of its city at the supplier), taking its cheapest offer; a
hotel missing from the results has no rooms for the stay (sold out, or unknown to the
supplier), which is what ``back_in_stock`` watches. Its city (the supplier's hotel ids
carry the IATA city code: chain code, city code, three characters) is what the create
checks exists (tracking_service/prices.py) and whose time zone ends the tracker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.errors import FieldViolation, ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from services.hotel_stay import (
    BOARD_ENUMS,
    BOARDS,
    HOTEL_ID,
    MAX_RADIUS_KM,
    destination,
    occupancy,
    stars_and_boards,
    stay_dates,
)
from tracking_service.triggers import Observation

# Before the city is known, a date is past only if it is past everywhere on Earth.
EARLIEST_ZONE_OFFSET = timedelta(hours=-12)

SearchHotels = Callable[[search_pb.SearchHotelsRequest], Awaitable[search_pb.SearchHotelsResponse]]


def hotel_params(message: pb.HotelSearch, now: datetime, field: str) -> dict[str, Any]:
    """The canonical hotel search, or ValidationError naming ``field``.<sub-field> as
    SearchHotels names its fields."""
    problems: list[FieldViolation] = []

    def add(name: str, description: str) -> None:
        problems.append(FieldViolation(f"{field}.{name}", description))

    hotel_id = message.hotel_id.strip().upper()
    code, lat, lon, radius = "", None, None, MAX_RADIUS_KM
    if hotel_id:
        if not HOTEL_ID.match(hotel_id):
            add("hotel_id", "must be a supplier hotel id such as HVPAR018")
        if message.HasField("destination"):
            add("destination", "must be unset with hotel_id (one or the other)")
        code = hotel_id[2:5]
    else:
        given = message.destination if message.HasField("destination") else None
        code, name, lat, lon, radius = destination(add, given)
        if name:
            add("destination.name", "a city name is not tracked: give destination.code")
    check_in, check_out = stay_dates(
        add,
        message.check_in_date,
        message.check_out_date,
        (now + EARLIEST_ZONE_OFFSET).date(),
        now.date(),
    )
    adults, ages, rooms = occupancy(add, list(message.rooms))
    filters = message.filters
    boards = stars_and_boards(add, filters.min_stars, list(filters.board_types))
    if problems:
        raise ValidationError(problems)
    assert check_in is not None and check_out is not None
    return {
        "hotel_id": hotel_id,
        "city_code": code,
        "latitude": lat,
        "longitude": lon,
        "radius_km": radius,
        "check_in_date": check_in.isoformat(),
        "check_out_date": check_out.isoformat(),
        "adults": adults,
        "children_ages": list(ages),
        "rooms": rooms,
        "min_stars": filters.min_stars,
        "board_types": list(boards),
        "refundable_only": filters.refundable_only,
    }


def to_proto(params: dict[str, Any]) -> pb.HotelSearch:
    out = pb.HotelSearch(
        hotel_id=params["hotel_id"],
        check_in_date=params["check_in_date"],
        check_out_date=params["check_out_date"],
        rooms=[_room(params)] * params["rooms"],
        filters=pb.HotelTrackerFilters(
            min_stars=params["min_stars"],
            board_types=[BOARD_ENUMS[b] for b in params["board_types"]],
            refundable_only=params["refundable_only"],
        ),
    )
    if not params["hotel_id"]:
        out.destination.CopyFrom(_destination(params))
    return out


def _room(params: dict[str, Any]) -> search_pb.RoomOccupancy:
    return search_pb.RoomOccupancy(adults=params["adults"], children_ages=params["children_ages"])


def _destination(params: dict[str, Any]) -> search_pb.HotelDestination:
    out = search_pb.HotelDestination(radius_km=params["radius_km"])
    if params["latitude"] is None:
        out.code = params["city_code"]
    else:
        out.point.CopyFrom(
            search_pb.GeoPoint(latitude=params["latitude"], longitude=params["longitude"])
        )
    return out


def search_request(params: dict[str, Any]) -> search_pb.SearchHotelsRequest:
    """The cheapest hotel of a destination, or the one hotel by its id (one result)."""
    filters = to_proto(params).filters
    request = search_pb.SearchHotelsRequest(
        check_in_date=params["check_in_date"],
        check_out_date=params["check_out_date"],
        rooms=[_room(params)] * params["rooms"],
        filters=search_pb.HotelFilters(
            min_stars=filters.min_stars,
            board_types=filters.board_types,
            refundable_only=filters.refundable_only,
        ),
        sort_order=search_pb.HOTEL_SORT_ORDER_PRICE,
        page_size=1,
    )
    if params["hotel_id"]:
        request.hotel_ids.append(params["hotel_id"])
    else:
        request.destination.CopyFrom(_destination(params))
    return request


def observation(result: search_pb.HotelResult | None, found: int) -> Observation:
    if result is None or not result.offers:
        return Observation(None, None, None, 0)
    offer = result.offers[0]
    details = {
        "hotel_id": result.hotel.hotel_id,
        "hotel_name": result.hotel.name,
        "room_type": offer.room_type,
        "room_description": offer.room_description,
        "board_type": BOARDS.get(offer.board_type, ""),
        "refundable": offer.refundable,
    }
    return Observation.priced(offer.total_price, offer.offer_id, found, details)


async def price(search: SearchHotels, params: dict[str, Any]) -> Observation:
    """The run's observation: the cheapest offer of the search (or of the one hotel:
    found is then its number of offers)."""
    hotel_id = params["hotel_id"]
    response = await search(search_request(params))
    if not hotel_id:
        best = response.hotels[0] if response.hotels else None
        return observation(best, response.total_size)
    mine = next((h for h in response.hotels if h.hotel.hotel_id == hotel_id), None)
    return observation(mine, len(mine.offers) if mine is not None else 0)


def summary(details: dict[str, Any] | None) -> pb.HotelOfferSummary | None:
    if not details:
        return None
    return pb.HotelOfferSummary(
        hotel_id=details["hotel_id"],
        hotel_name=details["hotel_name"],
        room_type=details["room_type"],
        room_description=details["room_description"],
        board_type=BOARD_ENUMS.get(details["board_type"], search_pb.BOARD_TYPE_UNSPECIFIED),
        refundable=details["refundable"],
    )
