"""Travel days on which the flight stand-in's default world sells every cabin.

The stand-in's inventory (provider_sim/inventory.py) sells out about 4 % of its
flight-days from the start and leaves a quarter with only a few seats, by a hash of the
date: a test that searches a fixed number of days ahead meets such a day now and then
(LHR-JFK's BA flight 30 days after 2026-12-04 sells nothing). Tests that count on
finding offers of every carrier and cabin of a route take their days from here: the
first day far enough ahead on which they are all on sale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from provider_sim.inventory import inventory_for_seed

# Enough for the largest party these tests price (2 adults; an infant sits on a lap).
MIN_SEATS = 3
SEARCH_DAYS = 365


def _on_sale(routes: Iterable[tuple[str, str]], day: date) -> bool:
    inventory = inventory_for_seed()
    for origin, destination in routes:
        flights = inventory.flights(origin, destination, day)
        if not flights:
            return False
        for flight in flights:
            for cabin in flight.service.cabins:
                seats = inventory.initial_seats(flight, cabin)
                if seats < (1 if cabin == "FIRST" else MIN_SEATS):
                    return False
    return True


def open_days(
    ahead: int,
    outbound: Iterable[tuple[str, str]] = (("LHR", "JFK"),),
    stay: int = 7,
    today: date | None = None,
) -> tuple[date, date]:
    """(departure, return): the first departure at least ``ahead`` days after ``today``
    (UTC) on which every flight of ``outbound`` sells every cabin it has, ``stay`` days
    before a return on which every reverse route does the same."""
    outbound = tuple(outbound)
    back = tuple((b, a) for a, b in outbound)
    start = today or datetime.now(UTC).date()
    for offset in range(ahead, ahead + SEARCH_DAYS):
        depart = start + timedelta(days=offset)
        if _on_sale(outbound, depart) and _on_sale(back, depart + timedelta(days=stay)):
            return depart, depart + timedelta(days=stay)
    raise LookupError(f"no day within {SEARCH_DAYS} days sells every cabin of {outbound}")
