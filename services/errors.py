"""The one domain exception hierarchy, and its mapping to gRPC status.

Logic raises these; the error interceptor turns them into a status with an
``ErrorInfo`` (UPPER_SNAKE reason, AIP-193) and, for validation, ``BadRequest``
field violations. Messages must never contain secrets or token values, and a value
that came from the caller goes into a message only through ``shown`` (cut short).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "skyroute.dev"
# Violations sent back at most: a request with thousands of bad items (5,000 repeated
# offer ids) would otherwise get a status trailer over the client's metadata limit,
# and the caller would see RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT.
MAX_VIOLATIONS = 20

# How much of a caller's value an error message or log field repeats back.
SHOWN_CHARS = 64


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` as text of at most ``limit`` characters, then "…": a caller's value
    embedded in an error message or log field (a 1 MB provider name must not come back
    as a 1 MB status message, nor a 1 MB log line)."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure. Subclasses fix the status code."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.retry_after_seconds = retry_after_seconds

    def details(self) -> list[any_pb2.Any]:
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
        )
        packed = any_pb2.Any()
        packed.Pack(info)
        out = [packed]
        if self.retry_after_seconds is not None:
            retry = error_details_pb2.RetryInfo()
            retry.retry_delay.FromMilliseconds(int(self.retry_after_seconds * 1000))
            packed_retry = any_pb2.Any()
            packed_retry.Pack(retry)
            out.append(packed_retry)
        return out

    def to_status(self) -> status_pb2.Status:
        return status_pb2.Status(
            code=self.code.value[0], message=self.message, details=self.details()
        )


class ValidationError(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: Sequence[FieldViolation] | FieldViolation,
        message: str | None = None,
        **kwargs: object,
    ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        violations = list(violations)
        self.violations = violations[:MAX_VIOLATIONS]
        if message is None:
            message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
            if len(violations) > MAX_VIOLATIONS:
                message += f"; and {len(violations) - MAX_VIOLATIONS} more"
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def field(cls, field: str, description: str) -> ValidationError:
        return cls(FieldViolation(field, description))

    def details(self) -> list[any_pb2.Any]:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [*super().details(), packed]


def malformed_request(message_type: str) -> ValidationError:
    """The request's bytes do not decode as ``message_type`` (a full proto name)."""
    return ValidationError(
        FieldViolation("request", f"is not a valid {message_type}"),
        f"request body is not a valid {message_type}",
        reason="MALFORMED_REQUEST",
    )


class NotFoundError(DomainError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExistsError(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPreconditionError(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class ConflictError(DomainError):
    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class UnauthenticatedError(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDeniedError(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class RateLimitedError(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RATE_LIMITED"


class UnavailableError(DomainError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineError(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


def internal_status(message: str = "internal error") -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message)


# The most the interceptor sends, whatever a message or detail holds. A client's default
# limit on received metadata is 8 KiB and the status travels twice in the trailers
# (grpc-message percent-encoded, up to 3x; grpc-status-details-bin base64, 4/3x), so
# 1 KiB of message plus 1.5 KiB of details stays below it even for non-ASCII text.
MAX_MESSAGE_BYTES = 1024
MAX_DETAIL_STRING_BYTES = 256
MAX_DETAILS_BYTES = 1536


def clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, ending in "…" when cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode(errors="ignore") + "…"


def bounded_status(status: status_pb2.Status) -> status_pb2.Status:
    """``status`` with its message and every detail string capped, and details that do
    not fit the budget left out (field violations from the end)."""
    out = status_pb2.Status(code=status.code, message=clip_bytes(status.message, MAX_MESSAGE_BYTES))
    budget = MAX_DETAILS_BYTES
    for detail in status.details:
        packed = _bounded_detail(detail, budget)
        size = packed.ByteSize()
        if size <= budget:
            out.details.append(packed)
            budget -= size
    return out


def wire_status(exc: DomainError) -> status_pb2.Status:
    """The status ``exc`` is sent as: the interceptor's for a failed call, and a
    batched RPC's for one item's failure (search's PriceItems), so both read alike."""
    return bounded_status(exc.to_status())


def logged_failure(exc: DomainError) -> tuple[int, dict[str, str]]:
    """How ``exc`` is logged (level, fields), by the interceptor for a failed call and
    by a batched RPC for one item's failure: ERROR if internal, else INFO; its code,
    reason and message (clipped)."""
    level = logging.ERROR if exc.code == grpc.StatusCode.INTERNAL else logging.INFO
    return level, {
        "code": exc.code.name,
        "reason": exc.reason,
        "error": clip_bytes(exc.message, MAX_MESSAGE_BYTES),
    }


def _clip(text: str) -> str:
    return clip_bytes(text, MAX_DETAIL_STRING_BYTES)


def _bounded_detail(detail: any_pb2.Any, budget: int) -> any_pb2.Any:
    if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
        info = error_details_pb2.ErrorInfo()
        detail.Unpack(info)
        bounded: Message = error_details_pb2.ErrorInfo(
            reason=_clip(info.reason),
            domain=_clip(info.domain),
            metadata={_clip(k): _clip(v) for k, v in info.metadata.items()},
        )
    elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
        bad = error_details_pb2.BadRequest()
        detail.Unpack(bad)
        kept = error_details_pb2.BadRequest()
        for v in bad.field_violations:
            kept.field_violations.add(field=_clip(v.field), description=_clip(v.description))
            if kept.ByteSize() + 64 > budget:  # 64: the Any's type URL
                del kept.field_violations[-1]
                break
        bounded = kept
    else:
        return detail  # RetryInfo and the like hold no text; kept if they fit
    packed = any_pb2.Any()
    packed.Pack(bounded)
    return packed
