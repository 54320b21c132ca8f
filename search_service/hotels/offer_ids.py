"""Hotel offer ids and the offers kept behind them.

An id is signed (search_service/signing.py, its own purpose, so neither a flight offer
id nor a page token passes for one) and says: the supplier's name, the key of the offer
stored in Redis, the total and currency it was issued with, and until when that total
is guaranteed (0: not priced). The stored offer is the supplier's raw offer and our
Hotel and HotelOffer messages, kept ``ttl`` (PROVIDER_<NAME>_OFFER_TTL_SECONDS).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from search_service.signing import Signer
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.redis_client import RedisClient


@dataclass(frozen=True, slots=True)
class HotelOfferRef:
    provider: str
    ref: str  # Redis key suffix of the stored offer
    total_cents: int
    currency: str
    guaranteed_until: int = 0  # epoch seconds


class HotelOfferIds:
    def __init__(self, secret: str) -> None:
        self._signer = Signer(secret, "hotel-offer-id")

    def encode(self, ref: HotelOfferRef) -> str:
        text = "|".join(
            [
                "1",
                ref.provider,
                ref.ref,
                str(ref.total_cents),
                ref.currency,
                str(ref.guaranteed_until),
            ]
        )
        return self._signer.sign(text.encode())

    def decode(self, offer_id: str) -> HotelOfferRef | None:
        """None for an id we did not issue; MalformedToken for a non-id."""
        payload = self._signer.verify(offer_id)
        if payload is None:
            return None
        try:
            version, provider, ref, total, currency, until = payload.decode().split("|")
            if version != "1":
                return None
            return HotelOfferRef(provider, ref, int(total), currency, int(until))
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True, slots=True)
class StoredHotelOffer:
    raw: dict[str, Any]  # the supplier's offer
    hotel: pb.Hotel
    offer: pb.HotelOffer


class HotelOfferStore:
    def __init__(self, redis: RedisClient, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:search:hotel-offer:"
        self._ttl_ms = int(ttl_seconds * 1000)

    async def put_many(self, items: list[tuple[str, StoredHotelOffer]]) -> None:
        if len(items) == 1:  # one offer priced again: no pipeline to build
            ref, stored = items[0]
            await self._redis.set(self._prefix + ref, _value(stored), px=self._ttl_ms)
            return
        if not items:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for ref, stored in items:
                pipe.set(self._prefix + ref, _value(stored), px=self._ttl_ms)
            await pipe.execute()

    async def get(self, ref: str) -> StoredHotelOffer | None:
        data = await self._redis.get(self._prefix + ref)
        if data is None:
            return None
        stored = json.loads(data)
        hotel, offer = pb.Hotel(), pb.HotelOffer()
        hotel.ParseFromString(base64.b64decode(stored["hotel"]))
        offer.ParseFromString(base64.b64decode(stored["offer"]))
        return StoredHotelOffer(stored["raw"], hotel, offer)


def _value(stored: StoredHotelOffer) -> str:
    return json.dumps(
        {
            "raw": stored.raw,
            "hotel": base64.b64encode(stored.hotel.SerializeToString()).decode(),
            "offer": base64.b64encode(stored.offer.SerializeToString()).decode(),
        },
        separators=(",", ":"),
    )
