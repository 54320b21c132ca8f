"""Finding a provider order by the remark it was created with.

Creating a flight order is not idempotent, so when a create's outcome is unknown (a
timeout, a 5xx) the booking service asks "is there an order with my remark?" instead
of creating another. Each booking's order attempt carries a remark unique to it
(``bookings.provider_remark``), echoed by the provider on the order.

How to ask depends on the provider, hence the ``OrderLookup`` interface; an adapter
is given one (PROVIDER_[<NAME>_]ORDER_LOOKUP):

- ``SimOrderLookup`` (``sim``): the stand-in's order listing,
  ``GET /_sim/orders?remark=<text>``.
- With a real provider this would be its order retrieval by the agency's own
  reference (a queue or PNR search by remark); where the provider has no such call,
  ``NoOrderLookup`` (``none``) answers "not found" and logs the remark at ERROR for
  manual reconciliation.
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from services.http_timeout import exact_timeout
from services.providers.base import LookupUnavailable, PlacedOrder

log = logging.getLogger("skyroute.booking.provider")

SIM_ORDERS_PATH = "/_sim/orders"
# The hotel supplier stand-in's order listing (same shape).
SIM_HOTEL_ORDERS_PATH = "/_sim/hotel-orders"
ORDER_LOOKUP_SIM = "sim"
ORDER_LOOKUP_NONE = "none"


class OrderLookup(Protocol):
    async def find(self, remark: str) -> PlacedOrder | None:
        """The live order tagged with ``remark``, or None if there is none. Raises
        LookupUnavailable when it cannot tell."""


class SimOrderLookup:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        timeout_seconds: float,
        path: str = SIM_ORDERS_PATH,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + path
        self._timeout = exact_timeout(timeout_seconds)

    async def find(self, remark: str) -> PlacedOrder | None:
        try:
            async with self._session.get(
                self._url, params={"remark": remark}, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise LookupUnavailable(f"order lookup answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LookupUnavailable(f"order lookup failed ({type(exc).__name__})") from None
        try:
            orders = [
                PlacedOrder(str(o["id"]), str(o.get("reference") or "")) for o in body["orders"]
            ]
        except (KeyError, TypeError) as exc:
            raise LookupUnavailable(f"unexpected lookup answer ({type(exc).__name__})") from None
        if len(orders) > 1:  # never expected: an attempt's remark is used once
            log.error(
                "several provider orders carry one remark",
                extra={"remark": remark, "orders": len(orders)},
            )
        return orders[0] if orders else None


class NoOrderLookup:
    async def find(self, remark: str) -> PlacedOrder | None:
        log.error(
            "provider order outcome unknown and no lookup configured: reconcile by hand",
            extra={"remark": remark},
        )
        return None


def order_lookup(
    kind: str, session: aiohttp.ClientSession, url: str, timeout_seconds: float
) -> OrderLookup:
    if kind == ORDER_LOOKUP_SIM:
        return SimOrderLookup(session, url, timeout_seconds)
    return NoOrderLookup()
