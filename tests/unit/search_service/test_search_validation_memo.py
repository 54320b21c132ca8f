"""The servicer's memo of validated search requests: a repeated request is answered
from it only while what its validation read besides the request is unchanged (the
origin's local date, the airport directory; for hotels the dates a check-in is judged
against); a request that fails is validated, and fails, every time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from search_service.airports import AirportDirectory
from search_service.pagination import PageTokens
from search_service.servicer import SearchServicer
from search_service.settings import SearchPolicy
from search_service.validation import MEMO_MAX_REQUEST_BYTES, ValidationMemo
from services.errors import ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

# 23:00 in Chicago on 2026-06-01 (04:00 UTC on the 2nd).
NOW = datetime(2026, 6, 2, 4, 0, tzinfo=UTC).timestamp()
AIRPORTS = [("ORD", "America/Chicago"), ("ATL", "America/New_York")]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Echo:
    """The search logic's stand-in: answers with what it was asked."""

    def __init__(self) -> None:
        self.asked: list[Any] = []

    async def search(self, validated: Any) -> Any:
        self.asked.append(validated)
        return validated


class Context:
    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


def servicer(clock: Clock, airports: AirportDirectory, hotels: Echo | None = None) -> Any:
    return SearchServicer(
        Echo(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        airports,
        PageTokens("unit-test-secret-0123456789"),
        SearchPolicy(),
        provider_enabled=False,
        clock=clock,
        hotels=hotels,  # type: ignore[arg-type]
    )


def flight(day: str = "2026-06-01") -> pb.SearchFlightsRequest:
    return pb.SearchFlightsRequest(
        origin="ORD", destination="ATL", departure_date=day, cabin=pb.CABIN_ECONOMY
    )


async def test_a_repeated_request_is_answered_from_the_memo() -> None:
    s = servicer(Clock(NOW), AirportDirectory(AIRPORTS))
    first = await s.SearchFlights(flight(), Context())
    again = await s.SearchFlights(flight(), Context())
    assert again is first
    other = await s.SearchFlights(flight("2026-06-02"), Context())
    assert other is not first and other.query.departure_date.isoformat() == "2026-06-02"


async def test_the_origins_new_day_validates_again() -> None:
    clock = Clock(NOW)
    s = servicer(clock, AirportDirectory(AIRPORTS))
    await s.SearchFlights(flight(), Context())
    # An hour later it is 2026-06-02 in Chicago: the 1st is in the past there.
    clock.now += 3600
    with pytest.raises(ValidationError) as caught:
        await s.SearchFlights(flight(), Context())
    assert [v.field for v in caught.value.violations] == ["departure_date"]


async def test_a_new_airport_directory_validates_again() -> None:
    airports = AirportDirectory(AIRPORTS)
    s = servicer(Clock(NOW), airports)
    await s.SearchFlights(flight(), Context())
    airports.replace([("ORD", "America/Chicago")])  # ATL is gone
    with pytest.raises(ValidationError) as caught:
        await s.SearchFlights(flight(), Context())
    assert [v.field for v in caught.value.violations] == ["destination"]


async def test_a_failing_request_fails_every_time() -> None:
    s = servicer(Clock(NOW), AirportDirectory(AIRPORTS))
    bad = flight("2026-05-01")
    for _ in range(2):
        with pytest.raises(ValidationError):
            await s.SearchFlights(bad, Context())


def hotel(check_in: str = "2026-06-01") -> pb.SearchHotelsRequest:
    return pb.SearchHotelsRequest(
        destination=pb.HotelDestination(code="PAR"),
        check_in_date=check_in,
        check_out_date="2026-06-05",
    )


async def test_hotel_requests_are_judged_again_on_a_new_date() -> None:
    clock = Clock(NOW)
    hotels = Echo()
    s = servicer(clock, AirportDirectory(AIRPORTS), hotels)
    first = await s.SearchHotels(hotel(), Context())
    assert await s.SearchHotels(hotel(), Context()) is first
    # A day later the 1st is past everywhere on Earth (UTC-12 is on the 2nd).
    clock.now += timedelta(days=1, hours=9).total_seconds()
    with pytest.raises(ValidationError) as caught:
        await s.SearchHotels(hotel(), Context())
    assert [v.field for v in caught.value.violations] == ["check_in_date"]


def test_memo_is_bounded_and_skips_long_requests() -> None:
    memo: ValidationMemo[str] = ValidationMemo(entries=2)
    memo.put(b"a", 1, "A")
    memo.put(b"b", 1, "B")
    assert memo.get(b"a", lambda _v: 1) == "A"  # now the most recent
    memo.put(b"c", 1, "C")
    assert memo.get(b"b", lambda _v: 1) is None
    assert memo.get(b"a", lambda _v: 1) == "A"
    assert memo.get(b"a", lambda _v: 2) is None  # another basis
    memo.put(b"x" * (MEMO_MAX_REQUEST_BYTES + 1), 1, "X")
    assert memo.get(b"x" * (MEMO_MAX_REQUEST_BYTES + 1), lambda _v: 1) is None
