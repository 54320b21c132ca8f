"""``PriceChecker`` over the search service's PriceOffer (SEARCH_SERVICE_ADDRESSES).

Offer ids are the search service's (opaque, from SearchFlights or PriceOffer). One
PriceOffer per offer, concurrently, each with a deadline, over a round-robin channel to
every search replica that retries UNAVAILABLE. A guarantee the search service gives
(price_guarantee_expire_time) is honoured: the hold books the guaranteed total.

Several items at once (a round trip as two offers, a package's offers and its hotel
offer: ``price_items``) go in one PriceItems call, one round trip instead of one per
item; each item's error there is the status its own call would have failed with,
translated exactly as that call's. An item answered UNAVAILABLE is asked again by its
own call, which the channel retries as it always did, within the same deadline. A search
replica that predates PriceItems answers UNIMPLEMENTED (a rolling update): that request
then makes the separate calls. Nothing remembers it: the next request asks again
(replicas behind the round-robin channel are old or new one by one, and an old one is
soon gone).

Provider (upstream) offers: search's PriceOffer re-prices them at the provider and
returns the priced flight-offer (``provider_offer_json``); it comes back as the
PricedOffer's ``provider``, for the booking to order it (flows/upstream_orders.py). Their
segments have no inventory fare.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from datetime import UTC
from decimal import Decimal

import grpc

from booking_service.pricing.checker import PricedOffer, PricedSegment, ProviderOffer, apportion
from booking_service.pricing.from_database import departed_error, offer_error
from booking_service.pricing.hotels import PricedHotel, hotel_error, price_hotel, priced_hotel
from booking_service.pricing.passengers import Party
from booking_service.pricing.search_wire import (
    SERVICE,
    SearchFailure,
    decimal,
    request_metadata,
)
from services.clients.channels import open_channel
from services.errors import (
    DomainError,
    FailedPreconditionError,
    UnavailableError,
    ValidationError,
)
from services.flights import FlightLeg
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc

MAX_OFFER_ID_CHARS = 2048
CABINS = {
    pb.CABIN_ECONOMY: "ECONOMY",
    pb.CABIN_PREMIUM_ECONOMY: "PREMIUM_ECONOMY",
    pb.CABIN_BUSINESS: "BUSINESS",
    pb.CABIN_FIRST: "FIRST",
}


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
    current = decimal(response.current_total_price)
    flat = [s for j in itinerary.journeys for s in j.segments]
    given = [decimal(s.price) if s.HasField("price") else None for s in flat]
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
            change_fee=decimal(s.change_fee) if s.HasField("change_fee") else Decimal("0.00"),
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
        original_total=decimal(response.original_total_price),
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
        if len(offer_ids) > 1:
            offers, _ = await self.price_items(offer_ids, None)
            return offers
        return _offers(await self._price_each(offer_ids, self._timeout))

    async def price_items(
        self, offer_ids: Sequence[str], hotel_offer_id: str | None
    ) -> tuple[list[PricedOffer], PricedHotel | None]:
        """The offers (as ``price_offers``) and the hotel offer (as hotels.HotelPricer,
        None without one), in one PriceItems call. The offers' error comes first when
        both fail."""
        request = pb.PriceItemsRequest(
            offer_ids=offer_ids,
            hotel_offer_id=hotel_offer_id or "",
            # As hotels.py asks: the priced hotel offer's own id is never read.
            omit_hotel_offer_id=True,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout

        def left() -> float:  # what follows a first call shares its deadline
            return max(deadline - loop.time(), 0.001)

        flights: list[PricedOffer | BaseException]
        hotel: PricedHotel | BaseException | None = None
        try:
            response = await self._stub.PriceItems(
                request, timeout=self._timeout, metadata=request_metadata()
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # a replica that predates it
                return await self._price_separately(offer_ids, hotel_offer_id, left())
            # The call failed as a whole (search down, deadline): every item did.
            failure = SearchFailure.of_call(exc)
            flights = [
                self._translate(failure, i, f"offer_ids[{i}]") for i in range(len(offer_ids))
            ]
            if hotel_offer_id:
                hotel = hotel_error(failure)
        else:
            if len(response.offers) != len(offer_ids) or (
                bool(hotel_offer_id) != response.HasField("hotel")
            ):
                raise UnavailableError(
                    "the search service did not answer; retry", reason="SEARCH_UNAVAILABLE"
                )
            flights = []
            for i, (offer_id, result) in enumerate(zip(offer_ids, response.offers, strict=True)):
                try:
                    flights.append(self._offer_result(i, offer_id, result))
                except (DomainError, _Missing, _Departed) as exc:
                    flights.append(exc)
            if hotel_offer_id:
                try:
                    hotel = _hotel_result(hotel_offer_id, response.hotel)
                except DomainError as exc:
                    hotel = exc
            # A call answered UNAVAILABLE is retried by the channel (channels.py); an
            # item answered UNAVAILABLE is asked again by its own call, so it gets the
            # same retries the separate calls had, within the same deadline.
            again = [i for i, r in enumerate(response.offers) if _unavailable(r)]
            hotel_again = bool(hotel_offer_id) and _unavailable(response.hotel)
            if again or hotel_again:
                timeout = left()
                calls: list[Awaitable[PricedOffer | PricedHotel]] = [
                    self._price(i, offer_ids[i], timeout) for i in again
                ]
                if hotel_again and hotel_offer_id:
                    calls.append(price_hotel(self._stub, hotel_offer_id, timeout))
                retried = await asyncio.gather(*calls, return_exceptions=True)
                for i, result in zip(again, retried, strict=False):
                    flights[i] = result  # type: ignore[assignment]
                if hotel_again:
                    hotel = retried[-1]  # type: ignore[assignment]
        offers = _offers(flights)
        if isinstance(hotel, BaseException):
            raise hotel
        return offers, hotel

    async def _price_separately(
        self, offer_ids: Sequence[str], hotel_offer_id: str | None, timeout_seconds: float
    ) -> tuple[list[PricedOffer], PricedHotel | None]:
        """As before PriceItems: one PriceOffer per offer, one PriceHotelOffer."""
        if not hotel_offer_id:
            return _offers(await self._price_each(offer_ids, timeout_seconds)), None
        each, hotel = await asyncio.gather(
            self._price_each(offer_ids, timeout_seconds),
            price_hotel(self._stub, hotel_offer_id, timeout_seconds),
            return_exceptions=True,
        )
        if isinstance(each, BaseException):  # cancelled
            raise each
        offers = _offers(each)  # as price_items: the offers' error first
        if isinstance(hotel, BaseException):
            raise hotel
        return offers, hotel

    async def _price_each(
        self, offer_ids: Sequence[str], timeout_seconds: float
    ) -> list[PricedOffer | BaseException]:
        return await asyncio.gather(
            *(self._price(i, offer_id, timeout_seconds) for i, offer_id in enumerate(offer_ids)),
            return_exceptions=True,
        )

    async def _price(self, index: int, offer_id: str, timeout_seconds: float) -> PricedOffer:
        field = f"offer_ids[{index}]"
        try:
            response = await self._stub.PriceOffer(
                pb.PriceOfferRequest(offer_id=offer_id),
                timeout=timeout_seconds,
                metadata=request_metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            raise self._translate(SearchFailure.of_call(exc), index, field) from None
        return self._priced(offer_id, response, field)

    def _offer_result(self, index: int, offer_id: str, result: pb.PriceOfferResult) -> PricedOffer:
        field = f"offer_ids[{index}]"
        if result.WhichOneof("result") == "priced":
            return self._priced(offer_id, result.priced, field)
        raise self._translate(SearchFailure.of_item(result.error), index, field)

    def _priced(self, offer_id: str, response: pb.PriceOfferResponse, field: str) -> PricedOffer:
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
        failure: SearchFailure, index: int, field: str
    ) -> DomainError | _Missing | _Departed:
        code = failure.code
        if code == grpc.StatusCode.NOT_FOUND:
            return _Missing(index, failure.reason or "OFFER_NOT_FOUND")
        if code == grpc.StatusCode.FAILED_PRECONDITION and failure.reason == "OFFER_DEPARTED":
            return _Departed(index)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ValidationError.field(field, failure.message or "is not a valid offer id")
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            return FailedPreconditionError(
                f"{field}: {failure.message}",
                reason=failure.reason or "OFFER_NOT_BOOKABLE",
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


def _offers(results: Sequence[PricedOffer | BaseException]) -> list[PricedOffer]:
    """The priced offers, or the one error for all that failed: every unknown (or
    expired) offer named together, then every departed one, then the first other
    error."""
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


_UNAVAILABLE: int = grpc.StatusCode.UNAVAILABLE.value[0]


def _unavailable(result: pb.PriceOfferResult | pb.PriceHotelOfferResult) -> bool:
    return result.WhichOneof("result") == "error" and result.error.code == _UNAVAILABLE


def _hotel_result(offer_id: str, result: pb.PriceHotelOfferResult) -> PricedHotel:
    if result.WhichOneof("result") == "priced":
        return priced_hotel(offer_id, result.priced)
    raise hotel_error(SearchFailure.of_item(result.error))
