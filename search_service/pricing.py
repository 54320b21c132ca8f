"""Passenger pricing and exact money arithmetic (integer cents, never float).

A fare's price is per adult. For a party, each fare costs
``price * (adults + 0.75 * children + 0.10 * infants)``, rounded half-up to the cent;
an itinerary's total is the sum of its fares' costs. Children (2-11) take a seat,
infants (under 2) travel on an adult's lap and do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from services.fares import weight_percent
from services.generated.skyroute.common.v1 import money_pb2

NANOS_PER_CENT = 10_000_000
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Party:
    adults: int = 1
    children: int = 0
    infants: int = 0

    @property
    def seats(self) -> int:
        """Seats the party occupies on every segment (infants sit on a lap)."""
        return self.adults + self.children

    @property
    def weight_percent(self) -> int:
        """The party's price as a percentage of one adult fare."""
        return weight_percent(self.adults, self.children, self.infants)

    def fare_cents(self, price_cents: int) -> int:
        """Cost in cents of one fare (``price_cents`` per adult) for the whole party."""
        # price_cents * weight_percent is in hundredths of a cent: round half up.
        return (price_cents * self.weight_percent + 50) // 100


def to_cents(amount: Decimal) -> int:
    """An amount as integer cents, rounded half-up (NUMERIC(12,2) values are exact)."""
    return int(amount.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def cents_to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def money(cents: int, currency: str) -> money_pb2.Money:
    sign = -1 if cents < 0 else 1
    units, rest = divmod(abs(cents), 100)
    return money_pb2.Money(
        currency_code=currency, units=sign * units, nanos=sign * rest * NANOS_PER_CENT
    )


def money_cents(value: money_pb2.Money) -> int:
    """Whole cents in a Money (fractions of a cent are dropped towards zero)."""
    return value.units * 100 + int(value.nanos / NANOS_PER_CENT)


def money_is_valid(value: money_pb2.Money) -> bool:
    if not -999_999_999 <= value.nanos <= 999_999_999:
        return False
    return not (value.units > 0 > value.nanos or value.units < 0 < value.nanos)
