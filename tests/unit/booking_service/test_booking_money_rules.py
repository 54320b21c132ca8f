"""Pricing, apportioning, refunds, offer references, references and page tokens."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from booking_service.api import convert
from booking_service.api.convert import from_money, to_money
from booking_service.flows import page_tokens, pnr
from booking_service.flows.refunds import refund_if_confirmed
from booking_service.pricing import offer_refs
from booking_service.pricing.checker import apportion
from booking_service.pricing.passengers import Party, age_on, passenger_type
from booking_service.store.models import PassengerType
from search_service.pricing import Party as SearchParty
from services.errors import ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from tests.utils.respell import respell


@given(st.integers(1, 10**9), st.integers(1, 9), st.integers(0, 8), st.integers(0, 9))
def test_party_pricing_matches_the_search_service(
    cents: int, adults: int, children: int, infants: int
) -> None:
    ours = Party(adults, children, infants).fare_cost(Decimal(cents).scaleb(-2))
    theirs = SearchParty(adults, children, infants).fare_cents(cents)
    assert ours == Decimal(theirs).scaleb(-2)


@given(st.integers(0, 10**8), st.lists(st.integers(0, 10**6), min_size=1, max_size=6))
def test_apportion_sums_exactly(total_cents: int, weights: list[int]) -> None:
    total = Decimal(total_cents).scaleb(-2)
    parts = apportion(total, [Decimal(w) for w in weights])
    assert sum(parts) == total and len(parts) == len(weights)


@pytest.mark.parametrize(
    "birth, day, expected",
    [
        (date(2000, 3, 1), date(2012, 2, 29), PassengerType.CHILD),
        (date(2000, 3, 1), date(2012, 3, 1), PassengerType.ADULT),
        (date(2024, 6, 1), date(2026, 5, 31), PassengerType.INFANT),
        (date(2024, 6, 1), date(2026, 6, 1), PassengerType.CHILD),
    ],
)
def test_passenger_type_by_age_on_the_day(birth: date, day: date, expected: PassengerType) -> None:
    assert passenger_type(birth, day) == expected


def test_age_on_a_leap_day_birthday() -> None:
    assert age_on(date(2004, 2, 29), date(2023, 2, 28)) == 18
    assert age_on(date(2004, 2, 29), date(2023, 3, 1)) == 19


def test_offer_references_round_trip() -> None:
    ref = offer_refs.format_ref(42, Decimal("199.5"), Party(2, 1, 1))
    assert ref == "fare:42:199.50:2:1:1"
    parsed = offer_refs.parse_ref(ref)
    assert parsed == offer_refs.OfferRef(42, Decimal("199.50"), Party(2, 1, 1))
    assert offer_refs.problem(ref) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "fare:0:1.00:1:0:0",
        "fare:1:1.001:1:0:0",
        "fare:1:-1:1:0:0",
        "fare:1:1.00:0:1:0",
        "fare:1:1.00:5:5:0",
        "fare:1:1.00:1:0",
        "FARE:1:1.00:1:0:0",
        "fare:1:1e3:1:0:0",
        # Other spellings of fare:1:1.00:1:0:0.
        "fare:1:1.00:1:0:0\n",
        "fare:1:1:1:0:0",
        "fare:1:1.0:1:0:0",
        "fare:1:01.00:1:0:0",
    ],
)
def test_offer_references_refused(bad: str) -> None:
    assert offer_refs.parse_ref(bad) is None
    assert offer_refs.problem(bad)


def segment(price: str, fee: str, refundable: bool) -> SimpleNamespace:
    return SimpleNamespace(price=Decimal(price), change_fee=Decimal(fee), refundable=refundable)


def test_refund_rules() -> None:
    segments = [
        segment("300.00", "40.00", True),
        segment("200.00", "10.00", False),
        segment("50.00", "30.00", True),
    ]
    # 300 - 2*40 = 220; non-refundable 0; 50 - 2*30 < 0 -> 0.
    assert refund_if_confirmed(segments, 2) == Decimal("220.00")  # type: ignore[arg-type]
    assert refund_if_confirmed([], 3) == Decimal("0.00")


def test_references_use_the_unambiguous_alphabet() -> None:
    assert not set("01ILO") & set(pnr.ALPHABET)
    assert len(pnr.ALPHABET) == 31
    for _ in range(200):
        reference = pnr.new_reference()
        assert len(reference) == 6 and set(reference) <= set(pnr.ALPHABET)


def test_page_tokens() -> None:
    token = page_tokens.encode(page_tokens.PageToken(17, "HELD", "alice"))
    assert page_tokens.decode(token, "alice", "HELD") == page_tokens.PageToken(17, "HELD", "alice")
    for bad, user, status in [
        (token, "alice", ""),
        (token, "bob", "HELD"),
        (respell(token), "alice", "HELD"),
        ("garbage", "alice", "HELD"),
        ("W10", "alice", "HELD"),
        (page_tokens.encode(page_tokens.PageToken(0, "", "alice")), "alice", ""),
    ]:
        with pytest.raises(ValidationError) as err:
            page_tokens.decode(bad, user, status)
        assert [v.field for v in err.value.violations] == ["page_token"]


@given(st.decimals(min_value=Decimal("-99999999.99"), max_value=Decimal("99999999.99"), places=2))
def test_money_round_trip(value: Decimal) -> None:
    message = to_money(value, "EUR")
    assert abs(message.nanos) < 10**9
    assert not (message.units > 0 > message.nanos or message.units < 0 < message.nanos)
    assert from_money(message, "x").value == value


def test_invalid_money_is_refused() -> None:
    for bad in (
        money_pb2.Money(currency_code="EUR", units=1, nanos=-5),
        money_pb2.Money(currency_code="EUR", units=0, nanos=10**9),
    ):
        with pytest.raises(ValidationError):
            from_money(bad, "max_total_price")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 23, 10, 15, 30, 123456, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 15, 30, 999999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30),  # naive: UTC
    ],
)
def test_timestamps_as_from_datetime_gives_them(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    assert convert.timestamp(moment) == expected
    assert convert.timestamp(None) is None
