"""The CLI's argument types: dates (absolute, or relative to today so written commands
last) and request ids (UUIDs)."""

from __future__ import annotations

import argparse
from datetime import date

import pytest

from skyroute_cli.common import day_arg, uuid_arg


def test_relative_days_count_from_today() -> None:
    today = date(2026, 12, 30)
    assert day_arg("+0", today=today) == "2026-12-30"
    assert day_arg("+7", today=today) == "2027-01-06"


def test_iso_dates_pass_through_normalised() -> None:
    assert day_arg("2027-02-03") == "2027-02-03"
    assert day_arg(" 2027-02-03 ") == "2027-02-03"


@pytest.mark.parametrize(
    "text", ["", "+", "+-1", "+1000", "7", "2027-02-30", "tomorrow", "x" * 1000]
)
def test_anything_else_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as err:
        day_arg(text)
    assert len(str(err.value)) < 120


def test_request_ids_are_uuids() -> None:
    assert uuid_arg(" 6F1C2B3A-4D5E-4F60-8A7B-9C0D1E2F3A4B ") == (
        "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    )
    for text in ("", "not-a-uuid", "6f1c2b3a-4d5e-4f60-8a7b", "x" * 1000):
        with pytest.raises(argparse.ArgumentTypeError) as err:
            uuid_arg(text)
        assert len(str(err.value)) < 120
