"""Journeys and round trips from inventory legs: connection bounds, turnaround, the
departure window, price filter, and a total, deterministic order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from search_service.airports import AirportDirectory
from search_service.convert import itinerary_pb, proto_sort_key
from search_service.itineraries import build_inventory_options, option_key
from search_service.pricing import Party
from search_service.query import Cabin, SearchQuery, SortOrder
from search_service.repository import Leg

AIRPORTS = AirportDirectory([("AAA", "UTC"), ("BBB", "UTC"), ("CCC", "Asia/Tokyo")])
DAY = date(2031, 5, 1)
T0 = datetime(2031, 5, 1, 8, tzinfo=UTC)

_ids = iter(range(1, 10_000))


def leg(
    origin: str,
    destination: str,
    dep: datetime,
    minutes: int = 60,
    price: int = 10000,
    seats: int = 9,
    airline: str = "XX",
) -> Leg:
    fid = next(_ids)
    return Leg(
        fid,
        1,
        airline,
        fid,
        origin,
        destination,
        dep,
        dep + timedelta(minutes=minutes),
        price,
        "USD",
        seats,
        True,
        0,
    )


def query(**changes: Any) -> SearchQuery:
    values: dict[str, Any] = {
        "origin": "AAA",
        "destination": "BBB",
        "departure_date": DAY,
        "return_date": None,
        "party": Party(),
        "cabin": Cabin.ECONOMY,
    }
    values.update(changes)
    return SearchQuery(**values)


def build(q: SearchQuery, rows: list[tuple[int, tuple[Leg, ...]]], limit: int = 500):
    return build_inventory_options(
        q, rows, AIRPORTS, min_connection_minutes=45, max_layover_minutes=360, limit=limit
    )


def test_connection_bounds_are_inclusive() -> None:
    first = leg("AAA", "CCC", T0)
    arrive = first.arrival_at
    rows = [
        (0, (first, leg("CCC", "BBB", arrive + timedelta(minutes=m)))) for m in (44, 45, 360, 361)
    ]
    options = build(query(), rows)
    gaps = sorted(
        int((o.journeys[0].legs[1].departure_at - arrive).total_seconds() // 60) for o in options
    )
    assert gaps == [45, 360]


def test_round_trip_turnaround() -> None:
    out = leg("AAA", "BBB", T0, minutes=120)
    backs = [leg("BBB", "AAA", out.arrival_at + timedelta(minutes=m)) for m in (30, 45, 90)]
    rows = [(0, (out,)), *((1, (b,)) for b in backs)]
    options = build(query(return_date=DAY), rows)
    assert [o.journeys[1].legs[0] for o in options] == backs[1:]
    assert all(o.total_cents == 20000 for o in options)


def test_window_is_local_time_at_origin() -> None:
    tokyo = AirportDirectory([("CCC", "Asia/Tokyo"), ("BBB", "UTC")])
    flight = leg("CCC", "BBB", datetime(2031, 5, 1, 0, 30, tzinfo=UTC))  # 09:30 in Tokyo
    q = query(origin="CCC", window_start_minute=9 * 60, window_end_minute=9 * 60 + 30)
    assert build_inventory_options(
        q, [(0, (flight,))], tokyo, min_connection_minutes=45, max_layover_minutes=360, limit=10
    )
    q = query(origin="CCC", window_start_minute=0, window_end_minute=9 * 60 + 29)
    assert not build_inventory_options(
        q, [(0, (flight,))], tokyo, min_connection_minutes=45, max_layover_minutes=360, limit=10
    )


def test_price_filter_and_currency() -> None:
    rows = [(0, (leg("AAA", "BBB", T0, price=p),)) for p in (9_999, 10_000, 10_001)]
    options = build(query(max_total_cents=10_000, max_total_currency="USD"), rows)
    assert [o.total_cents for o in options] == [9_999, 10_000]
    assert not build(query(max_total_cents=10**9, max_total_currency="EUR"), rows)


def test_order_is_total_and_deterministic() -> None:
    # Same price, duration and departure: the identity decides, whatever the input order.
    twins = [leg("AAA", "BBB", T0) for _ in range(5)]
    rows = [(0, (t,)) for t in twins]
    for order in SortOrder:
        forward = build(query(sort=order), rows)
        backward = build(query(sort=order), list(reversed(rows)))
        assert [o.identity for o in forward] == [o.identity for o in backward]
        keys = [option_key(order, o) for o in forward]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_limit_keeps_the_best() -> None:
    rows = [
        (0, (leg("AAA", "BBB", T0 + timedelta(minutes=i), price=20000 - i),)) for i in range(50)
    ]
    options = build(query(), rows, limit=5)
    assert [o.total_cents for o in options] == [19951, 19952, 19953, 19954, 19955]


def test_proto_sort_key_agrees_with_option_key() -> None:
    first = leg("AAA", "CCC", T0, price=12345)
    second = leg("CCC", "BBB", first.arrival_at + timedelta(hours=1), price=1)
    back = leg("BBB", "AAA", T0 + timedelta(days=1))
    rows = [(0, (first, second)), (1, (back,))]
    party = Party(2, 1, 1)
    for order in SortOrder:
        [option] = build(query(return_date=DAY, party=party, sort=order), rows)
        item = itinerary_pb(option, Cabin.ECONOMY, party, AIRPORTS)
        assert proto_sort_key(order, item) == option_key(order, option)
