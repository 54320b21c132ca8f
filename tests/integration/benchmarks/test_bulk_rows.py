"""The cost curves' bulk rows (benchmarks/bulk_rows.py) in a real, freshly seeded
database: the flights searched are the same at every size, every stored booking is
one the schema accepts and the service could have made (unique references and tickets),
and nothing the booking benchmark checks seat by seat (economy) is touched."""

from __future__ import annotations

import re

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.bulk_rows import FlightHistory, StoredBookings, reference_of
from inventory_seed.seed import options_from_args, seed
from tests.utils.db import temporary_database

UPCOMING = "SELECT count(*) FROM flights WHERE departure_at > now()"


async def test_flight_history_and_stored_bookings() -> None:
    async with temporary_database() as url:
        engine = create_async_engine(url)
        try:
            report = await seed(engine, options_from_args("tiny", seed=42))
        finally:
            await engine.dispose()
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            upcoming = await conn.fetchval(UPCOMING)
            history = FlightHistory()
            await history.start(conn)
            assert (history.flights, history.fares) == (report.flights, report.fares)
            await history.grow(conn, 3, lambda _m: None)
            assert await conn.fetchval("SELECT count(*) FROM flights") == 3 * report.flights
            assert await conn.fetchval("SELECT count(*) FROM fares") == 3 * report.fares
            # Copies lie in the past: what searches see is unchanged.
            assert await conn.fetchval(UPCOMING) == upcoming
            # Every copied fare belongs to a copy of its flight (same route, same cabin).
            assert not await conn.fetchval(
                """SELECT count(*) FROM fares c JOIN fares o ON o.id = (c.id - 1) % $1 + 1
                   JOIN flights fc ON fc.id = c.flight_id JOIN flights fo ON fo.id = o.flight_id
                   WHERE c.id > $1 AND (c.cabin <> o.cabin OR fc.origin <> fo.origin
                         OR fc.destination <> fo.destination OR c.price <> o.price
                         OR fo.departure_at - fc.departure_at
                            <> make_interval(days => $2 * ((c.id - 1) / $1)::int))""",
                report.fares,
                history.span_days,
            )
            # The services' identity sequences continue after the copies.
            next_id = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('flights','id'))")
            assert next_id == 3 * report.flights + 1

            economy = await conn.fetch(
                "SELECT id, seats_available FROM fares WHERE cabin = 'ECONOMY' ORDER BY id"
            )
            # A booking the service made took the reference stored booking 5 would get.
            await conn.execute(
                "INSERT INTO bookings (reference, user_id, request_id, request_hash, status, "
                "currency, total_price, contact_email, hold_expires_at) VALUES ($1, 'u', 'r', "
                "repeat('0', 64), 'HELD', 'USD', 1, 'a@example.com', now())",
                reference_of(5),
            )
            stored = StoredBookings()
            await stored.grow(conn, 2_500, lambda _m: None, batch=1_000)
            assert stored.stored == 2_500
            counts = dict(
                await conn.fetch(
                    "SELECT status, count(*) FROM bookings WHERE user_id LIKE 'stored-%' "
                    "GROUP BY status"
                )
            )
            # Numbers 1..2,501 but 5: n % 10 == 0 cancelled, == 1 expired, else confirmed.
            assert counts == {"CONFIRMED": 1_999, "CANCELLED": 250, "EXPIRED": 251}
            # Number 5 was skipped, the others got the references computed in Python.
            assert not await conn.fetchval(
                "SELECT count(*) FROM bookings WHERE request_id = 'stored-5'"
            )
            sixth = "SELECT reference FROM bookings WHERE request_id = 'stored-6'"
            assert await conn.fetchval(sixth) == reference_of(6)
            refs = [r[0] for r in await conn.fetch("SELECT reference FROM bookings")]
            assert len(set(refs)) == 2_501
            assert all(re.fullmatch(r"[A-HJKMNP-Z2-9]{6}", r) for r in refs)
            row = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT ticket_number) AS tickets, "
                "count(ticket_number) AS ticketed FROM booking_passengers"
            )
            assert row["n"] == 2_500
            assert row["tickets"] == row["ticketed"] == 2_500 - counts["EXPIRED"]
            # One premium segment per booking; economy fares untouched.
            assert not await conn.fetchval(
                "SELECT count(*) FROM booking_segments s JOIN fares f ON f.id = s.fare_id "
                "WHERE f.cabin = 'ECONOMY'"
            )
            assert await conn.fetchval("SELECT count(*) FROM booking_segments") == 2_500
            assert economy == await conn.fetch(
                "SELECT id, seats_available FROM fares WHERE cabin = 'ECONOMY' ORDER BY id"
            )
            # The service's next ticket and booking id come after the stored ones.
            serial = await conn.fetchval("SELECT last_value FROM ticket_serial_seq")
            assert serial == 2_500 - counts["EXPIRED"]
            # Growing again adds only the difference.
            await stored.grow(conn, 3_000, lambda _m: None)
            assert await conn.fetchval("SELECT count(*) FROM bookings") == 3_001
        finally:
            await conn.close()
