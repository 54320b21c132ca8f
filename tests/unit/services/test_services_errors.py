"""Domain errors become a google.rpc.Status with ErrorInfo and, for validation,
BadRequest field violations."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.errors import (
    ERROR_DOMAIN,
    MAX_DETAILS_BYTES,
    MAX_MESSAGE_BYTES,
    FailedPreconditionError,
    FieldViolation,
    NotFoundError,
    UnavailableError,
    ValidationError,
    bounded_status,
    clip_bytes,
    internal_status,
    malformed_request,
    shown,
)


def _unpack(status: status_pb2.Status, message_type: type) -> list:
    out = []
    for detail in status.details:
        if detail.Is(message_type.DESCRIPTOR):
            message = message_type()
            detail.Unpack(message)
            out.append(message)
    return out


def test_validation_error_carries_field_violations_and_error_info() -> None:
    error = ValidationError(
        [
            FieldViolation("provider", "is required"),
            FieldViolation("page_size", "must not be negative"),
        ]
    )
    status = error.to_status()

    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "provider: is required; page_size: must not be negative"
    [bad] = _unpack(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("provider", "is required"),
        ("page_size", "must not be negative"),
    ]
    [info] = _unpack(status, error_details_pb2.ErrorInfo)
    assert info.reason == "INVALID_ARGUMENT"
    assert info.domain == ERROR_DOMAIN


def test_validation_error_field_shortcut() -> None:
    error = ValidationError.field("ttl", "must be positive")
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    [bad] = _unpack(error.to_status(), error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["ttl"]


def test_error_info_reason_domain_and_metadata() -> None:
    error = NotFoundError(
        "booking not found", reason="BOOKING_NOT_FOUND", metadata={"booking": "ABC123"}
    )
    status = error.to_status()
    assert status.code == code_pb2.NOT_FOUND
    assert status.message == "booking not found"
    [info] = _unpack(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("BOOKING_NOT_FOUND", "skyroute.dev")
    assert dict(info.metadata) == {"booking": "ABC123"}
    assert not _unpack(status, error_details_pb2.RetryInfo)


def test_default_reason_per_class() -> None:
    [info] = _unpack(FailedPreconditionError("sold out").to_status(), error_details_pb2.ErrorInfo)
    assert info.reason == "FAILED_PRECONDITION"


def test_retry_info_when_retry_after_is_given() -> None:
    status = UnavailableError("down", retry_after_seconds=1.5).to_status()
    assert status.code == code_pb2.UNAVAILABLE
    [retry] = _unpack(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 1500


def test_internal_status_is_generic() -> None:
    status = internal_status()
    assert status.code == code_pb2.INTERNAL
    assert status.message == "internal error"
    assert not status.details


def test_shown_cuts_a_callers_value_to_64_characters() -> None:
    assert shown("amadeus") == "amadeus"
    assert shown("x" * 64) == "x" * 64
    assert shown("x" * 1_000_000) == "x" * 64 + "…"
    assert shown(12345) == "12345"


def test_clip_bytes_counts_utf8_bytes_and_keeps_characters_whole() -> None:
    assert clip_bytes("abc", 10) == "abc"
    clipped = clip_bytes("é" * 1000, 100)
    assert len(clipped.encode()) <= 100 and clipped.endswith("…")
    assert set(clipped[:-1]) == {"é"}


def test_malformed_request_is_invalid_argument_naming_the_message() -> None:
    status = malformed_request("skyroute.token.v1.GetTokenRequest").to_status()
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message == "request body is not a valid skyroute.token.v1.GetTokenRequest"
    [info] = _unpack(status, error_details_pb2.ErrorInfo)
    assert info.reason == "MALFORMED_REQUEST"
    [bad] = _unpack(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["request"]


def test_bounded_status_caps_message_and_every_detail_string() -> None:
    huge = "é" * 100_000
    error = ValidationError(
        [FieldViolation(huge, huge) for _ in range(50)],
        huge,
        reason="PROBE",
        metadata={"value": huge},
        retry_after_seconds=2,
    )
    status = bounded_status(error.to_status())
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert len(status.message.encode()) <= MAX_MESSAGE_BYTES
    assert sum(d.ByteSize() for d in status.details) <= MAX_DETAILS_BYTES
    [info] = _unpack(status, error_details_pb2.ErrorInfo)  # the reason survives
    assert info.reason == "PROBE" and len(info.metadata["value"].encode()) <= 256
    [retry] = _unpack(status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 2000
    [bad] = _unpack(status, error_details_pb2.BadRequest)
    assert 0 < len(bad.field_violations) < 50


def test_bounded_status_leaves_ordinary_statuses_alone() -> None:
    status = ValidationError(
        [FieldViolation("provider", "is required")], retry_after_seconds=1
    ).to_status()
    assert bounded_status(status) == status
