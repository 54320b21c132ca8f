"""Price revalidation: what an offer costs now, behind the ``PriceChecker`` interface.

Two implementations: ``from_database.DatabasePriceChecker`` reads the fares straight from
PostgreSQL (BOOKING_PRICE_SOURCE=database; offer ids are booking-internal references,
see offer_refs.py), ``from_search.SearchPriceChecker`` calls the search service's
PriceOffer (offer ids from SearchFlights, inventory and provider offers alike). Money is
``Decimal``, never float.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from booking_service.pricing.passengers import CENT, Party
from services.flights import FlightLeg
from services.money_text import money_text


@dataclass(frozen=True, slots=True)
class Amount:
    value: Decimal
    currency: str

    def __str__(self) -> str:
        return money_text(self.value, self.currency)


@dataclass(frozen=True, slots=True, kw_only=True)
class PricedSegment:
    """One flight of an offer as it is now."""

    # The inventory fare; None for a flight of a provider offer (no local seats).
    fare_id: int | None
    leg: FlightLeg  # local times when the price source knows them
    cabin: str  # models' Cabin value, e.g. "ECONOMY"
    # This segment's part of the offer's (quoted) total, for the whole party.
    price: Decimal
    refundable: bool
    change_fee: Decimal  # per passenger
    seats_available: int


@dataclass(frozen=True, slots=True)
class ProviderOffer:
    """An offer of the upstream provider, as the provider priced it just now: what its
    order API is sent to book it."""

    provider: str  # the configured provider's name
    offer: Mapping[str, Any]  # the provider's flight-offer JSON


@dataclass(frozen=True, slots=True)
class PricedOffer:
    offer_id: str
    party: Party
    currency: str
    segments: tuple[PricedSegment, ...]
    # The total the offer id was issued with, and the total now (for the whole party).
    original_total: Decimal
    current_total: Decimal
    # Every segment has a seat for every passenger who needs one.
    available: bool
    # The current total is guaranteed until then by the price source; None: no
    # guarantee, the hold re-checks the fares' prices under its row locks.
    guaranteed_until: datetime | None = None
    # Set for an offer of the upstream provider (booked through its order API).
    provider: ProviderOffer | None = None

    @property
    def price_changed(self) -> bool:
        return self.current_total != self.original_total


class PriceChecker(Protocol):
    def check_offer_id(self, offer_id: str) -> str | None:
        """What is wrong with the id's form (for a field violation), or None."""

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        """The offers as they are now, in order.

        Raises NotFoundError (reason OFFER_NOT_FOUND, or OFFER_EXPIRED for an offer
        id past its validity; metadata ``field`` naming the first such
        ``offer_ids[i]`` and ``fields`` all of them), FailedPreconditionError for
        offers that cannot be booked (reason OFFER_DEPARTED once a flight has
        departed, same metadata), UnavailableError when the price source does not
        answer.
        """

    async def close(self) -> None: ...


def apportion(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, to the cent, summing exactly to it
    (the rounding remainder goes to the last part). Equal parts if all weights are 0."""
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    if weight_sum <= 0:
        weights = [Decimal(1)] * len(weights)
        weight_sum = Decimal(len(weights))
    parts = [(total * w / weight_sum).quantize(CENT) for w in weights[:-1]]
    return [*parts, total - sum(parts, Decimal(0))]
