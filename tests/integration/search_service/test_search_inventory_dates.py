"""A search that finds nothing says which dates the inventory has flights on
(SearchFlightsResponse.inventory_dates): non-stop on the route if it has any, else from
the origin; local dates at the origin; never on a search that found something."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from inventory_seed.generator import SeedOptions
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from tests.utils.search_cluster import InProcessSearch, in_process_search, search_env

# Local dates at the origin of its upcoming departures, as PostgreSQL computes them.
_RANGE = """
SELECT min((f.departure_at AT TIME ZONE a.timezone)::date),
       max((f.departure_at AT TIME ZONE a.timezone)::date)
FROM flights f JOIN airports a ON a.iata_code = f.origin
WHERE f.origin = :origin AND f.departure_at >= now() {route}
"""


@pytest.fixture
async def search(
    search_db_url: str, redis_url: str, key_prefix: str
) -> AsyncIterator[InProcessSearch]:
    async with in_process_search(search_env(search_db_url, redis_url, key_prefix)) as s:
        yield s


async def local_range(
    engine: AsyncEngine, origin: str, destination: str | None = None
) -> tuple[date, date]:
    route = "AND f.destination = :destination" if destination else ""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(_RANGE.format(route=route)), {"origin": origin, "destination": destination}
            )
        ).one()
    return row[0], row[1]


def request(origin: str, destination: str, day: date, **extra: object) -> pb.SearchFlightsRequest:
    return pb.SearchFlightsRequest(
        origin=origin,
        destination=destination,
        departure_date=day.isoformat(),
        passengers=pb.Passengers(adults=1),
        cabin=pb.CABIN_ECONOMY,
        **extra,
    )


async def test_nothing_found_names_the_routes_dates(
    search: InProcessSearch, search_engine: AsyncEngine, search_seed_options: SeedOptions
) -> None:
    async with search_engine.connect() as conn:
        origin, destination = (
            await conn.execute(
                text(
                    "SELECT origin, destination FROM flights WHERE departure_at >= now() "
                    "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1"
                )
            )
        ).one()
    first, last = await local_range(search_engine, origin, destination)
    # The seed's days, local at the origin (a late flight may fall on the next day).
    seeded_last = search_seed_options.start_date + timedelta(days=search_seed_options.days - 1)
    assert search_seed_options.start_date - timedelta(days=1) <= first <= last
    assert last <= seeded_last + timedelta(days=1)

    after = last + timedelta(days=10)
    response = await search.stub.SearchFlights(request(origin, destination, after), timeout=10)
    assert response.total_size == 0
    assert response.inventory_dates == pb.InventoryDates(
        first_date=first.isoformat(), last_date=last.isoformat(), nonstop_to_destination=True
    )


async def test_a_route_without_nonstop_flights_gets_the_origins_dates(
    search: InProcessSearch, search_engine: AsyncEngine
) -> None:
    async with search_engine.connect() as conn:
        origin, destination = (
            await conn.execute(
                text(
                    "SELECT o.iata_code, d.iata_code FROM airports o, airports d "
                    "WHERE o.iata_code <> d.iata_code "
                    "AND EXISTS (SELECT 1 FROM flights f WHERE f.origin = o.iata_code) "
                    "AND NOT EXISTS (SELECT 1 FROM flights f "
                    "  WHERE f.origin = o.iata_code AND f.destination = d.iata_code) "
                    "ORDER BY 1, 2 LIMIT 1"
                )
            )
        ).one()
    first, last = await local_range(search_engine, origin)
    day = datetime.now(UTC).date() + timedelta(days=60)
    response = await search.stub.SearchFlights(
        request(origin, destination, day, filters=pb.SearchFilters(max_stops=0)), timeout=10
    )
    assert response.total_size == 0
    assert response.inventory_dates == pb.InventoryDates(
        first_date=first.isoformat(), last_date=last.isoformat(), nonstop_to_destination=False
    )


async def test_no_hint_when_something_was_found(
    search: InProcessSearch, search_engine: AsyncEngine
) -> None:
    async with search_engine.connect() as conn:
        origin, destination, departure, zone = (
            await conn.execute(
                text(
                    "SELECT f.origin, f.destination, f.departure_at, a.timezone "
                    "FROM flights f JOIN fares fa ON fa.flight_id = f.id "
                    "JOIN airports a ON a.iata_code = f.origin "
                    "WHERE fa.cabin = 'ECONOMY' AND fa.seats_available > 0 "
                    "AND f.departure_at >= now() + interval '1 day' ORDER BY f.id LIMIT 1"
                )
            )
        ).one()
    day = departure.astimezone(ZoneInfo(zone)).date()
    response = await search.stub.SearchFlights(request(origin, destination, day), timeout=10)
    assert response.total_size > 0
    assert not response.HasField("inventory_dates")
