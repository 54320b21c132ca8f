"""Booking test helpers: inventory rows, JWTs, request builders, the provider
stand-in's orders, and booking-service replicas as separate processes sharing one
(throwaway) PostgreSQL database."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.pricing.offer_refs import format_ref
from booking_service.pricing.passengers import Party
from services.clients.channels import open_channel
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.stack import BOOKING, Facts, Jwt, token_client_env, upstream_env
from services.stack import jwt_env as stack_jwt_env
from tests.utils.processes import ServiceProcess
from tests.utils.sim import Sim
from tests.utils.token_cluster import TokenCluster

ISSUER = "https://id.skyroute.test"
AUDIENCE = "skyroute-booking"
SERVICE = "skyroute.booking.v1.BookingService"


def new_secret() -> str:
    return "test-hs256-" + secrets.token_urlsafe(32)


def jwt_env(secret: str) -> dict[str, str]:
    return stack_jwt_env(Jwt(secret, ISSUER, AUDIENCE))


def token_for(
    user: str,
    secret: str,
    *,
    ttl: float = 3600,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    key: Any = None,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": user,
        "iat": now,
        "exp": int(now + ttl),
        **claims,
    }
    return jwt.encode(
        payload, key if key is not None else secret, algorithm=algorithm, headers=headers
    )


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# -- inventory ------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededFare:
    fare_id: int
    flight_id: int
    designator: str
    price: Decimal
    seats: int

    def ref(self, party: Party | None = None, price: Decimal | None = None) -> str:
        """A booking offer reference for this fare (BOOKING_PRICE_SOURCE=database)."""
        return format_ref(self.fare_id, self.price if price is None else price, party or Party())


_AIRPORTS = [
    ("LHR", "Heathrow", "London", "GB", 51.47, -0.45, "Europe/London"),
    ("JFK", "John F. Kennedy", "New York", "US", 40.64, -73.78, "America/New_York"),
]


async def add_fare(
    engine: AsyncEngine,
    *,
    seats: int = 20,
    price: str = "100.00",
    currency: str = "EUR",
    refundable: bool = True,
    change_fee: str = "25.00",
    departs_in: timedelta = timedelta(days=30),
    origin: str = "LHR",
    destination: str = "JFK",
    cabin: str = "ECONOMY",
) -> SeededFare:
    """A new flight with one fare; airports and the airline are created if missing."""
    departure = datetime.now(UTC) + departs_in
    number = secrets.randbelow(9000) + 1000
    async with engine.begin() as conn:
        for row in _AIRPORTS:
            await conn.execute(
                text(
                    "INSERT INTO airports (iata_code, name, city, country, latitude, longitude, "
                    "timezone) VALUES (:c, :n, :city, :country, :lat, :lon, :tz) "
                    "ON CONFLICT DO NOTHING"
                ),
                dict(zip(("c", "n", "city", "country", "lat", "lon", "tz"), row, strict=True)),
            )
        await conn.execute(
            text(
                "INSERT INTO airlines (iata_code, name) VALUES ('SR', "
                "'Skyroute Air') ON CONFLICT DO NOTHING"
            )
        )
        flight_id = (
            await conn.execute(
                text(
                    "INSERT INTO flights (airline_code, flight_number, origin, destination, "
                    "departure_at, arrival_at) VALUES ('SR', :n, :o, :d, :dep, :arr) RETURNING id"
                ),
                {
                    "n": number,
                    "o": origin,
                    "d": destination,
                    "dep": departure,
                    "arr": departure + timedelta(hours=7),
                },
            )
        ).scalar_one()
        fare_id = (
            await conn.execute(
                text(
                    "INSERT INTO fares (flight_id, cabin, price, currency, seats_total, "
                    "seats_available, refundable, change_fee) "
                    "VALUES (:f, :cabin, :p, :cur, :s, :s, "
                    ":r, :fee) RETURNING id"
                ),
                {
                    "f": flight_id,
                    "cabin": cabin,
                    "p": Decimal(price),
                    "cur": currency,
                    "s": seats,
                    "r": refundable,
                    "fee": Decimal(change_fee),
                },
            )
        ).scalar_one()
    return SeededFare(fare_id, flight_id, f"SR{number}", Decimal(price), seats)


async def seats_available(engine: AsyncEngine, fare_id: int) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text("SELECT seats_available FROM fares WHERE id = :f"), {"f": fare_id}
                )
            ).scalar_one()
        )


async def seats_booked(engine: AsyncEngine, fare_id: int) -> int:
    """Seats of HELD and CONFIRMED bookings on a fare."""
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT coalesce(sum(s.seats), 0) FROM booking_segments s "
                        "JOIN bookings b ON b.id = s.booking_id "
                        "WHERE s.fare_id = :f AND b.status IN ('HELD', 'CONFIRMED')"
                    ),
                    {"f": fare_id},
                )
            ).scalar_one()
        )


async def set_price(engine: AsyncEngine, fare_id: int, price: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE fares SET price = :p, version = version + 1 WHERE id = :f"),
            {"p": Decimal(price), "f": fare_id},
        )


# -- requests -------------------------------------------------------------------------


def passenger(
    given: str = "Alice",
    family: str = "Smith",
    birth: str = "1990-04-01",
    number: str | None = None,
) -> pb.Passenger:
    return pb.Passenger(
        given_name=given,
        family_name=family,
        birth_date=birth,
        document=pb.TravelDocument(
            type=pb.DOCUMENT_TYPE_PASSPORT,
            number=number or f"P{secrets.randbelow(10**8):08d}",
            issuing_country="GB",
            expire_date="2036-01-31",
        ),
    )


def create_request(
    offer_ids: list[str],
    passengers: list[pb.Passenger] | None = None,
    request_id: str | None = None,
    **fields: Any,
) -> pb.CreateBookingRequest:
    return pb.CreateBookingRequest(
        offer_ids=offer_ids,
        passengers=passengers or [passenger(number="P1234567")],
        contact=fields.pop("contact", pb.Contact(email="alice@example.com", phone="+442071234567")),
        request_id=request_id or secrets.token_hex(8),
        **fields,
    )


# -- the provider stand-in and the token service ---------------------------------------


def token_service_env(tokens: TokenCluster) -> dict[str, str]:
    """Booking's token-service client (itinerary links, the provider's token)."""
    return token_client_env(tokens.facts, "booking")


def provider_env(tokens: TokenCluster, **extra: str) -> dict[str, str]:
    """Booking with the stand-in's order API, called with the token cluster's token."""
    return {
        **token_service_env(tokens),
        **upstream_env(tokens.facts),
        "PROVIDER_TIMEOUT_SECONDS": "5",
        **extra,
    }


def sim_orders(sim: Sim, reference: str | None = None) -> list[dict[str, Any]]:
    """Live orders at the stand-in; with ``reference``, those whose remark names that
    booking reference."""
    orders: list[dict[str, Any]] = sim._call("GET", "/_sim/orders")["orders"]
    if reference is None:
        return orders
    return [o for o in orders if any(f"-{reference}-" in r for r in o["remarks"])]


def sim_order_by_remark(sim: Sim, remark: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"remark": remark})
    return list(sim._call("GET", f"/_sim/orders?{query}")["orders"])


def fail_orders(sim: Sim, count: int, mode: str, status: int = 500, delay_ms: int = 0) -> None:
    sim._call(
        "POST",
        "/_sim/fail-orders",
        {"count": count, "status": status, "mode": mode, "delay_ms": delay_ms},
    )


# -- replicas as processes ------------------------------------------------------------


class BookingCluster:
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        replicas: int = 2,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.secret = new_secret()
        facts = Facts(database_url=database_url, jwt=Jwt(self.secret, ISSUER, AUDIENCE))
        tuning = {
            "DB_POOL_SIZE": "10",
            "DB_MAX_OVERFLOW": "10",
            "BOOKING_PRICE_SOURCE": "database",
            "SHUTDOWN_GRACE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.processes = []
        for i in range(replicas):
            rid = f"booking-{i + 1}-{secrets.token_hex(3)}"
            env_i = {
                **BOOKING.replica_env(facts, rid, grpc_port=0),
                **tuning,
                "REPLICA_ID": rid,
                "PORT_FILE": str(workdir / f"{rid}.port"),
            }
            self.processes.append(ServiceProcess(rid, ["-m", BOOKING.module], env_i, workdir))
        self.addresses: list[str] = []

    def start(self) -> BookingCluster:
        for process in self.processes:
            process.start()
        self.addresses = [f"127.0.0.1:{p.wait_ready()['grpc']}" for p in self.processes]
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)

    def token(self, user: str) -> str:
        return token_for(user, self.secret)

    def channel(self, addresses: list[str] | None = None) -> grpc.aio.Channel:
        """round_robin over the replicas (retries UNAVAILABLE only)."""
        return open_channel(addresses or self.addresses, SERVICE)

    def stub(self, channel: grpc.aio.Channel) -> pb_grpc.BookingServiceStub:
        return pb_grpc.BookingServiceStub(channel)
