"""Finding a provider order by the remark it was created with.

Creating a flight order is not idempotent, so when a create's outcome is unknown (a
timeout, a 5xx) the booking service asks "is there an order with my remark?" instead
of creating another. Each booking's order attempt carries a remark unique to it
(``bookings.provider_remark``), echoed by the provider on the order.

How to ask depends on the provider, hence the ``OrderLookup`` interface:

- ``SimOrderLookup`` (PROVIDER_ORDER_LOOKUP=sim): the stand-in's order listing,
  ``GET /_sim/orders?remark=<text>``.
- With a real provider this would be its order retrieval by the agency's own reference
  (Amadeus Enterprise: queue / PNR search by remark or received-from); Self-Service has
  no such call, so ``NoOrderLookup`` (PROVIDER_ORDER_LOOKUP=none) answers "not found"
  and logs the remark at ERROR for manual reconciliation.
"""

from __future__ import annotations

import logging
from typing import Protocol

import aiohttp

from booking_service.provider_orders import PlacedOrder
from services.http_timeout import exact_timeout

log = logging.getLogger("skyroute.booking.provider")

SIM_ORDERS_PATH = "/_sim/orders"


class LookupUnavailable(Exception):
    """The lookup could not be answered now; try again later."""


class OrderLookup(Protocol):
    async def find(self, remark: str) -> PlacedOrder | None:
        """The live order tagged with ``remark``, or None if there is none. Raises
        LookupUnavailable when it cannot tell."""


class SimOrderLookup:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout_seconds: float
                 ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + SIM_ORDERS_PATH
        self._timeout = exact_timeout(timeout_seconds)

    async def find(self, remark: str) -> PlacedOrder | None:
        try:
            async with self._session.get(self._url, params={"remark": remark},
                                         timeout=self._timeout) as response:
                if response.status != 200:
                    raise LookupUnavailable(f"order lookup answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LookupUnavailable(f"order lookup failed ({type(exc).__name__})") from None
        try:
            orders = [PlacedOrder(str(o["id"]), str(o.get("reference") or ""))
                      for o in body["orders"]]
        except (KeyError, TypeError) as exc:
            raise LookupUnavailable(f"unexpected lookup answer ({type(exc).__name__})"
                                    ) from None
        if len(orders) > 1:  # never expected: an attempt's remark is used once
            log.error("several provider orders carry one remark",
                      extra={"remark": remark, "orders": len(orders)})
        return orders[0] if orders else None


class NoOrderLookup:
    async def find(self, remark: str) -> PlacedOrder | None:
        log.error("provider order outcome unknown and no lookup configured: reconcile by "
                  "hand", extra={"remark": remark})
        return None
