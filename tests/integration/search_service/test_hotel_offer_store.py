"""The hotel offer store on a real Redis (single and Cluster): a search's offers stored
as one batch resolve one by one, expire together within the TTL, and a priced offer
stored under a key of its own resolves beside them (search_service/hotels/offer_ids.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from search_service.hotels.offer_ids import HotelOfferStore, StoredHotelOffer, batch_ref
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
