"""The hotel supplier adapter for Amadeus-shaped hotel APIs (Self-Service Hotel List,
Hotel Search v3, Hotel Booking v2; the stand-in's ``provider_sim/hotels`` speaks them):
every hotel URL, JSON shape and error code lives in this package. The HTTP layer (shared
token, 401 report-and-retry, 429 back-off, shared rate budget) is the flight adapter's
(``services.providers.amadeus.http``).

- ``search.py``: city search, hotel lists, offers, guest ratings, offer pricing.
- ``orders.py``: hotel orders: create, retrieve, cancel.
"""

from __future__ import annotations

import aiohttp

from services.providers.amadeus.http import AmadeusApi
from services.providers.amadeus_hotels import orders, search
from services.providers.base import (
    Permits,
    PlacedOrder,
    ProviderConfig,
    RequestCounter,
    TokenCaller,
)
from services.providers.hotels import (
    City,
    HotelOffers,
    HotelOrderRequest,
    HotelQuery,
    HotelQuote,
)
from services.providers.lookup import (
    ORDER_LOOKUP_SIM,
    SIM_HOTEL_ORDERS_PATH,
    NoOrderLookup,
    OrderLookup,
    SimOrderLookup,
)


class AmadeusHotelProvider:
    """``HotelProvider`` for Amadeus-shaped hotel APIs."""

    def __init__(
        self,
        config: ProviderConfig,
        session: aiohttp.ClientSession,
        tokens: TokenCaller,
        counter: RequestCounter | None = None,
        lookup: OrderLookup | None = None,
        budget: Permits | None = None,
    ) -> None:
        self._config = config
        self._api = AmadeusApi(session, config, tokens, counter, budget)
        self._orders = orders.AmadeusHotelOrders(self._api)
        if lookup is None:
            url = config.lookup_url or config.base_url
            lookup = (
                SimOrderLookup(session, url, config.timeout_seconds, SIM_HOTEL_ORDERS_PATH)
                if config.lookup == ORDER_LOOKUP_SIM
                else NoOrderLookup()
            )
        self._lookup = lookup

    @property
    def name(self) -> str:
        return self._config.name

    async def find_cities(self, keyword: str) -> list[City]:
        return await search.find_cities(self._api, keyword)

    async def search(self, query: HotelQuery) -> list[HotelOffers]:
        return await search.search(self._api, query)

    async def price_offer(self, offer_id: str) -> HotelQuote:
        return await search.price(self._api, offer_id)

    async def create_order(self, request: HotelOrderRequest) -> PlacedOrder:
        return await self._orders.create(request)

    async def get_order(self, order_id: str) -> PlacedOrder | None:
        return await self._orders.get(order_id)

    async def cancel_order(self, order_id: str) -> bool:
        return await self._orders.delete(order_id)

    async def find_order(self, remark: str) -> PlacedOrder | None:
        return await self._lookup.find(remark)
