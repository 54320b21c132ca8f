"""Fuzz every RPC of every service (discovered from the generated descriptors) with
hostile requests, with and without credentials, against the real stack as processes:
the provider stand-in, a token replica, a search replica and a booking replica (prices
through search, provider orders at the stand-in) on one seeded database and one Redis.

Each call must end with a documented code: never INTERNAL or UNKNOWN (a crash in the
logic), never DEADLINE_EXCEEDED (a hang). Afterwards every server still answers health
Check with SERVING, and in PostgreSQL every fare's free seats plus the seats of its held
and confirmed bookings still make its capacity.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.clients.token_client import CALLER_HEADER, CALLER_KEY_HEADER
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from services.generated.skyroute.token.v1 import token_service_pb2 as tpb
from tests.utils.booking_cluster import (
    BookingCluster,
    bearer,
    create_request,
    provider_env,
    token_for,
)
from tests.utils.db import run_in_thread
from tests.utils.fuzz import (
    HOSTILE_TEXT,
    UNDECODABLE_BODIES,
    Rpc,
    Shown,
    all_rpcs,
    requests,
)
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

RPCS = all_rpcs()
# Examples per RPC: bounded for CI; FUZZ_EXAMPLES=2000 for a longer hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
CALL_TIMEOUT = 30.0
# What a hostile request may get: the codes our error mapping documents.
DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE,
}
# The servers' receive limit (gRPC's default): a larger request is RESOURCE_EXHAUSTED,
# a smaller one never is (that was an answer too large for the client's limits).
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# Short hostile subjects for signed user tokens (metadata must stay small).
HOSTILE_SUBJECTS = [t for t in HOSTILE_TEXT if 0 < len(t) <= 400]
TOMORROW = datetime.now(UTC).date() + timedelta(days=1)

Metadata = tuple[tuple[str, str], ...]


@dataclass
class FuzzStack:
    workdir: Path
    database_url: str
    redis_url: str
    prefix: str = field(default_factory=lambda: f"skyroute-test-{secrets.token_hex(6)}")
    channels: dict[str, grpc.Channel] = field(default_factory=dict)
    seeds: dict[str, list[Message]] = field(default_factory=dict)
    seat_sums: dict[int, int] = field(default_factory=dict)

    def start(self) -> FuzzStack:
        self.sim = Sim(self.workdir, new_clients()).start()
        self.tokens = TokenCluster(self.workdir, self.sim, self.redis_url, self.prefix, 1).start()
        self.search = SearchCluster(
            self.workdir, self.database_url, self.redis_url, self.prefix, 1, self.tokens
        ).start()
        self.booking = BookingCluster(
            self.workdir,
            self.database_url,
            replicas=1,
            env={
                "BOOKING_PRICE_SOURCE": "search",
                "SEARCH_SERVICE_ADDRESSES": ",".join(self.search.addresses),
                "SEARCH_TIMEOUT_SECONDS": "10",
                **provider_env(self.tokens),
            },
        ).start()
        self.addresses = {
            "skyroute.token.v1.TokenService": self.tokens.addresses[0],
            "skyroute.search.v1.SearchService": self.search.addresses[0],
            "skyroute.booking.v1.BookingService": self.booking.addresses[0],
        }
        self.channels = {
            name: grpc.insecure_channel(address) for name, address in self.addresses.items()
        }
        return self

    def stop(self) -> None:
        for channel in self.channels.values():
            channel.close()
        for part in ("booking", "search", "tokens", "sim"):
            if hasattr(self, part):
                getattr(self, part).stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")

    def credentials(self, rpc: Rpc) -> Metadata:
        """Valid credentials for ``rpc``'s service (search needs none)."""
        if rpc.service.endswith("TokenService"):
            return self.tokens.metadata("search")
        if rpc.service.endswith("BookingService"):
            return bearer(self.booking.token("fuzzer"))
        return ()

    def other_credentials(self, rpc: Rpc) -> st.SearchStrategy[Metadata]:
        """None, wrong ones, or (booking) correctly signed tokens with a hostile subject."""
        if rpc.service.endswith("TokenService"):
            return st.sampled_from(
                [
                    (),
                    ((CALLER_HEADER, "search"),),
                    ((CALLER_HEADER, "search"), (CALLER_KEY_HEADER, "wrong")),
                    self.tokens.metadata("limited"),
                ]
            )
        if rpc.service.endswith("BookingService"):
            return st.one_of(
                st.sampled_from(
                    [
                        (),
                        (("authorization", "Bearer not-a-jwt"),),
                        (("authorization", "Basic Zm9vOmJhcg=="),),
                    ]
                ),
                st.sampled_from(HOSTILE_SUBJECTS).map(
                    lambda sub: bearer(token_for(sub, self.booking.secret))
                ),
            )
        return st.just(())


def call(channel: grpc.Channel, rpc: Rpc, body: bytes, metadata: Metadata) -> grpc.StatusCode:
    """The code ``rpc`` ends with for ``body`` (a stream: its first message)."""
    if rpc.streaming:
        stream = channel.unary_stream(rpc.path)(body, metadata=metadata, timeout=CALL_TIMEOUT)
        try:
            next(stream)
        except StopIteration:
            pass
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        finally:
            stream.cancel()
        return grpc.StatusCode.OK
    try:
        channel.unary_unary(rpc.path)(body, metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def seed_requests(stack: FuzzStack) -> dict[str, list[Message]]:
    """A valid request per RPC, on real offers, bookings and download tokens."""
    search = spb_grpc.SearchServiceStub(stack.channels["skyroute.search.v1.SearchService"])
    booking = pb_grpc.BookingServiceStub(stack.channels["skyroute.booking.v1.BookingService"])
    auth = bearer(stack.booking.token("fuzzer"))
    query = spb.SearchFlightsRequest(
        origin="LHR",
        destination="JFK",
        departure_date=(TOMORROW + timedelta(days=2)).isoformat(),
        passengers=spb.Passengers(adults=1),
        cabin=spb.CABIN_ECONOMY,
        page_size=20,
        include_provider_offers=True,
    )
    offers: list[str] = []
    for days in range(1, 8):
        query.departure_date = (TOMORROW + timedelta(days=days)).isoformat()
        found = search.SearchFlights(query, timeout=CALL_TIMEOUT).itineraries
        offers = [i.offer_id for i in found]
        if len(offers) >= 3:
            break
    assert len(offers) >= 3, "no offers in the seeded database"
    held = booking.CreateBooking(
        create_request([offers[0]]), metadata=auth, timeout=CALL_TIMEOUT
    ).booking
    to_confirm = booking.CreateBooking(
        create_request([offers[1]]), metadata=auth, timeout=CALL_TIMEOUT
    ).booking
    confirmed = booking.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=to_confirm.booking_reference, payment_token="tok_visa"
        ),
        metadata=auth,
        timeout=CALL_TIMEOUT,
    )
    download = confirmed.itinerary_link.download_token
    minute = Duration(seconds=60)
    return {
        "GetToken": [tpb.GetTokenRequest(provider="amadeus", min_validity=minute)],
        "ReportInvalidToken": [
            tpb.ReportInvalidTokenRequest(provider="amadeus", access_token="stale")
        ],
        "GetTokenStatus": [tpb.GetTokenStatusRequest(provider="amadeus")],
        "ListProviders": [tpb.ListProvidersRequest()],
        "WatchToken": [tpb.WatchTokenRequest(provider="amadeus")],
        "IssueDownloadToken": [
            tpb.IssueDownloadTokenRequest(resource="fuzz/1", ttl=minute, max_uses=3)
        ],
        "ValidateDownloadToken": [
            tpb.ValidateDownloadTokenRequest(download_token=download, peek=True)
        ],
        "RevokeDownloadToken": [tpb.RevokeDownloadTokenRequest(download_token="x" * 43)],
        "SearchFlights": [query],
        "GetOffer": [spb.GetOfferRequest(offer_id=offers[2])],
        "PriceOffer": [spb.PriceOfferRequest(offer_id=offers[2])],
        "CreateBooking": [create_request(offers[2:4]), create_request([offers[-1]])],
        "ConfirmBooking": [
            pb.ConfirmBookingRequest(
                booking_reference=held.booking_reference, payment_token="tok_visa"
            )
        ],
        "GetBooking": [pb.GetBookingRequest(booking_reference=held.booking_reference)],
        "ListBookings": [pb.ListBookingsRequest(page_size=2)],
        "CancelBooking": [pb.CancelBookingRequest(booking_reference=held.booking_reference)],
        "IssueItineraryLink": [
            pb.IssueItineraryLinkRequest(booking_reference=to_confirm.booking_reference)
        ],
        "GetItinerary": [pb.GetItineraryRequest(download_token=download)],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[FuzzStack]:
    with seeded_database() as url:
        stack = FuzzStack(tmp_path_factory.mktemp("fuzz"), url, redis_url)
        try:
            stack.seat_sums = run_in_thread(seat_sums(url))
            stack.start()
            stack.seeds = seed_requests(stack)
            yield stack
            logs = stack.booking.logs() + stack.search.logs() + stack.tokens.logs()
            assert "Traceback" not in logs
            stack.tokens.assert_no_secrets_in_logs()
        finally:
            stack.stop()


def assert_still_serving(stack: FuzzStack) -> None:
    for name, channel in stack.channels.items():
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


async def seat_sums(database_url: str) -> dict[int, int]:
    """Per fare: free seats plus the seats of its held and confirmed bookings, or -1
    where the free seats went negative. (The seed sells some seats without bookings,
    so the sum is compared with itself before the fuzzing, not with seats_total.)"""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT f.id, CASE WHEN f.seats_available < 0 THEN -1 "
                        "  ELSE f.seats_available + coalesce(b.seats, 0) END "
                        "FROM fares f LEFT JOIN (SELECT s.fare_id, sum(s.seats) AS seats "
                        "  FROM booking_segments s JOIN bookings k ON k.id = s.booking_id "
                        "  WHERE k.status IN ('HELD', 'CONFIRMED') GROUP BY s.fare_id) b "
                        "ON b.fare_id = f.id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return {int(fare): int(seats) for fare, seats in rows}


def assert_seats_add_up(stack: FuzzStack) -> None:
    now = run_in_thread(seat_sums(stack.database_url))
    changed = {
        fare: (stack.seat_sums.get(fare), seats)
        for fare, seats in now.items()
        if stack.seat_sums.get(fare) != seats
    }
    assert not changed, f"fares whose seats no longer add up (before, now): {changed}"


def test_every_rpc_is_fuzzed() -> None:
    """Discovery works: every service and its RPCs (a new RPC is fuzzed by itself)."""
    names = {rpc.path for rpc in RPCS}
    assert "/skyroute.token.v1.TokenService/GetToken" in names
    assert "/skyroute.search.v1.SearchService/SearchFlights" in names
    assert "/skyroute.booking.v1.BookingService/CreateBooking" in names
    assert len(names) == sum(
        len(s.methods) for m in (tpb, spb, pb) for s in m.DESCRIPTOR.services_by_name.values()
    )


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_hostile_requests_get_documented_codes(stack: FuzzStack, rpc: Rpc) -> None:
    channel = stack.channels[rpc.service]
    valid = stack.credentials(rpc)

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(request=requests(rpc, stack.seeds.get(rpc.name, [])), other=stack.other_credentials(rpc))
    def run(request: Shown, other: Metadata) -> None:
        body = request.message.SerializeToString()
        for metadata in (valid, other):
            code = call(channel, rpc, body, metadata)
            allowed = DOCUMENTED | (
                {grpc.StatusCode.RESOURCE_EXHAUSTED} if len(body) > MAX_REQUEST_BYTES else set()
            )
            assert code in allowed, f"{rpc} answered {code.name} ({len(body)} bytes)"

    run()
    assert_still_serving(stack)
    assert_seats_add_up(stack)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_undecodable_bodies_are_invalid_argument(stack: FuzzStack, rpc: Rpc) -> None:
    """Raw bytes that are not the request message, with and without credentials: an
    UNAUTHENTICATED caller learns nothing more, an authenticated one INVALID_ARGUMENT.
    (Some of the bodies do decode as some messages: field 1 with another wire type is
    an unknown field. Those may get any documented code.)"""
    channel = stack.channels[rpc.service]
    for body in UNDECODABLE_BODIES:
        try:
            rpc.request_class.FromString(body)
            expected = DOCUMENTED
        except DecodeError:
            expected = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED}
        for metadata in (stack.credentials(rpc), ()):
            code = call(channel, rpc, body, metadata)
            assert code in expected, (rpc.path, body, code.name)
    assert_still_serving(stack)
