"""The one domain exception hierarchy, and its mapping to gRPC status.

Logic raises these; the error interceptor turns them into a status with an
``ErrorInfo`` (UPPER_SNAKE reason, AIP-193) and, for validation, ``BadRequest``
field violations. Messages must never contain secrets or token values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "skyroute.dev"
# Violations sent back at most: a request with thousands of bad items (5,000 repeated
# offer ids) would otherwise get a status trailer over the client's metadata limit,
# and the caller would see RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT.
MAX_VIOLATIONS = 20


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

    def __init__(self, violations: Sequence[FieldViolation] | FieldViolation, **kwargs: object
                 ) -> None:
        if isinstance(violations, FieldViolation):
            violations = [violations]
        violations = list(violations)
        self.violations = violations[:MAX_VIOLATIONS]
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
                    field=v.field, description=v.description)
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [*super().details(), packed]


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
