"""The generator on its own (no database): scales, determinism, money, block times."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from inventory_seed.generator import (
    SCALES,
    SeedOptions,
    block_minutes,
    dates,
    generate,
    generate_day,
    great_circle_km,
    plan,
    to_money,
)


def options(scale: str = "tiny", seed: int = 42, days: int | None = None) -> SeedOptions:
    preset = SCALES[scale]
    return SeedOptions(preset, seed, days or preset.days, date(2030, 3, 1))


def test_same_options_same_rows() -> None:
    a, b = generate(options()), generate(options())
    assert a.flights == b.flights and a.fares == b.fares


def test_more_days_do_not_change_the_earlier_days() -> None:
    short, long = generate(options(days=2)), generate(options(days=4))
    assert long.flights[: len(short.flights)] == short.flights
    assert long.fares[: len(short.fares)] == short.fares


def test_default_scale_is_big_enough() -> None:
    opts = options("default")
    inventory = plan(opts)  # the network; flights counted from it without building rows
    assert len(inventory.airports) >= 300
    assert len(inventory.airlines) >= 40
    flights = sum(
        1 for day in dates(opts) for s in inventory.services if day.weekday() in s.weekdays
    )
    assert flights >= 100_000
    assert len({s.origin.code for s in inventory.services}) == len(inventory.airports)
    numbers = [(s.airline.code, s.flight_number) for s in inventory.services]
    assert len(numbers) == len(set(numbers))  # one service per flight number
    assert all(1 <= n <= 9999 for _, n in numbers)


def test_one_day_of_the_default_scale() -> None:
    opts = options("default")
    inventory = plan(opts)
    generate_day(inventory, opts, opts.start_date)
    operating = sum(1 for s in inventory.services if opts.start_date.weekday() in s.weekdays)
    assert len(inventory.flights) == operating
    assert 2 * len(inventory.flights) <= len(inventory.fares) <= 4 * len(inventory.flights)


def test_small_scale_is_about_five_thousand_flights() -> None:
    inventory = generate(options("small"))
    assert 4_000 <= len(inventory.flights) <= 6_500


@pytest.mark.parametrize(
    "origin, destination, low, high",
    [
        # Great-circle distances, within 1%.
        ((51.4706, -0.46194), (40.639928, -73.778692), 5500, 5600),  # LHR-JFK
        ((33.6367, -84.4281), (33.9425, -118.4081), 3090, 3140),  # ATL-LAX
    ],
)
def test_great_circle(
    origin: tuple[float, float], destination: tuple[float, float], low: float, high: float
) -> None:
    assert low <= great_circle_km(*origin, *destination) <= high


def test_block_minutes() -> None:
    assert block_minutes(0) == 35
    assert block_minutes(300) == 60  # 57.5 rounds up to the next 5 minutes
    assert block_minutes(5550) == 450  # LHR-JFK: 7h30
    durations = [block_minutes(d) for d in range(0, 15000, 50)]
    assert durations == sorted(durations) and all(m % 5 == 0 for m in durations)


def test_money_is_exact_decimal_cents() -> None:
    assert to_money(19.999) == Decimal("20.00")
    assert to_money(0.1 + 0.2) == Decimal("0.30")
    assert str(to_money(1234.5)) == "1234.50"
    assert to_money(1.005) in (Decimal("1.00"), Decimal("1.01"))  # float input, cent result


def test_prices_rise_towards_departure_on_average() -> None:
    inventory = generate(options("small", days=14))
    day_of = {f[0]: f[5].date() for f in inventory.flights}
    first = min(day_of.values())
    early = [
        f[3]
        for f in inventory.fares
        if f[2] == "ECONOMY" and day_of[f[1]] <= first + timedelta(days=1)
    ]
    late = [
        f[3]
        for f in inventory.fares
        if f[2] == "ECONOMY" and day_of[f[1]] >= first + timedelta(days=11)
    ]
    assert sum(early) / len(early) > sum(late) / len(late)
