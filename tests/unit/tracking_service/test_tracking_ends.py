"""A tracker ends when its last travel day ends where that day's travel happens: the
last flight's departure airport, the hotel's city (or a point's nearest airport), in
local time; and a flight's departure date is past once past at its origin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import duration_pb2

from services.errors import ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service import validation, zones
from tracking_service.kinds import TrackedSearch, ends_at

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def create(search: pb.FlightSearch | pb.HotelSearch, now: datetime = NOW) -> TrackedSearch:
    tracker = pb.Tracker(frequency=duration_pb2.Duration(seconds=3600))
    tracker.triggers.drop_percent = 5.0
    if isinstance(search, pb.FlightSearch):
        tracker.flight.CopyFrom(search)
    else:
        tracker.hotel.CopyFrom(search)
    return validation.create_input(pb.CreateTrackerRequest(tracker=tracker), now, 900).search


def flight(origin: str, destination: str, out: str, back: str = "") -> pb.FlightSearch:
    return pb.FlightSearch(
        origin=origin,
        destination=destination,
        departure_date=out,
        return_date=back,
        cabin=search_pb.CABIN_ECONOMY,
    )


def hotel(**fields: object) -> pb.HotelSearch:
    return pb.HotelSearch(check_in_date="2027-01-10", check_out_date="2027-01-12", **fields)  # type: ignore[arg-type]


def city(code: str) -> pb.HotelSearch:
    return hotel(destination=search_pb.HotelDestination(code=code))


@pytest.mark.parametrize(
    ("search", "end"),
    [
        # A return trip's last flight leaves the destination: Los Angeles (PST, UTC-8).
        (flight("LHR", "LAX", "2027-01-10", "2027-01-20"), datetime(2027, 1, 21, 8, tzinfo=UTC)),
        # One way: the origin's day. Tokyo (UTC+9) ends at 15:00 UTC the same day.
        (flight("HND", "LHR", "2027-01-10"), datetime(2027, 1, 10, 15, tzinfo=UTC)),
        # Summer time where it applies: London in July is UTC+1.
        (flight("JFK", "LHR", "2027-07-01", "2027-07-10"), datetime(2027, 7, 10, 23, tzinfo=UTC)),
        # A hotel: check-in day in its city; a city code of several airports (TYO, NYC).
        (city("TYO"), datetime(2027, 1, 10, 15, tzinfo=UTC)),
        (city("NYC"), datetime(2027, 1, 11, 5, tzinfo=UTC)),
        # A city whose code is its airport's; one hotel: the city its id carries.
        (city("LIS"), datetime(2027, 1, 11, 0, tzinfo=UTC)),
        (hotel(hotel_id="HVPAR018"), datetime(2027, 1, 10, 23, tzinfo=UTC)),
        # A point: its nearest airport's zone (central Sydney: AEDT, UTC+11).
        (
            hotel(
                destination=search_pb.HotelDestination(
                    point=search_pb.GeoPoint(latitude=-33.87, longitude=151.21)
                )
            ),
            datetime(2027, 1, 10, 13, tzinfo=UTC),
        ),
    ],
)  # fmt: skip
def test_a_tracker_ends_when_its_last_day_ends_locally(
    search: pb.FlightSearch | pb.HotelSearch, end: datetime
) -> None:
    assert ends_at(create(search)) == end


def test_an_unknown_place_ends_when_the_day_ends_everywhere() -> None:
    # UTC-12: the last zone on Earth to finish the day.
    assert zones.city_zone("QQQ") is zones.LAST_ZONE
    assert zones.airport_zone("QQQ") is zones.LAST_ZONE
    last_day = datetime(2027, 1, 10, tzinfo=UTC).date()
    assert zones.end_of_day(last_day, zones.LAST_ZONE) == datetime(2027, 1, 11, 12, tzinfo=UTC)


def test_a_departure_is_past_once_past_at_its_origin() -> None:
    # 12:00 UTC on December 2nd is already December 3rd in Auckland, still the 2nd in
    # Los Angeles.
    with pytest.raises(ValidationError) as error:
        create(flight("AKL", "SYD", "2026-12-02"))
    assert [v.field for v in error.value.violations] == ["tracker.flight.departure_date"]
    create(flight("LAX", "SFO", "2026-12-02"))
    with pytest.raises(ValidationError):
        create(flight("LAX", "SFO", "2026-12-01"))
