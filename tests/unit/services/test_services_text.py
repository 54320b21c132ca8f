"""The text rule (services.text): NFC in place, control characters refused with the
field's full path, bytes left alone."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, struct_pb2
from google.rpc import error_details_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services import text
from services.errors import MAX_VIOLATIONS, ValidationError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.text import KnownClean, check_request, has_control_characters, nfc

DECOMPOSED = "Rene\u0301"
COMPOSED = "Ren\u00e9"


def fields_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [v.field for v in exc.value.violations]


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]
)
def test_every_c0_and_c1_control_character_is_refused(char: str) -> None:
    assert has_control_characters(f"a{char}b")


@pytest.mark.parametrize(
    "text", ["plain", "Ren\u00e9", "\u00a0", "\u200b", "\u2028", "\U0001f600", "\ufeff"]
)
def test_other_characters_are_not_control_characters(text: str) -> None:
    assert not has_control_characters(text)


def test_nfc_composes_and_returns_ascii_unchanged() -> None:
    assert nfc(DECOMPOSED) == COMPOSED
    ascii_text = "alice@example.com"
    assert nfc(ascii_text) is ascii_text


def test_nested_and_repeated_strings_are_normalised_in_place() -> None:
    request = pb.CreateBookingRequest(
        offer_ids=["a", DECOMPOSED],
        passengers=[
            pb.Passenger(given_name="Ann"),
            pb.Passenger(
                given_name=DECOMPOSED,
                family_name="Sm\u0131th",
                document=pb.TravelDocument(number=DECOMPOSED),
            ),
        ],
        contact=pb.Contact(email=f"{DECOMPOSED}@x.com"),
    )
    check_request(request)
    assert request.offer_ids == ["a", COMPOSED]
    assert request.passengers[1].given_name == COMPOSED
    assert request.passengers[1].family_name == "Sm\u0131th"
    assert request.passengers[1].document.number == COMPOSED
    assert request.contact.email == f"{COMPOSED}@x.com"


def test_violations_name_the_full_path_of_every_bad_field() -> None:
    request = pb.CreateBookingRequest(
        offer_ids=["ok", "bad\x00"],
        passengers=[
            pb.Passenger(given_name="Ann"),
            pb.Passenger(given_name="\x1b[31mRed", document=pb.TravelDocument(number="P1\u0085")),
        ],
        contact=pb.Contact(email="a\x00b@x.com"),
        request_id="r\n1",
    )
    with pytest.raises(ValidationError) as err:
        check_request(request)
    assert sorted(fields_of(err)) == sorted(
        [
            "offer_ids[1]",
            "passengers[1].given_name",
            "passengers[1].document.number",
            "contact.email",
            "request_id",
        ]
    )
    # The value itself is never echoed back.
    assert "Red" not in err.value.message and "\x00" not in err.value.message


def test_a_request_full_of_bad_strings_reports_a_bounded_number() -> None:
    request = pb.CreateBookingRequest(offer_ids=["\x00"] * 1000)
    with pytest.raises(ValidationError) as err:
        check_request(request)
    assert len(err.value.violations) == MAX_VIOLATIONS


def test_map_keys_and_values_are_checked_and_normalised() -> None:
    info = error_details_pb2.ErrorInfo(metadata={DECOMPOSED: DECOMPOSED, "k": "v"})
    check_request(info)
    assert dict(info.metadata) == {COMPOSED: COMPOSED, "k": "v"}

    bad_value = error_details_pb2.ErrorInfo(metadata={"k": "v\x00"})
    with pytest.raises(ValidationError) as err:
        check_request(bad_value)
    assert fields_of(err) == ['metadata["k"]']

    bad_key = error_details_pb2.ErrorInfo(metadata={"k\x00": "v"})
    with pytest.raises(ValidationError) as err:
        check_request(bad_key)
    assert fields_of(err) == ["metadata"]


def test_map_of_messages_is_walked() -> None:
    value = struct_pb2.Struct()
    value.update({"name": DECOMPOSED})
    check_request(value)
    assert value["name"] == COMPOSED
    bad = struct_pb2.Struct()
    bad.update({"outer": {"inner": "\x00"}})
    with pytest.raises(ValidationError) as err:
        check_request(bad)
    assert fields_of(err) == ['fields["outer"].struct_value.fields["inner"].string_value']


def test_list_values_inside_a_struct_are_checked() -> None:
    value = struct_pb2.Struct()
    value.update({"list": ["x", "y\x07"]})
    with pytest.raises(ValidationError) as err:
        check_request(value)
    assert fields_of(err) == ['fields["list"].list_value.values[1].string_value']


def test_bytes_are_left_alone() -> None:
    packed = any_pb2.Any(type_url="t/x", value=b"\x00\x1b\x9f")
    check_request(packed)
    assert packed.value == b"\x00\x1b\x9f"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_is_either_refused_or_left_in_nfc(text: str) -> None:
    request = pb.Contact(email=text)
    try:
        check_request(request)
    except ValidationError as exc:
        assert has_control_characters(text)
        assert [v.field for v in exc.violations] == ["email"]
    else:
        assert not has_control_characters(text)
        assert request.email == nfc(text)


def test_known_clean_skips_only_requests_that_passed_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walked: list[object] = []
    real = text.check_request

    def counting(message: object) -> None:
        walked.append(message)
        real(message)  # type: ignore[arg-type]

    monkeypatch.setattr(text, "check_request", counting)
    known = KnownClean()
    clean = pb.CreateBookingRequest(offer_ids=["a"], contact=pb.Contact(email="a@x.com"))
    known.check(clean)
    known.check(pb.CreateBookingRequest.FromString(clean.SerializeToString()))
    assert len(walked) == 1  # the same bytes: passed unchanged before

    # Normalised: remembered neither before nor after, so normalised every time.
    for _ in range(2):
        decomposed = pb.CreateBookingRequest(offer_ids=[DECOMPOSED])
        known.check(decomposed)
        assert decomposed.offer_ids == [COMPOSED]
    # Refused: refused every time.
    for _ in range(2):
        with pytest.raises(ValidationError):
            known.check(pb.CreateBookingRequest(offer_ids=["a\nb"]))
    assert len(walked) == 5
    # The same bytes as another message type's are that type's own question.
    known.check(pb.CancelBookingRequest.FromString(b""))
    known.check(pb.CreateBookingRequest.FromString(b""))
    assert len(walked) == 7


def test_known_clean_is_bounded() -> None:
    known = KnownClean(entries=2, max_bytes=8)
    for offer in ("a", "b", "c"):
        known.check(pb.CreateBookingRequest(offer_ids=[offer]))
    assert len(known._known) == 1  # cleared when full, then the newest
    known.check(pb.CreateBookingRequest(offer_ids=["x" * 20]))  # too long to remember
    assert len(known._known) == 1
