"""Hotel offer ids and the offers kept behind them.

An id is signed (search_service/signing.py, its own purpose, so neither a flight offer
id nor a page token passes for one) and says: the supplier's name, the key of the offer
stored in Redis, the total and currency it was issued with, and until when that total
is guaranteed (0: not priced). The stored offer is the supplier's offer id and our
Hotel and HotelOffer messages, kept ``ttl`` (PROVIDER_<NAME>_OFFER_TTL_SECONDS).

The offers of one search computation are stored together, one Redis hash written in one
command (``put_batch``; their refs are ``<batch>/<index>``); a priced offer has a key of
its own (``put_many``; its ref has no ``/``). Reading, a ref with a ``/`` is a field of
a batch's hash, any other a key of its own; a ref found in neither (expired, or never
stored) is ``None``: the caller answers NOT_FOUND, OFFER_EXPIRED ("search again").

Rolling update from a version before batches (``SEARCH_HOTEL_OFFER_STORE``): replicas
of that version read every ref as a key of its own, so they cannot resolve a batch's
refs (they answer OFFER_EXPIRED, as for an expired offer, and a client that searched on
a new replica and books through an old one is told to search again). Hence the store's
two modes, of which only writing differs:

- ``keys``: a computation's offers are written one key each (refs ``<batch>-<index>``,
  no ``/``) in the value shape old replicas read. Every replica of either version
  resolves every offer id.
- ``batch`` (default): one hash per computation, as above: one command instead of
  one SET per offer (the service's own CPU per computation of 112 offers went from
  11.8-13.7 ms to 5.1-5.4 ms with it).

Upgrading from a version before batches: deploy with ``keys``, let the rollout finish
(no replica of the old version left), then switch to ``batch`` and roll out again; ids
issued under ``keys`` stay readable by the new version until they expire
(docs/operations.md, "Rolling updates").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

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
# In ``keys`` mode: not BATCH_SEPARATOR, so the ref names a key of its own. A priced
# offer's ref (32 hex digits, ".", its guarantee) never looks like one (16 hex digits).
KEY_SEPARATOR = "-"

# SEARCH_HOTEL_OFFER_STORE: how a computation's offers are written.
KEYS = "keys"
BATCH = "batch"
STORE_MODES = (KEYS, BATCH)

log = logging.getLogger("skyroute.search.hotels")


def batch_ref(batch: str, index: int) -> str:
    return f"{batch}{BATCH_SEPARATOR}{index}"


def key_ref(batch: str, index: int) -> str:
    return f"{batch}{KEY_SEPARATOR}{index}"


class HotelOfferStore:
    """A Redis key per priced offer, a hash per batch. Each value is JSON: ``{"raw":
    {"id": <supplier offer id>}, "hotel": <base64 Hotel>, "offer": <base64 HotelOffer>}``
    (``raw`` once held the whole supplier offer; of it only the id was ever read, and
    replicas of that version still read this shape)."""

    def __init__(
        self, redis: RedisClient, prefix: str, ttl_seconds: float, mode: str = BATCH
    ) -> None:
        if mode not in STORE_MODES:
            raise ValueError(f"unknown hotel offer store mode {mode!r}")
        self._redis = redis
        self._prefix = f"{prefix}:search:hotel-offer:"
        self._batch_prefix = f"{prefix}:search:hotel-offers:"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._batched = mode == BATCH
        self._put_batch = redis.register_script(_PUT_BATCH)

    @staticmethod
    def new_batch() -> str:
        return secrets.token_hex(8)

    def ref(self, batch: str, index: int) -> str:
        """The ref under which ``put_batch(batch, ...)`` stores its ``index``-th offer."""
        return batch_ref(batch, index) if self._batched else key_ref(batch, index)

    async def put_batch(self, batch: str, offers: Sequence[StoredHotelOffer]) -> None:
        """Stores ``offers`` under the refs ``self.ref(batch, i)``: one hash (``batch``
        mode) or one key each (``keys`` mode, readable by replicas before batches)."""
        if not offers:
            return
        if not self._batched:
            await self.put_many([(key_ref(batch, i), o) for i, o in enumerate(offers)])
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
        try:
            stored = json.loads(data)
            hotel, offer = pb.Hotel(), pb.HotelOffer()
            hotel.ParseFromString(base64.b64decode(stored["hotel"]))
            offer.ParseFromString(base64.b64decode(stored["offer"]))
            return StoredHotelOffer(str(stored["raw"].get("id", "")), hotel, offer)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, DecodeError):
            # Not a value this store wrote (another version's, or damaged): as good as
            # gone; the caller says "search again" rather than INTERNAL.
            log.warning("unreadable hotel offer in the store", extra={"ref": ref})
            return None


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
