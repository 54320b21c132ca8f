"""Per-request context carried through logs and onward calls."""

from __future__ import annotations

import contextvars
import secrets

REQUEST_ID_HEADER = "x-request-id"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
caller_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller", default=None)


def new_request_id() -> str:
    return secrets.token_hex(8)


def current_request_id() -> str | None:
    return request_id_var.get()
