"""One JSON line per request on stderr: method, path, status, latency. Nothing secret.

Only those four fields are logged: never headers (Authorization), query strings or
bodies (client secrets, tokens). The token info path carries a token, so matched routes
are logged by their template (``/v1/security/oauth2/token/{access_token}``); unmatched
paths are logged with any segment long enough to be a credential masked.
The format (``timestamp``, ``severity``, ``logger``, ``message``) matches the platform's
services so one log pipeline reads them all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

SERVICE_NAME: Final = "provider-sim"
ACCESS_LOGGER: Final = logging.getLogger("provider_sim.access")
# Shorter than any token the simulator issues (43 chars) or a realistic client secret.
_MAX_PLAIN_SEGMENT: Final = 20
# nginx's convention for "client went away before the response".
_CLIENT_CLOSED: Final = 499

_STANDARD_ATTRS: Final = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = _CLIENT_CLOSED
        raise
    finally:
        ACCESS_LOGGER.info(
            "request",
            extra={
                "method": request.method,
                "path": loggable_path(request),
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )


def loggable_path(request: web.Request) -> str:
    """The route template when one matched, else the path with long segments masked."""
    resource = request.match_info.route.resource
    if resource is not None:
        return resource.canonical
    return "/".join(
        "{redacted}" if len(segment) > _MAX_PLAIN_SEGMENT else segment
        for segment in request.path.split("/")
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": SERVICE_NAME,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route all logging to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log would print full URLs, query strings included.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
