"""Search to itinerary with every service as processes: the provider stand-in, two
token replicas, two search replicas and two booking replicas (BOOKING_PRICE_SOURCE=
search) on one seeded database and one Redis.

An inventory offer found by SearchFlights is booked by its offer id; a price change
since the search is reported by PriceOffer and refused as PRICE_CHANGED with the new
total, then accepted with max_total_price; the booking is confirmed through one booking
replica and its itinerary link opens through the other at once. A provider offer from
the same search is booked as one flight order at the stand-in, confirmed, and its
cancellation deletes the order. Search and booking run on PostgreSQL directly, and
again through PgBouncer in transaction pooling mode (DB_PGBOUNCER=true).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from tests.utils.booking_cluster import (
    BookingCluster,
    bearer,
    create_request,
    provider_env,
    sim_orders,
)
from tests.utils.pgbouncer import DATABASE_PATHS, services_database
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, error_details, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


class Stack:
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        redis_url: str,
        service_url: str | None = None,
        db_env: Mapping[str, str] | None = None,
    ) -> None:
        """``database_url`` is PostgreSQL (the tests' own checks); the services reach it
        at ``service_url`` (PgBouncer, say) with ``db_env``."""
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.database_url = database_url
        service_url = service_url or database_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 2).start()
        self.search = SearchCluster(
            workdir, service_url, redis_url, self.prefix, 2, self.tokens, env=db_env
        ).start()
        self.booking = BookingCluster(
            workdir,
            service_url,
            replicas=2,
            env={
                **(db_env or {}),
                "BOOKING_PRICE_SOURCE": "search",
                "SEARCH_SERVICE_ADDRESSES": ",".join(self.search.addresses),
                "SEARCH_TIMEOUT_SECONDS": "10",
                **provider_env(self.tokens),
            },
        ).start()

    def stop(self) -> None:
        self.booking.stop()
        self.search.stop()
        self.tokens.stop()
        self.sim.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module", params=DATABASE_PATHS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Stack]:
    with seeded_database() as url:
        stack = Stack(
            tmp_path_factory.mktemp("booking-e2e"), url, redis_url, *services_database(request, url)
        )
        try:
            yield stack
            stack.booking.stop()
            logs = stack.booking.logs()
            leaked = [
                t["access_token"][:4] for t in stack.sim.tokens() if t["access_token"] in logs
            ]
            assert not leaked, f"provider tokens in booking logs: {leaked}"
            assert stack.tokens.keys["booking"] not in logs
            assert "Traceback" not in logs
            stack.tokens.assert_no_secrets_in_logs()
        finally:
            stack.stop()


@dataclass
class Clients:
    search: spb_grpc.SearchServiceStub
    a: pb_grpc.BookingServiceStub  # booking replica A only
    b: pb_grpc.BookingServiceStub  # booking replica B only


@pytest.fixture
async def clients(stack: Stack) -> AsyncIterator[Clients]:
    channels = [
        stack.search.channel(),
        *(grpc.aio.insecure_channel(a) for a in stack.booking.addresses),
    ]
    try:
        yield Clients(
            spb_grpc.SearchServiceStub(channels[0]),
            pb_grpc.BookingServiceStub(channels[1]),
            pb_grpc.BookingServiceStub(channels[2]),
        )
    finally:
        for channel in channels:
            await channel.close()


def money(value: Decimal, currency: str) -> money_pb2.Money:
    units = int(value)
    return money_pb2.Money(
        currency_code=currency, units=units, nanos=int((value - units) * 1_000_000_000)
    )


def amount(value: money_pb2.Money) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos).scaleb(-9)


async def search(clients: Clients, origin: str, destination: str, source: int) -> spb.Itinerary:
    """The cheapest itinerary of ``source`` in the next days."""
    for days in range(1, 8):
        response = await clients.search.SearchFlights(
            spb.SearchFlightsRequest(
                origin=origin,
                destination=destination,
                departure_date=(TOMORROW + timedelta(days=days)).isoformat(),
                passengers=spb.Passengers(adults=1),
                cabin=spb.CABIN_ECONOMY,
                page_size=100,
                include_provider_offers=source == spb.SOURCE_PROVIDER,
            ),
            timeout=15,
        )
        found = [i for i in response.itineraries if i.source == source]
        if found:
            return found[0]
    raise AssertionError(f"no {spb.Source.Name(source)} offers {origin}-{destination}")


def reason(error: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    return "", {}


@pytest.mark.redis_backends
async def test_search_book_confirm_and_download_the_itinerary(
    stack: Stack, clients: Clients
) -> None:
    found = await search(clients, "LHR", "JFK", spb.SOURCE_INVENTORY)
    original = amount(found.total_price)
    fare_id = found.journeys[0].segments[0].fare_id
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE fares SET price = price + 50, version = version + 1 WHERE id = :f"),
                {"f": fare_id},
            )
    finally:
        await engine.dispose()
    expected = original + 50
    auth = bearer(stack.booking.token(f"traveller-{secrets.token_hex(3)}"))

    request = create_request([found.offer_id])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients.a.CreateBooking(request, metadata=auth, timeout=30)
    why, metadata = reason(err.value)
    assert (err.value.code(), why) == (grpc.StatusCode.FAILED_PRECONDITION, "PRICE_CHANGED")
    assert Decimal(metadata["original_total"]) == original
    assert Decimal(metadata["current_total"]) == expected

    request = create_request(
        [found.offer_id], max_total_price=money(expected, found.total_price.currency_code)
    )
    held = (await clients.a.CreateBooking(request, metadata=auth, timeout=30)).booking
    assert held.status == pb.BOOKING_STATUS_HELD and amount(held.total_price) == expected
    assert held.offers[0].segments[0].fare_id == fare_id and not held.provider

    done = await clients.a.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token="tok_visa"
        ),
        metadata=auth,
        timeout=30,
    )
    assert done.booking.status == pb.BOOKING_STATUS_CONFIRMED
    token = done.itinerary_link.download_token
    # Issued through replica A, opened through replica B at once, without a JWT.
    got = await clients.b.GetItinerary(pb.GetItineraryRequest(download_token=token), timeout=30)
    doc = json.loads(got.itinerary_json)
    assert doc["booking_reference"] == held.booking_reference
    assert [p["ticket_number"] for p in doc["passengers"]] == [
        p.ticket_number for p in done.booking.passengers
    ]
    first = found.journeys[0].segments[0]
    assert doc["segments"][0]["departure_local_time"] == first.departure_local_time
    assert Decimal(doc["totals"]["total"]) == expected
    assert held.booking_reference in got.itinerary_text


async def test_provider_offer_from_search_is_booked_at_the_provider(
    stack: Stack, clients: Clients
) -> None:
    found = await search(clients, "ORD", "CDG", spb.SOURCE_PROVIDER)
    auth = bearer(stack.booking.token(f"traveller-{secrets.token_hex(3)}"))
    held = (
        await clients.b.CreateBooking(create_request([found.offer_id]), metadata=auth, timeout=30)
    ).booking
    assert held.status == pb.BOOKING_STATUS_HELD and held.provider == "amadeus"
    assert amount(held.total_price) == amount(found.total_price)
    [order] = sim_orders(stack.sim, held.booking_reference)
    assert order["reference"] == held.provider_record_locator
    assert order["client_id"] == stack.tokens.client_ids["amadeus"]

    done = await clients.a.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=held.booking_reference, payment_token="tok_visa"
        ),
        metadata=auth,
        timeout=30,
    )
    assert done.booking.status == pb.BOOKING_STATUS_CONFIRMED
    got = await clients.b.GetItinerary(
        pb.GetItineraryRequest(download_token=done.itinerary_link.download_token), timeout=30
    )
    doc = json.loads(got.itinerary_json)
    assert doc["provider_record_locator"] == held.provider_record_locator
    assert doc["segments"][0]["flight"] == found.journeys[0].segments[0].flight_designator

    cancelled = await clients.b.CancelBooking(
        pb.CancelBookingRequest(booking_reference=held.booking_reference), metadata=auth, timeout=30
    )
    assert cancelled.booking.status == pb.BOOKING_STATUS_CANCELLED
    assert sim_orders(stack.sim, held.booking_reference) == []


async def test_unknown_offer_id_is_not_found(stack: Stack, clients: Clients) -> None:
    auth = bearer(stack.booking.token("nobody"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        # Shaped like an offer id (base64url body and a 16-byte tag), but not one.
        await clients.a.CreateBooking(
            create_request(["bm90LWFuLW9mZmVy." + "A" * 22]), metadata=auth, timeout=30
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(err.value)[1] == "OFFER_NOT_FOUND"
