"""gRPC servicer: validate, call the logic, convert to proto. Nothing else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2
from prometheus_client import CollectorRegistry

from search_service.airports import AirportDirectory
from search_service.hotels.service import HotelService, PricedHotel, priced_response
from search_service.hotels.validation import (
    HotelSearchRequest,
    hotel_search_basis,
    validate_hotel_search,
)
from search_service.offers import OfferService, Priced
from search_service.pagination import PageTokens
from search_service.price_items import ItemErrors, item_error, validate_items
from search_service.pricing import money
from search_service.search import FlightSearch
from search_service.settings import SearchPolicy
from search_service.validation import (
    ValidatedSearch,
    ValidationMemo,
    search_basis,
    validate_search,
)
from services.errors import DomainError, UnavailableError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from services.preserialized import Serialized
from services.rate_budget import priority_scope


class SearchServicer(pb_grpc.SearchServiceServicer):
    def __init__(
        self,
        search: FlightSearch,
        offers: OfferService,
        airports: AirportDirectory,
        page_tokens: PageTokens,
        policy: SearchPolicy,
        provider_enabled: bool,
        clock: Callable[[], float] = time.time,
        hotels: HotelService | None = None,
        item_errors: ItemErrors | None = None,
    ) -> None:
        self._search = search
        self._offers = offers
        self._airports = airports
        self._page_tokens = page_tokens
        self._policy = policy
        self._provider_enabled = provider_enabled
        self._clock = clock
        self._hotels = hotels
        self._item_errors = item_errors or ItemErrors(CollectorRegistry())
        # A popular search's request, validated once while nothing it was judged
        # against changes (search_service/validation.py).
        self._flight_requests: ValidationMemo[ValidatedSearch] = ValidationMemo()
        self._hotel_requests: ValidationMemo[HotelSearchRequest] = ValidationMemo()

    async def SearchFlights(
        self, request: pb.SearchFlightsRequest, context: grpc.aio.ServicerContext
    ) -> Serialized:  # a SearchFlightsResponse (services/preserialized.py)
        now = datetime.fromtimestamp(self._clock(), UTC)
        airports = self._airports
        key = request.SerializeToString()
        validated = self._flight_requests.get(
            key, lambda known: search_basis(airports, now, known.query.origin)
        )
        if validated is None:
            validated = validate_search(
                request, airports, now, self._policy, self._page_tokens, self._provider_enabled
            )
            basis = search_basis(airports, now, validated.query.origin)
            self._flight_requests.put(key, basis, validated)
        # A background caller (tracking) yields the upstream budget to interactive ones.
        with priority_scope(context.invocation_metadata()):
            return await self._search.search(validated)

    async def GetOffer(
        self, request: pb.GetOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOfferResponse:
        return pb.GetOfferResponse(itinerary=await self._offers.get_offer(request.offer_id))

    async def PriceOffer(
        self, request: pb.PriceOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.PriceOfferResponse:
        return _price_offer_response(await self._offers.price_offer(request.offer_id))

    # -- hotels ------------------------------------------------------------------------

    def _hotel_service(self) -> HotelService:
        if self._hotels is None:
            raise UnavailableError("hotel search is not enabled", reason="PROVIDER_UNAVAILABLE")
        return self._hotels

    async def SearchHotels(
        self, request: pb.SearchHotelsRequest, context: grpc.aio.ServicerContext
    ) -> Serialized:  # a SearchHotelsResponse (services/preserialized.py)
        hotels = self._hotel_service()
        now = datetime.fromtimestamp(self._clock(), UTC)
        key = request.SerializeToString()
        validated = self._hotel_requests.get(key, lambda _known: hotel_search_basis(now))
        if validated is None:
            validated = validate_hotel_search(request, now, self._policy, self._page_tokens)
            self._hotel_requests.put(key, hotel_search_basis(now), validated)
        # As for flights: a background caller (tracking) yields the supplier's budget.
        with priority_scope(context.invocation_metadata()):
            return await hotels.search(validated)

    async def GetHotelOffer(
        self, request: pb.GetHotelOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetHotelOfferResponse:
        hotel, offer = await self._hotel_service().get_offer(request.offer_id)
        return pb.GetHotelOfferResponse(hotel=hotel, offer=offer)

    async def PriceHotelOffer(
        self, request: pb.PriceHotelOfferRequest, context: grpc.aio.ServicerContext
    ) -> pb.PriceHotelOfferResponse:
        return priced_response(await self._price_hotel(request.offer_id, not request.omit_offer_id))

    async def _price_hotel(self, offer_id: str, keep: bool) -> PricedHotel:
        return await self._hotel_service().price_offer(offer_id, keep=keep)

    # -- both --------------------------------------------------------------------------

    async def PriceItems(
        self, request: pb.PriceItemsRequest, context: grpc.aio.ServicerContext
    ) -> pb.PriceItemsResponse:
        """search_service/price_items.py: every item as its own RPC prices it,
        concurrently, each with its own outcome."""
        validate_items(request)
        calls: list[Awaitable[Priced | PricedHotel]] = [
            self._offers.price_offer(offer_id) for offer_id in request.offer_ids
        ]
        if request.hotel_offer_id:
            calls.append(self._price_hotel(request.hotel_offer_id, not request.omit_hotel_offer_id))
        # Every item runs to its end: one item's error is its own, not the call's.
        results = await asyncio.gather(*calls, return_exceptions=True)
        for result in results:
            # Anything but a domain error fails the call as it fails a single RPC
            # (INTERNAL, logged by the interceptor); a cancelled call stays cancelled.
            if isinstance(result, BaseException) and not isinstance(result, DomainError):
                raise result
        response = pb.PriceItemsResponse()
        for result in results[: len(request.offer_ids)]:
            offer = response.offers.add()
            if isinstance(result, DomainError):
                self._item_errors.record("flight", result)
                offer.error.CopyFrom(item_error(result))
            else:
                assert isinstance(result, Priced)
                offer.priced.CopyFrom(_price_offer_response(result))
        if request.hotel_offer_id:
            hotel = results[-1]
            if isinstance(hotel, DomainError):
                self._item_errors.record("hotel", hotel)
                response.hotel.error.CopyFrom(item_error(hotel))
            else:
                assert isinstance(hotel, PricedHotel)
                response.hotel.priced.CopyFrom(priced_response(hotel))
        return response


def _price_offer_response(priced: Priced) -> pb.PriceOfferResponse:
    response = pb.PriceOfferResponse(
        itinerary=priced.itinerary,
        price_changed=priced.price_changed,
        original_total_price=money(priced.original_total_cents, priced.original_currency),
        current_total_price=money(priced.current_total_cents, priced.currency),
        available=priced.available,
    )
    if priced.provider_offer is not None:
        response.provider_offer_json = json.dumps(priced.provider_offer, separators=(",", ":"))
    if priced.guaranteed_until:
        response.price_guarantee_expire_time.CopyFrom(
            timestamp_pb2.Timestamp(seconds=priced.guaranteed_until)
        )
    return response
