"""Passenger types by age and the party (how many of each) an offer is priced for.

The pricing rule is the platform's (see the search proto): a fare's price is per adult;
a child pays 75% and an infant 10% of it, rounded half-up to the cent per fare.
Adults and children take a seat; an infant sits on an adult's lap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from booking_service.store.models import PassengerType
from services.fares import weight_percent

CHILD_FROM_AGE = 2
ADULT_FROM_AGE = 12
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Party:
    adults: int = 1
    children: int = 0
    infants: int = 0

    @property
    def seats(self) -> int:
        return self.adults + self.children

    @property
    def size(self) -> int:
        return self.adults + self.children + self.infants

    @property
    def weight_percent(self) -> int:
        """The party's price as a percentage of one adult fare."""
        return weight_percent(self.adults, self.children, self.infants)

    def fare_cost(self, unit_price: Decimal) -> Decimal:
        """What one fare priced ``unit_price`` per adult costs the whole party."""
        return (unit_price * self.weight_percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)

    def describe(self) -> str:
        return f"{self.adults} adult(s), {self.children} child(ren), {self.infants} infant(s)"


def age_on(birth_date: date, day: date) -> int:
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (1 if before_birthday else 0)


def passenger_type(birth_date: date, travel_date: date) -> PassengerType:
    """The type by age on the day of travel (airlines price by age when flying)."""
    age = age_on(birth_date, travel_date)
    if age >= ADULT_FROM_AGE:
        return PassengerType.ADULT
    if age >= CHILD_FROM_AGE:
        return PassengerType.CHILD
    return PassengerType.INFANT


def party_of(types: Iterable[PassengerType]) -> Party:
    listed = list(types)
    return Party(
        adults=listed.count(PassengerType.ADULT),
        children=listed.count(PassengerType.CHILD),
        infants=listed.count(PassengerType.INFANT),
    )
