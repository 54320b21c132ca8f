"""Tracker requests: every problem is INVALID_ARGUMENT naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import duration_pb2

from services.errors import ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service import validation

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def request(**changes: object) -> pb.CreateTrackerRequest:
    flight = pb.FlightSearch(
        origin="LHR",
        destination="JFK",
        departure_date="2027-01-10",
        passengers=search_pb.Passengers(adults=2),
        cabin=search_pb.CABIN_ECONOMY,
    )
    tracker = pb.Tracker(
        flight=flight,
        frequency=duration_pb2.Duration(seconds=3600),
        triggers=pb.Triggers(drop_percent=5.0),
    )
    out = pb.CreateTrackerRequest(tracker=tracker)
    for path, value in changes.items():
        target: object = out
        *parents, leaf = path.split(".")
        for name in parents:
            target = getattr(target, name)
        if isinstance(value, money_pb2.Money):
            getattr(target, leaf).CopyFrom(value)
        else:
            setattr(target, leaf, value)
    return out


def fields(**changes: object) -> set[str]:
    with pytest.raises(ValidationError) as error:
        validation.create_input(request(**changes), NOW, 900)
    return {v.field for v in error.value.violations}


def test_a_good_request_is_canonical_and_keyed() -> None:
    given = validation.create_input(request(), NOW, 900)
    same = validation.create_input(request(**{"tracker.flight.max_stops": 1}), NOW, 900)
    assert given.search.key == same.search.key  # unset max_stops means 1
    other = validation.create_input(request(**{"tracker.flight.cabin": 3}), NOW, 900)
    assert other.search.key != given.search.key
    assert given.frequency_seconds == 3600 and given.triggers.drop_percent == 5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tracker.flight.origin": "lhr"}, "tracker.flight.origin"),
        ({"tracker.flight.destination": "LHR"}, "tracker.flight.destination"),
        ({"tracker.flight.departure_date": "2026-12-01"}, "tracker.flight.departure_date"),
        ({"tracker.flight.departure_date": "2026-02-30"}, "tracker.flight.departure_date"),
        ({"tracker.flight.departure_date": " "}, "tracker.flight.departure_date"),
        ({"tracker.flight.departure_date": "2027-1-10"}, "tracker.flight.departure_date"),
        ({"tracker.flight.return_date": "soon"}, "tracker.flight.return_date"),
        ({"tracker.flight.return_date": "2027-01-01"}, "tracker.flight.return_date"),
        ({"tracker.flight.passengers.infants": 3}, "tracker.flight.passengers.infants"),
        ({"tracker.flight.cabin": 0}, "tracker.flight.cabin"),
        ({"tracker.flight.max_stops": 2}, "tracker.flight.max_stops"),
        ({"tracker.frequency.seconds": 60}, "tracker.frequency"),
        ({"tracker.frequency.seconds": 86_401}, "tracker.frequency"),
        ({"tracker.triggers.drop_percent": 100.0}, "tracker.triggers.drop_percent"),
        ({"tracker.triggers.drop_percent": float("nan")}, "tracker.triggers.drop_percent"),
        (
            {"tracker.triggers.target_price": money_pb2.Money(currency_code="eu", units=1)},
            "tracker.triggers.target_price.currency_code",
        ),
        (
            {"tracker.triggers.target_price": money_pb2.Money(currency_code="EUR", units=-5)},
            "tracker.triggers.target_price",
        ),
        ({"request_id": "x" * 65}, "request_id"),
    ],
)
def test_each_problem_names_its_field(changes: dict[str, object], field: str) -> None:
    assert field in fields(**changes)


def test_no_trigger_at_all_is_refused() -> None:
    message = request()
    message.tracker.triggers.ClearField("drop_percent")
    with pytest.raises(ValidationError) as error:
        validation.create_input(message, NOW, 900)
    assert [v.field for v in error.value.violations] == ["tracker.triggers"]


def test_a_first_run_over_a_week_ahead_is_refused() -> None:
    message = request()
    message.first_run_time.FromDatetime(NOW + timedelta(days=8))
    with pytest.raises(ValidationError) as error:
        validation.create_input(message, NOW, 900)
    assert [v.field for v in error.value.violations] == ["first_run_time"]


@pytest.mark.parametrize("value", ["", "abc", "-1", "1.5", "99999999999999999999", "١٢"])
def test_ids_are_checked(value: str) -> None:
    with pytest.raises(ValidationError) as error:
        validation.parse_id(value, "tracker_id")
    assert error.value.violations[0].field == "tracker_id"


def test_page_tokens_are_bound_to_the_user_and_the_listing() -> None:
    token = validation.encode_page("42", "alice", "trackers")
    assert validation.decode_page(token, "alice", "trackers") == "42"
    for user, scope in (("bob", "trackers"), ("alice", "alerts:False")):
        with pytest.raises(ValidationError) as error:
            validation.decode_page(token, user, scope)
        assert error.value.violations[0].field == "page_token"
    with pytest.raises(ValidationError):
        validation.decode_page("not a token", "alice", "trackers")
    with pytest.raises(ValidationError):
        validation.page_size(-1)
    assert validation.page_size(0) == 20 and validation.page_size(1000) == 100


def test_a_first_run_time_out_of_range_or_past_is_handled() -> None:
    message = request()
    message.first_run_time.seconds = 2**62
    with pytest.raises(ValidationError) as error:
        validation.create_input(message, NOW, 900)
    assert [v.field for v in error.value.violations] == ["first_run_time"]
    message.first_run_time.seconds = 0
    assert validation.create_input(message, NOW, 900).first_run_at == NOW
