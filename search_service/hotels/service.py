"""SearchHotels, GetHotelOffer and PriceHotelOffer over the hotel supplier.

SearchHotels resolves the destination (``destinations``; a search by hotel ids has
none to resolve: the supplier is asked for those hotels only), then takes the whole
filtered, sorted result list from the search cache (search_service/cache.py: one
computation per query across every replica, the others wait for it) and slices one page
(search_service/pagination.py: tokens bound to the query's digest). A computation asks
the supplier once (list, offers, ratings) and keeps every offer it returns in Redis, in
one batch (``offer_ids``; one key each under ``SEARCH_HOTEL_OFFER_STORE=keys``), so its
id resolves later. A page answered from a cached result is kept serialized and sent as
it is while Redis holds the same result (services/preserialized.py).

Supplier failures: nothing to fall back on (the platform has no hotel inventory of its
own), so the RPC answers UNAVAILABLE with the failure's reason (PROVIDER_UNAVAILABLE,
PROVIDER_RATE_LIMITED, PROVIDER_UNAUTHORIZED); a 401 has already been reported to the
token service and retried once with the fresh token (the adapter's token caller).
Nothing failed is cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any, TypeVar

from google.protobuf import timestamp_pb2
from redis.exceptions import RedisError

from search_service.cache import ResultCache
from search_service.hotels.destinations import DestinationResolver
from search_service.hotels.offer_ids import (
    HotelOfferIds,
    HotelOfferRef,
    HotelOfferStore,
    StoredHotelOffer,
)
from search_service.hotels.query import HotelQuery
from search_service.hotels.results import hotel_pb, offer_pb, proto_sort_key, select
from search_service.hotels.validation import HotelSearchRequest
from search_service.offers import MAX_OFFER_ID_CHARS
from search_service.pagination import Cursor, InvalidPageToken, PageTokens, SortKey, page_start
from search_service.parsed import ParsedResults
from search_service.pricing import money
from search_service.settings import SearchPolicy
from search_service.signing import MalformedToken
from services.errors import NotFoundError, UnavailableError, ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.preserialized import Serialized
from services.providers.base import UNAVAILABLE, OfferGone, ProviderFailure
from services.providers.hotels import (
    City,
    HotelProvider,
    HotelQuote,
    QueryRejected,
    UnknownDestination,
)

log = logging.getLogger("skyroute.search.hotels")
T = TypeVar("T")
# Parsed results kept per query (while Redis returns the same bytes).
PARSED_CACHE_ENTRIES = 32
# Requests whose resolution is kept (HotelService._query).
RESOLVED_ENTRIES = 1024


def _hotels_of(data: bytes) -> Sequence[pb.HotelResult]:
    hotels: Sequence[pb.HotelResult] = pb.SearchHotelsResponse.FromString(data).hotels
    return hotels


def _keyword(request: HotelSearchRequest) -> str:
    """What the destination resolver looked the request's city up by ("": no city)."""
    if request.city_code:
        return request.city_code
    return request.city_name.upper() if request.city_name else ""


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A request's resolution (HotelService._query) and what it was judged against."""

    request: HotelSearchRequest
    keyword: str  # the resolver's lookup ("": none)
    cities: list[City] | None  # the lookup's answer it came from
    until: float  # end of the city's day (self._clock()), inf without a city
    query: HotelQuery
    digest: str


@dataclass(frozen=True, slots=True)
class PricedHotel:
    hotel: pb.Hotel
    offer: pb.HotelOffer
    price_changed: bool
    original_total: money_pb2.Money
    current_total: money_pb2.Money
    available: bool
    guaranteed_until: int
    provider_offer: dict[str, Any] | None


class HotelService:
    def __init__(
        self,
        supplier: HotelProvider,
        cache: ResultCache,
        store: HotelOfferStore,
        offer_ids: HotelOfferIds,
        page_tokens: PageTokens,
        policy: SearchPolicy,
        timeout_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._supplier = supplier
        self._cache = cache
        self._store = store
        self._ids = offer_ids
        self._page_tokens = page_tokens
        self._policy = policy
        self._timeout = timeout_seconds
        self._clock = clock
        self._destinations = DestinationResolver(self._find_cities)
        self._parsed = ParsedResults(_hotels_of, PARSED_CACHE_ENTRIES)
        self._resolved: dict[int, _Resolved] = {}

    @property
    def provider(self) -> str:
        return self._supplier.name

    # -- SearchHotels ------------------------------------------------------------------

    async def search(self, request: HotelSearchRequest) -> Serialized:
        """One page of the search, serialized (a SearchHotelsResponse)."""
        query, digest = await self._query(request)
        if request.cursor is not None:
            try:
                self._page_tokens.check_query(request.cursor, digest)
            except InvalidPageToken as exc:
                raise ValidationError.field("page_token", str(exc)) from None
        data = await self._cache.get_or_compute(digest, lambda: self._compute(query))
        result = self._parsed.get(digest, data)
        items = result.result
        key = lambda item: proto_sort_key(query.sort, item)  # noqa: E731
        start = page_start(items, request.cursor, key)
        end = min(start + request.page_size, len(items))
        page = result.pages.get((start, end))
        if page is None:
            page = Serialized(self._page(digest, items, start, end, key).SerializeToString())
            result.keep_page(start, end, page)
        return page

    def _page(
        self,
        digest: str,
        items: Sequence[pb.HotelResult],
        start: int,
        end: int,
        key: Callable[[pb.HotelResult], SortKey],
    ) -> pb.SearchHotelsResponse:
        response = pb.SearchHotelsResponse(hotels=items[start:end], total_size=len(items))
        if end < len(items):
            response.next_page_token = self._page_tokens.encode(
                Cursor(digest, end, key(items[end - 1]))
            )
        return response

    async def _query(self, request: HotelSearchRequest) -> tuple[HotelQuery, str]:
        """``resolve(request)`` and its digest. A popular search's request is the same
        object every time (the servicer's ValidationMemo), and resolving it again gives
        the same answer while what it was judged against holds: the resolver still has
        the same cities for its destination, and the city's date has not moved on. So
        that answer is kept (by the request's identity; the entry holds the request).
        A resolution that fails is not kept."""
        known = self._resolved.get(id(request))
        if (
            known is not None
            and known.request is request
            and self._clock() < known.until
            and (not known.keyword or self._destinations.current(known.keyword) is known.cities)
        ):
            return known.query, known.digest
        query, until = await self._resolve(request)
        digest = query.digest()
        keyword = _keyword(request)
        # Read right after the lookup (no await in between): the list it answered from.
        cities = self._destinations.current(keyword) if keyword else None
        if not keyword or cities is not None:
            if len(self._resolved) >= RESOLVED_ENTRIES:
                self._resolved.clear()
            self._resolved[id(request)] = _Resolved(request, keyword, cities, until, query, digest)
        return query, digest

    async def resolve(self, request: HotelSearchRequest) -> HotelQuery:
        """The destination at the supplier, and the check-in judged at its local date."""
        return (await self._resolve(request))[0]

    async def _resolve(self, request: HotelSearchRequest) -> tuple[HotelQuery, float]:
        """``resolve``, and until when (``self._clock()``) its check-in judgement holds:
        the end of the city's day it was judged on (for ever without a city)."""
        city: City | None = None
        until = math.inf
        if request.city_code:
            city = await self._destinations.by_code(request.city_code)
        elif request.city_name:
            city = await self._destinations.by_name(request.city_name)
        if city is not None:
            now = datetime.fromtimestamp(self._clock(), UTC)
            offset = timedelta(minutes=city.utc_offset_minutes)
            today = (now + offset).date()
            if request.check_in < today:
                raise ValidationError.field("check_in_date", f"is in the past in {city.name}")
            tomorrow = datetime.combine(today + timedelta(days=1), dt_time(), UTC)
            until = (tomorrow - offset).timestamp()
        return HotelQuery(
            check_in=request.check_in,
            check_out=request.check_out,
            adults=request.adults,
            rooms=request.rooms,
            child_ages=request.child_ages,
            city_code=city.code if city is not None else "",
            latitude=request.latitude,
            longitude=request.longitude,
            radius_km=request.radius_km,
            hotel_ids=request.hotel_ids,
            currency=request.currency,
            max_night_cents=request.max_night[0] if request.max_night else None,
            max_night_currency=request.max_night[1] if request.max_night else "",
            max_total_cents=request.max_total[0] if request.max_total else None,
            max_total_currency=request.max_total[1] if request.max_total else "",
            min_stars=request.min_stars,
            amenities=request.amenities,
            refundable_only=request.refundable_only,
            boards=request.boards,
            sort=request.sort,
        ), until

    async def _compute(self, query: HotelQuery) -> tuple[bytes, float]:
        found = await self._call(self._supplier.search(query.supplier_query()))
        provider = self._supplier.name
        result = pb.SearchHotelsResponse()
        batch = self._store.new_batch()
        stored: list[StoredHotelOffer] = []
        for item in select(found, query)[: self._policy.max_results]:
            hotel = hotel_pb(item.hotel, provider)
            entry = result.hotels.add(hotel=hotel)
            for rate in item.rates:
                ref = self._store.ref(batch, len(stored))
                offer_id = self._ids.encode(
                    HotelOfferRef(provider, ref, rate.total_cents, rate.currency)
                )
                offer = offer_pb(rate, query.adults, query.child_ages, offer_id)
                entry.offers.append(offer)
                stored.append(StoredHotelOffer(rate.offer_id, hotel, offer))
        try:
            await self._store.put_batch(batch, stored)
        except RedisError as exc:
            log.warning("cannot store hotel offers", extra={"error": str(exc)})
        return result.SerializeToString(), self._policy.cache_ttl_seconds

    async def _find_cities(self, keyword: str) -> list[City]:
        return await self._call(self._supplier.find_cities(keyword))

    async def _call(self, call: Awaitable[T]) -> T:
        """One supplier operation within the time budget, its failures as our errors."""
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except UnknownDestination:
            raise ValidationError.field("destination.code", "unknown city") from None
        except QueryRejected as exc:
            raise ValidationError.field(exc.field, "refused by the hotel supplier") from None
        except OfferGone:
            raise NotFoundError(
                "the supplier no longer has this offer", reason="OFFER_NOT_FOUND"
            ) from None
        except ProviderFailure as exc:
            log.warning(
                "hotel supplier failed",
                extra={"provider": self._supplier.name, "reason": exc.reason, "error": str(exc)},
            )
            raise UnavailableError(
                "the hotel supplier could not answer",
                reason=exc.reason,
                retry_after_seconds=exc.retry_after,
            ) from None
        except TimeoutError:
            raise UnavailableError(
                "the hotel supplier did not answer in time", reason=UNAVAILABLE
            ) from None

    # -- GetHotelOffer / PriceHotelOffer -----------------------------------------------

    def _ref(self, offer_id: str) -> HotelOfferRef:
        if not offer_id:
            raise ValidationError.field("offer_id", "is required")
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            raise ValidationError.field("offer_id", f"longer than {MAX_OFFER_ID_CHARS} characters")
        try:
            ref = self._ids.decode(offer_id)
        except MalformedToken:
            raise ValidationError.field("offer_id", "is not a hotel offer id") from None
        if ref is None or ref.provider != self._supplier.name:
            raise NotFoundError("unknown hotel offer", reason="OFFER_NOT_FOUND")
        return ref

    async def _stored(self, ref: HotelOfferRef) -> StoredHotelOffer:
        try:
            stored = await self._store.get(ref.ref)
        except RedisError:
            raise UnavailableError("offer store unavailable", reason="CACHE_UNAVAILABLE") from None
        if stored is None:
            raise NotFoundError("the offer has expired; search again", reason="OFFER_EXPIRED")
        return stored

    async def get_offer(self, offer_id: str) -> tuple[pb.Hotel, pb.HotelOffer]:
        stored = await self._stored(self._ref(offer_id))
        stored.offer.offer_id = offer_id
        return stored.hotel, stored.offer

    async def price_offer(self, offer_id: str, *, keep: bool = True) -> PricedHotel:
        """The offer priced again at the supplier. ``keep`` False (the request's
        ``omit_offer_id``): the priced offer gets no id of its own and nothing is
        stored for it (one Redis write fewer on a booking's critical path)."""
        ref = self._ref(offer_id)
        stored = await self._stored(ref)
        quote: HotelQuote = await self._call(self._supplier.price_offer(stored.supplier_offer_id))
        original = money(ref.total_cents, ref.currency)
        if quote.rate is None:
            stored.offer.offer_id = (
                self._ids.encode(replace(ref, guaranteed_until=0)) if keep else ""
            )
            return PricedHotel(
                stored.hotel, stored.offer, False, original, original, False, 0, None
            )
        rate = quote.rate
        until = int(self._clock() + self._policy.price_guarantee_seconds)
        occupancy = stored.offer.occupancy
        offer = offer_pb(rate, occupancy.adults, occupancy.children_ages, "")
        if keep:
            new_ref = f"{_ref(ref.provider, rate.offer_id)}.{until}"
            offer.offer_id = self._ids.encode(
                HotelOfferRef(ref.provider, new_ref, rate.total_cents, rate.currency, until)
            )
            try:
                await self._store.put_many(
                    [(new_ref, StoredHotelOffer(rate.offer_id, stored.hotel, offer))]
                )
            except RedisError:
                raise UnavailableError(
                    "offer store unavailable", reason="CACHE_UNAVAILABLE"
                ) from None
        changed = rate.total_cents != ref.total_cents or rate.currency != ref.currency
        return PricedHotel(
            stored.hotel,
            offer,
            changed,
            original,
            money(rate.total_cents, rate.currency),
            True,
            until,
            dict(rate.raw),
        )


def _ref(provider: str, supplier_offer_id: str) -> str:
    return hashlib.sha256(f"{provider}|{supplier_offer_id}".encode()).hexdigest()[:32]


def priced_response(priced: PricedHotel) -> pb.PriceHotelOfferResponse:
    response = pb.PriceHotelOfferResponse(
        hotel=priced.hotel,
        offer=priced.offer,
        price_changed=priced.price_changed,
        original_total_price=priced.original_total,
        current_total_price=priced.current_total,
        available=priced.available,
    )
    if priced.guaranteed_until:
        response.price_guarantee_expire_time.CopyFrom(
            timestamp_pb2.Timestamp(seconds=priced.guaranteed_until)
        )
    if priced.provider_offer is not None:
        response.provider_offer_json = json.dumps(priced.provider_offer, separators=(",", ":"))
    return response
