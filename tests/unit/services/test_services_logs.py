"""JSON log lines and the redacting filter."""

from __future__ import annotations

import json
import logging
import re
import sys

from services.context import caller_var, request_id_var
from services.logs import EXCEPTION_CHARS, FIELD_CHARS, LINE_CHARS, JsonFormatter, Redactor

SECRET = "tok_9d8f7e6a5b4c3d2e1f"


def _record(msg: str, *args: object, exc_info: object = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("skyroute.test", logging.WARNING, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
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
        "token",
        "token-1",
        "skyroute.test",
    )


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


def _line(record: logging.LogRecord) -> str:
    return JsonFormatter("token", "token-1").format(record)


def test_a_huge_field_is_cut_and_the_line_stays_bounded() -> None:
    text = _line(_record("caller %s denied", "p" * 1_000_000, provider="p" * 1_000_000))
    assert len(text) <= LINE_CHARS
    line = json.loads(text)
    assert line["provider"].startswith("pppp") and line["provider"].endswith("…")
    assert len(json.dumps(line["provider"])) - 2 <= FIELD_CHARS
    assert line["message"].startswith("caller ppp")


def test_escapes_count_towards_the_bound() -> None:
    # Each of these becomes a 6-character escape in the JSON text.
    line = _line(_record("x", error="\u2028" * 100_000))
    assert len(json.loads(line)["error"]) * 6 <= FIELD_CHARS + 6
    astral = _line(_record("x", error="\U0001f600" * 100_000))  # 12 characters each
    assert len(astral) <= FIELD_CHARS + 300


def test_many_long_fields_are_cut_shorter_then_dropped() -> None:
    many = {f"field{i}": "v" * 5000 for i in range(20)}
    text = _line(_record("many", **many))
    assert len(text) <= LINE_CHARS
    line = json.loads(text)
    assert line["truncated"] is True and line["message"] == "many"
    hundreds = {f"field{i}": "v" * 5000 for i in range(200)}
    text = _line(_record("hundreds", **hundreds))
    assert len(text) <= LINE_CHARS
    assert json.loads(text)["truncated"] is True


def test_long_traceback_keeps_its_head_and_its_last_line() -> None:
    try:
        raise ValueError("v" * 100_000 + " the end")
    except ValueError:
        line = json.loads(_line(_record("failed", exc_info=sys.exc_info())))
    assert line["exception"].startswith("Traceback")
    assert line["exception"].endswith(" the end")
    assert len(json.dumps(line["exception"])) - 2 <= EXCEPTION_CHARS


def test_ordinary_lines_are_unchanged() -> None:
    line = json.loads(
        _line(_record("served", provider="amadeus", count=3, codes=["A", "B"], ok=True))
    )
    assert (line["provider"], line["count"], line["codes"], line["ok"]) == (
        "amadeus",
        3,
        ["A", "B"],
        True,
    )
    assert "truncated" not in line
