"""Upstream offers with the whole stack as processes: the provider stand-in, two token
replicas, two search replicas sharing Redis and PostgreSQL.

A revoked token costs exactly one token refresh across both search replicas and the
searches succeed; a 429 is retried after a backoff; a failing or unreachable provider
gives inventory results flagged partial; provider offers that fly the same flights as
inventory ones are dropped; provider offers resolve through GetOffer and PriceOffer.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from tests.utils.redis_keys import delete_matching
from tests.utils.redis_server import free_port
from tests.utils.search_cluster import SearchCluster, error_details, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 2).start()
        # flush_cache deletes search keys by hand between cases: no replica may answer
        # its trusted copy of a result after that.
        self.search = SearchCluster(
            workdir,
            database_url,
            redis_url,
            self.prefix,
            2,
            self.tokens,
            env={"SEARCH_CACHE_LOCAL_STALENESS_SECONDS": "0"},
        ).start()

    @property
    def client_id(self) -> str:
        return self.tokens.client_ids["amadeus"]

    def flush_cache(self) -> None:
        delete_matching(self.redis_url, f"{self.prefix}:search:*")

    def stop(self) -> None:
        self.search.stop()
        self.tokens.stop()
        self.sim.stop()
        self.flush_cache()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with seeded_database() as url:
        yield url


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, database: str, redis_url: str
) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("search-stack"), database, redis_url)
    try:
        yield stack
        stack.search.stop()
        logs = stack.search.logs()
        leaked = [t["access_token"][:4] for t in stack.sim.tokens() if t["access_token"] in logs]
        assert not leaked, f"tokens in search logs: {leaked}"
        assert stack.tokens.keys["search"] not in logs
        stack.tokens.assert_no_secrets_in_logs()
    finally:
        stack.stop()


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    stack.flush_cache()
    return stack


def query(
    origin: str = "LHR", destination: str = "JFK", *, adults: int = 1, days: int = 0
) -> pb.SearchFlightsRequest:
    return pb.SearchFlightsRequest(
        origin=origin,
        destination=destination,
        departure_date=(TOMORROW + timedelta(days=days)).isoformat(),
        passengers=pb.Passengers(adults=adults),
        cabin=pb.CABIN_ECONOMY,
        page_size=100,
        include_provider_offers=True,
    )


def stubs(stack: Stack) -> list[tuple[grpc.aio.Channel, pb_grpc.SearchServiceStub]]:
    out = []
    for address in stack.search.addresses:
        channel = grpc.aio.insecure_channel(address)
        out.append((channel, pb_grpc.SearchServiceStub(channel)))
    return out


def sources(response: pb.SearchFlightsResponse) -> set[int]:
    return {i.source for i in response.itineraries}


@pytest.mark.redis_backends
async def test_revoked_token_one_refresh_across_replicas(fresh: Stack) -> None:
    stack = fresh
    pairs = stubs(stack)
    try:
        # Warm up: each replica has the current token and has used it.
        for i, (_, stub) in enumerate(pairs):
            response = await stub.SearchFlights(query(days=i), timeout=15)
            assert not response.partial and pb.SOURCE_PROVIDER in sources(response)
        issued = stack.sim.issued(stack.client_id)
        stats = stack.sim.stats()
        revoked_before = stats["api_401"]["38193"]

        assert stack.sim.revoke(stack.client_id) >= 1
        # Both replicas search at once with the revoked token (different queries, so
        # none is answered from the cache); the provider's latency keeps their calls in
        # flight together, so both get a 401 before either has the new token.
        stack.sim.config(api_latency_ms=300)
        try:
            responses = await asyncio.gather(
                *(
                    stub.SearchFlights(query(adults=1 + n + 3 * r, days=n), timeout=15)
                    for n in range(3)
                    for r, (_, stub) in enumerate(pairs)
                )
            )
        finally:
            stack.sim.config(api_latency_ms=0)
        for response in responses:
            assert not response.partial, response.partial_reason
            assert pb.SOURCE_PROVIDER in sources(response)
        assert stack.sim.issued(stack.client_id) == issued + 1
        stats = stack.sim.stats()
        assert stats["api_401"]["38193"] - revoked_before >= 2  # both replicas saw a 401
    finally:
        for channel, _ in pairs:
            await channel.close()


async def test_rate_limit_is_retried(fresh: Stack) -> None:
    stack = fresh
    channel = stack.search.channel()
    try:
        before = stack.sim.stats()["api_429"]
        stack.sim._call("POST", "/_sim/fail-api", {"count": 1, "status": 429})
        response = await pb_grpc.SearchServiceStub(channel).SearchFlights(
            query("ORD", "CDG"), timeout=15
        )
        assert not response.partial
        assert pb.SOURCE_PROVIDER in sources(response)
        assert stack.sim.stats()["api_429"] == before + 1
    finally:
        await channel.close()


async def test_provider_errors_give_partial_inventory_results(fresh: Stack) -> None:
    stack = fresh
    channel = stack.search.channel()
    try:
        stack.sim._call("POST", "/_sim/fail-api", {"count": 50, "status": 503})
        response = await pb_grpc.SearchServiceStub(channel).SearchFlights(
            query("ORD", "ATL"), timeout=15
        )
        assert response.partial and response.partial_reason == "PROVIDER_UNAVAILABLE"
        assert response.itineraries and sources(response) == {pb.SOURCE_INVENTORY}
    finally:
        stack.sim._call("POST", "/_sim/fail-api", {"count": 0, "status": 503})
        await channel.close()


async def test_unreachable_provider_gives_partial_inventory_results(
    stack: Stack, database: str, redis_url: str, tmp_path: Path
) -> None:
    """A replica whose provider does not answer at all (nothing listens there)."""
    dead = SearchCluster(
        tmp_path,
        database,
        redis_url,
        stack.prefix + "-dead",
        1,
        stack.tokens,
        {"PROVIDER_BASE_URL": f"http://127.0.0.1:{free_port()}"},
    ).start()
    channel = dead.channel()
    try:
        stub = pb_grpc.SearchServiceStub(channel)
        started = asyncio.get_running_loop().time()
        response = await stub.SearchFlights(query("ORD", "ATL"), timeout=15)
        assert asyncio.get_running_loop().time() - started < 5
        assert response.partial and response.partial_reason == "PROVIDER_UNAVAILABLE"
        assert response.itineraries and sources(response) == {pb.SOURCE_INVENTORY}
        # Without asking for provider offers nothing is partial.
        plain = query("ORD", "ATL")
        plain.include_provider_offers = False
        response = await stub.SearchFlights(plain, timeout=15)
        assert not response.partial and response.itineraries
    finally:
        await channel.close()
        dead.stop()


@pytest.mark.redis_backends
async def test_provider_offers_resolve_and_price(fresh: Stack) -> None:
    stack = fresh
    channel = stack.search.channel()
    try:
        stub = pb_grpc.SearchServiceStub(channel)
        response = await stub.SearchFlights(query("ORD", "CDG"), timeout=15)
        offer = next(i for i in response.itineraries if i.source == pb.SOURCE_PROVIDER)
        assert offer.provider == "amadeus"
        # Any replica resolves it (the offer lives in Redis).
        for _ in range(2):
            got = await stub.GetOffer(pb.GetOfferRequest(offer_id=offer.offer_id), timeout=15)
            assert got.itinerary.total_price == offer.total_price
        priced = await stub.PriceOffer(pb.PriceOfferRequest(offer_id=offer.offer_id), timeout=15)
        assert priced.available and not priced.price_changed
        assert priced.current_total_price == offer.total_price
        # The offer as the provider priced it, for the booking service to order.
        raw = json.loads(priced.provider_offer_json)
        assert raw["type"] == "flight-offer" and raw["travelerPricings"]
        assert Decimal(raw["price"]["grandTotal"]) == (
            offer.total_price.units + Decimal(offer.total_price.nanos).scaleb(-9)
        )
        stack.sim._call("POST", "/_sim/price-change", {"percent": 10})
        try:
            again = await stub.PriceOffer(pb.PriceOfferRequest(offer_id=offer.offer_id), timeout=15)
            # GetOffer follows the inventory's rule: the old total is not answered OK.
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetOffer(pb.GetOfferRequest(offer_id=offer.offer_id), timeout=15)
        finally:
            stack.sim._call("POST", "/_sim/price-change", {"percent": 0})
        assert (err.value.code(), error_details(err.value)[1]) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "OFFER_CHANGED",
        )
        assert again.price_changed
        assert again.original_total_price == offer.total_price
        assert again.current_total_price.units > offer.total_price.units
    finally:
        await channel.close()


async def test_provider_duplicates_of_inventory_flights_are_dropped(
    fresh: Stack, database: str
) -> None:
    stack = fresh
    channel = stack.search.channel()
    engine = create_async_engine(database)
    try:
        stub = pb_grpc.SearchServiceStub(channel)
        day = TOMORROW + timedelta(days=1)
        request = query("LHR", "JFK", days=1)
        before = await stub.SearchFlights(request, timeout=15)
        provider = [
            i
            for i in before.itineraries
            if i.source == pb.SOURCE_PROVIDER and len(i.journeys[0].segments) == 1
        ]
        assert provider
        segment = provider[0].journeys[0].segments[0]
        # Put the same flight into our inventory.
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO airlines (iata_code, name) VALUES (:code, :name) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"code": segment.airline_code, "name": "Test"},
            )
            flight_id = (
                await conn.execute(
                    text(
                        "INSERT INTO flights (airline_code, flight_number, origin, destination, "
                        "departure_at, arrival_at) VALUES (:a, :n, 'LHR', 'JFK', "
                        "to_timestamp(:d), to_timestamp(:r)) RETURNING id"
                    ),
                    {
                        "a": segment.airline_code,
                        "n": segment.flight_number,
                        "d": segment.departure_time.seconds,
                        "r": segment.arrival_time.seconds,
                    },
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO fares (flight_id, cabin, price, currency, seats_total, "
                    "seats_available, refundable, change_fee) "
                    "VALUES (:f, 'ECONOMY', 99.00, 'USD', 100, 100, false, 0)"
                ),
                {"f": flight_id},
            )
        stack.flush_cache()
        after = await stub.SearchFlights(request, timeout=15)
        same = [
            i
            for i in after.itineraries
            if [
                (s.flight_designator, s.departure_time.seconds)
                for j in i.journeys
                for s in j.segments
            ]
            == [(segment.flight_designator, segment.departure_time.seconds)]
        ]
        assert len(same) == 1 and same[0].source == pb.SOURCE_INVENTORY
        assert day.isoformat() in same[0].journeys[0].segments[0].departure_local_time
    finally:
        await engine.dispose()
        await channel.close()
