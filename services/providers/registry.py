"""Provider kinds: PROVIDER_<NAME>_KIND picks the adapter class a configured provider
uses. Adding a provider kind is one adapter module and one line here."""

from __future__ import annotations

from typing import Protocol

import aiohttp

from services.providers.amadeus import AmadeusProvider
from services.providers.amadeus_hotels import AmadeusHotelProvider
from services.providers.base import (
    FlightProvider,
    Permits,
    ProviderConfig,
    RequestCounter,
    TokenCaller,
)
from services.providers.hotels import HotelProvider
from services.providers.lookup import OrderLookup


class Adapter(Protocol):
    """An adapter class's constructor."""

    def __call__(
        self,
        config: ProviderConfig,
        session: aiohttp.ClientSession,
        tokens: TokenCaller,
        counter: RequestCounter | None = None,
        lookup: OrderLookup | None = None,
        budget: Permits | None = None,
    ) -> FlightProvider: ...


# kind -> adapter class.
KINDS: dict[str, Adapter] = {
    "amadeus": AmadeusProvider,
}


def create_provider(
    kind: str,
    config: ProviderConfig,
    session: aiohttp.ClientSession,
    tokens: TokenCaller,
    counter: RequestCounter | None = None,
    lookup: OrderLookup | None = None,
    budget: Permits | None = None,
) -> FlightProvider:
    try:
        adapter = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}") from None
    return adapter(config, session, tokens, counter, lookup, budget)


class HotelAdapter(Protocol):
    """A hotel adapter class's constructor (same arguments as a flight adapter's)."""

    def __call__(
        self,
        config: ProviderConfig,
        session: aiohttp.ClientSession,
        tokens: TokenCaller,
        counter: RequestCounter | None = None,
        lookup: OrderLookup | None = None,
        budget: Permits | None = None,
    ) -> HotelProvider: ...


# Hotel supplier kind -> adapter class (services/providers/hotels.py's interface).
HOTEL_KINDS: dict[str, HotelAdapter] = {
    "amadeus_hotels": AmadeusHotelProvider,
}


def create_hotel_provider(
    kind: str,
    config: ProviderConfig,
    session: aiohttp.ClientSession,
    tokens: TokenCaller,
    counter: RequestCounter | None = None,
    budget: Permits | None = None,
) -> HotelProvider:
    try:
        adapter = HOTEL_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown hotel supplier kind {kind!r}") from None
    return adapter(config, session, tokens, counter, None, budget)
