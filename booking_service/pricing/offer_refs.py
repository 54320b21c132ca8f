"""Booking-internal offer references: what an offer id means with
BOOKING_PRICE_SOURCE=database.

    fare:<fare id>:<expected unit price>:<adults>:<children>:<infants>
    e.g. fare:42:199.00:2:1:0   (fare 42 at 199.00 per adult, for 2 adults and 1 child)

One reference is one fare (one flight); a round trip is two references. The expected
unit price is the per-adult price the caller saw; a different current price is a price
change. This module is the only place that knows the format: booking search offer ids
instead (SEARCH_SERVICE_ADDRESSES, from_search.py) needs no change here, and a new
internal format is a change to this file alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from booking_service.pricing.passengers import Party

MAX_PARTY = 9
_REF = re.compile(
    r"^fare:([1-9][0-9]{0,17}):([0-9]{1,10}(?:\.[0-9]{1,2})?):([0-9]):([0-9]):([0-9])$"
)


@dataclass(frozen=True, slots=True)
class OfferRef:
    fare_id: int
    unit_price: Decimal
    party: Party


def format_ref(fare_id: int, unit_price: Decimal, party: Party) -> str:
    return f"fare:{fare_id}:{unit_price:.2f}:{party.adults}:{party.children}:{party.infants}"


def parse_ref(offer_id: str) -> OfferRef | None:
    match = _REF.match(offer_id)
    if match is None:
        return None
    fare_id, price, adults, children, infants = match.groups()
    party = Party(int(adults), int(children), int(infants))
    if party.adults < 1 or party.size > MAX_PARTY:
        return None
    ref = OfferRef(int(fare_id), Decimal(price), party)
    if format_ref(ref.fare_id, ref.unit_price, ref.party) != offer_id:
        return None  # one reference, one spelling ("199.00", not "199" or "0199.0")
    return ref


def problem(offer_id: str) -> str | None:
    """A field-violation description for a malformed reference, or None."""
    if parse_ref(offer_id) is None:
        return (
            "is not a booking offer reference "
            "(fare:<fare id>:<unit price with 2 decimals>:<adults>:<children>:"
            "<infants>, 1 to 9 passengers, at least one adult)"
        )
    return None
