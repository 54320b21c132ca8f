"""The Amadeus Self-Service adapter (and the stand-in, provider_sim, which speaks its
shapes): every Amadeus URL, JSON shape and error code lives in this package.

- ``http.py``: calls with the shared token, 401 / 429 handling.
- ``offers.py``: Flight Offers Search and Price.
- ``orders.py``: Flight Create Orders and Flight Order Management.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from services.providers.amadeus import offers, orders
from services.providers.amadeus.http import AmadeusApi
from services.providers.base import (
    Offer,
    OfferQuery,
    OrderRequest,
    Permits,
    PlacedOrder,
    ProviderConfig,
    ProviderQuote,
    RequestCounter,
    TokenCaller,
    Zones,
)
from services.providers.lookup import OrderLookup, order_lookup


class AmadeusProvider:
    """``FlightProvider`` for Amadeus-shaped APIs."""

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
        self._orders = orders.AmadeusOrders(self._api)
        self._lookup = lookup or order_lookup(
            config.lookup, session, config.lookup_url or config.base_url, config.timeout_seconds
        )

    @property
    def name(self) -> str:
        return self._config.name

    async def search_offers(self, query: OfferQuery, zones: Zones) -> list[Offer]:
        return await offers.search(self._api, query, zones)

    async def price_offer(self, raw: Mapping[str, Any]) -> ProviderQuote:
        return await offers.price(self._api, raw)

    async def create_order(self, request: OrderRequest) -> PlacedOrder:
        return await self._orders.create(request)

    async def get_order(self, order_id: str) -> PlacedOrder | None:
        return await self._orders.get(order_id)

    async def cancel_order(self, order_id: str) -> bool:
        return await self._orders.delete(order_id)

    async def find_order(self, remark: str) -> PlacedOrder | None:
        return await self._lookup.find(remark)
