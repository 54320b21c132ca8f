"""Prices for tracker runs, from the search service's SearchFlights and SearchHotels (so
tracking shares search's cache, its provider adapters and the fleet's upstream rate
budget).

Every call asks for background priority (``x-skyroute-priority: background``): search
then takes upstream permits only from the slots interactive searches leave free, so
tracking never starves them. A search the provider could not answer (partial results:
rate budget, outage) is not a price: the run is retried later in the same period.

Identical searches are made once: runs are grouped by search key, and a result is reused
by every run of that key on this replica for ``reuse_seconds`` or half the tracker's
period, whichever is shorter, so no run sees a price older than its own period allows
(in-flight calls are shared). Across replicas, search's own cache computes a key once.

At create, a hotel search is also checked by search itself (``check``): the city is
resolved at the supplier, so an unknown one is refused naming its field, as
SearchHotels names it, under ``tracker.hotel.``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.clients.channels import open_channel
from services.context import REQUEST_ID_HEADER, new_request_id
from services.errors import FieldViolation, UnavailableError, ValidationError
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.rate_budget import PRIORITY_HEADER, Priority
from tracking_service import hotels
from tracking_service.kinds import TrackedSearch, search_request
from tracking_service.models import TrackerKind
from tracking_service.triggers import Observation

log = logging.getLogger("skyroute.tracking.prices")

SEARCH_SERVICE = "skyroute.search.v1.SearchService"


class PriceUnavailable(Exception):
    """No price this time (search down, provider held back); try again later."""


def observation(response: search_pb.SearchFlightsResponse) -> Observation:
    if not response.itineraries:
        return Observation(None, None, None, 0)
    best = response.itineraries[0]
    return Observation.priced(best.total_price, best.offer_id, response.total_size)


def violations(error: grpc.aio.AioRpcError, prefix: str) -> list[FieldViolation]:
    """The BadRequest field violations of a failed call, their fields under ``prefix``."""
    status = rpc_status.from_call(error)
    out: list[FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(
                FieldViolation(prefix + v.field, v.description) for v in bad.field_violations
            )
    return out


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
            result = await self._search(kind, params)
        except BaseException as exc:
            self._recent.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        future.set_result(result)
        return result

    async def check(self, search: TrackedSearch) -> None:
        """At create: a hotel search as SearchHotels judges it (the city exists at the
        supplier). ValidationError naming ``tracker.hotel.<field>``; UnavailableError
        when search cannot say just now."""
        if search.kind is not TrackerKind.HOTEL:
            return
        request = hotels.search_request({**search.params, "hotel_id": ""})
        metadata = ((REQUEST_ID_HEADER, new_request_id()),)  # the user waits: interactive
        try:
            await self._stub.SearchHotels(request, timeout=self._timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.INVALID_ARGUMENT:
                found = violations(exc, "tracker.hotel.")
                if found:
                    raise ValidationError(found) from None
            raise UnavailableError(
                "cannot check the hotel search just now (search service: "
                f"{exc.code().name}); retry",
                reason="SEARCH_UNAVAILABLE",
            ) from None

    async def _search(self, kind: str, params: dict[str, Any]) -> Observation:
        if kind == TrackerKind.HOTEL.value:
            return await hotels.price(self._search_hotels, params)
        request = search_request(params, self._provider)
        async with self._slots:
            self.counts["searches"] += 1
            try:
                response = await self._stub.SearchFlights(
                    request, timeout=self._timeout, metadata=self._background()
                )
            except grpc.aio.AioRpcError as exc:
                self.counts["failed"] += 1
                raise PriceUnavailable(exc.code().name) from None
        if response.partial:
            self.counts["failed"] += 1
            raise PriceUnavailable(response.partial_reason or "PARTIAL")
        return observation(response)

    async def _search_hotels(
        self, request: search_pb.SearchHotelsRequest
    ) -> search_pb.SearchHotelsResponse:
        async with self._slots:
            self.counts["searches"] += 1
            try:
                response: search_pb.SearchHotelsResponse = await self._stub.SearchHotels(
                    request, timeout=self._timeout, metadata=self._background()
                )
            except grpc.aio.AioRpcError as exc:
                self.counts["failed"] += 1
                raise PriceUnavailable(exc.code().name) from None
        return response

    @staticmethod
    def _background() -> tuple[tuple[str, str], ...]:
        return (
            (PRIORITY_HEADER, Priority.BACKGROUND.value),
            (REQUEST_ID_HEADER, new_request_id()),
        )

    async def close(self) -> None:
        await self._channel.close()
