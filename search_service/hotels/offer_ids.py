"""Hotel offer ids and the offers kept behind them.

An id is signed (search_service/signing.py, its own purpose, so neither a flight offer
id nor a page token passes for one) and says: the supplier's name, the key of the offer
stored in Redis, the total and currency it was issued with, and until when that total
is guaranteed (0: not priced). The stored offer is the supplier's offer id and our
Hotel and HotelOffer messages, kept ``ttl`` (PROVIDER_<NAME>_OFFER_TTL_SECONDS).

The offers of one search computation are stored together, one Redis hash written in one
command (``put_batch``; their refs are ``<batch>/<index>``); a priced offer has a key of
its own (``put_many``; its ref has no ``/``).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
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


# Stores a batch of offers and sets its expiry in one step, so a batch never outlives
# its TTL (a crash between two commands would leave it without one).
# KEYS[1] the batch's hash; ARGV[1] TTL in ms, then field, value, field, value...
_PUT_BATCH = """
redis.call('hset', KEYS[1], unpack(ARGV, 2))
redis.call('pexpire', KEYS[1], ARGV[1])
return 1
"""
BATCH_SEPARATOR = "/"


def batch_ref(batch: str, index: int) -> str:
    return f"{batch}{BATCH_SEPARATOR}{index}"


class HotelOfferStore:
    """A Redis key per priced offer, a hash per batch. Each value is JSON: ``{"raw":
    {"id": <supplier offer id>}, "hotel": <base64 Hotel>, "offer": <base64 HotelOffer>}``
    (``raw`` once held the whole supplier offer; of it only the id was ever read, and
    replicas of that version still read this shape)."""

    def __init__(self, redis: RedisClient, prefix: str, ttl_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:search:hotel-offer:"
        self._batch_prefix = f"{prefix}:search:hotel-offers:"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._put_batch = redis.register_script(_PUT_BATCH)

    @staticmethod
    def new_batch() -> str:
        return secrets.token_hex(8)

    async def put_batch(self, batch: str, offers: Sequence[StoredHotelOffer]) -> None:
        """Stores ``offers`` under the refs ``batch_ref(batch, i)``."""
        if not offers:
            return
        args: list[str | int] = [self._ttl_ms]
        for i, value in enumerate(_values(offers)):
            args += [str(i), value]
        await self._put_batch(keys=[self._batch_prefix + batch], args=args)

    async def put_many(self, items: list[tuple[str, StoredHotelOffer]]) -> None:
        if len(items) == 1:  # one offer priced again: no pipeline to build
            ref, stored = items[0]
            await self._redis.set(self._prefix + ref, _values([stored])[0], px=self._ttl_ms)
            return
        if not items:
            return
        values = _values([stored for _ref, stored in items])
        async with self._redis.pipeline(transaction=False) as pipe:
            for (ref, _stored), value in zip(items, values, strict=True):
                pipe.set(self._prefix + ref, value, px=self._ttl_ms)
            await pipe.execute()

    async def get(self, ref: str) -> StoredHotelOffer | None:
        batch, separator, index = ref.partition(BATCH_SEPARATOR)
        if separator:
            data = await self._redis.hget(self._batch_prefix + batch, index)
        else:
            data = await self._redis.get(self._prefix + ref)
        if data is None:
            return None
        stored = json.loads(data)
        hotel, offer = pb.Hotel(), pb.HotelOffer()
        hotel.ParseFromString(base64.b64decode(stored["hotel"]))
        offer.ParseFromString(base64.b64decode(stored["offer"]))
        return StoredHotelOffer(str(stored["raw"].get("id", "")), hotel, offer)


def _values(offers: Sequence[StoredHotelOffer]) -> list[str]:
    # The offers of one hotel share its Hotel message: encoded once.
    hotels: dict[int, str] = {}
    values = []
    for stored in offers:
        hotel = hotels.get(id(stored.hotel))
        if hotel is None:
            hotel = hotels[id(stored.hotel)] = _b64(stored.hotel)
        values.append(
            f'{{"raw":{{"id":{json.dumps(stored.supplier_offer_id)}}},'
            f'"hotel":"{hotel}","offer":"{_b64(stored.offer)}"}}'
        )
    return values


def _b64(message: pb.Hotel | pb.HotelOffer) -> str:
    return base64.b64encode(message.SerializeToString()).decode()
