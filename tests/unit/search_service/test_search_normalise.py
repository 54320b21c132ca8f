"""Amadeus offers in our shape: local times to instants (with an inferred offset for
airports we do not know), the same filters as inventory, and de-duplication."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from search_service.airports import AirportDirectory
from search_service.itineraries import INVENTORY, Journey, Option, inventory_identity
from search_service.normalise import merge_provider_options, option_from_offer
from search_service.pricing import Party
from search_service.query import Cabin, SearchQuery, SortOrder
from search_service.repository import Leg
from services.providers.amadeus.offers import parse_duration, parse_offer

AIRPORTS = AirportDirectory(
    [("LHR", "Europe/London"), ("JFK", "America/New_York"), ("CDG", "Europe/Paris")]
)
DAY = date(2031, 1, 15)
NOW = datetime(2031, 1, 1, tzinfo=UTC)


def segment(
    origin: str,
    destination: str,
    dep: str,
    arr: str,
    duration: str,
    carrier: str = "BA",
    number: str = "117",
) -> dict[str, Any]:
    return {
        "departure": {"iataCode": origin, "at": dep},
        "arrival": {"iataCode": destination, "at": arr},
        "carrierCode": carrier,
        "number": number,
        "duration": duration,
    }


def offer(
    *journeys: list[dict[str, Any]], total: str = "250.00", seats: int = 9, cabin: str = "ECONOMY"
) -> dict[str, Any]:
    return {
        "numberOfBookableSeats": seats,
        "itineraries": [{"segments": j} for j in journeys],
        "price": {"currency": "USD", "total": total, "grandTotal": total},
        "travelerPricings": [{"fareDetailsBySegment": [{"cabin": cabin}]}],
    }


def query(**changes: Any) -> SearchQuery:
    values: dict[str, Any] = {
        "origin": "LHR",
        "destination": "JFK",
        "departure_date": DAY,
        "return_date": None,
        "party": Party(),
        "cabin": Cabin.ECONOMY,
    }
    values.update(changes)
    return SearchQuery(**values)


def normalise_offer(
    raw: dict[str, Any], airports: AirportDirectory, provider: str
) -> Option | None:
    """The adapter's parsing, then search's Option."""
    offer = parse_offer(raw, airports)
    return option_from_offer(offer, provider) if offer is not None else None


LHR_JFK = segment("LHR", "JFK", "2031-01-15T10:00:00", "2031-01-15T13:00:00", "PT8H")


def test_parse_duration() -> None:
    assert parse_duration("PT2H10M") == timedelta(hours=2, minutes=10)
    assert parse_duration("P1DT1H") == timedelta(days=1, hours=1)
    assert parse_duration("PT45M") == timedelta(minutes=45)
    assert parse_duration("") is None and parse_duration("2h") is None


def test_local_times_become_instants() -> None:
    option = normalise_offer(offer([LHR_JFK]), AIRPORTS, "amadeus")
    assert option is not None
    leg = option.journeys[0].legs[0]
    assert leg.departure_at == datetime(2031, 1, 15, 10, tzinfo=UTC)
    assert leg.arrival_at == datetime(2031, 1, 15, 18, tzinfo=UTC)
    assert option.total_cents == 25000 and option.provider == "amadeus"
    assert option.identity.startswith("P:BA117@")


def test_unknown_connection_airport_offset_is_inferred() -> None:
    # KEF (not in our directory) is UTC+0: the first flight lands at 14:00 local = UTC.
    raw = offer(
        [
            segment(
                "LHR", "KEF", "2031-01-15T11:00:00", "2031-01-15T14:00:00", "PT3H", "FI", "451"
            ),
            segment(
                "KEF", "JFK", "2031-01-15T16:00:00", "2031-01-15T18:00:00", "PT7H", "FI", "615"
            ),
        ]
    )
    option = normalise_offer(raw, AIRPORTS, "amadeus")
    assert option is not None
    first, second = option.journeys[0].legs
    assert first.arrival_at == datetime(2031, 1, 15, 14, tzinfo=UTC)
    assert second.departure_at == datetime(2031, 1, 15, 16, tzinfo=UTC)
    assert second.arrival_at == datetime(2031, 1, 15, 23, tzinfo=UTC)


def test_unusable_offers_are_skipped() -> None:
    assert normalise_offer({"price": {}}, AIRPORTS, "amadeus") is None
    assert normalise_offer(offer([]), AIRPORTS, "amadeus") is None
    bad = offer([LHR_JFK], total="lots")
    assert normalise_offer(bad, AIRPORTS, "amadeus") is None
    # First departure from an airport we cannot place in time.
    unknown = offer([segment("KEF", "JFK", "2031-01-15T10:00:00", "2031-01-15T12:00:00", "PT7H")])
    assert normalise_offer(unknown, AIRPORTS, "amadeus") is None


def inventory_option(leg: Leg) -> Option:
    journey = Journey((leg,), (leg.price_cents or 0,))
    return Option(
        INVENTORY,
        (journey,),
        leg.price_cents or 0,
        "USD",
        leg.seats_available,
        False,
        inventory_identity([journey]),
    )


def merge(q: SearchQuery, inventory: list[Option], provider: list[dict[str, Any]]) -> list[Option]:
    options = [o for o in (normalise_offer(r, AIRPORTS, "amadeus") for r in provider) if o]
    return merge_provider_options(
        q,
        inventory,
        options,
        AIRPORTS,
        NOW,
        min_connection_minutes=45,
        max_layover_minutes=360,
        limit=500,
    )


def test_duplicates_of_inventory_are_dropped_and_cheapest_provider_kept() -> None:
    leg = Leg(
        7,
        1,
        "BA",
        117,
        "LHR",
        "JFK",
        datetime(2031, 1, 15, 10, tzinfo=UTC),
        datetime(2031, 1, 15, 18, tzinfo=UTC),
        30000,
        "USD",
        5,
        False,
        0,
    )
    other = segment("LHR", "JFK", "2031-01-15T12:00:00", "2031-01-15T15:00:00", "PT8H", "AA", "100")
    merged = merge(
        query(),
        [inventory_option(leg)],
        [
            offer([LHR_JFK], total="200.00"),  # same flight as inventory: dropped
            offer([other], total="300.00"),
            offer([other], total="280.00"),  # same flights, cheaper: kept
        ],
    )
    assert [(o.source, o.total_cents) for o in merged] == [
        ("PROVIDER", 28000),
        ("INVENTORY", 30000),
    ]


def test_provider_offers_pass_the_same_filters() -> None:
    base = offer([LHR_JFK])
    assert merge(query(), [], [base])
    assert not merge(query(cabin=Cabin.BUSINESS), [], [base])  # cabin upgraded: not asked
    assert not merge(query(party=Party(3, 0, 0)), [], [offer([LHR_JFK], seats=2)])
    assert not merge(query(excluded_airlines=("BA",)), [], [base])
    assert not merge(query(included_airlines=("AA",)), [], [base])
    assert not merge(query(window_start_minute=11 * 60), [], [base])  # departs 10:00 local
    assert merge(query(window_start_minute=10 * 60, window_end_minute=10 * 60), [], [base])
    assert not merge(query(max_total_cents=24_999, max_total_currency="USD"), [], [base])
    assert merge(query(max_total_cents=25_000, max_total_currency="USD"), [], [base])
    assert not merge(query(max_total_cents=99_999, max_total_currency="EUR"), [], [base])
    assert not merge(query(departure_date=DAY + timedelta(days=2)), [], [base])
    assert merge(query(departure_date=DAY + timedelta(days=2), flexible_days=2), [], [base])
    assert not merge(query(return_date=DAY + timedelta(days=3)), [], [base])  # one-way offer


def test_provider_connections_obey_our_rules() -> None:
    tight = offer(
        [
            segment("LHR", "CDG", "2031-01-15T08:00:00", "2031-01-15T10:15:00", "PT1H15M"),
            segment(
                "CDG", "JFK", "2031-01-15T10:45:00", "2031-01-15T13:00:00", "PT8H15M", "AF", "10"
            ),
        ]
    )
    assert not merge(query(), [], [tight])  # 30 minutes to connect
    assert not merge(query(max_stops=0), [], [tight])


def test_round_trip_offers() -> None:
    back = segment("JFK", "LHR", "2031-01-17T19:00:00", "2031-01-18T07:00:00", "PT7H", "BA", "118")
    merged = merge(
        query(return_date=DAY + timedelta(days=2), sort=SortOrder.DURATION),
        [],
        [offer([LHR_JFK], [back])],
    )
    assert len(merged) == 1 and len(merged[0].journeys) == 2
