"""Structured JSON logs (one object per line, ``severity`` and ``timestamp``).

A redacting filter replaces any registered secret or token value with
``[REDACTED]`` as a last line of defence; code must still never log them.
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


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, replica: str) -> None:
        super().__init__()
        self._static = {"service": service, "replica": replica}

    def format(self, record: logging.LogRecord) -> str:
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
        return json.dumps(payload, default=str)


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
