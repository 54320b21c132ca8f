"""Party pricing (adult 100%, child 75%, infant 10%, half-up per fare) and Money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_service.pricing import (
    Party,
    cents_to_decimal,
    money,
    money_cents,
    money_is_valid,
    to_cents,
)
from services.generated.skyroute.common.v1 import money_pb2


def test_seats_exclude_infants() -> None:
    assert Party(2, 1, 2).seats == 3


@pytest.mark.parametrize(
    ("price", "party", "expected"),
    [
        (10000, Party(1, 0, 0), 10000),
        (10000, Party(2, 0, 0), 20000),
        (10000, Party(1, 1, 0), 17500),
        (10000, Party(1, 0, 1), 11000),
        (12345, Party(1, 1, 1), 22838),  # 123.45 * 1.85 = 228.3825 -> 228.38
        (1, Party(1, 0, 1), 1),  # 0.011 -> 0.01
        (5, Party(0, 0, 1), 1),  # 0.005 -> 0.01 (half up)
        (4, Party(0, 0, 1), 0),  # 0.004 -> 0.00
    ],
)
def test_fare_cents(price: int, party: Party, expected: int) -> None:
    assert party.fare_cents(price) == expected


@given(
    price=st.integers(1, 10**9),
    adults=st.integers(1, 9),
    children=st.integers(0, 8),
    infants=st.integers(0, 9),
)
def test_fare_cents_matches_decimal(price: int, adults: int, children: int, infants: int) -> None:
    exact = cents_to_decimal(price) * (
        adults + Decimal("0.75") * children + Decimal("0.10") * infants
    )
    assert Party(adults, children, infants).fare_cents(price) == to_cents(exact)


@given(cents=st.integers(-(10**12), 10**12))
def test_money_round_trip(cents: int) -> None:
    value = money(cents, "USD")
    assert money_is_valid(value)
    assert money_cents(value) == cents
    assert Decimal(value.units) + Decimal(value.nanos).scaleb(-9) == cents_to_decimal(cents)


def test_money_shape() -> None:
    assert money(1234, "EUR") == money_pb2.Money(currency_code="EUR", units=12, nanos=340_000_000)
    assert money(-175, "EUR") == money_pb2.Money(currency_code="EUR", units=-1, nanos=-750_000_000)
    assert not money_is_valid(money_pb2.Money(units=1, nanos=-1))
    assert not money_is_valid(money_pb2.Money(units=0, nanos=1_000_000_000))
