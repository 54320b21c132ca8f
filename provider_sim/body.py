"""Reading JSON request bodies of API endpoints, with Amadeus errors that point at the field.

Every helper takes the JSON pointer of the value it reads (``/data/flightOffers[0]``,
Amadeus' notation) and raises ``ApiError``: 32171 MANDATORY DATA MISSING for an absent
field, 477 INVALID FORMAT for a wrong type or shape, 4926 INVALID DATA RECEIVED for a
well-formed but unacceptable value (callers raise that one through ``invalid_data``).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Final

from aiohttp import web

from provider_sim.errors import (
    CODE_INVALID_DATA,
    CODE_INVALID_FORMAT,
    CODE_MANDATORY_DATA_MISSING,
    ApiError,
)

_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def missing(pointer: str) -> ApiError:
    return ApiError(
        400,
        CODE_MANDATORY_DATA_MISSING,
        "MANDATORY DATA MISSING",
        "This attribute is required",
        pointer=pointer,
    )


def invalid_format(detail: str, pointer: str) -> ApiError:
    return ApiError(400, CODE_INVALID_FORMAT, "INVALID FORMAT", detail, pointer=pointer)


def invalid_data(detail: str, pointer: str) -> ApiError:
    return ApiError(400, CODE_INVALID_DATA, "INVALID DATA RECEIVED", detail, pointer=pointer)


async def read_json(request: web.Request) -> Any:
    text = await request.text()
    if not text.strip():
        raise missing("/")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid_format(f"Request body is not valid JSON: {exc.msg}", "/") from None


def obj(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_format("Expected a JSON object", pointer)
    return value


def field(parent: dict[str, Any], name: str, pointer: str, required: bool = True) -> Any:
    value = parent.get(name)
    if value is None and required:
        raise missing(f"{pointer}/{name}")
    return value


def string(parent: dict[str, Any], name: str, pointer: str, required: bool = True) -> str | None:
    value = field(parent, name, pointer, required)
    if value is None:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid_format("Expected a non-empty string", f"{pointer}/{name}")
    return value


def required_string(parent: dict[str, Any], name: str, pointer: str) -> str:
    value = string(parent, name, pointer)
    assert value is not None
    return value


def array(
    parent: dict[str, Any], name: str, pointer: str, required: bool = True, minimum: int = 1
) -> list[Any]:
    value = field(parent, name, pointer, required)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_format("Expected an array", f"{pointer}/{name}")
    if len(value) < minimum:
        raise missing(f"{pointer}/{name}")
    return value


def integer(parent: dict[str, Any], name: str, pointer: str, required: bool = True) -> int | None:
    value = field(parent, name, pointer, required)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_format("Expected an integer", f"{pointer}/{name}")
    return value


def iso_date(text: str) -> date | None:
    """A strict YYYY-MM-DD calendar date, else None."""
    if not _DATE_RE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
