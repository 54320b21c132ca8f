"""The platform's party pricing rule, shared by search (quotes) and booking (holds).

A fare's price is per adult; a child (2-11) pays 75 % and an infant (under 2, on an
adult's lap, no seat) 10 % of it. Each fare's cost for a party is rounded half-up to
the cent; an itinerary's total is the sum over its fares.
"""

from __future__ import annotations

ADULT_PERCENT = 100
CHILD_PERCENT = 75
INFANT_PERCENT = 10


def weight_percent(adults: int, children: int, infants: int) -> int:
    """The party's price as a percentage of one adult fare."""
    return adults * ADULT_PERCENT + children * CHILD_PERCENT + infants * INFANT_PERCENT
