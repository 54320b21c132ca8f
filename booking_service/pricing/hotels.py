"""Hotel offers priced again before they are held: search's PriceHotelOffer, which
rechecks the offer at the supplier (the supplier's offer pricing) and returns the
supplier's priced offer (``provider_offer_json``), whose id the order books. With
flight offers, the hotel offer is priced in the same PriceItems call instead
(from_search.py); its response and its error read as PriceHotelOffer's
(``priced_hotel``, ``hotel_error``).

A changed price is reported by the caller (flows/packages.py), never applied silently.
Errors name the request's field ``hotel_offer_id``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import grpc

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
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc

FIELD = "hotel_offer_id"
MAX_OFFER_ID_CHARS = 2048


@dataclass(frozen=True, slots=True)
class PricedHotel:
    offer_id: str  # as the caller sent it
    provider: str
    supplier_offer_id: str  # the supplier's offer as priced just now: what is ordered
    hotel_id: str
    hotel_name: str
    city_code: str
    room_type: str
    room_description: str
    board_type: str
    check_in: date
    check_out: date
    rooms: int
    guests: int  # the occupancy it was priced for, all rooms
    refundable: bool
    cancellation_deadline: datetime | None
    total: Decimal  # now
    original_total: Decimal  # when the offer id was issued
    currency: str
    price_changed: bool


def _board(value: int) -> str:
    name = pb.BoardType.Name(value) if value in pb.BoardType.values() else ""
    return name.removeprefix("BOARD_TYPE_") if value else ""


class HotelPricer:
    """search's PriceHotelOffer over a round-robin channel to every search replica."""

    def __init__(self, addresses: Sequence[str], timeout_seconds: float) -> None:
        self._channel = open_channel(addresses, SERVICE)
        self._stub = pb_grpc.SearchServiceStub(self._channel)
        self._timeout = timeout_seconds

    async def price(self, offer_id: str) -> PricedHotel:
        return await price_hotel(self._stub, offer_id, self._timeout)

    async def close(self) -> None:
        await self._channel.close()


async def price_hotel(
    stub: pb_grpc.SearchServiceStub, offer_id: str, timeout_seconds: float
) -> PricedHotel:
    """The hotel offer priced by search's PriceHotelOffer alone."""
    try:
        response = await stub.PriceHotelOffer(
            # The priced offer's own id is never read here (the order books
            # provider_offer_json): search keeps nothing for it.
            pb.PriceHotelOfferRequest(offer_id=offer_id, omit_offer_id=True),
            timeout=timeout_seconds,
            metadata=request_metadata(),
        )
    except grpc.aio.AioRpcError as exc:
        raise hotel_error(SearchFailure.of_call(exc)) from None
    return priced_hotel(offer_id, response)


def priced_hotel(offer_id: str, response: pb.PriceHotelOfferResponse) -> PricedHotel:
    """A PriceHotelOfferResponse as a PricedHotel; FailedPreconditionError for an offer
    that cannot be booked (sold out, no supplier offer)."""
    offer, hotel = response.offer, response.hotel
    if not response.available:
        raise FailedPreconditionError(
            f"{FIELD}: the hotel offer's rooms are sold out",
            reason="SOLD_OUT",
            metadata={"field": FIELD},
        )
    try:
        raw = json.loads(response.provider_offer_json)
        supplier_offer_id = str(raw["id"])
    except (ValueError, KeyError, TypeError):
        raise FailedPreconditionError(
            f"{FIELD}: cannot be booked: search did not return the supplier's offer",
            reason="OFFER_NOT_BOOKABLE",
            metadata={"field": FIELD},
        ) from None
    deadline = None
    if offer.HasField("cancellation_deadline"):
        deadline = offer.cancellation_deadline.ToDatetime(tzinfo=UTC)
    occupancy = offer.occupancy
    return PricedHotel(
        offer_id=offer_id,
        provider=hotel.provider,
        supplier_offer_id=supplier_offer_id,
        hotel_id=hotel.hotel_id,
        hotel_name=hotel.name,
        city_code=hotel.city_code,
        room_type=offer.room_type,
        room_description=offer.room_description,
        board_type=_board(offer.board_type),
        check_in=date.fromisoformat(offer.check_in_date),
        check_out=date.fromisoformat(offer.check_out_date),
        rooms=max(offer.rooms, 1),
        guests=(occupancy.adults + len(occupancy.children_ages)) * max(offer.rooms, 1),
        refundable=offer.refundable,
        cancellation_deadline=deadline,
        total=decimal(response.current_total_price),
        original_total=decimal(response.original_total_price),
        currency=response.current_total_price.currency_code,
        price_changed=response.price_changed,
    )


def hotel_error(failure: SearchFailure) -> DomainError:
    """How search's failure to price the hotel offer is answered, naming
    ``hotel_offer_id``."""
    code = failure.code
    reason = failure.reason
    if code == grpc.StatusCode.NOT_FOUND:
        why = "the offer has expired; search again" if reason == "OFFER_EXPIRED" else "unknown"
        return NotFoundError(
            f"{FIELD}: {why}",
            reason=reason or "OFFER_NOT_FOUND",
            metadata={"field": FIELD},
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationError.field(FIELD, "is not a hotel offer id")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPreconditionError(
            f"{FIELD}: {failure.message}",
            reason=reason or "OFFER_NOT_BOOKABLE",
            metadata={"field": FIELD},
        )
    return UnavailableError(
        "the search service or hotel supplier did not answer; retry",
        reason=reason if code == grpc.StatusCode.UNAVAILABLE and reason else "SEARCH_UNAVAILABLE",
    )
