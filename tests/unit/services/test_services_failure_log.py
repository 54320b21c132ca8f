"""Failed-RPC lines during an outage: the first of each kind, then a count at most once
per interval (a fake clock), never a line per call."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest

from services.context import request_id_var
from services.failure_log import FailureLog
from tests.utils.probe import Running, eventually

GET = "/skyroute.token.v1.TokenService/GetToken"
DOWN = (GET, "UNAVAILABLE", "TOKEN_ENDPOINT_UNAVAILABLE")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("skyroute.test.failures")
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def failures(clock: Clock) -> FailureLog:
    return FailureLog(logging.getLogger("skyroute.test.failures"), interval=10, clock=clock)


def fail(
    failures: FailureLog,
    kind: tuple[str, str, str] = DOWN,
    level: int = logging.INFO,
    exc: BaseException | None = None,
) -> None:
    failures.failed(
        kind,
        level,
        "rpc failed",
        {"method": kind[0], "code": kind[1], "reason": kind[2]},
        exc_info=exc,
    )


def summaries(lines: list[logging.LogRecord]) -> list[tuple[str, int]]:
    return [
        (r.reason, r.suppressed)
        for r in lines  # type: ignore[attr-defined]
        if r.getMessage() == "rpc failures suppressed"
    ]


def test_an_outage_logs_the_first_failure_then_a_count_per_interval(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    fail(failures)
    assert [r.getMessage() for r in lines] == ["rpc failed"]
    for _ in range(1469):  # ~11 s of an outage at 130 calls/s
        clock.now += 11 / 1470
        fail(failures)
    assert len(lines) == 2
    assert summaries(lines) == [("TOKEN_ENDPOINT_UNAVAILABLE", lines[1].suppressed)]
    assert 1300 < lines[1].suppressed < 1469  # type: ignore[attr-defined]
    assert lines[1].seconds >= 10  # type: ignore[attr-defined]


def test_the_last_count_comes_out_with_any_later_call_after_the_interval(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    fail(failures)
    for _ in range(5):
        fail(failures)
    failures.tick()  # a success at once: no line yet
    clock.now += 9.9
    failures.tick()
    assert summaries(lines) == []
    clock.now += 0.2
    failures.tick()
    assert summaries(lines) == [("TOKEN_ENDPOINT_UNAVAILABLE", 5)]
    # Quiet for an interval: forgotten, so the next failure is logged in full.
    clock.now += 10
    failures.tick()
    fail(failures)
    assert [r.getMessage() for r in lines] == [
        "rpc failed",
        "rpc failures suppressed",
        "rpc failed",
    ]


def test_a_new_code_or_reason_is_logged_at_once(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    fail(failures)
    fail(failures)
    fail(failures, (GET, "DEADLINE_EXCEEDED", "TOKEN_WAIT_TIMEOUT"))
    fail(failures, (GET, "UNAVAILABLE", "REDIS_UNAVAILABLE"))
    fail(failures, ("/skyroute.token.v1.TokenService/GetTokenStatus", *DOWN[1:]))
    assert [getattr(r, "reason", None) for r in lines] == [
        "TOKEN_ENDPOINT_UNAVAILABLE",
        "TOKEN_WAIT_TIMEOUT",
        "REDIS_UNAVAILABLE",
        "TOKEN_ENDPOINT_UNAVAILABLE",
    ]


def test_failures_interleaved_with_successes_stay_bounded(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    for _ in range(1100):  # 11 s: one provider down, another fine, same method
        clock.now += 0.005
        fail(failures)
        clock.now += 0.005
        failures.tick()
    assert len(lines) == 2  # the first, one count


def test_the_first_internal_error_keeps_its_traceback(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    kind = (GET, "INTERNAL", "RuntimeError")
    fail(failures, kind, logging.ERROR, RuntimeError("first"))
    fail(failures, kind, logging.ERROR, RuntimeError("second"))
    clock.now += 10
    failures.tick()
    first, count = lines
    assert first.levelno == logging.ERROR and first.exc_info is not None
    assert count.levelno == logging.ERROR and count.suppressed == 1  # type: ignore[attr-defined]


def test_a_count_does_not_borrow_the_current_calls_request_id(
    failures: FailureLog, clock: Clock, lines: list[logging.LogRecord]
) -> None:
    seen: list[str | None] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(request_id_var.get())

    logger = logging.getLogger("skyroute.test.failures")
    spy = Spy()
    logger.addHandler(spy)
    token = request_id_var.set("req-of-another-call")
    try:
        fail(failures)
        fail(failures)
        clock.now += 10
        failures.tick()
    finally:
        request_id_var.reset(token)
        logger.removeHandler(spy)
    assert seen == ["req-of-another-call", None]


async def test_the_interceptor_logs_a_burst_of_failures_once(
    running: Running, rpc_log: list[dict]
) -> None:
    for _ in range(30):
        with pytest.raises(grpc.aio.AioRpcError):
            await running.unary("Missing")(b"", timeout=5)
    await eventually(lambda: running.handled("Missing", "NOT_FOUND") == 30)
    assert [line["message"] for line in rpc_log] == ["rpc failed"]
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError):
            await running.unary("Boom")(b"", timeout=5)
    errors = [line for line in rpc_log if line["severity"] == "ERROR"]
    assert len(errors) == 1 and "Traceback" in errors[0]["exception"]
