"""The hotel offer store on a real Redis (single and Cluster): a search's offers stored
as one batch resolve one by one, expire together within the TTL, and a priced offer
stored under a key of its own resolves beside them; in ``keys`` mode (a rolling update
from a version before batches) each offer is a key of its own that such a version reads;
a ref found nowhere, or a value that does not decode, is None, never an exception
(search_service/hotels/offer_ids.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from search_service.hotels.offer_ids import (
    KEYS,
    HotelOfferStore,
    StoredHotelOffer,
    batch_ref,
)
from services.config import RedisSettings
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.redis_client import RedisClient, create_redis

TTL_SECONDS = 60


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RedisClient]:
    redis = create_redis(RedisSettings(url=redis_url))
    yield redis
    await redis.aclose()


def _offers(hotels: int, per_hotel: int) -> list[StoredHotelOffer]:
    out = []
    for h in range(hotels):
        hotel = pb.Hotel(hotel_id=f"H{h}", name=f'Hotel "{h}" \\ é', stars=h % 5 + 1)
        for r in range(per_hotel):
            offer = pb.HotelOffer(offer_id=f"id-{h}-{r}", hotel_id=f"H{h}", rate_code=f"R{r}")
            out.append(StoredHotelOffer(f'supplier "{h}/{r}"', hotel, offer))
    return out


@pytest.mark.redis_backends
async def test_a_batch_resolves_offer_by_offer_and_expires_within_the_ttl(
    client: RedisClient, key_prefix: str
) -> None:
    store = HotelOfferStore(client, key_prefix, TTL_SECONDS)
    offers = _offers(4, 3)
    batch = store.new_batch()
    await store.put_batch(batch, offers)
    for i, stored in enumerate(offers):
        assert await store.get(batch_ref(batch, i)) == stored
    assert await store.get(batch_ref(batch, len(offers))) is None
    assert await store.get(batch_ref(store.new_batch(), 0)) is None
    ttl_ms = await client.pttl(f"{key_prefix}:search:hotel-offers:{batch}")
    assert 0 < ttl_ms <= TTL_SECONDS * 1000


@pytest.mark.redis_backends
async def test_a_priced_offer_has_a_key_of_its_own(client: RedisClient, key_prefix: str) -> None:
    store = HotelOfferStore(client, key_prefix, TTL_SECONDS)
    [stored] = _offers(1, 1)
    await store.put_many([("priced-ref.1700000000", stored)])
    assert await store.get("priced-ref.1700000000") == stored
    assert await store.get("priced-ref.1700000001") is None
    ttl_ms = await client.pttl(f"{key_prefix}:search:hotel-offer:priced-ref.1700000000")
    assert 0 < ttl_ms <= TTL_SECONDS * 1000


def _read_as_before_batches(value: bytes | None) -> StoredHotelOffer | None:
    """What a replica of the version before batches did with GET <prefix>:<ref>."""
    if value is None:
        return None
    stored = json.loads(value)
    hotel, offer = pb.Hotel(), pb.HotelOffer()
    hotel.ParseFromString(base64.b64decode(stored["hotel"]))
    offer.ParseFromString(base64.b64decode(stored["offer"]))
    return StoredHotelOffer(str(stored["raw"].get("id", "")), hotel, offer)


@pytest.mark.redis_backends
async def test_in_keys_mode_every_offer_is_a_key_that_replicas_before_batches_read(
    client: RedisClient, key_prefix: str
) -> None:
    store = HotelOfferStore(client, key_prefix, TTL_SECONDS, KEYS)
    batched = HotelOfferStore(client, key_prefix, TTL_SECONDS)  # a replica in batch mode
    offers = _offers(3, 2)
    batch = store.new_batch()
    await store.put_batch(batch, offers)
    refs = [store.ref(batch, i) for i in range(len(offers))]
    assert len(set(refs)) == len(offers) and not any("/" in ref for ref in refs)
    for ref, stored in zip(refs, offers, strict=True):
        key = f"{key_prefix}:search:hotel-offer:{ref}"
        assert _read_as_before_batches(await client.get(key)) == stored
        assert await store.get(ref) == stored
        assert await batched.get(ref) == stored
        assert 0 < await client.pttl(key) <= TTL_SECONDS * 1000
    assert await client.exists(f"{key_prefix}:search:hotel-offers:{batch}") == 0
    # And a batch-mode replica's refs still resolve through a keys-mode one.
    other = batched.new_batch()
    await batched.put_batch(other, offers)
    assert batched.ref(other, 1) == batch_ref(other, 1)
    assert await store.get(batched.ref(other, 1)) == offers[1]


@pytest.mark.redis_backends
async def test_a_ref_found_nowhere_or_unreadable_is_none(
    client: RedisClient, key_prefix: str
) -> None:
    store = HotelOfferStore(client, key_prefix, TTL_SECONDS)
    for ref in ["0123456789abcdef-0", "0123456789abcdef/0", "/", "a/b/c", "x" * 200]:
        assert await store.get(ref) is None
    # Values this store did not write (another shape, damaged): as good as expired.
    batch = store.new_batch()
    await store.put_batch(batch, _offers(1, 1))
    for damaged in [b"not json", b"[]", b'{"raw": {}}', b'{"raw": 1, "hotel": "", "offer": ""}']:
        await client.set(f"{key_prefix}:search:hotel-offer:bad", damaged, px=60_000)
        assert await store.get("bad") is None
    await client.hset(f"{key_prefix}:search:hotel-offers:{batch}", "0", '{"hotel": "%%%"}')
    assert await store.get(batch_ref(batch, 0)) is None
    await client.hset(
        f"{key_prefix}:search:hotel-offers:{batch}",
        "0",
        json.dumps({"raw": {"id": "x"}, "hotel": "AAAA/w==", "offer": ""}),
    )
    assert await store.get(batch_ref(batch, 0)) is None
