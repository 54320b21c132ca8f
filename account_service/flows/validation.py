"""Checks of the caller's input, each failure naming its field (INVALID_ARGUMENT).
Messages never repeat a password or a token."""

from __future__ import annotations

import uuid

from account_service.auth.opaque import MAX_TOKEN_CHARS
from services.errors import ValidationError

MAX_EMAIL_CHARS = 254  # RFC 5321's path limit
MAX_PASSWORD_CHARS = 128
MAX_DEVICE_NAME_CHARS = 100


def email(value: str, field: str = "email") -> str:
    """The email as accounts are keyed: lower-cased (the interceptor made it NFC)."""
    if not value:
        raise ValidationError.field(field, "is required")
    if len(value) > MAX_EMAIL_CHARS:
        raise ValidationError.field(field, f"must be at most {MAX_EMAIL_CHARS} characters")
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or any(c.isspace() for c in value)
        or "@" in local
    ):
        raise ValidationError.field(field, "must be an email address (name@example.com)")
    return value.lower()


def password(value: str, min_length: int, field: str = "password") -> str:
    if not value:
        raise ValidationError.field(field, "is required")
    if len(value) < min_length:
        raise ValidationError.field(field, f"must be at least {min_length} characters")
    if len(value) > MAX_PASSWORD_CHARS:
        raise ValidationError.field(field, f"must be at most {MAX_PASSWORD_CHARS} characters")
    return value


def token(value: str, field: str) -> str:
    if not value:
        raise ValidationError.field(field, "is required")
    if len(value) > MAX_TOKEN_CHARS:
        raise ValidationError.field(field, "is not a token of this service")
    return value


def device_name(value: str) -> str:
    if len(value) > MAX_DEVICE_NAME_CHARS:
        raise ValidationError.field(
            "device_name", f"must be at most {MAX_DEVICE_NAME_CHARS} characters"
        )
    return value


def session_id(value: str) -> uuid.UUID:
    if not value:
        raise ValidationError.field("session_id", "is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationError.field("session_id", "must be a session id (a UUID)") from None
