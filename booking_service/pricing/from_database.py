"""``PriceChecker`` straight from the inventory tables (BOOKING_PRICE_SOURCE=database).

For running the booking service without the search service. Offer ids are
booking-internal references (offer_refs.py); the price is the fare's price now, with no
guarantee, so the hold re-checks it under the fare's row lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from booking_service.pricing import offer_refs
from booking_service.pricing.checker import PricedOffer, PricedSegment
from booking_service.store.repository import BookingStore
from services.errors import FailedPreconditionError, NotFoundError


class DatabasePriceChecker:
    def __init__(
        self, store: BookingStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    def check_offer_id(self, offer_id: str) -> str | None:
        return offer_refs.problem(offer_id)

    async def price_offers(self, offer_ids: Sequence[str]) -> list[PricedOffer]:
        refs = []
        for offer_id in offer_ids:
            ref = offer_refs.parse_ref(offer_id)
            if ref is None:  # validation ran check_offer_id first
                raise ValueError(f"malformed offer reference {offer_id!r}")
            refs.append(ref)
        fares = await self._store.fares({ref.fare_id for ref in refs})
        now = self._clock()
        missing = [i for i, ref in enumerate(refs) if ref.fare_id not in fares]
        if missing:
            raise offer_error("OFFER_NOT_FOUND", "unknown offer", missing)
        departed = [i for i, ref in enumerate(refs) if fares[ref.fare_id].leg.departure_at <= now]
        if departed:
            raise departed_error(departed)
        priced = []
        for offer_id, ref in zip(offer_ids, refs, strict=True):
            fare = fares[ref.fare_id]
            current = ref.party.fare_cost(fare.price)
            segment = PricedSegment(
                fare_id=fare.fare_id,
                leg=fare.leg,
                cabin=fare.cabin,
                price=current,
                refundable=fare.refundable,
                change_fee=fare.change_fee,
                seats_available=fare.seats_available,
            )
            priced.append(
                PricedOffer(
                    offer_id=offer_id,
                    party=ref.party,
                    currency=fare.currency,
                    segments=(segment,),
                    original_total=ref.party.fare_cost(ref.unit_price),
                    current_total=current,
                    available=fare.seats_available >= ref.party.seats,
                )
            )
        return priced

    async def close(self) -> None:
        pass


def offer_error(reason: str, message: str, indexes: Sequence[int]) -> NotFoundError:
    """NOT_FOUND naming every offer it applies to (``offer_ids[i]``)."""
    fields = [f"offer_ids[{i}]" for i in indexes]
    return NotFoundError(
        f"{', '.join(fields)}: {message}",
        reason=reason,
        metadata={"field": fields[0], "fields": ",".join(fields)},
    )


def departed_error(indexes: Sequence[int]) -> FailedPreconditionError:
    """FAILED_PRECONDITION, reason OFFER_DEPARTED (as search's PriceOffer answers it),
    naming every departed offer (``offer_ids[i]``)."""
    fields = [f"offer_ids[{i}]" for i in indexes]
    return FailedPreconditionError(
        f"{', '.join(fields)}: the offer's flight has departed",
        reason="OFFER_DEPARTED",
        metadata={"field": fields[0], "fields": ",".join(fields)},
    )
