"""The store's pool when the database drops a connection (a restart or failover)."""

from __future__ import annotations

import pytest

from booking_service.repository import BookingStore, create_store_pool
from services.db import DatabaseSettings
from services.errors import UnavailableError


async def test_a_dropped_connection_is_unavailable_and_then_replaced(
        booking_db_url: str) -> None:
    settings = DatabaseSettings.from_env({"DATABASE_URL": booking_db_url})
    pool = await create_store_pool(settings, "booking-dropped")
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
