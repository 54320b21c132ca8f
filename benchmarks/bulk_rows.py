"""Large tables made fast, inside PostgreSQL, for the cost curves (benchmarks/cost_curves.py).

Generating 1.2M flights or 5M bookings row by row in Python would take longer than
measuring them. Both grow with ``INSERT ... SELECT`` over ``generate_series`` instead,
one statement per batch, so nothing crosses the wire but the statement:

- ``FlightHistory`` copies the seeded schedule (the inventory generator's rows, made once)
  whole into the past, one earlier span at a time: the table grows as it would by
  keeping the flights already flown, while the days searched (2-55 days ahead) hold the
  same flights at every size, so a search has the same answer at 120k flights as at
  1.2M and only the table around it grows.
- ``StoredBookings`` adds bookings made over the past year by many users (80 % confirmed,
  10 % cancelled, 10 % expired), each with one segment and one passenger, their ids,
  references and ticket numbers drawn like the service's (the identity sequence, a
  6-letter reference from the same alphabet, the ticket sequence). They hold seats of
  the premium cabins only, so the benchmark's economy bookings can still be checked
  seat for seat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

# The booking reference alphabet (ck_bookings_reference_format: A-H J K M N P-Z 2-9).
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_SPACE = len(REFERENCE_ALPHABET) ** 6
# Coprime with 31^6: n -> n * M mod 31^6 is a permutation, so references never repeat
# and land all over the unique index, as random ones do.
REFERENCE_MULTIPLIER = 1_000_003
BOOKING_BATCH = 250_000
# Users the stored bookings belong to: 25 bookings each at 5M.
STORED_USERS = 200_000

Log = Callable[[str], None]


def reference_of(n: int) -> str:
    """The reference of stored booking number ``n`` (what ``_reference_sql`` computes)."""
    x = n * REFERENCE_MULTIPLIER % REFERENCE_SPACE
    return "".join(REFERENCE_ALPHABET[x // 31**i % 31] for i in range(6))


def _reference_sql(n: str) -> str:
    """SQL for the 6-letter reference of stored booking number ``n`` (an SQL bigint)."""
    x = f"(({n} * {REFERENCE_MULTIPLIER}) % {REFERENCE_SPACE})"
    return " || ".join(
        f"substr('{REFERENCE_ALPHABET}', (({x} / {31**i}) % 31)::int + 1, 1)" for i in range(6)
    )


@dataclass
class FlightHistory:
    """The seeded schedule and how many copies of it the tables hold (1 = as seeded)."""

    flights: int = 0  # ids 1..flights are the seeded schedule
    fares: int = 0
    span_days: int = 0  # each copy lies this many days before the next
    copies: int = 1

    async def start(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow(
            "SELECT (SELECT max(id) FROM flights) AS flights, "
            "(SELECT max(id) FROM fares) AS fares, "
            "(SELECT count(*) FROM flights) AS n_flights, "
            "(SELECT count(*) FROM fares) AS n_fares, "
            "(SELECT ceil(extract(epoch FROM max(departure_at) - min(departure_at)) / 86400)"
            " FROM flights) AS days"
        )
        if row["flights"] != row["n_flights"] or row["fares"] != row["n_fares"]:
            raise RuntimeError("expected freshly seeded inventory (ids 1..n)")
        self.flights, self.fares = int(row["flights"]), int(row["fares"])
        # One day more than the schedule spans: no copy's flight meets another's.
        self.span_days = int(row["days"]) + 1

    async def grow(self, conn: asyncpg.Connection, copies: int, log: Log) -> None:
        """Adds earlier copies until the tables hold ``copies`` of the schedule, then
        VACUUM ANALYZE (as autovacuum would have by then)."""
        if copies <= self.copies:
            return
        await conn.execute("SET statement_timeout = 0")
        await conn.execute("SET synchronous_commit = off")
        for k in range(self.copies, copies):
            async with conn.transaction():
                await conn.execute(
                    """
                    INSERT INTO flights (id, airline_code, flight_number, origin, destination,
                                         departure_at, arrival_at)
                    SELECT id + $1::bigint * $2::int, airline_code, flight_number, origin,
                           destination, departure_at - make_interval(days => $2::int * $3::int),
                           arrival_at - make_interval(days => $2::int * $3::int)
                    FROM flights WHERE id <= $1::bigint ORDER BY id""",
                    self.flights,
                    k,
                    self.span_days,
                )
                await conn.execute(
                    """
                    INSERT INTO fares (id, flight_id, cabin, price, currency, seats_total,
                                       seats_available, refundable, change_fee, version,
                                       updated_at)
                    SELECT id + $1::bigint * $3::int, flight_id + $2::bigint * $3::int, cabin,
                           price, currency, seats_total, seats_available, refundable,
                           change_fee, version,
                           updated_at - make_interval(days => $3::int * $4::int)
                    FROM fares WHERE id <= $1::bigint ORDER BY id""",
                    self.fares,
                    self.flights,
                    k,
                    self.span_days,
                )
            log(f"  copy {k + 1} of {copies}: {(k + 1) * self.flights:,} flights")
        self.copies = copies
        for table in ("flights", "fares"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        await conn.execute("VACUUM ANALYZE flights, fares")


@dataclass
class StoredBookings:
    """Bookings already stored, added in batches up to a total."""

    stored: int = 0
    _next: int = 1  # the next stored booking's number

    async def grow(
        self, conn: asyncpg.Connection, total: int, log: Log, batch: int = BOOKING_BATCH
    ) -> None:
        if total <= self.stored:
            return
        await conn.execute("SET statement_timeout = 0")
        await conn.execute("SET synchronous_commit = off")
        # The premium fares the stored bookings hold seats on, numbered 0..n-1.
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS premium AS "
            "SELECT row_number() OVER (ORDER BY fa.id) - 1 AS i, fa.id, fa.price, "
            "fa.refundable, fa.change_fee, fa.cabin, f.airline_code || f.flight_number AS "
            "designator, f.origin, f.destination, f.departure_at, f.arrival_at "
            "FROM fares fa JOIN flights f ON f.id = fa.flight_id WHERE fa.cabin <> 'ECONOMY'"
        )
        premium = await conn.fetchval("SELECT count(*) FROM premium")
        if not premium:
            raise RuntimeError("no premium-cabin fares to hold stored bookings")
        await conn.execute("CREATE INDEX IF NOT EXISTS premium_i ON premium (i)")
        while self.stored < total:
            first = self._next
            last = first + min(batch, total - self.stored) - 1
            status = await conn.execute(_STORE_SQL, first, last, premium, STORED_USERS)
            # One passenger per booking inserted; a reference the load's bookings took
            # already is skipped (ON CONFLICT), and made up by the next batch.
            self.stored += int(status.split()[-1])
            self._next = last + 1
            log(f"  {self.stored:,} stored bookings")
        await conn.execute("VACUUM ANALYZE bookings, booking_segments, booking_passengers")


_STORE_SQL = f"""
WITH g AS (
    SELECT n,
           CASE n % 10 WHEN 0 THEN 'CANCELLED' WHEN 1 THEN 'EXPIRED' ELSE 'CONFIRMED' END AS st,
           now() - make_interval(secs => 3600 + (n * 7919) % 31536000) AS t
    FROM generate_series($1::bigint, $2::bigint) AS n),
b AS (
    INSERT INTO bookings (reference, user_id, request_id, request_hash, status, currency,
                          total_price, contact_email, hold_expires_at, created_at, updated_at,
                          confirmed_at, cancelled_at, expired_at, refund_amount,
                          payment_reference, payment_token_hash)
    SELECT {_reference_sql("n")}, 'stored-user-' || (n % $4::int), 'stored-' || n,
           md5(n::text) || md5((-n)::text), st, 'USD', 100 + n % 900,
           'user' || (n % $4::int) || '@example.com', t + interval '15 minutes', t,
           t + interval '5 minutes',
           CASE WHEN st <> 'EXPIRED' THEN t + interval '5 minutes' END,
           CASE WHEN st = 'CANCELLED' THEN t + interval '1 day' END,
           CASE WHEN st = 'EXPIRED' THEN t + interval '15 minutes' END,
           CASE WHEN st = 'CANCELLED' THEN 0 END,
           CASE WHEN st <> 'EXPIRED' THEN 'pay_stored_' || n END,
           CASE WHEN st <> 'EXPIRED' THEN md5((n * 31)::text) || md5((n * 37)::text) END
    FROM g ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING id, request_id, status),
s AS (
    INSERT INTO booking_segments (booking_id, position, offer_index, offer_id, fare_id,
                                  flight_designator, origin, destination, departure_at,
                                  arrival_at, cabin, seats, price, refundable, change_fee)
    SELECT b.id, 0, 0, 'stored-offer-' || b.id, p.id, p.designator, p.origin, p.destination,
           p.departure_at, p.arrival_at, p.cabin, 1, p.price, p.refundable, p.change_fee
    FROM b JOIN premium p ON p.i = b.id % $3::bigint)
INSERT INTO booking_passengers (booking_id, position, given_name, family_name, birth_date,
                                passenger_type, document_type, document_number,
                                document_country, document_expire_date, ticket_number)
SELECT b.id, 0, 'Ada', 'Lovelace', DATE '1985-12-10', 'ADULT', 'PASSPORT',
       'P' || lpad((b.id % 100000000)::text, 8, '0'), 'GB', DATE '2036-01-31',
       CASE WHEN b.status <> 'EXPIRED'
            THEN '990' || lpad(nextval('ticket_serial_seq')::text, 10, '0') END
FROM b"""
