"""JSON log lines and the redacting filter."""

from __future__ import annotations

import json
import logging
import re
import sys

from services.context import caller_var, request_id_var
from services.logs import JsonFormatter, Redactor

SECRET = "tok_9d8f7e6a5b4c3d2e1f"


def _record(msg: str, *args: object, exc_info: object = None, **extra: object
            ) -> logging.LogRecord:
    record = logging.LogRecord("skyroute.test", logging.WARNING, __file__, 1, msg, args,
                               exc_info)  # type: ignore[arg-type]
    record.__dict__.update(extra)
    return record


def _format(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter("token", "token-1").format(record))


def test_json_line_has_severity_timestamp_message_and_request_id() -> None:
    token = request_id_var.set("req-123")
    caller = caller_var.set("search")
    try:
        line = _format(_record("served %s tokens", 3, provider="amadeus"))
    finally:
        request_id_var.reset(token)
        caller_var.reset(caller)
    assert line["severity"] == "WARNING"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert line["message"] == "served 3 tokens"
    assert line["request_id"] == "req-123"
    assert line["caller"] == "search"
    assert line["provider"] == "amadeus"
    assert (line["service"], line["replica"], line["logger"]) == (
        "token", "token-1", "skyroute.test")


def test_no_request_id_outside_a_request() -> None:
    assert "request_id" not in _format(_record("startup"))


def test_exception_is_formatted() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        line = _format(_record("failed", exc_info=sys.exc_info()))
    assert "Traceback" in line["exception"]
    assert "ValueError: boom" in line["exception"]


def test_redactor_scrubs_message_and_arguments() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    record = _record("got %s from upstream", f"Bearer {SECRET}")
    assert redactor.filter(record)
    line = _format(record)
    assert SECRET not in json.dumps(line)
    assert line["message"] == "got Bearer [REDACTED] from upstream"


def test_redactor_scrubs_exception_text() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    try:
        raise RuntimeError(f"upstream said {SECRET} is bad")
    except RuntimeError:
        record = _record("failed", exc_info=sys.exc_info())
    redactor.filter(record)
    line = _format(record)
    assert SECRET not in json.dumps(line)
    assert "upstream said [REDACTED] is bad" in line["exception"]
    assert "Traceback" in line["exception"]


def test_redactor_through_a_handler() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(JsonFormatter("token", "token-1"))
    handler.addFilter(redactor)
    logger = logging.getLogger("skyroute.test.redactor")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s rejected", SECRET)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert len(lines) == 1
    assert SECRET not in lines[0]
    assert "[REDACTED]" in lines[0]


def test_short_values_are_not_registered() -> None:
    redactor = Redactor()
    redactor.add("abc")
    assert redactor.scrub("abc abc") == "abc abc"
