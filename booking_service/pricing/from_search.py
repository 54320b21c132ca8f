"""``PriceChecker`` over the search service's PriceOffer (SEARCH_SERVICE_ADDRESSES).

Offer ids are the search service's (opaque, from SearchFlights or PriceOffer). One
PriceOffer per offer, concurrently, each with a deadline, over a round-robin channel to
every search replica that retries UNAVAILABLE. A guarantee the search service gives
(price_guarantee_expire_time) is honoured: the hold books the guaranteed total.

Provider (upstream) offers: search's PriceOffer re-prices them at the provider and
returns the priced flight-offer (``provider_offer_json``); it comes back as the
PricedOffer's ``provider``, for the booking to order it (flows/upstream_orders.py). Their
segments have no inventory fare.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC
from decimal import ROUND_HALF_UP, Decimal

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from booking_service.pricing.checker import PricedOffer, PricedSegment, ProviderOffer, apportion
from booking_service.pricing.from_database import departed_error, offer_error
from booking_service.pricing.passengers import CENT, Party
from services.clients.channels import open_channel
from services.context import REQUEST_ID_HEADER, current_request_id, new_request_id
from services.errors import (
    DomainError,
    FailedPreconditionError,
    UnavailableError,
    ValidationError,
)
from services.flights import FlightLeg
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc

SERVICE = "skyroute.search.v1.SearchService"
MAX_OFFER_ID_CHARS = 2048
CABINS = {
    pb.CABIN_ECONOMY: "ECONOMY",
    pb.CABIN_PREMIUM_ECONOMY: "PREMIUM_ECONOMY",
    pb.CABIN_BUSINESS: "BUSINESS",
    pb.CABIN_FIRST: "FIRST",
}


def _decimal(value: money_pb2.Money) -> Decimal:
    """To the cent, as the inventory stores money (NUMERIC(12, 2))."""
    return (Decimal(value.units) + Decimal(value.nanos).scaleb(-9)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


def _reason(error: grpc.aio.AioRpcError) -> str:
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        return ""
    if status is None:
        return ""
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


class _Missing(Exception):
    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason


class _Departed(Exception):
    def __init__(self, index: int) -> None:
        self.index = index


def _leg(s: pb.Segment) -> FlightLeg:
    return FlightLeg(
        flight_designator=s.flight_designator,
        origin=s.origin,
        destination=s.destination,
        departure_at=s.departure_time.ToDatetime(UTC),
        arrival_at=s.arrival_time.ToDatetime(UTC),
        departure_local_time=s.departure_local_time or None,
        arrival_local_time=s.arrival_local_time or None,
    )


def priced_offer(
    offer_id: str, response: pb.PriceOfferResponse, provider: ProviderOffer | None = None
) -> PricedOffer:
    """A PriceOfferResponse as a PricedOffer."""
    itinerary = response.itinerary
    currency = response.current_total_price.currency_code or itinerary.total_price.currency_code
    current = _decimal(response.current_total_price)
    flat = [s for j in itinerary.journeys for s in j.segments]
    given = [_decimal(s.price) if s.HasField("price") else None for s in flat]
    known = [p for p in given if p is not None]
    if len(known) == len(given) and sum(known, Decimal(0)) == current:
        prices = known
    else:  # a guaranteed total that no longer is the sum of the current fares
        prices = apportion(current, [p or Decimal(0) for p in given])
    cabin = CABINS.get(itinerary.cabin, "ECONOMY")
    segments = tuple(
        PricedSegment(
            fare_id=s.fare_id or None,
            leg=_leg(s),
            cabin=cabin,
            price=price,
            refundable=s.refundable,
            change_fee=_decimal(s.change_fee) if s.HasField("change_fee") else Decimal("0.00"),
            seats_available=s.seats_available,
        )
        for s, price in zip(flat, prices, strict=True)
    )
    p = itinerary.passengers
    guaranteed = None
    if response.HasField("price_guarantee_expire_time"):
        guaranteed = response.price_guarantee_expire_time.ToDatetime(UTC)
    return PricedOffer(
        offer_id=offer_id,
        party=Party(p.adults, p.children, p.infants),
        currency=currency,
        segments=segments,
        original_total=_decimal(response.original_total_price),
        current_total=current,
        available=response.available,
        guaranteed_until=guaranteed,
        provider=provider,
    )


class SearchPriceChecker:
    def __init__(self, addresses: Sequence[str], timeout_seconds: float) -> None:
        self._channel = open_channel(addresses, SERVICE)
        self._stub = pb_grpc.SearchServiceStub(self._channel)
        self._timeout = timeout_seconds

    def check_offer_id(self, offer_id: str) -> str | None:
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            return f"longer than {MAX_OFFER_ID_CHARS} characters"
        return None

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        results = await asyncio.gather(
            *(self._price(i, offer_id) for i, offer_id in enumerate(offer_ids)),
            return_exceptions=True,
        )
        missing = [r for r in results if isinstance(r, _Missing)]
        if missing:
            unknown = [m.index for m in missing if m.reason != "OFFER_EXPIRED"]
            if unknown:
                raise offer_error("OFFER_NOT_FOUND", "unknown offer", unknown)
            raise offer_error(
                "OFFER_EXPIRED", "the offer has expired; search again", [m.index for m in missing]
            )
        departed = [r.index for r in results if isinstance(r, _Departed)]
        if departed:
            raise departed_error(departed)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, PricedOffer)]

    async def _price(self, index: int, offer_id: str) -> PricedOffer:
        field = f"offer_ids[{index}]"
        metadata = ((REQUEST_ID_HEADER, current_request_id() or new_request_id()),)
        try:
            response = await self._stub.PriceOffer(
                pb.PriceOfferRequest(offer_id=offer_id), timeout=self._timeout, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise self._translate(exc, index, field) from None
        if response.itinerary.source == pb.SOURCE_PROVIDER:
            return priced_offer(offer_id, response, self._provider_offer(response, field))
        if any(s.fare_id == 0 for j in response.itinerary.journeys for s in j.segments):
            raise _not_bookable(field, "an inventory offer without a fare")
        return priced_offer(offer_id, response)

    @staticmethod
    def _provider_offer(response: pb.PriceOfferResponse, field: str) -> ProviderOffer | None:
        """The priced provider offer to order; None when it is sold out (the booking
        then fails as SOLD_OUT)."""
        if not response.available:
            return None
        name = response.itinerary.provider
        try:
            offer = json.loads(response.provider_offer_json) if name else None
        except ValueError:
            offer = None
        if not isinstance(offer, dict):
            raise _not_bookable(
                field, "the search service did not return the provider's priced offer"
            )
        return ProviderOffer(name, offer)

    @staticmethod
    def _translate(
        exc: grpc.aio.AioRpcError, index: int, field: str
    ) -> DomainError | _Missing | _Departed:
        code = exc.code()
        if code == grpc.StatusCode.NOT_FOUND:
            return _Missing(index, _reason(exc) or "OFFER_NOT_FOUND")
        if code == grpc.StatusCode.FAILED_PRECONDITION and _reason(exc) == "OFFER_DEPARTED":
            return _Departed(index)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ValidationError.field(field, exc.details() or "is not a valid offer id")
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return FailedPreconditionError(
                f"{field}: {exc.details()}",
                reason=_reason(exc) or "OFFER_NOT_BOOKABLE",
                metadata={"field": field},
            )
        return UnavailableError(
            "the search service did not answer; retry", reason="SEARCH_UNAVAILABLE"
        )

    async def close(self) -> None:
        await self._channel.close()


def _not_bookable(field: str, why: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"{field}: cannot be booked: {why}", reason="OFFER_NOT_BOOKABLE", metadata={"field": field}
    )
