"""Hotel offer ids and the offers kept behind them.

An id is signed (search_service/signing.py, its own purpose, so neither a flight offer
id nor a page token passes for one) and says: the supplier's name, the key of the offer
stored in Redis, the total and currency it was issued with, and until when that total
is guaranteed (0: not priced). The stored offer is the supplier's offer id and our
Hotel and HotelOffer messages, kept ``ttl`` (PROVIDER_<NAME>_OFFER_TTL_SECONDS).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

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
    supplier_offer_id: str  # HotelRate.offer_id: what the supplier prices again
    hotel: pb.Hotel
    offer: pb.HotelOffer


class HotelOfferStore:
    """One Redis key per offer. The value is JSON: ``{"raw": {"id": <supplier offer
    id>}, "hotel": <base64 Hotel>, "offer": <base64 HotelOffer>}`` (``raw`` once held the
    whole supplier offer; of it only the id was ever read, and replicas of that version
    still read this shape)."""

    def __init__(self, redis: RedisClient, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:search:hotel-offer:"
        self._ttl_ms = int(ttl_seconds * 1000)

    async def put_many(self, items: list[tuple[str, StoredHotelOffer]]) -> None:
        if not items:
            return
        # A search stores every offer of a hotel with the same Hotel message: encoded once.
        hotels: dict[int, str] = {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for ref, stored in items:
                hotel = hotels.get(id(stored.hotel))
                if hotel is None:
                    hotel = hotels[id(stored.hotel)] = _b64(stored.hotel)
                value = (
                    f'{{"raw":{{"id":{json.dumps(stored.supplier_offer_id)}}},'
                    f'"hotel":"{hotel}","offer":"{_b64(stored.offer)}"}}'
                )
                pipe.set(self._prefix + ref, value, px=self._ttl_ms)
            await pipe.execute()

    async def get(self, ref: str) -> StoredHotelOffer | None:
        data = await self._redis.get(self._prefix + ref)
        if data is None:
            return None
        stored = json.loads(data)
        hotel, offer = pb.Hotel(), pb.HotelOffer()
        hotel.ParseFromString(base64.b64decode(stored["hotel"]))
        offer.ParseFromString(base64.b64decode(stored["offer"]))
        return StoredHotelOffer(str(stored["raw"].get("id", "")), hotel, offer)


def _b64(message: pb.Hotel | pb.HotelOffer) -> str:
    return base64.b64encode(message.SerializeToString()).decode()
