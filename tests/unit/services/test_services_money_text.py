"""Money in messages: the currency's minor units, never a Money's raw nanos."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.money_text import amount_text, minor_units, money_text


@pytest.mark.parametrize(
    "value, currency, expected",
    [
        ("0.010000000", "USD", "USD 0.01"),  # units 0, nanos 10_000_000
        ("1500.000000000", "JPY", "JPY 1500"),
        ("1.25", "BHD", "BHD 1.250"),
        ("100", "EUR", "EUR 100.00"),
        ("1E+3", "USD", "USD 1000.00"),
        ("-2.5", "usd", "usd -2.50"),
        # Finer than the minor unit: every digit stays (a message must not round it away).
        ("0.015", "USD", "USD 0.015"),
        ("1500.5", "JPY", "JPY 1500.5"),
    ],
)
def test_money_text(value: str, currency: str, expected: str) -> None:
    assert money_text(Decimal(value), currency) == expected


def test_minor_units() -> None:
    assert [minor_units(c) for c in ("USD", "EUR", "JPY", "KWD", "XYZ")] == [2, 2, 0, 3, 2]
    assert amount_text(Decimal("7"), "KRW") == "7"
