"""InventoryRepository.offer_fares (PriceOffer / GetOffer read an offer's fares with it):
exactly the named fares that exist, with their flights, however many are named. Up to
OFFER_FARES_LISTED ids go as one parameter each, more as an array: both shapes are
checked against a plain query."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from search_service.repository import OFFER_FARES_LISTED, InventoryRepository, RepositoryMetrics

_EXPECTED = """
SELECT fa.id, f.airline_code, f.flight_number, f.origin, f.destination, f.departure_at,
       fa.cabin, fa.seats_available
FROM fares fa JOIN flights f ON f.id = fa.flight_id WHERE fa.id = ANY($1::bigint[])"""


@pytest.fixture
async def pool(search_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(
        search_db_url.replace("+asyncpg", "", 1), min_size=1, max_size=1
    ) as p:
        yield p


@pytest.mark.parametrize("count", [1, 2, OFFER_FARES_LISTED, OFFER_FARES_LISTED + 1, 20])
async def test_offer_fares_reads_exactly_the_named_fares(pool: asyncpg.Pool, count: int) -> None:
    repository = InventoryRepository(pool, RepositoryMetrics(CollectorRegistry()))
    async with pool.acquire() as connection:
        ids = [r["id"] for r in await connection.fetch("SELECT id FROM fares ORDER BY id DESC")]
        missing = ids[0] + 1000
        named = [*ids[: count - 1], missing] if count > 1 else ids[:1]
        expected = {r["id"]: r for r in await connection.fetch(_EXPECTED, named)}
    assert len(expected) == len(set(named) - {missing})

    # Twice: the second run uses the statement as prepared by the first.
    for _ in range(2):
        fares = await repository.offer_fares(named)
        assert set(fares) == set(expected)
        for fare_id, fare in fares.items():
            row = expected[fare_id]
            leg = fare.leg
            assert (leg.fare_id, leg.origin, leg.destination, leg.departure_at) == (
                fare_id,
                row["origin"],
                row["destination"],
                row["departure_at"],
            )
            assert leg.designator == f"{row['airline_code']}{row['flight_number']}"
            assert (fare.cabin, leg.seats_available) == (row["cabin"], row["seats_available"])


async def test_offer_fares_of_a_repeated_fare(pool: asyncpg.Pool) -> None:
    repository = InventoryRepository(pool, RepositoryMetrics(CollectorRegistry()))
    async with pool.acquire() as connection:
        fare_id = await connection.fetchval("SELECT min(id) FROM fares")
    assert set(await repository.offer_fares([fare_id, fare_id])) == {fare_id}
