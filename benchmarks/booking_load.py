"""The booking benchmark's two ``proc_load`` scenarios: a booking (CreateBooking, then
ConfirmBooking of the reference it returned) through the service, and the same writes
as raw SQL through asyncpg (the ceiling).

Both take fares from ``config["fares"]`` (one fare: the hot flight; many: bookings
spread over many flights, each pick random), one adult per booking (one seat).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import jwt
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from benchmarks.proc_load import OK
from booking_service.offer_refs import format_ref
from booking_service.passengers import Party
from booking_service.pnr import new_reference
from services.clients.channels import open_channel
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc

SERVICE = "skyroute.booking.v1.BookingService"
PAYMENT_TOKEN = "tok_visa"
# Random booking references collide now and then; like the service, try another.
REFERENCE_ATTEMPTS = 8
CALL_TIMEOUT_SECONDS = 30.0


def _pick(fares: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    return fares[0] if len(fares) == 1 else rng.choice(fares)


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call, else its status code."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason or error.code().name
    return error.code().name


class ServicePairs:
    """One user per worker, each with a JWT of its own; a round-robin channel over all
    replicas per process (as a client service would have)."""

    def __init__(self, config: Mapping[str, Any], index: int, processes: int) -> None:
        self._config = config
        self._fares: list[dict[str, Any]] = config["fares"]
        self._rng = random.Random(f"{config['run']}-{index}")
        self._metadata: dict[int, tuple[tuple[str, str], ...]] = {}
        self._users: dict[int, str] = {}
        self._made: dict[int, int] = {}
        self._create_us = 0.0
        self._confirm_us = 0.0
        self._pairs = 0

    async def start(self, workers: range) -> None:
        c = self._config
        now = int(time.time())
        for worker in workers:
            user = f"{c['run']}-user-{worker}"
            token = jwt.encode({"iss": c["issuer"], "aud": c["audience"], "sub": user,
                                "iat": now, "exp": now + 3600,
                                "jti": secrets.token_hex(8)}, c["secret"], algorithm="HS256")
            self._users[worker] = user
            self._metadata[worker] = (("authorization", f"Bearer {token}"),)
            self._made[worker] = 0
        self._channel = open_channel(c["addresses"], SERVICE)
        self._stub = pb_grpc.BookingServiceStub(self._channel)
        await self._channel.channel_ready()

    async def call(self, worker: int) -> str:
        fare = _pick(self._fares, self._rng)
        self._made[worker] += 1
        request = pb.CreateBookingRequest(
            offer_ids=[format_ref(fare["fare_id"], Decimal(fare["price"]), Party(1, 0, 0))],
            passengers=[pb.Passenger(
                given_name="Ada", family_name="Lovelace", birth_date="1985-12-10",
                document=pb.TravelDocument(
                    type=pb.DOCUMENT_TYPE_PASSPORT,
                    number=f"P{self._rng.randrange(10**8):08d}", issuing_country="GB",
                    expire_date="2036-01-31"))],
            contact=pb.Contact(email="ada@example.com"),
            request_id=f"{self._users[worker]}-{self._made[worker]}")
        metadata = self._metadata[worker]
        t0 = time.perf_counter()
        try:
            created = await self._stub.CreateBooking(request, metadata=metadata,
                                                     timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            return f"create {_reason(exc)}"
        t1 = time.perf_counter()
        try:
            confirmed = await self._stub.ConfirmBooking(pb.ConfirmBookingRequest(
                booking_reference=created.booking.booking_reference,
                payment_token=PAYMENT_TOKEN), metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            return f"confirm {_reason(exc)}"
        t2 = time.perf_counter()
        if confirmed.booking.status != pb.BOOKING_STATUS_CONFIRMED:
            return f"confirm status {confirmed.booking.status}"
        self._create_us += (t1 - t0) * 1e6
        self._confirm_us += (t2 - t1) * 1e6
        self._pairs += 1
        return OK

    def stats(self) -> dict[str, float]:
        return {"create_us": self._create_us, "confirm_us": self._confirm_us,
                "pairs": self._pairs}

    async def close(self) -> None:
        await self._channel.close()


def service_pairs(config: Mapping[str, Any], index: int, processes: int) -> ServicePairs:
    return ServicePairs(config, index, processes)


# The service's writes, as plain SQL (booking_service/repository.py).
INSERT_BOOKING = """
INSERT INTO bookings (reference, user_id, request_id, request_hash, status, currency,
                      total_price, contact_email, contact_phone, hold_expires_at)
VALUES ($1, $2, $3, $4, 'HELD', $5, $6, $7, NULL, now() + interval '900 seconds')
RETURNING id"""
INSERT_PASSENGER = """
INSERT INTO booking_passengers (booking_id, position, given_name, family_name, birth_date,
                                passenger_type, document_type, document_number,
                                document_country, document_expire_date)
VALUES ($1, 0, 'Ada', 'Lovelace', DATE '1985-12-10', 'ADULT', 'PASSPORT', $2, 'GB',
        DATE '2036-01-31')"""
HOLD = """
UPDATE fares SET seats_available = seats_available - $2
WHERE id = $1 AND seats_available >= $2
RETURNING price, currency"""
INSERT_SEGMENT = """
INSERT INTO booking_segments (booking_id, position, offer_index, offer_id, fare_id,
                              flight_designator, origin, destination, departure_at,
                              arrival_at, cabin, seats, price, refundable, change_fee)
VALUES ($1, 0, 0, $2, $3, $4, $5, $6, $7, $8, 'ECONOMY', $9, $10, $11, $12)"""
CONFIRM = """
UPDATE bookings SET status = 'CONFIRMED', confirmed_at = now(), updated_at = now(),
                    payment_reference = $2, payment_token_hash = $3
WHERE id = $1 AND status = 'HELD' AND hold_expires_at > now()
RETURNING id"""
TICKETS = """
UPDATE booking_passengers
SET ticket_number = $2 || lpad(CAST(nextval('ticket_serial_seq') AS text), 10, '0')
WHERE booking_id = $1"""


class _SoldOut(Exception):
    pass


class SqlPairs:
    """A hold transaction (booking, passenger, the seat UPDATE guarded by
    ``seats_available >= n``, segment) and a confirm transaction (guarded status
    UPDATE, ticket numbers), one connection per worker."""

    def __init__(self, config: Mapping[str, Any], index: int, processes: int) -> None:
        self._config = config
        self._fares: list[dict[str, Any]] = config["fares"]
        self._rng = random.Random(f"{config['run']}-sql-{index}")
        self._conns: dict[int, asyncpg.Connection] = {}
        self._made = 0
        self._index = index

    async def start(self, workers: range) -> None:
        for worker in workers:
            self._conns[worker] = await asyncpg.connect(self._config["dsn"], timeout=10)

    async def call(self, worker: int) -> str:
        fare = _pick(self._fares, self._rng)
        conn = self._conns[worker]
        self._made += 1
        user = f"{self._config['run']}-sql-{worker}"
        for _ in range(REFERENCE_ATTEMPTS):
            try:
                booking_id = await self._hold(conn, fare, user)
            except asyncpg.UniqueViolationError:
                continue  # the random reference is taken: another, as the service does
            break
        else:
            return "hold no free reference"
        if booking_id is None:
            return "hold SOLD_OUT"
        async with conn.transaction():
            won = await conn.fetchval(CONFIRM, booking_id, f"pay_{secrets.token_hex(12)}",
                                      secrets.token_hex(32))
            if won is None:
                return "confirm not held"
            await conn.execute(TICKETS, booking_id, "990")
        return OK

    async def _hold(self, conn: asyncpg.Connection, fare: dict[str, Any], user: str
                    ) -> int | None:
        """The new booking's id; None (rolled back) if the fare has no seat left."""
        offer_id = format_ref(fare["fare_id"], Decimal(fare["price"]), Party(1, 0, 0))
        seats = 1
        try:
            async with conn.transaction():
                booking_id = await conn.fetchval(
                    INSERT_BOOKING, new_reference(), user, f"{user}-{self._made}",
                    secrets.token_hex(32), fare["currency"], Decimal(fare["price"]),
                    "ada@example.com")
                await conn.execute(INSERT_PASSENGER, booking_id,
                                   f"P{self._rng.randrange(10**8):08d}")
                held = await conn.fetchrow(HOLD, fare["fare_id"], seats)
                if held is None:
                    raise _SoldOut
                await conn.execute(INSERT_SEGMENT, booking_id, offer_id, fare["fare_id"],
                                   fare["designator"], fare["origin"], fare["destination"],
                                   fare["departure_at"], fare["arrival_at"], seats,
                                   held["price"], fare["refundable"],
                                   Decimal(fare["change_fee"]))
        except _SoldOut:
            return None
        return int(booking_id)

    def stats(self) -> dict[str, float]:
        return {}

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()


def sql_pairs(config: Mapping[str, Any], index: int, processes: int) -> SqlPairs:
    return SqlPairs(config, index, processes)
