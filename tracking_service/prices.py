"""Prices for tracker runs, from the search service's SearchFlights (so tracking shares
search's cache, its provider adapter and the fleet's upstream rate budget).

Every call asks for background priority (``x-skyroute-priority: background``): search
then takes upstream permits only from the slots interactive searches leave free, so
tracking never starves them. A search the provider could not answer (partial results:
rate budget, outage) is not a price: the run is retried later in the same period.

Identical searches are made once: runs are grouped by search key, and a result is reused
by every run of that key on this replica for ``reuse_seconds`` or half the tracker's
period, whichever is shorter, so no run sees a price older than its own period allows
(in-flight calls are shared). Across replicas, search's own cache computes a key once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import grpc

from services.clients.channels import open_channel
from services.context import REQUEST_ID_HEADER, new_request_id
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.rate_budget import PRIORITY_HEADER, Priority
from tracking_service.kinds import search_request
from tracking_service.triggers import Observation

log = logging.getLogger("skyroute.tracking.prices")

SEARCH_SERVICE = "skyroute.search.v1.SearchService"


class PriceUnavailable(Exception):
    """No price this time (search down, provider held back); try again later."""


def observation(response: search_pb.SearchFlightsResponse) -> Observation:
    if not response.itineraries:
        return Observation(None, None, None, 0)
    best = response.itineraries[0]
    money = best.total_price
    price = (Decimal(money.units) + Decimal(money.nanos).scaleb(-9)).quantize(Decimal("0.01"))
    return Observation(price, money.currency_code, best.offer_id, response.total_size)


class PriceSource:
    """SearchFlights for tracker runs, coalesced by search key."""

    def __init__(
        self,
        addresses: Sequence[str],
        timeout: float,
        concurrency: int,
        include_provider_offers: bool,
        reuse_seconds: float = 30.0,
    ) -> None:
        self._channel = open_channel(list(addresses), SEARCH_SERVICE)
        self._stub = search_grpc.SearchServiceStub(self._channel)
        self._timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)
        self._provider = include_provider_offers
        self._reuse = reuse_seconds
        # search key -> (when fetched, monotonic; the call, shared)
        self._recent: dict[str, tuple[float, asyncio.Future[Observation]]] = {}
        self.counts = {"searches": 0, "reused": 0, "failed": 0}

    async def price(
        self, key: str, kind: str, params: dict[str, Any], period_seconds: float
    ) -> Observation:
        now = time.monotonic()
        known = self._recent.get(key)
        if known is not None and now - known[0] < min(self._reuse, period_seconds / 2):
            future = known[1]
            if not future.done() or future.exception() is None:
                self.counts["reused"] += 1
                return await asyncio.shield(future)
        if len(self._recent) > 10_000:
            self._recent = {k: v for k, v in self._recent.items() if now - v[0] < self._reuse}
        future = asyncio.get_running_loop().create_future()
        self._recent[key] = (now, future)
        try:
            result = await self._search(params)
        except BaseException as exc:
            self._recent.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        future.set_result(result)
        return result

    async def _search(self, params: dict[str, Any]) -> Observation:
        request = search_request(params, self._provider)
        metadata = (
            (PRIORITY_HEADER, Priority.BACKGROUND.value),
            (REQUEST_ID_HEADER, new_request_id()),
        )
        async with self._slots:
            self.counts["searches"] += 1
            try:
                response = await self._stub.SearchFlights(
                    request, timeout=self._timeout, metadata=metadata
                )
            except grpc.aio.AioRpcError as exc:
                self.counts["failed"] += 1
                raise PriceUnavailable(exc.code().name) from None
        if response.partial:
            self.counts["failed"] += 1
            raise PriceUnavailable(response.partial_reason or "PARTIAL")
        return observation(response)

    async def close(self) -> None:
        await self._channel.close()
