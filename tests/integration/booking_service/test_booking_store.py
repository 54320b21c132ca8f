"""The booking store: its pool when the database drops a connection (a restart or
failover), and SQL that must agree with the Python rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from booking_service.pricing.passengers import Party
from booking_service.store.repository import PARTY_COST_SQL, BookingStore
from services.db import DatabaseSettings, create_pool
from services.errors import UnavailableError


async def test_a_dropped_connection_is_unavailable_and_then_replaced(booking_db_url: str) -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": booking_db_url})
    pool = await create_pool(settings, application_name="booking-dropped")
    store = BookingStore(pool)
    try:
        with pytest.raises(UnavailableError) as err:
            async with store.transaction() as tx:
                await tx.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        # A retryable status with a plain message, not INTERNAL with the driver's text.
        assert err.value.reason == "DATABASE_UNAVAILABLE"
        assert "unavailable" in err.value.message
        # The pool replaces the connection: the next call works.
        assert await store.get("nobody", "AAAAAA") is None
    finally:
        await pool.close()


async def test_the_party_cost_in_sql_rounds_like_the_pricing_rule(store: BookingStore) -> None:
    """The one-statement hold compares a fare's cost for the party in SQL; it must
    round exactly as Party.fare_cost does (half up to the cent)."""
    query = "SELECT " + PARTY_COST_SQL.replace("$38", "$2").replace("price", "$1::numeric")
    parties = [
        Party(1, 0, 0),
        Party(1, 1, 0),
        Party(1, 0, 1),
        Party(2, 1, 1),
        Party(3, 2, 2),
        Party(1, 3, 1),
        Party(4, 5, 0),
    ]
    prices = [
        Decimal(p)
        for p in (
            "0.01",
            "0.02",
            "0.05",
            "0.10",
            "0.15",
            "0.30",
            "1.01",
            "10.05",
            "33.33",
            "99.99",
            "123.45",
            "1000.07",
        )
    ]
    prices += [Decimal(n) / 100 for n in range(1, 2000, 37)]
    async with store.transaction() as tx:
        for party in parties:
            for price in prices:
                in_sql = await tx.connection.fetchval(query, price, party.weight_percent)
                assert in_sql == party.fare_cost(price), (party, price)
