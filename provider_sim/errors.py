"""Amadeus error bodies, codes and content types, in one place.

Amadeus uses two error shapes: the OAuth2 token endpoint answers with a flat
``{"error", "error_description", "code", "title"}`` object, every API endpoint with
``{"errors": [{"status", "code", "title", "detail", "source"?}]}``. API responses (data
and errors) are ``application/vnd.amadeus+json``, the token endpoint plain
``application/json``, as the real service does; clients must not insist on
``application/json`` for API responses.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

OAUTH_CONTENT_TYPE: Final = "application/json"
API_CONTENT_TYPE: Final = "application/vnd.amadeus+json"

# OAuth2 token endpoint.
OAUTH_INVALID_PARAMETERS: Final = 38187

# Bearer validation on API endpoints (Amadeus API gateway codes).
CODE_INVALID_TOKEN: Final = 38190
CODE_INVALID_HEADER: Final = 38191
CODE_TOKEN_EXPIRED: Final = 38192
CODE_TOKEN_REVOKED: Final = 38193
CODE_TOO_MANY_REQUESTS: Final = 38194
CODE_NOT_FOUND: Final = 38196
BEARER_401_CODES: Final = (
    CODE_INVALID_TOKEN,
    CODE_INVALID_HEADER,
    CODE_TOKEN_EXPIRED,
    CODE_TOKEN_REVOKED,
)

# Backend errors.
CODE_SYSTEM_ERROR: Final = 141
CODE_INVALID_DATE: Final = 425
CODE_INVALID_FORMAT: Final = 477
CODE_NOT_FOUND_RESOURCE: Final = 1797
CODE_PARAMETER_COMBINATION: Final = 2668
CODE_INVALID_DATA: Final = 4926
CODE_MANDATORY_DATA_MISSING: Final = 32171
CODE_SEGMENT_SELL_FAILURE: Final = 34651
CODE_PRICE_DISCREPANCY: Final = 37200


def json_response(body: Any, status: int, content_type: str) -> web.Response:
    """A JSON response with an explicit content type (``web.json_response`` forces one)."""
    return web.Response(
        text=json.dumps(body, separators=(",", ":")),
        status=status,
        content_type=content_type,
        charset="utf-8",
    )


def oauth_error(
    status: int,
    error: str,
    description: str,
    code: int = OAUTH_INVALID_PARAMETERS,
    title: str = "Invalid parameters",
) -> web.Response:
    """Token endpoint error in the flat OAuth2 shape Amadeus uses."""
    body = {"error": error, "error_description": description, "code": code, "title": title}
    return json_response(body, status, OAUTH_CONTENT_TYPE)


def api_error(
    status: int,
    code: int,
    title: str,
    detail: str | None = None,
    parameter: str | None = None,
    content_type: str = API_CONTENT_TYPE,
) -> web.Response:
    """One-entry ``errors[]`` body, the shape of every Amadeus API error."""
    entry: dict[str, Any] = {"status": status, "code": code, "title": title}
    if detail is not None:
        entry["detail"] = detail
    if parameter is not None:
        entry["source"] = {"parameter": parameter}
    return json_response({"errors": [entry]}, status, content_type)


class ApiError(Exception):
    """An Amadeus API error raised deep in request handling; ``response()`` renders it.

    ``parameter`` names a query parameter (GET), ``pointer`` a JSON pointer into the
    request body (POST), as Amadeus does in ``errors[].source``.
    """

    def __init__(
        self,
        status: int,
        code: int,
        title: str,
        detail: str,
        parameter: str | None = None,
        pointer: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.parameter, self.pointer = parameter, pointer

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }
        if self.parameter is not None:
            entry["source"] = {"parameter": self.parameter}
        elif self.pointer is not None:
            entry["source"] = {"pointer": self.pointer}
        return entry

    def response(self) -> web.Response:
        return json_response({"errors": [self.entry()]}, self.status, API_CONTENT_TYPE)


def bearer_error(code: int) -> web.Response:
    """401 for a rejected Authorization header, by Amadeus gateway code."""
    title, detail = _BEARER_MESSAGES[code]
    return api_error(401, code, title, detail)


_BEARER_MESSAGES: Final[dict[int, tuple[str, str]]] = {
    CODE_INVALID_HEADER: (
        "Invalid HTTP header",
        "Missing or invalid format for mandatory Authorization header",
    ),
    CODE_INVALID_TOKEN: (
        "Invalid access token",
        "The access token provided in the Authorization header is invalid",
    ),
    CODE_TOKEN_EXPIRED: (
        "Access token expired",
        "The access token is expired",
    ),
    CODE_TOKEN_REVOKED: (
        "Access token revoked",
        "The access token was revoked",
    ),
}


def injected_failure(status: int, content_type: str = API_CONTENT_TYPE) -> web.Response:
    """The body Amadeus sends for a rate limit (429) or a backend failure (5xx)."""
    if status == 429:
        return api_error(
            429,
            CODE_TOO_MANY_REQUESTS,
            "Too many requests",
            "The network rate limit is exceeded, please try again later",
            content_type=content_type,
        )
    return api_error(
        status, CODE_SYSTEM_ERROR, "SYSTEM ERROR HAS OCCURRED", content_type=content_type
    )


def not_found() -> web.Response:
    return api_error(
        404, CODE_NOT_FOUND, "Resource not found", "The targeted resource doesn't exist"
    )
