"""All of the booking service's SQL.

Seat counts only ever change through conditional, state-guarded statements:

- a hold is ``UPDATE fares SET seats_available = seats_available - n
  WHERE id = :id AND seats_available >= n``, one per fare, in ascending fare id order
  (every transaction that touches several fares locks them in the same order, so they
  cannot deadlock), all in the transaction that inserts the booking: all or none. A
  booking on one fare is one statement (``HOLD_ONE_FARE_SQL``) whose inserts read
  from that UPDATE's result: no seats taken, no rows written;
- seats go back only in the transaction whose ``UPDATE bookings ... WHERE status IN
  (...)`` actually changed the booking's status (cancel, expiry), so two cancels, or a
  cancel and the sweeper, can never both give the same seats back;
- confirm is ``UPDATE bookings ... WHERE status = 'HELD' AND hold_expires_at > now()``,
  and so is cancel of a hold; they and the sweeper's ``... WHERE status = 'HELD' AND
  hold_expires_at <= now()`` lock the same row, so exactly one of them wins, and a hold
  past its expiry is the sweeper's alone (its seats come back once, with the expiry).

Provider bookings (flows/upstream_orders.py) add a PENDING status while the provider's order
is placed: inserted PENDING, then either attached to the order (-> HELD) or deleted
(seats returned) by a guarded statement, so exactly one outcome wins. Cancel and expiry
mark a provider order CANCELLING in the same statement that changes the status; the
order is then deleted at the provider, outside any transaction. Work on a provider
order is claimed with a lease (``provider_attempt_at``) rather than a row lock, so no
transaction stays open across an HTTP call.

Times (hold expiry, confirm and cancel times) come from PostgreSQL's clock, never a
replica's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from booking_service.store.hotels import (
    CLAIM_UNREAD_CTES,
    PACKAGE_INSERTED_COLUMNS,
    STAY_AND_PACKAGE_COLUMNS,
    STAY_AND_PACKAGE_JOIN,
    HotelStayRecord,
    PackageRecord,
    package_inserted,
    stay_and_package,
    stay_insert_args,
    stay_insert_ctes,
)
from booking_service.store.models import (
    BookingStatus,
    HotelOrderStatus,
    PackageState,
    ProviderOrderStatus,
)
from services.db import pooled
from services.flights import FlightLeg, local_time

PENDING = BookingStatus.PENDING.value
HELD = BookingStatus.HELD.value
CONFIRMED = BookingStatus.CONFIRMED.value
CANCELLED = BookingStatus.CANCELLED.value
EXPIRED = BookingStatus.EXPIRED.value
ORDERING = ProviderOrderStatus.ORDERING.value
ORDERED = ProviderOrderStatus.ORDERED.value
CANCELLING = ProviderOrderStatus.CANCELLING.value
ORDER_CANCELLED = ProviderOrderStatus.CANCELLED.value


class SeatsUnavailable(Exception):
    """A fare has fewer seats left than the booking needs (the transaction is lost)."""

    def __init__(self, fare_id: int, seats_available: int) -> None:
        super().__init__(f"fare {fare_id}: {seats_available} seats left")
        self.fare_id = fare_id
        self.seats_available = seats_available


class ReferenceTaken(Exception):
    """The generated booking reference exists already: pick another and retry."""


# -- what the store returns ---------------------------------------------------------
# Plain immutable rows (the models in models.py define the schema; this module reads
# and writes it with hand-written SQL through asyncpg).


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentRecord:
    """A booking's flight. ``booking_id`` and ``position`` are 0 on one not yet
    written (insert_booking sets them)."""

    offer_index: int
    offer_id: str
    fare_id: int | None
    leg: FlightLeg
    cabin: str
    seats: int
    price: Decimal  # for all passengers
    refundable: bool
    change_fee: Decimal  # per passenger
    booking_id: int = 0
    position: int = 0


@dataclass(frozen=True, slots=True)
class PassengerRecord:
    """A booking's passenger. ``booking_id`` and ``position`` are 0 on one not yet
    written (insert_booking sets them); ``ticket_number`` comes at confirmation of a
    booking with flights. The document columns are all None for a hotel guest who
    gave none."""

    given_name: str
    family_name: str
    birth_date: date
    passenger_type: str
    document_type: str | None
    document_number: str | None
    document_country: str | None
    document_expire_date: date | None
    ticket_number: str | None = None
    booking_id: int = 0
    position: int = 0


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A booking with its segments and passengers (each in position order)."""

    id: int
    reference: str
    user_id: str
    request_id: str
    request_hash: str
    status: str
    currency: str
    total_price: Decimal
    contact_email: str
    contact_phone: str | None
    hold_expires_at: datetime
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    expired_at: datetime | None
    refund_amount: Decimal | None
    payment_reference: str | None
    payment_token_hash: str | None
    provider: str | None
    provider_remark: str | None
    provider_order_status: str | None
    provider_order_id: str | None
    provider_record_locator: str | None
    provider_attempt_at: datetime | None
    segments: tuple[SegmentRecord, ...] = ()
    passengers: tuple[PassengerRecord, ...] = ()
    # A hotel stay and its package row (store/hotels.py), filled in by the flows.
    hotel: HotelStayRecord | None = None
    package: PackageRecord | None = None


_NOT_COLUMNS = ("segments", "passengers", "hotel", "package")


def _columns(record: type, prefix: str = "") -> str:
    names = [f.name for f in fields(record) if f.name not in _NOT_COLUMNS]
    return ", ".join(prefix + name for name in names)


BOOKING_COLUMNS = _columns(BookingRecord)


@dataclass(frozen=True, slots=True, kw_only=True)
class FareRow:
    """An inventory fare now, with its flight (local times at its airports' zones)."""

    fare_id: int
    leg: FlightLeg
    cabin: str
    price: Decimal
    currency: str
    refundable: bool
    change_fee: Decimal
    seats_available: int


@dataclass(frozen=True, slots=True)
class HeldFare:
    """A fare's price at the moment its seats were taken (under the row lock)."""

    price: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class NewBookingRow:
    reference: str
    user_id: str
    request_id: str
    request_hash: str
    currency: str
    total_price: Decimal
    contact_email: str
    contact_phone: str | None
    hold_seconds: float
    # Provider bookings: inserted PENDING, with the remark that tags the order attempt.
    provider: str | None = None
    provider_remark: str | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    booking_ids: list[int]
    references: list[str]
    seats_returned: int
    provider_orders: int = 0  # provider orders now to be cancelled


@dataclass(frozen=True, slots=True)
class OrderWork:
    """A provider order claimed for work (placing it is settled by lookup, or it is
    to be deleted)."""

    booking_id: int
    reference: str
    remark: str
    order_id: str | None
    provider: str = ""  # the provider the order is placed with


# -- SQL ------------------------------------------------------------------------------
# Each statement is prepared once per connection (asyncpg's statement cache).

_FARES = """
SELECT f.id AS fare_id, fl.airline_code || fl.flight_number::text AS flight_designator,
       fl.origin, fl.destination, fl.departure_at, fl.arrival_at, f.cabin, f.price,
       f.currency, f.refundable, f.change_fee, f.seats_available,
       o.timezone AS origin_time_zone, d.timezone AS destination_time_zone
FROM fares f
JOIN flights fl ON fl.id = f.flight_id
JOIN airports o ON o.iata_code = fl.origin
JOIN airports d ON d.iata_code = fl.destination
WHERE f.id = ANY($1::bigint[])"""

# A booking with its segments and passengers in one row: arrays of the tables' own
# row types, which asyncpg decodes into records with the column names.
_DETAILS = (
    "ARRAY(SELECT s FROM booking_segments s WHERE s.booking_id = b.id "
    "ORDER BY s.position) AS segments, "
    "ARRAY(SELECT p FROM booking_passengers p WHERE p.booking_id = b.id "
    "ORDER BY p.position) AS passengers"
)
_SELECT = f"SELECT {_columns(BookingRecord, 'b.')}, {_DETAILS} FROM bookings b"
_BY_REQUEST = f"{_SELECT} WHERE b.user_id = $1 AND b.request_id = $2"
_BY_USER_REFERENCE = (
    f"{_SELECT} WHERE b.user_id = $1 AND b.reference = $2 AND b.status <> '{PENDING}'"
)
_BY_REFERENCE = f"{_SELECT} WHERE b.reference = $1 AND b.status <> '{PENDING}'"
_BY_ID = f"{_SELECT} WHERE b.id = $1"
# The same with the booking's hotel stay and package row (NULLs without): one round
# trip where the package flows would read the stay apart.
_SELECT_WITH_STAY = (
    f"SELECT {_columns(BookingRecord, 'b.')}, {_DETAILS}, {STAY_AND_PACKAGE_COLUMNS} "
    f"FROM bookings b {STAY_AND_PACKAGE_JOIN}"
)
_BY_USER_REFERENCE_WITH_STAY = (
    f"{_SELECT_WITH_STAY} WHERE b.user_id = $1 AND b.reference = $2 AND b.status <> '{PENDING}'"
)
_BY_ID_WITH_STAY = f"{_SELECT_WITH_STAY} WHERE b.id = $1"
_LIST = (
    f"{_SELECT} WHERE b.user_id = $1 AND b.status <> '{PENDING}' "
    f"AND ($2::text IS NULL OR b.status = $2) AND ($3::bigint IS NULL OR b.id < $3) "
    f"ORDER BY b.id DESC LIMIT $4"
)

# Writing a booking: the booking row ($1-$11), then its passengers ($12-$19, arrays)
# and segments ($20-$34, arrays) from the row just inserted (``b``).
_BOOKING_INSERT = """
    INSERT INTO bookings (reference, user_id, request_id, request_hash, status, currency,
                          total_price, contact_email, contact_phone, hold_expires_at,
                          provider, provider_remark, provider_order_status,
                          provider_attempt_at)"""
_BOOKING_VALUES = f"""
    $1::text, $2::text, $3::text, $4::text,
    CASE WHEN $10::text IS NULL THEN '{HELD}' ELSE '{PENDING}' END,
    $5::text, $6::numeric, $7::text, $8::text, now() + make_interval(secs => $9::float8),
    $10::text, $11::text, CASE WHEN $10::text IS NULL THEN NULL ELSE '{ORDERING}' END,
    CASE WHEN $10::text IS NULL THEN NULL ELSE now() END"""
_DETAILS_CTES = """,
p AS (
    INSERT INTO booking_passengers (booking_id, position, given_name, family_name,
                                    birth_date, passenger_type, document_type,
                                    document_number, document_country,
                                    document_expire_date)
    SELECT b.id, p.n - 1, p.given_name, p.family_name, p.birth_date, p.passenger_type,
           p.document_type, p.document_number, p.document_country, p.document_expire_date
    FROM b, unnest($12::text[], $13::text[], $14::date[], $15::text[], $16::text[],
                   $17::text[], $18::text[], $19::date[])
         WITH ORDINALITY AS p(given_name, family_name, birth_date, passenger_type,
                              document_type, document_number, document_country,
                              document_expire_date, n)),
s AS (
    INSERT INTO booking_segments (booking_id, position, offer_index, offer_id, fare_id,
                                  flight_designator, origin, destination, departure_at,
                                  arrival_at, cabin, seats, price, refundable, change_fee,
                                  departure_local_time, arrival_local_time)
    SELECT b.id, s.n - 1, s.offer_index, s.offer_id, s.fare_id, s.flight_designator,
           s.origin, s.destination, s.departure_at, s.arrival_at, s.cabin, s.seats,
           s.price, s.refundable, s.change_fee, s.departure_local_time,
           s.arrival_local_time
    FROM b, unnest($20::int[], $21::text[], $22::bigint[], $23::text[], $24::text[],
                   $25::text[], $26::timestamptz[], $27::timestamptz[], $28::text[],
                   $29::int[], $30::numeric[], $31::bool[], $32::numeric[], $33::text[],
                   $34::text[])
         WITH ORDINALITY AS s(offer_index, offer_id, fare_id, flight_designator, origin,
                              destination, departure_at, arrival_at, cabin, seats, price,
                              refundable, change_fee, departure_local_time,
                              arrival_local_time, n))"""
_DETAILS_INSERT = f"{_DETAILS_CTES}\nSELECT * FROM b"

# In a transaction (seats taken afterwards): nothing is written if the user's
# request_id is taken (no row comes back).
_INSERT_BOOKING = f"""
WITH b AS ({_BOOKING_INSERT}
    VALUES ({_BOOKING_VALUES})
    ON CONFLICT ON CONSTRAINT uq_bookings_user_id_request_id DO NOTHING
    RETURNING {BOOKING_COLUMNS}){_DETAILS_INSERT}"""

# A fare's cost for a party: the per-adult price times the party's weight (percent of
# an adult, services/fares.py), rounded half up to the cent. PostgreSQL's round()
# rounds halves away from zero, the same for these positive amounts (tested against
# Party.fare_cost).
PARTY_COST_SQL = "round(price * $38::int / 100, 2)"

# A whole hold on one fare as one statement (its own transaction): the seats ($35 of
# fare $36, in currency $5, costing the party $37 at weight $38 unless $37 is NULL),
# and the booking only if they were taken; no row if they were not. A taken
# request_id or reference raises (unique violation) and nothing is written.
HOLD_ONE_FARE_SQL = f"""
WITH f AS (
    UPDATE fares SET seats_available = seats_available - $35::int
    WHERE id = $36::bigint AND seats_available >= $35::int AND currency = $5::text
      AND ($37::numeric IS NULL OR {PARTY_COST_SQL} = $37::numeric)
    RETURNING id),
b AS ({_BOOKING_INSERT}
    SELECT {_BOOKING_VALUES} FROM f
    RETURNING {BOOKING_COLUMNS}){_DETAILS_INSERT}"""
# The same with the booking's hotel stay and package row (HELD), parameters $39 on
# (store/hotels.py stay_insert_ctes); the package row's columns come back too.
HOLD_ONE_FARE_WITH_STAY_SQL = (
    HOLD_ONE_FARE_SQL.removesuffix(_DETAILS_INSERT)
    + _DETAILS_CTES
    + stay_insert_ctes(39)
    + f"\nSELECT b.*, {PACKAGE_INSERTED_COLUMNS} FROM b, k"
)
_FARE_NOW = "SELECT seats_available, price, currency FROM fares WHERE id = $1"

_TAKE_SEATS = """
UPDATE fares SET seats_available = seats_available - $2
WHERE id = $1 AND seats_available >= $2
RETURNING price, currency"""
_SEATS_LEFT = "SELECT seats_available FROM fares WHERE id = $1"
_GIVE_SEATS = "UPDATE fares SET seats_available = seats_available + $2 WHERE id = $1"
_SEATS_OF = """
SELECT fare_id, sum(seats)::int AS seats FROM booking_segments
WHERE booking_id = ANY($1::bigint[]) AND fare_id IS NOT NULL
GROUP BY fare_id ORDER BY fare_id"""

_SET_SEGMENT_PRICES = """
UPDATE booking_segments AS s SET price = p.price
FROM unnest($2::int[], $3::numeric[]) AS p(position, price)
WHERE s.booking_id = $1 AND s.position = p.position"""
_SET_TOTAL = "UPDATE bookings SET total_price = $2 WHERE id = $1"


# Confirm: the guarded status change and a ticket number per passenger of a booking
# with flights (a hotel stay alone is not ticketed), in one statement; the confirmed
# booking with its details, or no row if it did not win.
# ``_confirm_sql(where)``: the booking is picked by ``where`` ($1, plus $5 if it uses
# it); $2 payment reference, $3 payment token hash, $4 ticket number prefix.
def _confirm_ctes(where: str, payment: str, token_hash: str, prefix: str) -> str:
    """CTEs ``b`` (the guarded status change of the booking picked by ``where``) and
    ``t`` (its tickets), with the parameters named."""
    return f"""b AS (
    UPDATE bookings SET status = '{CONFIRMED}', confirmed_at = now(), updated_at = now(),
                        payment_reference = {payment}, payment_token_hash = {token_hash}
    WHERE {where} AND status = '{HELD}' AND hold_expires_at > now()
    RETURNING *),
t AS (
    UPDATE booking_passengers
    SET ticket_number = CASE WHEN EXISTS (
            SELECT 1 FROM booking_segments s WHERE s.booking_id = booking_passengers.booking_id)
        THEN {prefix} || lpad(nextval('ticket_serial_seq')::text, 10, '0') END
    WHERE booking_id = (SELECT id FROM b)
    RETURNING *)"""


# The booking confirmed by _confirm_ctes with its details.
_CONFIRMED_COLUMNS = f"""{_columns(BookingRecord, "b.")},
       ARRAY(SELECT s FROM booking_segments s WHERE s.booking_id = b.id
             ORDER BY s.position) AS segments,
       ARRAY(SELECT ROW(t.*)::booking_passengers FROM t ORDER BY t.position) AS passengers"""


def _confirm_sql(where: str) -> str:
    return f"\nWITH {_confirm_ctes(where, '$2', '$3', '$4')}\nSELECT {_CONFIRMED_COLUMNS}\nFROM b"


# By id, once the booking has been read (and its payment authorised for its total).
CONFIRM_SQL = _confirm_sql("id = $1")
# By the user's reference, unread: only a booking with no provider order (whose order
# must be checked first). $1 user id, $5 reference.
# Nor a booking with a hotel stay (confirmed in steps: flows/packages.py).
_UNREAD = (
    "user_id = $1 AND reference = $5 AND provider IS NULL AND NOT EXISTS "
    "(SELECT 1 FROM booking_packages p WHERE p.booking_id = bookings.id)"
)
CONFIRM_UNREAD_SQL = _confirm_sql(_UNREAD)
# The same, and in the same statement the user's booking with its stay and package row
# when it is a package (which that confirmation leaves alone; its steps start from this
# read, flows/packages.py): ``confirmed`` says which, no row for anything else. The
# package's columns are NULL on the confirmed booking (joined on false: typed NULLs).
# With a lease ($6) the package is claimed too, as HotelStore.claim_confirm would
# (CLAIM_UNREAD_CTES, $7: flights' provider orders are checked before the hotel's):
# ``claimed_fence`` is the fence taken (NULL: not claimed) and ``claimed_ordering``
# whether the stay went ORDERING; the row read is the package as it was before.
CONFIRM_UNREAD_OR_PACKAGE_SQL = f"""
WITH {_confirm_ctes(_UNREAD, "$2", "$3", "$4")},
{CLAIM_UNREAD_CTES}
SELECT true AS confirmed, {_CONFIRMED_COLUMNS}, {STAY_AND_PACKAGE_COLUMNS},
       NULL::bigint AS claimed_fence, false AS claimed_ordering
FROM b LEFT JOIN booking_hotel_stays h ON false LEFT JOIN booking_packages p ON false
UNION ALL
SELECT false, {_columns(BookingRecord, "b.")}, {_DETAILS}, {STAY_AND_PACKAGE_COLUMNS},
       c.fence, EXISTS (SELECT 1 FROM o)
FROM bookings b JOIN booking_hotel_stays h ON h.booking_id = b.id
JOIN booking_packages p ON p.booking_id = b.id LEFT JOIN c ON c.booking_id = b.id
WHERE b.user_id = $1 AND b.reference = $5 AND b.status <> '{PENDING}'"""
_BOOKING_FIELDS = tuple(f.name for f in fields(BookingRecord) if f.name not in _NOT_COLUMNS)

# A package's hotel order placed (flows/packages.py, steps 3 to 5 after the create), in
# one statement, each part only if the one before it happened: the package row locked
# under the fence (package, stay, booking: the order every statement on them takes);
# the stay ORDERING -> ORDERED with the supplier's order; the booking HELD ->
# CONFIRMED as CONFIRM_SQL (tickets) if still held within its hold; the package
# CONFIRMED. Always one row: ``ordered`` (the stay), then the confirmed booking with
# its details, stay and package row, or NULLs if it was not confirmed. $1 booking id,
# $2 fence, $3 supplier order id, $4 confirmation number, $5 payment reference, $6
# payment token hash, $7 ticket number prefix.
CONFIRM_ORDERED_SQL = f"""
WITH f AS (
    SELECT booking_id FROM booking_packages WHERE booking_id = $1 AND fence = $2 FOR UPDATE),
h AS (
    UPDATE booking_hotel_stays
    SET order_status = '{HotelOrderStatus.ORDERED.value}', supplier_order_id = $3,
        confirmation_number = $4
    WHERE booking_id = $1 AND order_status = '{HotelOrderStatus.ORDERING.value}'
      AND EXISTS (SELECT 1 FROM f)
    RETURNING *),
{_confirm_ctes("id = $1 AND EXISTS (SELECT 1 FROM h)", "$5", "$6", "$7")},
p AS (
    UPDATE booking_packages
    SET state = '{PackageState.CONFIRMED.value}', updated_at = now(), lease_until = NULL
    WHERE booking_id = $1 AND fence = $2 AND EXISTS (SELECT 1 FROM b)
    RETURNING *)
SELECT EXISTS (SELECT 1 FROM h) AS ordered, {_CONFIRMED_COLUMNS}, {STAY_AND_PACKAGE_COLUMNS}
FROM (SELECT 1) AS one LEFT JOIN b ON true LEFT JOIN h ON true LEFT JOIN p ON true"""


@dataclass(frozen=True, slots=True)
class PackageClaim:
    """How BookingStore.confirm_unread claims a package: its lease, and whether a
    flights' provider order is checked before the hotel is ordered (then a booking
    with one keeps its stay NONE)."""

    lease_seconds: float
    checks_flight_orders: bool


@dataclass(frozen=True, slots=True)
class UnreadConfirmation:
    """BookingStore.confirm_unread's outcome: the booking confirmed; or the package
    as read, and (fence, stay taken ORDERING) if the statement claimed it."""

    confirmed: BookingRecord | None = None
    package: BookingRecord | None = None
    claimed: tuple[int, bool] | None = None


@dataclass(frozen=True, slots=True)
class OrderedConfirmation:
    """CONFIRM_ORDERED_SQL's outcome: whether the stay was recorded ORDERED (False: the
    fence was lost, nothing written), and the confirmed booking with its stay and
    package row (None: not confirmed, the booking no longer held)."""

    ordered: bool
    booking: BookingRecord | None


# Cancel and expiry: an order at the provider is to be deleted.
_ORDER_TO_CANCEL = (
    f"CASE WHEN provider_order_status = '{ORDERED}' THEN '{CANCELLING}' "
    f"ELSE provider_order_status END"
)
_CANCEL = f"""
UPDATE bookings
SET status = '{CANCELLED}', cancelled_at = now(), updated_at = now(),
    -- In SET, status is still the old value: nothing was charged for a hold.
    refund_amount = CASE WHEN status = '{CONFIRMED}' THEN $2::numeric ELSE 0.00 END,
    -- The canceller deletes the order at once; the lease keeps sweepers off it.
    provider_order_status = {_ORDER_TO_CANCEL}, provider_attempt_at = now()
WHERE id = $1
  AND (status = '{CONFIRMED}' OR (status = '{HELD}' AND hold_expires_at > now()))
RETURNING id"""

_EXPIRE_DUE = f"""
WITH due AS (
    SELECT id FROM bookings
    WHERE status = '{HELD}' AND hold_expires_at <= now()
    ORDER BY hold_expires_at LIMIT $1
    FOR UPDATE SKIP LOCKED)
UPDATE bookings AS b
SET status = '{EXPIRED}', expired_at = now(), updated_at = now(),
    provider_order_status = {_ORDER_TO_CANCEL}, provider_attempt_at = NULL
FROM due WHERE b.id = due.id AND b.status = '{HELD}'
RETURNING b.id, b.reference, b.provider_order_status"""

_ATTACH_ORDER = f"""
UPDATE bookings
SET status = '{HELD}', provider_order_status = '{ORDERED}', provider_order_id = $2,
    provider_record_locator = $3, provider_attempt_at = NULL, updated_at = now()
WHERE id = $1 AND status = '{PENDING}'
RETURNING id"""
_LOCK_PENDING = f"SELECT id FROM bookings WHERE id = $1 AND status = '{PENDING}' FOR UPDATE"
_DELETE = "DELETE FROM bookings WHERE id = $1"
_RELEASE_LEASE = "UPDATE bookings SET provider_attempt_at = NULL WHERE id = $1"
_CLAIM_ORDER_WORK = """
WITH free AS (
    SELECT id FROM bookings
    WHERE provider_order_status = $1
      AND (provider_attempt_at IS NULL
           OR provider_attempt_at <= now() - make_interval(secs => $2::float8))
    ORDER BY provider_attempt_at ASC NULLS FIRST LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE bookings AS b SET provider_attempt_at = now()
FROM free WHERE b.id = free.id AND b.provider_order_status = $1
RETURNING b.id, b.reference, b.provider_remark, b.provider_order_id, b.provider"""
_ORDER_CANCELLED = f"""
UPDATE bookings
SET provider_order_status = '{ORDER_CANCELLED}', provider_attempt_at = NULL,
    updated_at = now()
WHERE id = $1 AND provider_order_status = '{CANCELLING}'
RETURNING id"""


class BookingStore:
    """All booking SQL, over an asyncpg pool (services.db.create_pool)."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    def _connection(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        """A pooled connection; a database that cannot be reached is UNAVAILABLE."""
        return pooled(self._pool, self._acquire_timeout)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[BookingTx]:
        """One transaction: committed on a normal exit, rolled back on any exception."""
        async with self._connection() as connection, connection.transaction():
            yield BookingTx(connection)

    async def fares(self, fare_ids: Iterable[int]) -> dict[int, FareRow]:
        ids = sorted(set(fare_ids))
        if not ids:
            return {}
        async with self._connection() as connection:
            rows = await connection.fetch(_FARES, ids)
        return {row["fare_id"]: _fare(row) for row in rows}

    async def find_by_request(self, user_id: str, request_id: str) -> BookingRecord | None:
        """Pending bookings included (a retry must not start a second order)."""
        async with self._connection() as connection:
            return await _one(connection, _BY_REQUEST, user_id, request_id)

    async def get(self, user_id: str, reference: str) -> BookingRecord | None:
        async with self._connection() as connection:
            return await BookingTx(connection).get(user_id, reference)

    async def by_reference(self, reference: str) -> BookingRecord | None:
        """Any user's booking (for a download link, whose token names the booking)."""
        async with self._connection() as connection:
            return await _one(connection, _BY_REFERENCE, reference)

    async def load(self, booking_id: int) -> BookingRecord | None:
        async with self._connection() as connection:
            return await _one(connection, _BY_ID, booking_id)

    async def get_with_stay(self, user_id: str, reference: str) -> BookingRecord | None:
        """``get`` with the booking's hotel stay and package row, if it has them."""
        async with self._connection() as connection:
            row = await connection.fetchrow(_BY_USER_REFERENCE_WITH_STAY, user_id, reference)
        return None if row is None else _record_with_stay(row)

    async def load_with_stay(self, booking_id: int) -> BookingRecord | None:
        """``load`` with the booking's hotel stay and package row, if it has them."""
        async with self._connection() as connection:
            row = await connection.fetchrow(_BY_ID_WITH_STAY, booking_id)
        return None if row is None else _record_with_stay(row)

    async def confirm_ordered(
        self,
        booking_id: int,
        fence: int,
        order_id: str,
        confirmation: str,
        payment_reference: str,
        payment_token_hash: str,
        ticket_prefix: str,
    ) -> OrderedConfirmation:
        """A package's hotel order recorded and the booking and package confirmed, in
        one statement (CONFIRM_ORDERED_SQL)."""
        async with self._connection() as connection:
            row = await connection.fetchrow(
                CONFIRM_ORDERED_SQL,
                booking_id,
                fence,
                order_id,
                confirmation,
                payment_reference,
                payment_token_hash,
                ticket_prefix,
            )
        confirmed = row["id"] is not None and row["package_state"] is not None
        return OrderedConfirmation(row["ordered"], _record_with_stay(row) if confirmed else None)

    async def page(
        self, user_id: str, status: str | None, before_id: int | None, limit: int
    ) -> Sequence[BookingRecord]:
        """The user's bookings, newest (highest id) first, below ``before_id``."""
        async with self._connection() as connection:
            rows = await connection.fetch(_LIST, user_id, status, before_id, limit)
        return [_record(row) for row in rows]

    async def confirm(
        self, booking_id: int, payment_reference: str, payment_token_hash: str, ticket_prefix: str
    ) -> BookingRecord | None:
        """HELD and unexpired -> CONFIRMED with a ticket number per passenger (if it has
        flights), atomically (one statement): the confirmed booking; None if the booking
        was not (any more) held or its hold had run out."""
        async with self._connection() as connection:
            row = await connection.fetchrow(
                CONFIRM_SQL, booking_id, payment_reference, payment_token_hash, ticket_prefix
            )
        return None if row is None else _record(row)

    async def confirm_unread(
        self,
        user_id: str,
        reference: str,
        payment_reference: str,
        payment_token_hash: str,
        ticket_prefix: str,
        claim: PackageClaim | None = None,
    ) -> UnreadConfirmation:
        """``confirm`` for the user's booking ``reference`` without reading it first:
        the confirmed booking; or, if it is a package (confirmed in steps:
        flows/packages.py), the booking with its stay and package row as read by this
        statement, and with ``claim`` the package claimed for this payment in the same
        statement if it could be (as HotelStore.claim_confirm); or nothing if it is
        not the user's, not (any more) held, past its hold or a provider booking
        (whose order is checked before confirming: read it and use ``confirm``)."""
        async with self._connection() as connection:
            row = await connection.fetchrow(
                CONFIRM_UNREAD_OR_PACKAGE_SQL,
                user_id,
                payment_reference,
                payment_token_hash,
                ticket_prefix,
                reference,
                None if claim is None else float(claim.lease_seconds),
                False if claim is None else claim.checks_flight_orders,
            )
        if row is None:
            return UnreadConfirmation()
        if row["confirmed"]:
            return UnreadConfirmation(confirmed=_record(row))
        fence = row["claimed_fence"]
        return UnreadConfirmation(
            package=_record_with_stay(row),
            claimed=None if fence is None else (int(fence), bool(row["claimed_ordering"])),
        )

    async def hold_one_fare(
        self,
        row: NewBookingRow,
        passengers: Sequence[PassengerRecord],
        segments: Sequence[SegmentRecord],
        fare_id: int,
        seats: int,
        cost: Decimal | None,
        weight_percent: int,
        stay: HotelStayRecord | None = None,
    ) -> BookingRecord | HeldFare | None:
        """A hold on one inventory fare as one statement: the booking (with its
        passengers and segments, and ``stay`` with its package row if given) if
        ``seats`` were taken from ``fare_id`` while the fare, in the booking's currency,
        costs the party (``weight_percent`` of an adult) ``cost`` (any price if None).
        If not, nothing is written and the fare's price now comes back (a
        ``HeldFare``), or SeatsUnavailable is raised if too few seats are left. None if
        the user's request_id is taken. Raises ReferenceTaken if the reference is."""
        args = [*booking_args(row, passengers, segments), seats, fare_id, cost, weight_percent]
        if stay is not None:
            args.extend(stay_insert_args(stay))
        async with self._connection() as connection:
            try:
                inserted = await connection.fetchrow(
                    HOLD_ONE_FARE_SQL if stay is None else HOLD_ONE_FARE_WITH_STAY_SQL, *args
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "uq_bookings_reference":
                    raise ReferenceTaken(row.reference) from None
                if exc.constraint_name == "uq_bookings_user_id_request_id":
                    return None
                raise
            if inserted is not None and stay is not None:
                booking = _new_record(inserted, passengers, segments)
                return replace(
                    booking,
                    hotel=replace(stay, booking_id=booking.id),
                    package=package_inserted(booking.id, inserted),
                )
            if inserted is not None:
                return _new_record(inserted, passengers, segments)
            fare = await connection.fetchrow(_FARE_NOW, fare_id)
        if fare is None or fare["seats_available"] < seats:
            raise SeatsUnavailable(fare_id, fare["seats_available"] if fare else 0)
        return HeldFare(fare["price"], fare["currency"])

    async def expire_due(self, batch_size: int) -> Expired:
        """Expires up to ``batch_size`` held bookings whose hold has run out and gives
        their seats back, in one transaction. Rows another replica is expiring (or a
        confirm or cancel holds) are skipped, never waited for."""
        async with self.transaction() as tx:
            rows = await tx.connection.fetch(_EXPIRE_DUE, batch_size)
            ids = [row["id"] for row in rows]
            seats = await tx.return_seats_of(ids)
        orders = sum(1 for row in rows if row["provider_order_status"] == CANCELLING)
        return Expired(ids, [row["reference"] for row in rows], seats, orders)

    # -- provider orders ------------------------------------------------------------

    async def attach_order(self, booking_id: int, order_id: str, record_locator: str) -> bool:
        """PENDING -> HELD with the provider's order; False if the booking is no longer
        pending (another replica settled it)."""
        async with self._connection() as connection:
            won = await connection.fetchval(_ATTACH_ORDER, booking_id, order_id, record_locator)
        return won is not None

    async def release_pending(self, booking_id: int) -> bool:
        """Deletes a PENDING booking whose order was not placed, giving its inventory seats
        back; False if it is no longer pending. Frees its request_id for a retry."""
        async with self.transaction() as tx:
            if await tx.connection.fetchval(_LOCK_PENDING, booking_id) is None:
                return False
            await tx.return_seats_of([booking_id])
            await tx.connection.execute(_DELETE, booking_id)
        return True

    async def release_lease(self, booking_id: int) -> None:
        """Lets the next sweep take up the booking's provider order at once."""
        async with self._connection() as connection:
            await connection.execute(_RELEASE_LEASE, booking_id)

    async def claim_order_work(
        self, order_status: str, lease_seconds: float, limit: int
    ) -> list[OrderWork]:
        """Up to ``limit`` provider orders in ``order_status`` (ORDERING: placed by a
        replica that stopped working on them; CANCELLING) whose lease is free, each now
        leased to the caller for ``lease_seconds``."""
        async with self._connection() as connection:
            rows = await connection.fetch(
                _CLAIM_ORDER_WORK, order_status, float(lease_seconds), limit
            )
        return [
            OrderWork(
                row["id"],
                row["reference"],
                row["provider_remark"],
                row["provider_order_id"],
                row["provider"] or "",
            )
            for row in rows
        ]

    async def order_cancelled(self, booking_id: int) -> bool:
        """CANCELLING -> CANCELLED, once the order is gone at the provider."""
        async with self._connection() as connection:
            won = await connection.fetchval(_ORDER_CANCELLED, booking_id)
        return won is not None


class BookingTx:
    """Statements run inside one transaction (see BookingStore.transaction)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def get(self, user_id: str, reference: str) -> BookingRecord | None:
        """The user's booking; a pending one is not shown (it may never exist)."""
        return await _one(self.connection, _BY_USER_REFERENCE, user_id, reference)

    async def load(self, booking_id: int) -> BookingRecord:
        booking = await _one(self.connection, _BY_ID, booking_id)
        if booking is None:
            raise LookupError(f"booking {booking_id} vanished inside its transaction")
        return booking

    async def insert_booking(
        self,
        row: NewBookingRow,
        passengers: Sequence[PassengerRecord],
        segments: Sequence[SegmentRecord],
    ) -> BookingRecord | None:
        """The new booking with its passengers and segments (positions in the given
        order; their ``booking_id`` and ``position`` are set here); None, with nothing
        written, if the user's request_id is taken (by a committed booking: a
        concurrent insert with the same key is waited for). Raises ReferenceTaken if
        the reference is."""
        try:
            inserted = await self.connection.fetchrow(
                _INSERT_BOOKING, *booking_args(row, passengers, segments)
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "uq_bookings_reference":
                raise ReferenceTaken(row.reference) from None
            raise
        return None if inserted is None else _new_record(inserted, passengers, segments)

    async def set_prices(
        self, booking_id: int, prices: Mapping[int, Decimal], total: Decimal
    ) -> None:
        """New prices for some segments (by position) and the booking's new total."""
        if prices:
            positions = sorted(prices)
            await self.connection.execute(
                _SET_SEGMENT_PRICES, booking_id, positions, [prices[p] for p in positions]
            )
        await self.connection.execute(_SET_TOTAL, booking_id, total)

    async def hold_seats(self, seats_by_fare: Mapping[int, int]) -> dict[int, HeldFare]:
        """Takes the seats from every fare, in ascending fare id order; raises
        SeatsUnavailable at the first fare without enough (the caller's transaction
        must then roll back, which gives back what was taken before it)."""
        held = {}
        for fare_id in sorted(seats_by_fare):
            row = await self.connection.fetchrow(_TAKE_SEATS, fare_id, seats_by_fare[fare_id])
            if row is None:
                left = await self.connection.fetchval(_SEATS_LEFT, fare_id)
                raise SeatsUnavailable(fare_id, left or 0)
            held[fare_id] = HeldFare(row["price"], row["currency"])
        return held

    async def return_seats_of(self, booking_ids: Sequence[int]) -> int:
        """Gives back the inventory seats of these bookings, in ascending fare id order.
        Call only in the transaction whose guarded status change released them."""
        if not booking_ids:
            return 0
        total = 0
        for row in await self.connection.fetch(_SEATS_OF, list(booking_ids)):
            await self.connection.execute(_GIVE_SEATS, row["fare_id"], row["seats"])
            total += row["seats"]
        return total

    async def cancel(self, booking_id: int, refund_if_confirmed: Decimal) -> bool:
        """HELD (within its hold) or CONFIRMED -> CANCELLED, seats given back; False
        (nothing changed) if, once its row lock was granted, the booking was in neither
        state or its hold had run out (the sweeper expires it and gives the seats
        back)."""
        if await self.connection.fetchval(_CANCEL, booking_id, refund_if_confirmed) is None:
            return False
        await self.return_seats_of([booking_id])
        return True


def booking_args(
    row: NewBookingRow, passengers: Sequence[PassengerRecord], segments: Sequence[SegmentRecord]
) -> list[Any]:
    """Parameters $1-$34 of the booking insert: the row, then one array per column of
    the passengers and of the segments."""
    return [
        row.reference,
        row.user_id,
        row.request_id,
        row.request_hash,
        row.currency,
        row.total_price,
        row.contact_email,
        row.contact_phone,
        float(row.hold_seconds),
        row.provider,
        row.provider_remark,
        *_arrays(
            [
                (
                    p.given_name,
                    p.family_name,
                    p.birth_date,
                    p.passenger_type,
                    p.document_type,
                    p.document_number,
                    p.document_country,
                    p.document_expire_date,
                )
                for p in passengers
            ],
            8,
        ),
        *_arrays(
            [
                (
                    s.offer_index,
                    s.offer_id,
                    s.fare_id,
                    s.leg.flight_designator,
                    s.leg.origin,
                    s.leg.destination,
                    s.leg.departure_at,
                    s.leg.arrival_at,
                    s.cabin,
                    s.seats,
                    s.price,
                    s.refundable,
                    s.change_fee,
                    s.leg.departure_local_time,
                    s.leg.arrival_local_time,
                )
                for s in segments
            ],
            15,
        ),
    ]


def _arrays(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Row tuples as ``width`` column lists (the arrays an ``unnest`` insert takes)."""
    return [[row[i] for row in rows] for i in range(width)]


def _new_record(
    inserted: asyncpg.Record,
    passengers: Sequence[PassengerRecord],
    segments: Sequence[SegmentRecord],
) -> BookingRecord:
    """The booking just inserted, with the passengers and segments written with it."""
    booking_id = inserted["id"]
    return BookingRecord(
        **{name: inserted[name] for name in _BOOKING_FIELDS},
        segments=tuple(
            replace(s, booking_id=booking_id, position=i) for i, s in enumerate(segments)
        ),
        passengers=tuple(
            replace(p, booking_id=booking_id, position=i, ticket_number=None)
            for i, p in enumerate(passengers)
        ),
    )


def _record(row: asyncpg.Record) -> BookingRecord:
    """A row of ``_SELECT`` (or ``CONFIRM_SQL``) as a booking with its details."""
    return BookingRecord(
        **{name: row[name] for name in _BOOKING_FIELDS},
        segments=tuple(_segment(s) for s in row["segments"]),
        passengers=tuple(PassengerRecord(**p) for p in row["passengers"]),
    )


def _record_with_stay(row: asyncpg.Record) -> BookingRecord:
    """A row of ``_SELECT_WITH_STAY`` (or CONFIRM_ORDERED_SQL) as a booking with its
    details, stay and package row."""
    hotel, package = stay_and_package(row)
    return replace(_record(row), hotel=hotel, package=package)


_LEG_COLUMNS = tuple(f.name for f in fields(FlightLeg))


def _segment(row: Mapping[str, Any]) -> SegmentRecord:
    """A ``booking_segments`` row (its flight columns become the ``leg``)."""
    values = dict(row)
    leg = FlightLeg(**{name: values.pop(name) for name in _LEG_COLUMNS})
    return SegmentRecord(leg=leg, **values)


def _fare(row: Mapping[str, Any]) -> FareRow:
    """A row of ``_FARES``; its local times from the airports' zones."""
    return FareRow(
        fare_id=row["fare_id"],
        leg=FlightLeg(
            flight_designator=row["flight_designator"],
            origin=row["origin"],
            destination=row["destination"],
            departure_at=row["departure_at"],
            arrival_at=row["arrival_at"],
            departure_local_time=local_time(row["departure_at"], row["origin_time_zone"]),
            arrival_local_time=local_time(row["arrival_at"], row["destination_time_zone"]),
        ),
        cabin=row["cabin"],
        price=row["price"],
        currency=row["currency"],
        refundable=row["refundable"],
        change_fee=row["change_fee"],
        seats_available=row["seats_available"],
    )


async def _one(connection: asyncpg.Connection, query: str, *args: Any) -> BookingRecord | None:
    row = await connection.fetchrow(query, *args)
    return None if row is None else _record(row)
