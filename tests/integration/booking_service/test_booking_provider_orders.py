"""Provider offers booked through the stand-in's order API, with the token from a real
token service (stand-in and token replica as processes; booking in process).

The offers are fetched and priced at the stand-in by the test, as search's PriceOffer
would hand them over (tests/system/test_booking_end_to_end.py goes through search).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_service.pricing.checker import PricedOffer, PricedSegment, ProviderOffer, apportion
from booking_service.pricing.from_database import DatabasePriceChecker, offer_error
from booking_service.pricing.passengers import Party
from services.flights import FlightLeg
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.providers.base import LookupUnavailable, PlacedOrder
from services.providers.lookup import OrderLookup, SimOrderLookup
from tests.integration.booking_service.conftest import BookingServer, Upstream
from tests.integration.booking_service.test_booking_search_prices import error_reason
from tests.utils.booking_cluster import (
    add_fare,
    create_request,
    fail_orders,
    provider_env,
    seats_available,
    sim_orders,
)
from tests.utils.sim import Sim

# Each test books its own day, so seat counts and sold-out flights do not meet.
FIRST_DAY = datetime.now(UTC).date() + timedelta(days=2)


@pytest.fixture
def sim(upstream: Upstream) -> Iterator[Sim]:
    yield upstream.sim
    upstream.sim._call("POST", "/_sim/fail-orders", {"count": 0})
    upstream.sim._call("POST", "/_sim/price-change", {"percent": 0})


class SimOffers:
    """A PriceChecker with the provider offers the test priced at the stand-in (and
    inventory fare references, through the database)."""

    def __init__(self) -> None:
        self.offers: dict[str, PricedOffer] = {}
        self.inventory: DatabasePriceChecker | None = None

    def check_offer_id(self, offer_id: str) -> str | None:
        return None

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        out = []
        for i, offer_id in enumerate(offer_ids):
            if offer_id.startswith("fare:") and self.inventory is not None:
                out.extend(await self.inventory.price_offers([offer_id]))
            elif offer_id in self.offers:
                out.append(self.offers[offer_id])
            else:
                raise offer_error("OFFER_NOT_FOUND", "unknown offer", [i])
        return out

    async def close(self) -> None:
        pass


def priced_offer(offer_id: str, raw: dict[str, Any], party: Party) -> PricedOffer:
    flights = [s for itinerary in raw["itineraries"] for s in itinerary["segments"]]
    total = Decimal(raw["price"]["grandTotal"])
    prices = apportion(total, [Decimal(0)] * len(flights))
    segments = tuple(
        PricedSegment(
            fare_id=None,
            leg=FlightLeg(
                flight_designator=f"{s['carrierCode']}{s['number']}",
                origin=s["departure"]["iataCode"],
                destination=s["arrival"]["iataCode"],
                departure_at=datetime.fromisoformat(s["departure"]["at"]).replace(tzinfo=UTC),
                arrival_at=datetime.fromisoformat(s["arrival"]["at"]).replace(tzinfo=UTC),
                departure_local_time=s["departure"]["at"] + "+00:00",
                arrival_local_time=s["arrival"]["at"] + "+00:00",
            ),
            cabin="ECONOMY",
            price=price,
            refundable=False,
            change_fee=Decimal("0.00"),
            seats_available=int(raw["numberOfBookableSeats"]),
        )
        for s, price in zip(flights, prices, strict=True)
    )
    return PricedOffer(
        offer_id,
        party,
        raw["price"]["currency"],
        segments,
        total,
        total,
        True,
        provider=ProviderOffer("amadeus", raw),
    )


def fetch_offer(
    upstream: Upstream, day: date, party: Party, origin: str = "LHR", destination: str = "JFK"
) -> dict[str, Any]:
    """The first non-stop offer for ``day``, priced."""
    token = upstream.sim_token()
    query = urllib.parse.urlencode(
        {
            "originLocationCode": origin,
            "destinationLocationCode": destination,
            "departureDate": day.isoformat(),
            "adults": str(party.adults),
            "children": str(party.children),
            "nonStop": "true",
            "max": "5",
        }
    )
    found = upstream.api("GET", f"/v2/shopping/flight-offers?{query}", token=token)
    offer = found["data"][0]
    priced = upstream.api(
        "POST",
        "/v1/shopping/flight-offers/pricing",
        {"data": {"type": "flight-offers-pricing", "flightOffers": [offer]}},
        token=token,
    )
    return dict(priced["data"]["flightOffers"][0])


@pytest.fixture
def offers() -> SimOffers:
    return SimOffers()


@pytest.fixture
def add_offer(upstream: Upstream, offers: SimOffers) -> Callable[..., str]:
    def add(days: int, party: Party | None = None) -> str:
        party = party or Party()
        raw = fetch_offer(upstream, FIRST_DAY + timedelta(days=days), party)
        offer_id = f"sim-{secrets.token_hex(4)}"
        offers.offers[offer_id] = priced_offer(offer_id, raw, party)
        return offer_id

    return add


@pytest.fixture
def start(
    server_factory: Callable[..., Any], upstream: Upstream, offers: SimOffers
) -> Callable[..., Any]:
    async def start(lookup: OrderLookup | None = None, **env: str) -> BookingServer:
        server: BookingServer = await server_factory(
            prices=offers, lookup=lookup, **provider_env(upstream.tokens, **env)
        )
        offers.inventory = DatabasePriceChecker(server.app.store)
        return server

    return start


async def provider_rows(engine: AsyncEngine, user: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT reference, status, provider_order_status, provider_order_id, "
                "provider_record_locator, provider_remark FROM bookings WHERE user_id = :u"
            ),
            {"u": user},
        )
        return [dict(r._mapping) for r in rows]


async def test_provider_offer_is_held_by_one_flight_order(
    start, add_offer, sim: Sim, engine: AsyncEngine, user: str
) -> None:
    server = await start()
    offer_id = add_offer(0)
    request = create_request([offer_id])
    held = (await server.stub.CreateBooking(request, metadata=server.auth(user))).booking
    assert held.status == pb.BOOKING_STATUS_HELD and held.provider == "amadeus"
    assert len(held.provider_record_locator) == 6
    segment = held.offers[0].segments[0]
    assert segment.fare_id == 0 and segment.departure_local_time.endswith("+00:00")
    orders = sim_orders(sim, held.booking_reference)
    assert len(orders) == 1
    order = orders[0]
    assert order["reference"] == held.provider_record_locator
    assert order["data"]["travelers"][0]["name"] == {"firstName": "ALICE", "lastName": "SMITH"}
    [row] = await provider_rows(engine, user)
    assert (row["status"], row["provider_order_status"]) == ("HELD", "ORDERED")
    assert order["remarks"] == [row["provider_remark"]]

    # A retry with the same request_id is the same booking: no second order.
    again = (await server.stub.CreateBooking(request, metadata=server.auth(user))).booking
    assert again.booking_reference == held.booking_reference
    assert len(sim_orders(sim, held.booking_reference)) == 1

    confirmed = (
        await server.stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=held.booking_reference, payment_token="tok_visa"
            ),
            metadata=server.auth(user),
        )
    ).booking
    assert confirmed.status == pb.BOOKING_STATUS_CONFIRMED
    assert all(len(p.ticket_number) == 13 for p in confirmed.passengers)
    assert len(sim_orders(sim, held.booking_reference)) == 1


async def test_revoked_token_costs_one_refresh(
    start, add_offer, upstream: Upstream, sim: Sim, user: str
) -> None:
    server = await start()
    warm = await server.stub.CreateBooking(
        create_request([add_offer(1)]), metadata=server.auth(user)
    )
    assert warm.booking.status == pb.BOOKING_STATUS_HELD
    issued = sim.issued(upstream.client_id)
    assert sim.revoke(upstream.client_id) >= 1
    held = (
        await server.stub.CreateBooking(create_request([add_offer(1)]), metadata=server.auth(user))
    ).booking
    assert held.status == pb.BOOKING_STATUS_HELD
    assert sim.issued(upstream.client_id) == issued + 1
    assert len(sim_orders(sim, held.booking_reference)) == 1


@pytest.mark.parametrize(
    "delay_ms, timeout", [(0, "5"), (1500, "0.5")], ids=["http-500", "client-timeout"]
)
async def test_failure_after_the_order_was_made_is_reconciled(
    start, add_offer, sim: Sim, engine: AsyncEngine, user: str, delay_ms: int, timeout: str
) -> None:
    server = await start(PROVIDER_TIMEOUT_SECONDS=timeout)
    offer_id = add_offer(2)
    created = sim.stats()["orders_created"]
    fail_orders(sim, 1, "after", delay_ms=delay_ms)
    held = (
        await server.stub.CreateBooking(
            create_request([offer_id]), metadata=server.auth(user), timeout=30
        )
    ).booking
    assert held.status == pb.BOOKING_STATUS_HELD
    orders = sim_orders(sim, held.booking_reference)
    assert len(orders) == 1 and orders[0]["reference"] == held.provider_record_locator
    assert sim.stats()["orders_created"] == created + 1  # looked up, never re-created
    [row] = await provider_rows(engine, user)
    assert row["provider_order_id"] == orders[0]["id"]


async def test_failure_before_the_order_holds_nothing(
    start, add_offer, sim: Sim, engine: AsyncEngine, user: str
) -> None:
    server = await start()
    fare = await add_fare(engine, seats=5)
    request = create_request([fare.ref(), add_offer(3)])
    created = sim.stats()["orders_created"]
    fail_orders(sim, 1, "before", status=503)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(request, metadata=server.auth(user))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(err.value)[0] == "PROVIDER_UNAVAILABLE"
    assert await provider_rows(engine, user) == []  # not even a pending booking
    assert await seats_available(engine, fare.fare_id) == 5
    assert sim.stats()["orders_created"] == created
    listed = await server.stub.ListBookings(pb.ListBookingsRequest(), metadata=server.auth(user))
    assert not listed.bookings

    # The request_id is free again: the retry books.
    held = (await server.stub.CreateBooking(request, metadata=server.auth(user))).booking
    assert held.status == pb.BOOKING_STATUS_HELD
    assert await seats_available(engine, fare.fare_id) == 4
    assert len(sim_orders(sim, held.booking_reference)) == 1


@pytest.mark.parametrize("spoil, expected", [("price", "PRICE_CHANGED"), ("sold-out", "SOLD_OUT")])
async def test_provider_refusals_hold_nothing(
    start,
    add_offer,
    offers: SimOffers,
    sim: Sim,
    engine: AsyncEngine,
    user: str,
    spoil: str,
    expected: str,
) -> None:
    server = await start()
    offer_id = add_offer(4 if spoil == "price" else 5)
    if spoil == "price":
        sim._call("POST", "/_sim/price-change", {"percent": 10})
    else:
        segment = offers.offers[offer_id].segments[0]
        sim._call(
            "POST",
            "/_sim/sold-out",
            {
                "flight": segment.leg.flight_designator,
                "date": segment.leg.departure_at.date().isoformat(),
            },
        )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(create_request([offer_id]), metadata=server.auth(user))
    reason, metadata = error_reason(err.value)
    assert (err.value.code(), reason) == (grpc.StatusCode.FAILED_PRECONDITION, expected)
    if spoil == "price":  # the provider's new price, as far as it says
        original = offers.offers[offer_id].current_total
        assert Decimal(metadata["original_total"]) == original
        assert Decimal(metadata["current_total"]) > original
    assert await provider_rows(engine, user) == []


async def test_cancel_deletes_the_provider_order(
    start, add_offer, sim: Sim, engine: AsyncEngine, user: str
) -> None:
    server = await start()
    held = (
        await server.stub.CreateBooking(create_request([add_offer(6)]), metadata=server.auth(user))
    ).booking
    assert len(sim_orders(sim, held.booking_reference)) == 1
    cancelled = (
        await server.stub.CancelBooking(
            pb.CancelBookingRequest(booking_reference=held.booking_reference),
            metadata=server.auth(user),
        )
    ).booking
    assert cancelled.status == pb.BOOKING_STATUS_CANCELLED
    assert sim_orders(sim, held.booking_reference) == []
    [row] = await provider_rows(engine, user)
    assert row["provider_order_status"] == "CANCELLED"
    # Idempotent, and nothing to delete twice.
    again = await server.stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=held.booking_reference),
        metadata=server.auth(user),
    )
    assert again.booking.status == pb.BOOKING_STATUS_CANCELLED


async def test_hold_expiry_deletes_the_provider_order(
    start, add_offer, sim: Sim, engine: AsyncEngine, user: str
) -> None:
    server = await start(BOOKING_HOLD_SECONDS="1", BOOKING_SWEEP_INTERVAL_SECONDS="0.1")
    held = (
        await server.stub.CreateBooking(create_request([add_offer(7)]), metadata=server.auth(user))
    ).booking
    assert len(sim_orders(sim, held.booking_reference)) == 1
    deadline = time.monotonic() + 10
    while True:
        [row] = await provider_rows(engine, user)
        if row["provider_order_status"] == "CANCELLED":
            break
        assert time.monotonic() < deadline, row
        await asyncio.sleep(0.1)
    assert row["status"] == "EXPIRED"
    assert sim_orders(sim, held.booking_reference) == []


async def test_confirm_fails_if_the_provider_dropped_the_order(
    start, add_offer, upstream: Upstream, sim: Sim, user: str
) -> None:
    server = await start()
    held = (
        await server.stub.CreateBooking(create_request([add_offer(8)]), metadata=server.auth(user))
    ).booking
    [order] = sim_orders(sim, held.booking_reference)
    client = upstream.tokens.client("booking")
    try:
        token = (await client.get_token("amadeus")).access_token
    finally:
        await client.close()
    upstream.api(
        "DELETE", "/v1/booking/flight-orders/" + urllib.parse.quote(order["id"]), token=token
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.ConfirmBooking(
            pb.ConfirmBookingRequest(
                booking_reference=held.booking_reference, payment_token="tok_visa"
            ),
            metadata=server.auth(user),
        )
    assert (err.value.code(), error_reason(err.value)[0]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_ORDER_CANCELLED",
    )


class FlakyLookup:
    """The stand-in's lookup, failing its first ``failures`` calls."""

    def __init__(self, inner: SimOrderLookup, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls = 0

    async def find(self, remark: str) -> PlacedOrder | None:
        self.calls += 1
        if self.calls <= self.failures:
            raise LookupUnavailable("injected")
        return await self.inner.find(remark)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_unknown_outcome_is_settled_by_the_sweeper(
    start, add_offer, sim: Sim, session: aiohttp.ClientSession, engine: AsyncEngine, user: str
) -> None:
    lookup = FlakyLookup(SimOrderLookup(session, sim.base_url, 5), failures=1)
    server = await start(lookup=lookup, BOOKING_SWEEP_INTERVAL_SECONDS="0.1")
    request = create_request([add_offer(9)])
    fail_orders(sim, 1, "after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(request, metadata=server.auth(user))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(err.value)[0] == "PROVIDER_OUTCOME_UNKNOWN"
    # The retry waits for the sweeper (ABORTED meanwhile), then gets the booking.
    deadline = time.monotonic() + 10
    while True:
        try:
            held = (await server.stub.CreateBooking(request, metadata=server.auth(user))).booking
            break
        except grpc.aio.AioRpcError as exc:
            assert (exc.code(), error_reason(exc)[0]) == (
                grpc.StatusCode.ABORTED,
                "REQUEST_IN_PROGRESS",
            )
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    assert held.status == pb.BOOKING_STATUS_HELD
    assert len(sim_orders(sim, held.booking_reference)) == 1
    assert len(await provider_rows(engine, user)) == 1


async def test_provider_offers_need_the_order_api(
    server_factory, add_offer, offers: SimOffers, user: str
) -> None:
    server = await server_factory(prices=offers)  # no PROVIDER_BASE_URL
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await server.stub.CreateBooking(create_request([add_offer(10)]), metadata=server.auth(user))
    reason, metadata = error_reason(err.value)
    assert (err.value.code(), reason) == (grpc.StatusCode.FAILED_PRECONDITION, "OFFER_NOT_BOOKABLE")
    assert metadata["field"] == "offer_ids[0]"
