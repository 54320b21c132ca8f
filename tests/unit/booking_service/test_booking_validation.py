"""CreateBooking input checks that need only the request."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from booking_service.flows.validation import (
    ContactInput,
    CreateBookingInput,
    DocumentInput,
    PassengerInput,
    validate_payment_token,
    validate_reference,
    validate_request,
)
from booking_service.pricing import offer_refs
from booking_service.pricing.checker import Amount
from services.errors import ValidationError

TODAY = date(2026, 6, 1)
DOC = DocumentInput("PASSPORT", "X1234567", "GB", "2030-01-01")


def request(**changes: object) -> CreateBookingInput:
    fields: dict[str, object] = dict(
        offer_ids=("fare:1:100.00:1:0:0",),
        passengers=(PassengerInput("Ann", "Lee", "1990-01-01", DOC),),
        contact=ContactInput("ann@example.com", ""),
        request_id="req-1",
    )
    fields.update(changes)
    return CreateBookingInput(**fields)  # type: ignore[arg-type]


def problems(raw: CreateBookingInput) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        validate_request(raw, TODAY, offer_refs.problem)
    return {v.field: v.description for v in err.value.violations}


def test_a_good_request_passes() -> None:
    valid = validate_request(request(), TODAY, offer_refs.problem)
    assert valid.travellers[0].birth_date == date(1990, 1, 1)
    assert valid.phone is None
    assert len(valid.request_hash) == 64


@pytest.mark.parametrize(
    "name", ["Ann", "Anne-Marie", "O'Brien", "Van der Berg", "Zoë", "Łukasz", "李"]
)
def test_names_accepted(name: str) -> None:
    validate_request(
        request(passengers=(PassengerInput(name, name, "1990-01-01", DOC),)),
        TODAY,
        offer_refs.problem,
    )


@pytest.mark.parametrize(
    "name", ["", "Ann3", "Ann  Lee", "-Ann", "Ann-", "Robert'); DROP", "x" * 51, "Ann_Lee"]
)
def test_names_refused(name: str) -> None:
    found = problems(request(passengers=(PassengerInput(name, "Lee", "1990-01-01", DOC),)))
    assert set(found) == {"passengers[0].given_name"}


@pytest.mark.parametrize(
    "birth, message",
    [
        ("2026-06-02", "is in the future"),
        ("1990-13-01", "must be a date YYYY-MM-DD"),
        ("01/01/1990", "must be a date YYYY-MM-DD"),
        ("1850-01-01", "is more than 130 years ago"),
        ("", "is required"),
    ],
)
def test_birth_dates(birth: str, message: str) -> None:
    found = problems(request(passengers=(PassengerInput("Ann", "Lee", birth, DOC),)))
    assert found == {"passengers[0].birth_date": message}


def test_a_birth_date_of_today_is_fine() -> None:
    validate_request(
        request(
            passengers=(
                PassengerInput("Ann", "Lee", "1990-01-01", DOC),
                PassengerInput("Bo", "Lee", TODAY.isoformat(), replace(DOC, number="X7654321")),
            )
        ),
        TODAY,
        offer_refs.problem,
    )


def test_one_document_is_one_passengers() -> None:
    """Type, number (case-insensitive) and issuing country name one document; another
    type or country is another document."""
    same = replace(DOC, number=DOC.number.lower(), expire_date="2031-01-01")
    found = problems(
        request(
            passengers=(
                PassengerInput("Ann", "Lee", "1990-01-01", DOC),
                PassengerInput("Bo", "Lee", "1991-01-01", replace(DOC, issuing_country="IE")),
                PassengerInput("Cy", "Lee", "1992-01-01", replace(DOC, type="NATIONAL_ID")),
                PassengerInput("Di", "Lee", "1993-01-01", same),
            )
        )
    )
    assert list(found) == ["passengers[3].document.number"]
    assert "passengers[0]" in found["passengers[3].document.number"]


def test_counts_and_duplicates() -> None:
    found = problems(
        request(
            offer_ids=("fare:1:1.00:1:0:0",) * 2 + ("x",) * 3,
            passengers=(PassengerInput("A", "B", "1990-01-01", DOC),) * 10,
        )
    )
    assert found["offer_ids"] == "at most 4 offers"
    assert found["offer_ids[1]"] == "repeats offer_ids[0]"
    assert found["passengers"] == "at most 9 passengers"


def test_contact_and_money_and_request_id() -> None:
    found = problems(
        request(
            contact=ContactInput("a@b", "+0123"),
            request_id="x" * 65,
            max_total=Amount(Decimal("-1"), "eur"),
        )
    )
    assert set(found) == {
        "contact.email",
        "contact.phone",
        "request_id",
        "max_total_price",
        "max_total_price.currency_code",
    }
    assert set(problems(request(contact=None))) == {"contact"}
    assert set(problems(request(request_id=""))) == {"request_id"}


def test_fingerprint_ignores_the_request_id_only() -> None:
    a = request(request_id="one").fingerprint()
    assert a == request(request_id="two").fingerprint()
    assert a != request(contact=ContactInput("other@example.com", "")).fingerprint()
    assert a != request(offer_ids=("fare:1:100.01:1:0:0",)).fingerprint()


@pytest.mark.parametrize("raw, expected", [("abc234", "ABC234"), (" XYZ987 ", "XYZ987")])
def test_references_are_case_insensitive(raw: str, expected: str) -> None:
    assert validate_reference(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "ABC23", "ABC2345", "ABCDE1", "ABCDEO", "ABCDEI", "ABCDEL", "ABCDE0"]
)
def test_references_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        validate_reference(raw)


def test_payment_tokens() -> None:
    assert validate_payment_token("tok_visa") == "tok_visa"
    for bad in ("", "x" * 129):
        with pytest.raises(ValidationError):
            validate_payment_token(bad)
