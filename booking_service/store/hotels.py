"""Hotel stays and package state rows (``booking_hotel_stays``, ``booking_packages``):
their records and SQL, over the booking store's asyncpg pool.

Every write of the confirmation state machine (flows/packages.py) is guarded: by the
package's ``fence`` (the replica that took the work up last is the only one whose
writes count) and by the state it expects, so a step replayed after a crash or by a
second replica changes nothing twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from booking_service.store.models import HotelOrderStatus, PackageState
from services.db import pooled


@dataclass(frozen=True, slots=True)
class HotelStayRecord:
    booking_id: int
    provider: str
    offer_id: str
    supplier_offer_id: str
    hotel_id: str
    hotel_name: str
    city_code: str
    room_type: str
    room_description: str
    board_type: str
    check_in: date
    check_out: date
    rooms: int
    refundable: bool
    cancellation_deadline: datetime | None
    price: Decimal
    remark: str
    order_status: str
    supplier_order_id: str | None = None
    confirmation_number: str | None = None
    refund_amount: Decimal | None = None
    attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PackageRecord:
    booking_id: int
    state: str
    fence: int
    lease_until: datetime | None
    payment_reference: str | None
    payment_token_hash: str | None
    failure_reason: str | None
    updated_at: datetime


_STAY_COLUMNS = tuple(f.name for f in fields(HotelStayRecord))
_NEW_STAY_COLUMNS = _STAY_COLUMNS[:18]  # up to order_status
# Their SQL types (for parameters PostgreSQL cannot infer: INSERT ... SELECT).
_NEW_STAY_TYPES = {
    "booking_id": "bigint",
    "check_in": "date",
    "check_out": "date",
    "rooms": "int",
    "refundable": "bool",
    "cancellation_deadline": "timestamptz",
    "price": "numeric",
}

NONE = HotelOrderStatus.NONE.value
ORDERING = HotelOrderStatus.ORDERING.value
ORDERED = HotelOrderStatus.ORDERED.value
CANCELLING = HotelOrderStatus.CANCELLING.value
ORDER_CANCELLED = HotelOrderStatus.CANCELLED.value
HELD = PackageState.HELD.value
CONFIRMING = PackageState.CONFIRMING.value
COMPENSATING = PackageState.COMPENSATING.value

_PACKAGE_FIELDS = [f.name for f in fields(PackageRecord) if f.name != "booking_id"]
# The stay and its package row (HELD) in one statement; the package row comes back.
_INSERT_STAY = f"""
WITH h AS (
    INSERT INTO booking_hotel_stays ({", ".join(_NEW_STAY_COLUMNS)})
    VALUES ({", ".join(f"${i + 1}" for i in range(len(_NEW_STAY_COLUMNS)))})
    RETURNING booking_id)
INSERT INTO booking_packages (booking_id, state) SELECT booking_id, '{HELD}' FROM h
RETURNING {", ".join(f.name for f in fields(PackageRecord))}"""
# A booking's stay and package row together (written together, so both or neither).
_STAYS = (
    f"SELECT {', '.join('h.' + c for c in _STAY_COLUMNS)}, "
    f"{', '.join(f'p.{c} AS package_{c}' for c in _PACKAGE_FIELDS)} "
    "FROM booking_hotel_stays h JOIN booking_packages p ON p.booking_id = h.booking_id "
    "WHERE h.booking_id = ANY($1)"
)

# HELD -> CONFIRMING for a booking still held within its hold: the fence grows, the
# lease starts, the payment is recorded. $1 id, $2 lease seconds, $3 payment ref, $4 hash.
_CLAIM_CONFIRM = f"""
UPDATE booking_packages AS p
SET state = '{CONFIRMING}', fence = p.fence + 1,
    lease_until = now() + make_interval(secs => $2::float8),
    payment_reference = $3, payment_token_hash = $4, updated_at = now()
FROM bookings b
WHERE p.booking_id = $1 AND b.id = p.booking_id AND p.state = '{HELD}'
  AND b.status = 'HELD' AND b.hold_expires_at > now()
RETURNING p.fence"""
# The claim and, in the same statement, the stay's NONE -> ORDERING when the caller
# places the hotel order next (no flights' provider order to check first): the claim's
# lease covers the create as stay_ordering's would.
_CLAIM_CONFIRM_ORDERING = f"""
WITH c AS ({_CLAIM_CONFIRM.strip()}, p.booking_id),
o AS (
    UPDATE booking_hotel_stays SET order_status = '{ORDERING}'
    WHERE booking_id = (SELECT booking_id FROM c) AND order_status = '{NONE}'
    RETURNING booking_id)
SELECT c.fence, EXISTS (SELECT 1 FROM o) AS ordering FROM c"""

# The same claim, stay included, as CTEs of CONFIRM_UNREAD_OR_PACKAGE_SQL
# (store/repository.py), for the user's package named by its reference, so that a
# confirmation reads and claims a package in one statement: ``c`` the claim ($1 user
# id, $5 reference, $6 lease seconds, or NULL for no claim, $2 payment reference, $3
# hash), ``o`` the stay's NONE -> ORDERING unless the booking has a flights' provider
# order, which $7 says is checked first (step 2).
CLAIM_UNREAD_CTES = f"""c AS (
    UPDATE booking_packages AS p
    SET state = '{CONFIRMING}', fence = p.fence + 1,
        lease_until = now() + make_interval(secs => $6::float8),
        payment_reference = $2, payment_token_hash = $3, updated_at = now()
    FROM bookings k
    WHERE $6::float8 IS NOT NULL AND k.user_id = $1 AND k.reference = $5
      AND p.booking_id = k.id AND p.state = '{HELD}'
      AND k.status = 'HELD' AND k.hold_expires_at > now()
    RETURNING p.booking_id, p.fence, k.provider_order_id),
o AS (
    UPDATE booking_hotel_stays SET order_status = '{ORDERING}'
    WHERE booking_id = (SELECT booking_id FROM c) AND order_status = '{NONE}'
      AND ((SELECT provider_order_id FROM c) IS NULL OR NOT $7::bool)
    RETURNING booking_id)"""

# A CONFIRMING / COMPENSATING package whose lease ran out (its replica died or gave
# up): taken up again under a new fence. $1 id (or NULL: any), $2 lease, $3 batch.
_CLAIM_STUCK = f"""
WITH stuck AS (
    SELECT booking_id FROM booking_packages
    WHERE state IN ('{CONFIRMING}', '{COMPENSATING}')
      AND (lease_until IS NULL OR lease_until <= now())
      AND ($1::bigint IS NULL OR booking_id = $1)
    ORDER BY lease_until ASC NULLS FIRST LIMIT $3
    FOR UPDATE SKIP LOCKED)
UPDATE booking_packages AS p
SET fence = p.fence + 1, lease_until = now() + make_interval(secs => $2::float8),
    updated_at = now()
FROM stuck WHERE p.booking_id = stuck.booking_id
RETURNING p.booking_id, p.fence"""

_SET_STATE = """
UPDATE booking_packages
SET state = $3, failure_reason = COALESCE($4, failure_reason), updated_at = now(),
    lease_until = CASE WHEN $3 IN ('CONFIRMED', 'FAILED') THEN NULL ELSE lease_until END
WHERE booking_id = $1 AND fence = $2
RETURNING booking_id"""
_RELEASE = """
UPDATE booking_packages SET lease_until = now() WHERE booking_id = $1 AND fence = $2"""

# The hotel order's steps, each under the package's fence.
_FENCED = "EXISTS (SELECT 1 FROM booking_packages p WHERE p.booking_id = $1 AND p.fence = $2)"
# Before the create: the owner's lease starts afresh (it outlasts the create: see
# BookingPolicy.package_lease_seconds), and only one replica ever moves NONE -> ORDERING.
# $3 lease seconds.
_STAY_ORDERING = f"""
WITH p AS (
    UPDATE booking_packages SET lease_until = now() + make_interval(secs => $3::float8)
    WHERE booking_id = $1 AND fence = $2
    RETURNING booking_id)
UPDATE booking_hotel_stays SET order_status = '{ORDERING}'
WHERE booking_id = $1 AND order_status = '{NONE}' AND EXISTS (SELECT 1 FROM p)
RETURNING booking_id"""
_STAY_ORDERED = f"""
UPDATE booking_hotel_stays
SET order_status = '{ORDERED}', supplier_order_id = $3, confirmation_number = $4
WHERE booking_id = $1 AND order_status = '{ORDERING}' AND {_FENCED}
RETURNING booking_id"""
_STAY_STATUS = f"""
UPDATE booking_hotel_stays SET order_status = $3, attempt_at = NULL
WHERE booking_id = $1 AND {_FENCED}
RETURNING booking_id"""

# Cancel of a confirmed booking: the order is to be cancelled at the supplier, with the
# stay's refund. $1 id, $2 refund.
_STAY_CANCEL = f"""
UPDATE booking_hotel_stays
SET order_status = CASE WHEN order_status = '{ORDERED}' THEN '{CANCELLING}'
                        ELSE order_status END,
    refund_amount = $2, attempt_at = now()
WHERE booking_id = $1
RETURNING order_status"""
_CLAIM_CANCELLING = f"""
WITH due AS (
    SELECT booking_id FROM booking_hotel_stays
    WHERE order_status = '{CANCELLING}'
      AND (attempt_at IS NULL OR attempt_at <= now() - make_interval(secs => $1::float8))
    ORDER BY attempt_at ASC NULLS FIRST LIMIT $2
    FOR UPDATE SKIP LOCKED)
UPDATE booking_hotel_stays AS h SET attempt_at = now()
FROM due WHERE h.booking_id = due.booking_id
RETURNING {", ".join("h." + c for c in _STAY_COLUMNS)}"""
_STAY_CANCELLED = f"""
UPDATE booking_hotel_stays SET order_status = '{ORDER_CANCELLED}', attempt_at = NULL
WHERE booking_id = $1 AND order_status = '{CANCELLING}'
RETURNING booking_id"""
_STAY_FOR_UPDATE = (
    f"SELECT {', '.join(_STAY_COLUMNS)} FROM booking_hotel_stays WHERE booking_id = $1 FOR UPDATE"
)


# A booking's stay and package row as columns of a query over ``bookings`` that joins
# them as ``h`` and ``p`` (LEFT JOIN: NULLs for a booking without a stay); prefixed,
# as a stay shares column names with a booking. ``stay_and_package`` reads them.
STAY_AND_PACKAGE_COLUMNS = ", ".join(
    [f"h.{c} AS stay_{c}" for c in _STAY_COLUMNS]
    + [f"p.{c} AS package_{c}" for c in _PACKAGE_FIELDS]
)
STAY_AND_PACKAGE_JOIN = (
    "LEFT JOIN booking_hotel_stays h ON h.booking_id = b.id "
    "LEFT JOIN booking_packages p ON p.booking_id = b.id"
)


def stay_insert_ctes(first: int) -> str:
    """CTEs to append to a statement whose CTE ``b`` inserts a booking (RETURNING its
    ``id``): its stay (parameters ``$first``... in ``stay_insert_args`` order) and
    package row (HELD), which comes back as ``k``. Nothing is written without ``b``."""
    values = ", ".join(
        f"${first + i}::{_NEW_STAY_TYPES.get(c, 'text')}"
        for i, c in enumerate(_NEW_STAY_COLUMNS[1:])
    )
    return f""",
h AS (
    INSERT INTO booking_hotel_stays ({", ".join(_NEW_STAY_COLUMNS)})
    SELECT b.id, {values} FROM b
    RETURNING booking_id),
k AS (
    INSERT INTO booking_packages (booking_id, state) SELECT booking_id, '{HELD}' FROM h
    RETURNING *)"""


# The package row's columns as ``k`` returns them, prefixed (beside a booking's).
PACKAGE_INSERTED_COLUMNS = ", ".join(f"k.{c} AS package_{c}" for c in _PACKAGE_FIELDS)


def stay_insert_args(stay: HotelStayRecord) -> list[object]:
    """The parameters of ``stay_insert_ctes`` (all but the booking id)."""
    return [getattr(stay, name) for name in _NEW_STAY_COLUMNS[1:]]


def package_inserted(booking_id: int, row: asyncpg.Record) -> PackageRecord:
    """The package row of a row with ``PACKAGE_INSERTED_COLUMNS``."""
    return PackageRecord(
        booking_id=booking_id, **{name: row[f"package_{name}"] for name in _PACKAGE_FIELDS}
    )


def stay_and_package(row: asyncpg.Record) -> tuple[HotelStayRecord | None, PackageRecord | None]:
    """The stay and package row of a row with ``STAY_AND_PACKAGE_COLUMNS``."""
    booking_id = row["stay_booking_id"]
    if booking_id is None or row["package_state"] is None:
        return None, None
    return (
        HotelStayRecord(**{name: row[f"stay_{name}"] for name in _STAY_COLUMNS}),
        PackageRecord(
            booking_id=booking_id, **{name: row[f"package_{name}"] for name in _PACKAGE_FIELDS}
        ),
    )


def _stay(row: asyncpg.Record) -> HotelStayRecord:
    return HotelStayRecord(**{name: row[name] for name in _STAY_COLUMNS})


async def insert_stay(connection: asyncpg.Connection, stay: HotelStayRecord) -> PackageRecord:
    """The stay and its package row (HELD), inside the booking's insert transaction;
    the package row as written."""
    values = [getattr(stay, name) for name in _NEW_STAY_COLUMNS]
    row = await connection.fetchrow(_INSERT_STAY, *values)
    return PackageRecord(**dict(row.items()))


async def stay_for_update(
    connection: asyncpg.Connection, booking_id: int
) -> HotelStayRecord | None:
    row = await connection.fetchrow(_STAY_FOR_UPDATE, booking_id)
    return None if row is None else _stay(row)


async def mark_cancel(connection: asyncpg.Connection, booking_id: int, refund: Decimal) -> str:
    """In the cancel's transaction: the order (if placed) is to be cancelled; the new
    order status."""
    return str(await connection.fetchval(_STAY_CANCEL, booking_id, refund))


class HotelStore:
    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout

    def _connection(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        return pooled(self._pool, self._acquire_timeout)

    async def of(
        self, booking_ids: Sequence[int]
    ) -> tuple[dict[int, HotelStayRecord], dict[int, PackageRecord]]:
        """The stays and package rows of these bookings (those that have one)."""
        if not booking_ids:
            return {}, {}
        async with self._connection() as connection:
            rows = await connection.fetch(_STAYS, list(booking_ids))
        return (
            {r["booking_id"]: _stay(r) for r in rows},
            {
                r["booking_id"]: PackageRecord(
                    booking_id=r["booking_id"],
                    **{name: r[f"package_{name}"] for name in _PACKAGE_FIELDS},
                )
                for r in rows
            },
        )

    async def claim_confirm(
        self,
        booking_id: int,
        lease: float,
        payment_reference: str,
        token_hash: str,
        *,
        ordering: bool = False,
    ) -> tuple[int, bool] | None:
        """The fence taken, or None if the package is not HELD (or its hold is over).
        With ``ordering``, the stay's NONE -> ORDERING too (as ``stay_ordering``),
        and whether it was made (the second item; always False without)."""
        async with self._connection() as connection:
            if not ordering:
                fence = await connection.fetchval(
                    _CLAIM_CONFIRM, booking_id, lease, payment_reference, token_hash
                )
                return None if fence is None else (int(fence), False)
            row = await connection.fetchrow(
                _CLAIM_CONFIRM_ORDERING, booking_id, lease, payment_reference, token_hash
            )
        return None if row is None else (int(row["fence"]), bool(row["ordering"]))

    async def claim_stuck(
        self, booking_id: int | None, lease: float, batch: int
    ) -> list[tuple[int, int]]:
        """(booking id, fence) of packages in progress whose lease ran out, taken up."""
        async with self._connection() as connection:
            rows = await connection.fetch(_CLAIM_STUCK, booking_id, lease, batch)
        return [(r["booking_id"], r["fence"]) for r in rows]

    async def set_state(
        self, booking_id: int, fence: int, state: PackageState, reason: str | None = None
    ) -> bool:
        async with self._connection() as connection:
            done = await connection.fetchval(_SET_STATE, booking_id, fence, state.value, reason)
        return done is not None

    async def release(self, booking_id: int, fence: int) -> None:
        """Gives the lease up at once (the resumer takes the package up soon)."""
        async with self._connection() as connection:
            await connection.execute(_RELEASE, booking_id, fence)

    async def stay_ordering(self, booking_id: int, fence: int, lease: float) -> bool:
        async with self._connection() as connection:
            done = await connection.fetchval(_STAY_ORDERING, booking_id, fence, lease)
        return done is not None

    async def stay_ordered(
        self, booking_id: int, fence: int, order_id: str, confirmation: str
    ) -> bool:
        async with self._connection() as connection:
            done = await connection.fetchval(
                _STAY_ORDERED, booking_id, fence, order_id, confirmation
            )
        return done is not None

    async def stay_status(self, booking_id: int, fence: int, status: HotelOrderStatus) -> bool:
        async with self._connection() as connection:
            done = await connection.fetchval(_STAY_STATUS, booking_id, fence, status.value)
        return done is not None

    async def claim_cancelling(self, lease: float, batch: int) -> list[HotelStayRecord]:
        async with self._connection() as connection:
            rows = await connection.fetch(_CLAIM_CANCELLING, lease, batch)
        return [_stay(r) for r in rows]

    async def stay_cancelled(self, booking_id: int) -> bool:
        async with self._connection() as connection:
            return await connection.fetchval(_STAY_CANCELLED, booking_id) is not None
