"""Offer ids, and GetOffer / PriceOffer over them.

An offer id is a signed (see signing.py), opaque string holding everything needed
to find the offer again without server-side state: for inventory offers the fare id
and price version of every segment, the party, the cabin and the total it was issued
with; for provider offers the key of the provider's raw offer, stored in Redis.
A priced offer id (from PriceOffer) also carries the end of its price guarantee.

Decisions:
- A string that is not shaped like an offer id (not two canonical base64url parts):
  INVALID_ARGUMENT naming ``offer_id``. Unknown or forged id: NOT_FOUND. A fare that
  no longer exists: NOT_FOUND. A provider offer no longer kept (past its validity):
  NOT_FOUND, reason OFFER_EXPIRED.
- A flight has departed: FAILED_PRECONDITION, reason OFFER_DEPARTED (both RPCs).
- A price changed (a fare's version differs; for a provider offer, the provider's
  price now differs, which GetOffer asks it): GetOffer answers FAILED_PRECONDITION,
  reason OFFER_CHANGED (the id no longer resolves to what was offered); PriceOffer
  answers normally with price_changed set, the original and the current total, and a
  fresh offer id carrying the current versions.
- While a priced id's guarantee runs, both RPCs quote its guaranteed total even if
  the fares' prices changed since; seats are always checked live.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from search_service.airports import AirportDirectory
from search_service.convert import itinerary_pb
from search_service.itineraries import INVENTORY, PROVIDER, Journey, Option, inventory_identity
from search_service.pricing import Party, cents_to_decimal, money
from search_service.query import Cabin
from search_service.repository import InventoryRepository, Leg
from search_service.signing import MalformedToken, Signer
from services.errors import (
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.base import ProviderQuote
from services.redis_client import RedisClient

log = logging.getLogger("skyroute.search.offers")

MAX_OFFER_ID_CHARS = 2048
CABIN_CODES = {
    Cabin.ECONOMY: "Y",
    Cabin.PREMIUM_ECONOMY: "W",
    Cabin.BUSINESS: "C",
    Cabin.FIRST: "F",
}
CABIN_BY_CODE = {v: k for k, v in CABIN_CODES.items()}


@dataclass(frozen=True, slots=True)
class OfferRef:
    """What an offer id says."""

    kind: str  # "I" inventory, "P" provider
    cabin: Cabin
    party: Party
    total_cents: int
    currency: str
    # Inventory: per journey, (fare id, fare version) per segment.
    fares: tuple[tuple[tuple[int, int], ...], ...] = ()
    # Provider: name and the Redis key suffix of the stored offer.
    provider: str = ""
    provider_ref: str = ""
    # Epoch seconds until which total_cents is guaranteed; 0 for none.
    guaranteed_until: int = 0


class OfferIds:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, "offer-id")

    def encode(self, ref: OfferRef) -> str:
        fares = ";".join(",".join(f"{fid}:{ver}" for fid, ver in j) for j in ref.fares)
        p = ref.party
        text = "|".join(
            [
                "1",
                ref.kind,
                CABIN_CODES[ref.cabin],
                f"{p.adults}.{p.children}.{p.infants}",
                str(ref.total_cents),
                ref.currency,
                fares,
                ref.provider,
                ref.provider_ref,
                str(ref.guaranteed_until),
            ]
        )
        return self._signer.sign(text.encode())

    def decode(self, offer_id: str) -> OfferRef | None:
        """What ``offer_id`` says; None if it is not one of ours. Raises MalformedToken
        if it is not shaped like an offer id at all."""
        payload = self._signer.verify(offer_id)
        if payload is None:
            return None
        try:
            (
                version,
                kind,
                cabin,
                party,
                total,
                currency,
                fares,
                provider,
                provider_ref,
                guaranteed,
            ) = payload.decode().split("|")
            if version != "1" or kind not in ("I", "P"):
                return None
            adults, children, infants = (int(n) for n in party.split("."))
            journeys = (
                tuple(
                    tuple((int(fid), int(ver)) for fid, ver in (s.split(":") for s in j.split(",")))
                    for j in fares.split(";")
                )
                if fares
                else ()
            )
            return OfferRef(
                kind,
                CABIN_BY_CODE[cabin],
                Party(adults, children, infants),
                int(total),
                currency,
                journeys,
                provider,
                provider_ref,
                int(guaranteed),
            )
        except (ValueError, KeyError, UnicodeDecodeError):
            return None

    def for_option(
        self, option: Option, cabin: Cabin, party: Party, guaranteed_until: int = 0
    ) -> str:
        if option.source == PROVIDER:
            ref = OfferRef(
                "P",
                cabin,
                party,
                option.total_cents,
                option.currency,
                provider=option.provider,
                provider_ref=option.provider_ref,
                guaranteed_until=guaranteed_until,
            )
        else:
            ref = OfferRef(
                "I",
                cabin,
                party,
                option.total_cents,
                option.currency,
                fares=tuple(
                    tuple((leg.fare_id, leg.fare_version) for leg in j.legs)
                    for j in option.journeys
                ),
                guaranteed_until=guaranteed_until,
            )
        return self.encode(ref)


class ProviderOfferStore:
    """Provider offers found by a search, kept so their ids resolve (GetOffer,
    PriceOffer, booking) until they expire or the flight departs."""

    def __init__(self, redis: RedisClient, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:search:provider-offer:"
        self._ttl_ms = int(ttl_seconds * 1000)

    async def put_many(self, items: list[tuple[str, dict[str, object], bytes, int]]) -> None:
        """(ref, raw provider offer, Itinerary bytes, first departure epoch seconds)."""
        if not items:
            return
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for ref, raw, itinerary, departure_ts in items:
                ttl_ms = min(self._ttl_ms, int((departure_ts - now) * 1000))
                if ttl_ms <= 0:
                    continue
                value = json.dumps({"raw": raw, "itinerary": base64.b64encode(itinerary).decode()})
                pipe.set(self._prefix + ref, value, px=ttl_ms)
            await pipe.execute()

    async def get(self, ref: str) -> tuple[dict[str, object], pb.Itinerary] | None:
        data = await self._redis.get(self._prefix + ref)
        if data is None:
            return None
        stored = json.loads(data)
        itinerary = pb.Itinerary()
        itinerary.ParseFromString(base64.b64decode(stored["itinerary"]))
        return stored["raw"], itinerary


# PriceOffer for provider offers: the stored raw offer, priced again at the provider
# that offered it (by name).
ProviderPricer = Callable[[str, dict[str, Any]], Awaitable[ProviderQuote]]


@dataclass(frozen=True, slots=True)
class Priced:
    itinerary: pb.Itinerary
    price_changed: bool
    original_total_cents: int
    original_currency: str
    current_total_cents: int
    currency: str
    available: bool
    guaranteed_until: int  # epoch seconds; 0 when not available
    # Provider offers that are available: the offer as the provider priced it (to order).
    provider_offer: dict[str, Any] | None = None


class OfferService:
    def __init__(
        self,
        repository: InventoryRepository,
        airports: AirportDirectory,
        offer_ids: OfferIds,
        guarantee_seconds: float,
        provider_store: ProviderOfferStore | None = None,
        provider_pricer: ProviderPricer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repository = repository
        self._airports = airports
        self._ids = offer_ids
        self._guarantee = guarantee_seconds
        self._store = provider_store
        self._pricer = provider_pricer
        self._clock = clock

    def _ref(self, offer_id: str) -> OfferRef:
        if not offer_id:
            raise ValidationError.field("offer_id", "is required")
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            raise ValidationError.field("offer_id", f"longer than {MAX_OFFER_ID_CHARS} characters")
        try:
            ref = self._ids.decode(offer_id)
        except MalformedToken:
            raise ValidationError.field("offer_id", "is not an offer id") from None
        if ref is None:
            raise NotFoundError("unknown offer", reason="OFFER_NOT_FOUND")
        return ref

    async def get_offer(self, offer_id: str) -> pb.Itinerary:
        ref = self._ref(offer_id)
        if ref.kind == "P":
            return await self._get_provider(ref, offer_id)
        option, changed = await self._current(ref)
        now = self._clock()
        guaranteed = ref.guaranteed_until > now
        if changed and not guaranteed:
            raise _changed(ref, option.total_cents, option.currency)
        if guaranteed:
            option = replace(option, total_cents=ref.total_cents)
        itinerary = itinerary_pb(
            option,
            ref.cabin,
            ref.party,
            self._airports,
            segment_prices=not (changed and guaranteed),
        )
        itinerary.offer_id = offer_id
        return itinerary

    async def price_offer(self, offer_id: str) -> Priced:
        ref = self._ref(offer_id)
        if ref.kind == "P":
            return await self._price_provider(ref)
        option, changed = await self._current(ref)
        now = self._clock()
        available = option.seats_available >= ref.party.seats
        if ref.guaranteed_until > now:
            # The guarantee holds: the guaranteed total, the same expiry.
            current = ref.total_cents
            until = ref.guaranteed_until
            option = replace(option, total_cents=current)
            segment_prices = not changed
        else:
            current = option.total_cents
            until = int(now + self._guarantee)
            segment_prices = True
        if not available:
            until = 0
        itinerary = itinerary_pb(
            option, ref.cabin, ref.party, self._airports, segment_prices=segment_prices
        )
        itinerary.offer_id = self._ids.encode(
            OfferRef(
                "I",
                ref.cabin,
                ref.party,
                current,
                option.currency,
                fares=tuple(
                    tuple((leg.fare_id, leg.fare_version) for leg in j.legs)
                    for j in option.journeys
                ),
                guaranteed_until=until,
            )
        )
        return Priced(
            itinerary,
            current != ref.total_cents,
            ref.total_cents,
            ref.currency,
            current,
            option.currency,
            available,
            until,
        )

    async def _current(self, ref: OfferRef) -> tuple[Option, bool]:
        """The offer's fares as they are now, and whether any price version changed."""
        ids = [fid for j in ref.fares for fid, _ in j]
        if not ids:
            raise NotFoundError("unknown offer", reason="OFFER_NOT_FOUND")
        fares = await self._repository.offer_fares(ids)
        if any(fid not in fares or fares[fid].cabin != ref.cabin.value for fid in ids):
            raise NotFoundError("the offer no longer exists", reason="OFFER_NOT_FOUND")
        now = datetime.fromtimestamp(self._clock(), UTC)
        journeys: list[Journey] = []
        changed = False
        for j in ref.fares:
            legs: list[Leg] = []
            for fid, version in j:
                leg = fares[fid].leg
                changed |= leg.fare_version != version
                legs.append(leg)
            leg_cents = tuple(ref.party.fare_cents(leg.price_cents or 0) for leg in legs)
            journeys.append(Journey(tuple(legs), leg_cents))
        if journeys[0].legs[0].departure_at <= now:
            raise FailedPreconditionError(
                "the offer's flight has departed", reason="OFFER_DEPARTED"
            )
        option = Option(
            source=INVENTORY,
            journeys=tuple(journeys),
            total_cents=sum(sum(j.leg_cents) for j in journeys),
            currency=journeys[0].legs[0].currency,
            seats_available=min(leg.seats_available for j in journeys for leg in j.legs),
            refundable=all(leg.refundable for j in journeys for leg in j.legs),
            identity=inventory_identity(journeys),
        )
        return option, changed

    async def _provider_offer(self, ref: OfferRef) -> tuple[dict[str, object], pb.Itinerary]:
        if self._store is None:
            raise NotFoundError("unknown offer", reason="OFFER_NOT_FOUND")
        try:
            found = await self._store.get(ref.provider_ref)
        except RedisError:
            raise UnavailableError("offer store unavailable", reason="CACHE_UNAVAILABLE") from None
        if found is None:  # kept until the provider's offer expires
            raise NotFoundError("the offer has expired; search again", reason="OFFER_EXPIRED")
        raw, itinerary = found
        if itinerary.journeys[0].segments[0].departure_time.seconds <= self._clock():
            raise FailedPreconditionError(
                "the offer's flight has departed", reason="OFFER_DEPARTED"
            )
        return raw, itinerary

    async def _get_provider(self, ref: OfferRef, offer_id: str) -> pb.Itinerary:
        """GetOffer of a provider offer, by the inventory's rule: while a priced id's
        guarantee runs, the stored (guaranteed) offer; otherwise the provider prices it
        again, and a changed total is OFFER_CHANGED, not the old total answered OK."""
        raw, itinerary = await self._provider_offer(ref)
        itinerary.offer_id = offer_id
        if ref.guaranteed_until > self._clock():
            return itinerary
        if self._pricer is None:
            raise UnavailableError("the provider is not enabled", reason="PROVIDER_UNAVAILABLE")
        quote = await self._pricer(ref.provider, raw)
        if not quote.available:
            itinerary.seats_available = 0
            return itinerary
        if quote.total_cents != ref.total_cents or quote.currency != ref.currency:
            raise _changed(ref, quote.total_cents, quote.currency)
        return itinerary

    async def _price_provider(self, ref: OfferRef) -> Priced:
        raw, itinerary = await self._provider_offer(ref)
        if self._pricer is None or self._store is None:
            raise UnavailableError("the provider is not enabled", reason="PROVIDER_UNAVAILABLE")
        quote = await self._pricer(ref.provider, raw)
        if not quote.available:
            itinerary.offer_id = self._ids.encode(replace(ref, guaranteed_until=0))
            itinerary.seats_available = 0
            return Priced(
                itinerary,
                False,
                ref.total_cents,
                ref.currency,
                ref.total_cents,
                ref.currency,
                False,
                0,
            )
        now = self._clock()
        until = int(now + self._guarantee)
        itinerary.total_price.CopyFrom(money(quote.total_cents, quote.currency))
        new_ref = f"{ref.provider_ref[:32]}.{until}"
        departure_ts = itinerary.journeys[0].segments[0].departure_time.seconds
        await self._store.put_many(
            [(new_ref, quote.raw, itinerary.SerializeToString(), departure_ts)]
        )
        itinerary.offer_id = self._ids.encode(
            replace(
                ref,
                total_cents=quote.total_cents,
                currency=quote.currency,
                provider_ref=new_ref,
                guaranteed_until=until,
            )
        )
        changed = quote.total_cents != ref.total_cents or quote.currency != ref.currency
        return Priced(
            itinerary,
            changed,
            ref.total_cents,
            ref.currency,
            quote.total_cents,
            quote.currency,
            True,
            until,
            provider_offer=quote.raw,
        )


def _decimal(cents: int) -> str:
    return str(cents_to_decimal(cents))


def _changed(ref: OfferRef, current_cents: int, currency: str) -> FailedPreconditionError:
    """GetOffer of an offer whose total is no longer the one it was issued with."""
    metadata = {
        "original_total": _decimal(ref.total_cents),
        "current_total": _decimal(current_cents),
        "currency": currency,
    }
    if currency != ref.currency:
        metadata["original_currency"] = ref.currency
    return FailedPreconditionError(
        "the offer's price changed; revalidate it with PriceOffer",
        reason="OFFER_CHANGED",
        metadata=metadata,
    )
