"""Every inventory invariant is enforced by PostgreSQL itself: a bad row is rejected by
the named constraint whoever writes it. Each test runs in a rolled-back transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from search_service.models import Airline, Airport, Fare, Flight

DEPARTURE = datetime(2030, 1, 15, 8, 0, tzinfo=UTC)


def airport(**overrides: Any) -> dict[str, Any]:
    row = {
        "iata_code": "QQA",
        "name": "Test Field",
        "city": "Testville",
        "country": "ZZ",
        "latitude": 10.5,
        "longitude": -20.25,
        "timezone": "Europe/Lisbon",
    }
    return row | overrides


def airline(**overrides: Any) -> dict[str, Any]:
    return {"iata_code": "Q9", "name": "Test Air"} | overrides


def flight(**overrides: Any) -> dict[str, Any]:
    row = {
        "airline_code": "Q9",
        "flight_number": 123,
        "origin": "QQA",
        "destination": "QQB",
        "departure_at": DEPARTURE,
        "arrival_at": DEPARTURE + timedelta(hours=2),
    }
    return row | overrides


def fare(flight_id: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "flight_id": flight_id,
        "cabin": "ECONOMY",
        "price": Decimal("199.99"),
        "currency": "USD",
        "seats_total": 150,
        "seats_available": 150,
        "refundable": False,
        "change_fee": Decimal("0.00"),
    }
    return row | overrides


@pytest.fixture
async def conn(search_db_conn: AsyncConnection) -> AsyncConnection:
    """The rolled-back connection, with two airports and an airline of our own."""
    await search_db_conn.execute(insert(Airport), [airport(), airport(iata_code="QQB")])
    await search_db_conn.execute(insert(Airline), [airline()])
    return search_db_conn


@pytest.fixture
async def flight_id(conn: AsyncConnection) -> int:
    result = await conn.execute(insert(Flight).values(flight()).returning(Flight.id))
    return result.scalar_one()


async def rejected(conn: AsyncConnection, statement: Any, constraint: str) -> None:
    """``statement`` fails on ``constraint``; the transaction stays usable."""
    with pytest.raises(IntegrityError) as failure:
        async with conn.begin_nested():  # rolled back to by the failure
            await conn.execute(statement)
    assert constraint in str(failure.value.orig)


async def test_valid_rows_are_accepted(conn: AsyncConnection, flight_id: int) -> None:
    cabins = ("ECONOMY", "PREMIUM_ECONOMY", "BUSINESS", "FIRST")
    await conn.execute(insert(Fare), [fare(flight_id, cabin=c) for c in cabins])
    count = await conn.execute(select(Fare.id).where(Fare.flight_id == flight_id))
    assert len(count.all()) == 4
    version = await conn.execute(select(Fare.version).where(Fare.flight_id == flight_id))
    assert set(version.scalars()) == {1}  # the database default


@pytest.mark.parametrize(
    "overrides, constraint",
    [
        ({"iata_code": "QQa"}, "ck_airports_iata_code_format"),
        ({"iata_code": "Q1Q"}, "ck_airports_iata_code_format"),
        ({"iata_code": "QQ"}, "ck_airports_iata_code_format"),  # CHAR(3) pads to "QQ "
        ({"country": "z1"}, "ck_airports_country_format"),
        ({"latitude": 90.5}, "ck_airports_latitude_range"),
        ({"latitude": -91.0}, "ck_airports_latitude_range"),
        ({"longitude": 180.01}, "ck_airports_longitude_range"),
        ({"timezone": ""}, "ck_airports_timezone_not_empty"),
        ({"timezone": None}, "timezone"),  # NOT NULL
        ({"iata_code": "QQB"}, "pk_airports"),  # duplicate
    ],
)
async def test_bad_airport(
    conn: AsyncConnection, overrides: dict[str, Any], constraint: str
) -> None:
    await rejected(conn, insert(Airport).values(airport(**overrides)), constraint)


@pytest.mark.parametrize("code", ["q9", "Q-", "Q", "?!"])
async def test_bad_airline_code(conn: AsyncConnection, code: str) -> None:
    await rejected(
        conn, insert(Airline).values(airline(iata_code=code)), "ck_airlines_iata_code_format"
    )


async def test_airline_code_may_have_a_digit(conn: AsyncConnection) -> None:
    await conn.execute(insert(Airline).values(airline(iata_code="6Q")))


@pytest.mark.parametrize(
    "overrides, constraint",
    [
        ({"destination": "QQA"}, "ck_flights_origin_not_destination"),
        ({"arrival_at": DEPARTURE - timedelta(minutes=5)}, "ck_flights_arrival_after_departure"),
        ({"arrival_at": DEPARTURE}, "ck_flights_arrival_after_departure"),
        ({"flight_number": 0}, "ck_flights_flight_number_range"),
        ({"flight_number": 10000}, "ck_flights_flight_number_range"),
        ({"origin": "QQZ"}, "fk_flights_origin_airports"),
        ({"destination": "QQZ"}, "fk_flights_destination_airports"),
        ({"airline_code": "Q8"}, "fk_flights_airline_code_airlines"),
    ],
)
async def test_bad_flight(
    conn: AsyncConnection, overrides: dict[str, Any], constraint: str
) -> None:
    await rejected(conn, insert(Flight).values(flight(**overrides)), constraint)


async def test_duplicate_flight_number_and_departure(conn: AsyncConnection, flight_id: int) -> None:
    # Same airline, number and departure instant, whatever the route.
    await rejected(
        conn,
        insert(Flight).values(flight(origin="QQB", destination="QQA")),
        "uq_flights_airline_code_flight_number_departure_at",
    )
    # The same flight number the next day is another flight.
    await conn.execute(
        insert(Flight).values(
            flight(
                departure_at=DEPARTURE + timedelta(days=1),
                arrival_at=DEPARTURE + timedelta(days=1, hours=2),
            )
        )
    )


@pytest.mark.parametrize(
    "overrides, constraint",
    [
        ({"price": Decimal("-1.00")}, "ck_fares_price_positive"),
        ({"price": Decimal("0.00")}, "ck_fares_price_positive"),
        ({"seats_available": 151}, "ck_fares_seats_available_range"),
        ({"seats_available": -1}, "ck_fares_seats_available_range"),
        ({"seats_total": 0, "seats_available": 0}, "ck_fares_seats_total_positive"),
        ({"cabin": "COACH"}, "ck_fares_cabin_known"),
        ({"cabin": "economy"}, "ck_fares_cabin_known"),
        ({"currency": "usd"}, "ck_fares_currency_format"),
        ({"change_fee": Decimal("-0.01")}, "ck_fares_change_fee_not_negative"),
        ({"version": 0}, "ck_fares_version_positive"),
    ],
)
async def test_bad_fare(
    conn: AsyncConnection, flight_id: int, overrides: dict[str, Any], constraint: str
) -> None:
    await rejected(conn, insert(Fare).values(fare(flight_id, **overrides)), constraint)


async def test_fare_of_unknown_flight(conn: AsyncConnection) -> None:
    await rejected(conn, insert(Fare).values(fare(-1)), "fk_fares_flight_id_flights")


async def test_one_fare_per_cabin_and_flight(conn: AsyncConnection, flight_id: int) -> None:
    await conn.execute(insert(Fare).values(fare(flight_id)))
    await rejected(
        conn,
        insert(Fare).values(fare(flight_id, price=Decimal("99.00"))),
        "uq_fares_flight_id_cabin",
    )


async def test_sold_out_fare_is_valid(conn: AsyncConnection, flight_id: int) -> None:
    await conn.execute(insert(Fare).values(fare(flight_id, seats_available=0)))


async def test_decrementing_below_zero_is_rejected(conn: AsyncConnection, flight_id: int) -> None:
    """What keeps a racing booking from overselling: the row cannot go negative."""
    await conn.execute(insert(Fare).values(fare(flight_id, seats_available=1)))
    await conn.execute(
        text("UPDATE fares SET seats_available = seats_available - 1 WHERE flight_id = :id"),
        {"id": flight_id},
    )
    await rejected(
        conn,
        text(
            "UPDATE fares SET seats_available = seats_available - 1 WHERE flight_id = :id"
        ).bindparams(id=flight_id),
        "ck_fares_seats_available_range",
    )


async def test_deleting_a_flight_deletes_its_fares(conn: AsyncConnection, flight_id: int) -> None:
    await conn.execute(insert(Fare), [fare(flight_id), fare(flight_id, cabin="BUSINESS")])
    await conn.execute(delete(Flight).where(Flight.id == flight_id))
    left = await conn.execute(select(Fare.id).where(Fare.flight_id == flight_id))
    assert left.all() == []


async def test_money_round_trips_as_exact_decimal(conn: AsyncConnection, flight_id: int) -> None:
    price = Decimal("0.10") + Decimal("0.20")
    session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint")
    session.add(
        Fare(
            flight_id=flight_id,
            cabin="ECONOMY",
            price=price,
            currency="EUR",
            seats_total=10,
            seats_available=3,
            refundable=True,
            change_fee=Decimal("25.5"),
        )
    )
    await session.flush()
    session.expunge_all()
    stored = (await session.execute(select(Fare).where(Fare.flight_id == flight_id))).scalar_one()
    assert isinstance(stored.price, Decimal) and stored.price == Decimal("0.30")
    assert isinstance(stored.change_fee, Decimal) and str(stored.change_fee) == "25.50"
    assert stored.version == 1 and stored.updated_at.tzinfo is not None
    await session.close()


async def test_money_columns_round_to_cents(conn: AsyncConnection, flight_id: int) -> None:
    await conn.execute(insert(Fare).values(fare(flight_id, price=Decimal("10.005"))))
    price = (await conn.execute(select(Fare.price).where(Fare.flight_id == flight_id))).scalar_one()
    assert price == Decimal("10.01")  # NUMERIC(12,2) rounds half away from zero
