"""GetOffer of provider offers follows the inventory's rule: a changed price is
FAILED_PRECONDITION / OFFER_CHANGED, not the old total answered OK; a priced id's
guarantee holds; an offer no longer kept is NOT_FOUND / OFFER_EXPIRED. OfferService
over the real Redis offer store, with a scripted provider price (the provider stand-in
end to end is tests/system/test_search_upstream.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from search_service.offers import (
    OfferIds,
    OfferRef,
    OfferService,
    ProviderOfferStore,
)
from search_service.pricing import Party, money
from search_service.query import Cabin
from services.errors import FailedPreconditionError, NotFoundError
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.base import ProviderQuote

SECRET = "provider-offers-test-secret-0123456789"
TOTAL_CENTS = 37662


class ScriptedProvider:
    """The provider's price now, as its pricing API would answer it."""

    def __init__(self) -> None:
        self.total_cents = TOTAL_CENTS
        self.available = True
        self.calls = 0

    async def price(self, raw: dict[str, Any]) -> ProviderQuote:
        self.calls += 1
        return ProviderQuote(raw, self.total_cents, "USD", self.available)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def store(redis_client: Redis, key_prefix: str) -> ProviderOfferStore:
    return ProviderOfferStore(redis_client, key_prefix, ttl_seconds=60)


@pytest.fixture
def offers(store: ProviderOfferStore, provider: ScriptedProvider) -> OfferService:
    # Provider offers never read the inventory or the airport directory.
    return OfferService(
        None,
        None,
        OfferIds(SECRET),
        900,  # type: ignore[arg-type]
        provider_store=store,
        provider_pricer=lambda name, raw: provider.price(raw),
    )


async def stored_offer(store: ProviderOfferStore, ref: str = "offer-1") -> str:
    """A provider offer as a search stores it; its offer id."""
    departure = int(time.time()) + 86_400
    itinerary = pb.Itinerary(
        source=pb.SOURCE_PROVIDER,
        provider="amadeus",
        total_price=money(TOTAL_CENTS, "USD"),
        seats_available=4,
    )
    segment = itinerary.journeys.add().segments.add(
        flight_designator="AA232", origin="LHR", destination="JFK"
    )
    segment.departure_time.FromSeconds(departure)
    segment.arrival_time.FromSeconds(departure + 8 * 3600)
    raw = {"id": "1", "price": {"grandTotal": "376.62", "currency": "USD"}}
    await store.put_many([(ref, raw, itinerary.SerializeToString(), departure)])
    return OfferIds(SECRET).encode(
        OfferRef(
            "P",
            Cabin.ECONOMY,
            Party(1, 0, 0),
            TOTAL_CENTS,
            "USD",
            provider="amadeus",
            provider_ref=ref,
        )
    )


async def test_unchanged_price_resolves(
    offers: OfferService, store: ProviderOfferStore, provider: ScriptedProvider
) -> None:
    offer_id = await stored_offer(store)
    got = await offers.get_offer(offer_id)
    assert got.offer_id == offer_id and got.total_price == money(TOTAL_CENTS, "USD")
    assert provider.calls == 1


async def test_changed_price_is_offer_changed(
    offers: OfferService, store: ProviderOfferStore, provider: ScriptedProvider
) -> None:
    offer_id = await stored_offer(store)
    provider.total_cents = TOTAL_CENTS + 3766
    with pytest.raises(FailedPreconditionError) as err:
        await offers.get_offer(offer_id)
    assert err.value.reason == "OFFER_CHANGED"
    assert err.value.metadata == {
        "original_total": "376.62",
        "current_total": "414.28",
        "currency": "USD",
    }
    # PriceOffer reports the change and gives an id for the new price, which resolves
    # (its guarantee holds even if the provider's price moves again).
    priced = await offers.price_offer(offer_id)
    assert priced.price_changed and priced.current_total_cents == TOTAL_CENTS + 3766
    provider.total_cents = TOTAL_CENTS
    calls = provider.calls
    got = await offers.get_offer(priced.itinerary.offer_id)
    assert got.total_price == money(TOTAL_CENTS + 3766, "USD")
    assert provider.calls == calls  # a guaranteed price is not asked again


async def test_sold_out_resolves_without_seats(
    offers: OfferService, store: ProviderOfferStore, provider: ScriptedProvider
) -> None:
    offer_id = await stored_offer(store)
    provider.available = False
    got = await offers.get_offer(offer_id)
    assert got.seats_available == 0


async def test_an_offer_no_longer_kept_has_expired(
    offers: OfferService, store: ProviderOfferStore, redis_client: Redis, key_prefix: str
) -> None:
    offer_id = await stored_offer(store, "offer-gone")
    await redis_client.delete(f"{key_prefix}:search:provider-offer:offer-gone")
    for call in (offers.get_offer, offers.price_offer):
        with pytest.raises(NotFoundError) as err:
            await call(offer_id)
        assert err.value.reason == "OFFER_EXPIRED"
