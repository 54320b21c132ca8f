"""The seed generator against real PostgreSQL, at the ``tiny`` scale: plausible rows,
deterministic (same options, same rows) and idempotent (a rerun changes nothing)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    create_async_engine,
)

from inventory_seed.generator import CURRENCY, SeedOptions, block_minutes, great_circle_km
from inventory_seed.seed import SeedError, seed
from search_service.models import Airport, Cabin, Fare, Flight
from tests.utils.db import temporary_database

KEYS = {"airports": "iata_code", "airlines": "iata_code", "flights": "id", "fares": "id"}
CABIN_ORDER = [c.value for c in Cabin]


async def checksums(conn: AsyncConnection) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every column of every row, per inventory table."""
    sums = {}
    for table, key in KEYS.items():
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                    f"ORDER BY t.{key}), '')) "
                    f"FROM {table} t"
                )
            )
        ).one()
        sums[table] = (row[0], row[1])
    return sums


async def checksums_of(engine: AsyncEngine) -> dict[str, tuple[int, str]]:
    async with engine.connect() as conn:
        return await checksums(conn)


async def test_counts_are_those_of_the_tiny_scale(search_db_conn: AsyncConnection) -> None:
    sums = await checksums(search_db_conn)
    assert sums["airports"][0] == 20
    assert sums["airlines"][0] == 8
    assert 250 <= sums["flights"][0] <= 400
    per_flight = await search_db_conn.execute(text("SELECT count(*) FROM fares GROUP BY flight_id"))
    assert set(per_flight.scalars()) <= {2, 3, 4}
    unserved = await search_db_conn.execute(
        text(
            "SELECT iata_code FROM airports a WHERE NOT EXISTS "
            "(SELECT FROM flights f WHERE f.origin = a.iata_code)"
        )
    )
    assert unserved.all() == []


async def test_airports_are_real_with_iana_time_zones(search_db_conn: AsyncConnection) -> None:
    airports = {
        a.iata_code: a
        for a in (
            await search_db_conn.execute(
                select(Airport.iata_code, Airport.city, Airport.timezone, Airport.latitude)
            )
        )
    }
    assert {"ATL", "LHR", "DXB", "HND"} <= set(airports)
    assert airports["LHR"].timezone == "Europe/London"
    assert airports["LHR"].city == "London"
    assert 51 < airports["LHR"].latitude < 52
    for a in airports.values():
        ZoneInfo(a.timezone)  # raises for anything that is not an IANA name


async def test_flights_last_as_long_as_their_distance_says(search_db_conn: AsyncConnection) -> None:
    rows = await search_db_conn.execute(
        text(
            "SELECT f.departure_at, f.arrival_at, o.latitude, o.longitude, d.latitude, d.longitude "
            "FROM flights f JOIN airports o ON o.iata_code = f.origin "
            "JOIN airports d ON d.iata_code = f.destination"
        )
    )
    count = 0
    for departure, arrival, olat, olon, dlat, dlon in rows:
        count += 1
        assert arrival > departure
        minutes = (arrival - departure) / timedelta(minutes=1)
        distance = great_circle_km(olat, olon, dlat, dlon)
        assert minutes == block_minutes(distance)
        assert minutes % 5 == 0
        # Independent sanity: airliner block speeds.
        assert 150 <= distance / (minutes / 60) <= 900
    assert count > 0


async def test_flights_fly_on_the_seeded_days_at_fixed_local_times(
    search_db_conn: AsyncConnection, search_seed_options: SeedOptions
) -> None:
    zones = {
        code: ZoneInfo(tz)
        for code, tz in await search_db_conn.execute(select(Airport.iata_code, Airport.timezone))
    }
    schedule: dict[tuple[str, int], set[tuple[str, str, object, timedelta]]] = defaultdict(set)
    first = search_seed_options.start_date
    last = first + timedelta(days=search_seed_options.days - 1)
    for f in await search_db_conn.execute(select(Flight.__table__)):
        local = f.departure_at.astimezone(zones[f.origin])
        assert first <= local.date() <= last
        schedule[(f.airline_code, f.flight_number)].add(
            (f.origin, f.destination, local.time(), f.arrival_at - f.departure_at)
        )
    # A flight number is one service: same route, local departure time and duration daily.
    assert all(len(variants) == 1 for variants in schedule.values())


async def test_fares_are_consistent(search_db_conn: AsyncConnection) -> None:
    # Through the ORM: what the service's repository code will see.
    session = AsyncSession(bind=search_db_conn)
    fares = (await session.execute(select(Fare).order_by(Fare.flight_id, Fare.id))).scalars().all()
    await session.close()
    assert fares
    for flight_id, group in itertools.groupby(fares, key=lambda f: f.flight_id):
        cabins = list(group)
        assert [c.cabin for c in cabins] == sorted((c.cabin for c in cabins), key=CABIN_ORDER.index)
        prices = [c.price for c in cabins]
        assert prices == sorted(prices) and len(set(prices)) == len(prices), flight_id
        assert cabins[0].cabin == "ECONOMY"
    for f in fares:
        assert isinstance(f.price, Decimal) and isinstance(f.change_fee, Decimal)
        assert f.price == f.price.quantize(Decimal("0.01")) and f.price > 0
        assert 0 <= f.seats_available <= f.seats_total
        assert f.currency == CURRENCY and f.version == 1
        if f.cabin in ("BUSINESS", "FIRST"):
            assert f.refundable
    # Some variety: not every price or load is the same.
    assert len({f.price for f in fares}) > len(fares) // 2
    assert any(f.seats_available == 0 for f in fares)
    assert (
        any(f.seats_available == f.seats_total for f in fares)
        or len({f.seats_available for f in fares}) > 10
    )


async def test_same_options_give_identical_rows_in_another_database(
    search_engine: AsyncEngine, search_seed_options: SeedOptions
) -> None:
    expected = await checksums_of(search_engine)
    async with temporary_database() as url:
        engine = create_async_engine(url)
        try:
            await seed(engine, search_seed_options)
            assert await checksums_of(engine) == expected
            other_seed = SeedOptions(
                search_seed_options.scale,
                search_seed_options.seed + 1,
                search_seed_options.days,
                search_seed_options.start_date,
            )
            await seed(engine, other_seed)
            changed = await checksums_of(engine)
            assert changed["flights"] != expected["flights"]
            assert changed["airports"] == expected["airports"]  # same scale, same airports
        finally:
            await engine.dispose()


async def test_rerun_leaves_the_same_data(
    search_engine: AsyncEngine, search_seed_options: SeedOptions
) -> None:
    before = await checksums_of(search_engine)
    report = await seed(search_engine, search_seed_options)
    assert await checksums_of(search_engine) == before
    assert report.flights == before["flights"][0] and report.fares == before["fares"][0]
    # The identity sequences were moved past the copied ids.
    async with search_engine.connect() as conn, conn.begin() as transaction:
        any_flight = (await conn.execute(select(Flight.__table__).limit(1))).one()
        new_id = (
            await conn.execute(
                insert(Flight)
                .values(
                    airline_code=any_flight.airline_code,
                    flight_number=9999,
                    origin=any_flight.origin,
                    destination=any_flight.destination,
                    departure_at=any_flight.departure_at,
                    arrival_at=any_flight.arrival_at,
                )
                .returning(Flight.id)
            )
        ).scalar_one()
        assert new_id == before["flights"][0] + 1
        await transaction.rollback()


async def test_seed_refuses_an_unmigrated_database() -> None:
    async with temporary_database(migrated=False) as url:
        engine = create_async_engine(url)
        try:
            with pytest.raises(SeedError, match="migrate"):
                await seed(engine, _one_day())
        finally:
            await engine.dispose()


def _one_day() -> SeedOptions:
    from inventory_seed.seed import options_from_args

    return options_from_args("tiny", seed=7, days=1)


async def test_referenced_inventory_is_only_emptied_with_cascade() -> None:
    async with temporary_database() as url:
        engine = create_async_engine(url)
        try:
            await seed(engine, _one_day())
            async with engine.begin() as conn:
                await conn.execute(
                    text("CREATE TABLE holds (fare_id bigint NOT NULL REFERENCES fares (id))")
                )
                await conn.execute(text("INSERT INTO holds SELECT min(id) FROM fares"))
            with pytest.raises(SeedError, match=r"holds reference .*--cascade"):
                await seed(engine, _one_day())
            async with engine.connect() as conn:  # the failed run changed nothing
                assert (await conn.execute(text("SELECT count(*) FROM holds"))).scalar() == 1
            await seed(engine, _one_day(), cascade=True)
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT count(*) FROM holds"))).scalar() == 0
                assert (await conn.execute(text("SELECT count(*) FROM fares"))).scalar() > 0
        finally:
            await engine.dispose()
