"""The booking benchmark's ``proc_load`` scenarios: a booking (CreateBooking, then
ConfirmBooking of the reference it returned) through the service; the same writes as
raw SQL through asyncpg (the SQL ceiling); the same two calls against echo servers that
answer with a stored booking (the gRPC floor).

Both take fares from ``config["fares"]`` (one fare: the hot flight; many: bookings
spread over many flights, each pick random), one adult per booking (one seat).
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import jwt
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from benchmarks.echo_server import METHOD as ECHO_METHOD
from benchmarks.echo_server import SERVICE as ECHO_SERVICE
from benchmarks.proc_load import OK
from booking_service.flows.pnr import new_reference
from booking_service.pricing.offer_refs import format_ref
from booking_service.pricing.passengers import Party
from booking_service.store.repository import (
    CONFIRM_UNREAD_SQL,
    HOLD_ONE_FARE_SQL,
    NewBookingRow,
    PassengerRecord,
    SegmentRecord,
    booking_args,
)
from services.clients.channels import open_channel
from services.flights import FlightLeg
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
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason or error.code().name)
    return str(error.code().name)


class ServicePairs:
    """One user per worker, each with a JWT of its own; a round-robin channel over all
    replicas per process (as a client service would have)."""

    service = SERVICE  # the retry policy of the channel's service config

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
            token = jwt.encode(
                {
                    "iss": c["issuer"],
                    "aud": c["audience"],
                    "sub": user,
                    "iat": now,
                    "exp": now + 3600,
                    "jti": secrets.token_hex(8),
                },
                c["secret"],
                algorithm="HS256",
            )
            self._users[worker] = user
            self._metadata[worker] = (("authorization", f"Bearer {token}"),)
            self._made[worker] = 0
        self._channel = open_channel(c["addresses"], self.service)
        self._stub = pb_grpc.BookingServiceStub(self._channel)
        await self._channel.channel_ready()

    async def call(self, worker: int) -> str:
        fare = _pick(self._fares, self._rng)
        self._made[worker] += 1
        request = pb.CreateBookingRequest(
            offer_ids=[format_ref(fare["fare_id"], Decimal(fare["price"]), Party(1, 0, 0))],
            passengers=[
                pb.Passenger(
                    given_name="Ada",
                    family_name="Lovelace",
                    birth_date="1985-12-10",
                    document=pb.TravelDocument(
                        type=pb.DOCUMENT_TYPE_PASSPORT,
                        number=f"P{self._rng.randrange(10**8):08d}",
                        issuing_country="GB",
                        expire_date="2036-01-31",
                    ),
                )
            ],
            contact=pb.Contact(email="ada@example.com"),
            request_id=f"{self._users[worker]}-{self._made[worker]}",
        )
        metadata = self._metadata[worker]
        t0 = time.perf_counter()
        try:
            created = await self._stub.CreateBooking(
                request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as exc:
            return f"create {_reason(exc)}"
        t1 = time.perf_counter()
        try:
            confirmed = await self._stub.ConfirmBooking(
                pb.ConfirmBookingRequest(
                    booking_reference=created.booking.booking_reference, payment_token=PAYMENT_TOKEN
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
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
        return {"create_us": self._create_us, "confirm_us": self._confirm_us, "pairs": self._pairs}

    async def close(self) -> None:
        await self._channel.close()


class _EchoStub:
    """Both booking calls, sent to the echo servers' one method: the same requests and
    metadata go out, and the stored confirmed booking comes back for either call."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        echo = channel.unary_unary(
            ECHO_METHOD,
            request_serializer=_serialize,
            response_deserializer=pb.ConfirmBookingResponse.FromString,
        )
        self.CreateBooking = echo
        self.ConfirmBooking = echo


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


class EchoPairs(ServicePairs):
    """``ServicePairs`` against echo servers (benchmarks/echo_server.py answering with a
    serialized ConfirmBookingResponse): what the load generator and gRPC cost for a
    booking's two calls with no booking work behind them."""

    service = ECHO_SERVICE

    async def start(self, workers: range) -> None:
        await super().start(workers)
        self._stub = _EchoStub(self._channel)  # type: ignore[assignment]


def echo_pairs(config: Mapping[str, Any], index: int, processes: int) -> EchoPairs:
    return EchoPairs(config, index, processes)


def service_pairs(config: Mapping[str, Any], index: int, processes: int) -> ServicePairs:
    return ServicePairs(config, index, processes)


class SqlPairs:
    """The service's own two writes per booking, sent straight through asyncpg: the
    one-statement hold (booking_service/store/repository.py HOLD_ONE_FARE_SQL: the guarded
    seat UPDATE and the booking, passenger and segment rows) and the one-statement
    confirm by the user's booking reference (CONFIRM_UNREAD_SQL: the guarded status
    UPDATE and ticket numbers), one connection per worker."""

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
                reference = await self._hold(conn, fare, user)
            except asyncpg.UniqueViolationError:
                continue  # the random reference is taken: another, as the service does
            break
        else:
            return "hold no free reference"
        if reference is None:
            return "hold SOLD_OUT"
        confirmed = await conn.fetchrow(
            CONFIRM_UNREAD_SQL,
            user,
            f"pay_{secrets.token_hex(12)}",
            secrets.token_hex(32),
            "990",
            reference,
        )
        return OK if confirmed is not None else "confirm not held"

    async def _hold(self, conn: asyncpg.Connection, fare: dict[str, Any], user: str) -> str | None:
        """The new booking's reference; None (nothing written) if the fare has no seat
        left."""
        party = Party(1, 0, 0)
        price = Decimal(fare["price"])
        cost = party.fare_cost(price)
        row = NewBookingRow(
            reference=new_reference(),
            user_id=user,
            request_id=f"{user}-{self._made}",
            request_hash=secrets.token_hex(32),
            currency=fare["currency"],
            total_price=cost,
            contact_email="ada@example.com",
            contact_phone=None,
            hold_seconds=900,
        )
        passenger = PassengerRecord(
            "Ada",
            "Lovelace",
            date(1985, 12, 10),
            "ADULT",
            "PASSPORT",
            f"P{self._rng.randrange(10**8):08d}",
            "GB",
            date(2036, 1, 31),
        )
        leg = FlightLeg(
            flight_designator=fare["designator"],
            origin=fare["origin"],
            destination=fare["destination"],
            departure_at=fare["departure_at"],
            arrival_at=fare["arrival_at"],
        )
        segment = SegmentRecord(
            offer_index=0,
            offer_id=format_ref(fare["fare_id"], price, party),
            fare_id=fare["fare_id"],
            leg=leg,
            cabin="ECONOMY",
            seats=party.seats,
            price=cost,
            refundable=fare["refundable"],
            change_fee=Decimal(fare["change_fee"]),
        )
        held = await conn.fetchrow(
            HOLD_ONE_FARE_SQL,
            *booking_args(row, [passenger], [segment]),
            party.seats,
            fare["fare_id"],
            cost,
            party.weight_percent,
        )
        return None if held is None else str(held["reference"])

    def stats(self) -> dict[str, float]:
        return {}

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()


def sql_pairs(config: Mapping[str, Any], index: int, processes: int) -> SqlPairs:
    return SqlPairs(config, index, processes)
