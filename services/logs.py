"""Structured JSON logs (one object per line, ``severity`` and ``timestamp``).

A redacting filter replaces any registered secret or token value with
``[REDACTED]`` as a last line of defence; code must still never log them. Lines are
bounded: each field is cut (a caller's 1 MB value must not become a 1 MB line) and, if
the line is still too long, the extra fields are cut shorter, then dropped.
"""

from __future__ import annotations

import collections
import json
import logging
import sys
import threading
import time
from typing import Any

from services.context import caller_var, request_id_var

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


# Shorter values (e.g. a development database password such as "skyroute") would
# also match ordinary words in log lines; real secrets and tokens are much longer.
MIN_SCRUBBED_LENGTH = 12


class Redactor(logging.Filter):
    """Scrubs known secret values from every record that passes the handler."""

    def __init__(self, max_values: int = 256) -> None:
        super().__init__()
        self._values: collections.deque[str] = collections.deque(maxlen=max_values)
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) < MIN_SCRUBBED_LENGTH:
            return  # too short to scrub without mangling ordinary text
        with self._lock:
            if value not in self._values:
                self._values.append(value)

    def scrub(self, text: str) -> str:
        for value in tuple(self._values):
            if value in text:
                text = text.replace(value, "[REDACTED]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._values:
            record.msg = self.scrub(record.getMessage())
            record.args = None
            for key, value in list(record.__dict__.items()):
                if key not in _STANDARD_ATTRS and isinstance(value, str):
                    setattr(record, key, self.scrub(value))
            if record.exc_info:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


# Bounds in characters of the JSON text (escapes count: "\u2026" is six).
FIELD_CHARS = 2048
EXCEPTION_CHARS = 8192  # a traceback keeps its head and its tail, the exception itself
LINE_CHARS = 16384
SHORT_FIELD_CHARS = 256  # per field when the line would exceed LINE_CHARS
_PRIMITIVES = (bool, int, float, type(None))
_ELIDED = "…"


def _escaped_len(text: str) -> int:
    return len(json.dumps(text)) - 2


def cap_text(text: str, limit: int, *, keep_tail: bool = False) -> str:
    """``text`` cut so that its JSON form has at most ``limit`` characters, marked "…".
    ``keep_tail`` keeps the end too (a traceback's last line names the exception)."""
    if len(text) * 12 <= limit:  # no escape is longer than 12 characters: fast path
        return text
    if _escaped_len(text) <= limit:
        return text
    keep = min(len(text), limit)
    while True:
        keep = keep * 3 // 4
        if keep_tail:
            cut = text[: keep // 4] + _ELIDED + text[len(text) - (keep - keep // 4) :]
        else:
            cut = text[:keep] + _ELIDED
        if keep == 0 or _escaped_len(cut) <= limit:
            return cut


def cap_value(value: Any, limit: int) -> Any:
    """A log field's value with its JSON form bounded by ``limit`` characters."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, str):
        return cap_text(value, limit)
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return value
    return cap_text(text, limit)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, replica: str) -> None:
        super().__init__()
        self._static = {"service": service, "replica": replica}

    def format(self, record: logging.LogRecord) -> str:
        payload = self._payload(record)
        exception = payload.pop("exception", None)
        capped = {k: cap_value(v, FIELD_CHARS) for k, v in payload.items()}
        if exception is not None:
            capped["exception"] = cap_text(exception, EXCEPTION_CHARS, keep_tail=True)
        line = json.dumps(capped, default=str)
        if len(line) <= LINE_CHARS:
            return line
        # Too many long fields: cut every one shorter; then, as a last resort, keep only
        # the fixed fields and say so.
        short = {k: cap_value(v, SHORT_FIELD_CHARS) for k, v in payload.items()}
        if exception is not None:
            short["exception"] = cap_text(exception, LINE_CHARS // 2, keep_tail=True)
        line = json.dumps({**short, "truncated": True}, default=str)
        if len(line) <= LINE_CHARS:
            return line
        fixed = (
            "timestamp",
            "severity",
            "logger",
            "message",
            "service",
            "replica",
            "request_id",
            "caller",
        )
        return json.dumps(
            {**{k: short[k] for k in fixed if k in short}, "truncated": True}, default=str
        )

    def _payload(self, record: logging.LogRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        caller = caller_var.get()
        if caller:
            payload["caller"] = caller
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            payload["exception"] = record.exc_text
        return payload


def configure_logging(service: str, replica: str, level: str = "INFO") -> Redactor:
    """Route all logging to stderr as JSON; returns the redactor to register secrets."""
    redactor = Redactor()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, replica))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers that would print request URLs or bodies at debug level.
    for noisy in ("aiohttp.access", "asyncio", "redis"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
