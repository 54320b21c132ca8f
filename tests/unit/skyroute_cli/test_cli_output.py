"""The CLI's human output: aligned tables with headers, colour only on a terminal
without NO_COLOR, human units, one-line errors from a gRPC status (through a real
gRPC server), hints that are runnable commands and never carry a credential."""

from __future__ import annotations

import io
import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status
from rich.text import Text

from services.errors import (
    FieldViolation,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from services.parent_death import dying_with_parent
from skyroute_cli.__main__ import main
from skyroute_cli.output import (
    Column,
    Endpoint,
    Output,
    Table,
    error_line,
    fields,
    program,
    relative_text,
    rerun,
    safe,
    span_text,
)

ESC = "\x1b["


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def plain(table: Table) -> list[str]:
    return [line.plain for line in table.lines()]


# ------------------------------------------------------------------------ tables


def test_table_aligns_cells_under_headers() -> None:
    table = Table([Column("price", "right"), "stops", "flights"])
    table.add_row("USD 376.62", "nonstop", "AA232 LHR 11:10 → JFK 14:20")
    table.add_row("USD 1035.44", "1 stop", "BA1 LHR → DUB, EI105 DUB → JFK")
    assert plain(table) == [
        "      PRICE  STOPS    FLIGHTS",
        " USD 376.62  nonstop  AA232 LHR 11:10 → JFK 14:20",
        "USD 1035.44  1 stop   BA1 LHR → DUB, EI105 DUB → JFK",
    ]


def test_detail_lines_sit_under_their_row_and_do_not_widen_columns() -> None:
    table = Table(["a", "b"], indent=2)
    table.add_row("x", "y", detail="offer " + "Z" * 80)
    table.add_row("xx", "", detail=None)
    assert plain(table) == ["  A   B", "  x   y", "    offer " + "Z" * 80, "  xx"]


def test_wide_characters_are_measured_as_the_terminal_shows_them() -> None:
    table = Table(["name", "n"])
    table.add_row("東京", "1")
    table.add_row("ab", "2")
    assert plain(table) == ["NAME  N", "東京  1", "ab    2"]


def test_key_value_fields_have_no_header() -> None:
    assert plain(fields([("expires", "in 12 m"), ("generation", "42")])) == [
        "expires     in 12 m",
        "generation  42",
    ]


def test_a_row_must_fill_every_column() -> None:
    with pytest.raises(ValueError):
        Table(["a", "b"]).add_row("only one")


# ------------------------------------------------------------------------ colour


def render(stream: io.StringIO, env: dict[str, str]) -> str:
    out = Output(stdout=stream, stderr=stream, env=env)
    table = Table(["status"])
    table.add_row(Text("CONFIRMED", style="green"))
    out.table(table)
    out.error("origin: unknown airport XXX")
    out.hint("next", "search", "price", "X")
    return stream.getvalue()


def test_colour_on_a_terminal() -> None:
    text = render(Terminal(), {"TERM": "xterm-256color"})
    assert ESC in text and "CONFIRMED" in text
    # Only the labels are styled so: the message and the command read as plain text.
    assert "error: \x1b[0morigin: unknown airport XXX\n" in text
    assert "next: \x1b[0m\x1b[36m" in text


@pytest.mark.parametrize(
    ("stream", "env"),
    [
        (io.StringIO(), {"TERM": "xterm-256color"}),  # a pipe or a file
        (Terminal(), {"TERM": "xterm-256color", "NO_COLOR": "1"}),
        (Terminal(), {"TERM": "dumb"}),
    ],
    ids=["pipe", "NO_COLOR", "dumb"],
)
def test_no_escape_codes_off_a_terminal_or_with_no_color(
    stream: io.StringIO, env: dict[str, str]
) -> None:
    text = render(stream, env)
    assert "\x1b" not in text
    assert text.splitlines()[:3] == [
        "STATUS",
        "CONFIRMED",
        "error: origin: unknown airport XXX",
    ]


def test_long_lines_are_never_wrapped_or_cut_in_a_pipe() -> None:
    stream = io.StringIO()
    Output(stdout=stream, env={}).line("offer " + "Z" * 500)
    assert stream.getvalue() == "offer " + "Z" * 500 + "\n"


def test_server_text_cannot_drive_the_terminal() -> None:
    assert safe("a\x1b[2Jb\nc\r\u202e\x9b") == "a\\x1b[2Jb\\x0ac\\x0d\\u202e\\x9b"
    stream = Terminal()
    Output(stdout=stream, stderr=stream, env={}).error("x\x1b]0;title\x07 [bold]y[/]")
    text = stream.getvalue()
    assert "\x1b]" not in text and "\x07" not in text and "[bold]y[/]" in text


def test_styled_cells_from_a_server_are_escaped_too() -> None:
    stream = Terminal()
    out = Output(stdout=stream, env={"TERM": "xterm-256color"})
    table = Table(["hotel"])
    table.add_row(Text("EVIL\x1b[2J\x1b]0;pwned\x07 INN", style="bold"))
    out.table(table)
    out.line(Text("last error \x9b31m", style="red"))
    text = stream.getvalue()
    assert "\x1b[2J" not in text and "\x07" not in text and "\x9b" not in text
    assert "EVIL\\x1b[2J\\x1b]0;pwned" in text  # (rich itself drops the BEL)
    assert "last error \\x9b31m" in text


# ------------------------------------------------------------------------ units


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59.9, "59 s"),
        (60, "1 m"),
        (12 * 60 + 59, "12 m"),
        (3600 + 5 * 60, "1 h 05 m"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_spans_in_units_people_read(seconds: float, text: str) -> None:
    assert span_text(seconds) == text


def test_relative_moments() -> None:
    assert relative_text(12 * 60 + 5) == "in 12 m"
    assert relative_text(-180) == "3 m ago"


# ------------------------------------------------------------------------ errors


SEARCH = Endpoint("search", ("127.0.0.1:50052",), 15.0)


def test_field_violations_are_the_line() -> None:
    error = {
        "code": "INVALID_ARGUMENT",
        "message": "origin: unknown airport XXX",
        "reason": "INVALID_ARGUMENT",
        "domain": "skyroute.dev",
        "field_violations": [{"field": "origin", "description": "unknown airport XXX"}],
    }
    assert error_line(error, SEARCH) == "origin: unknown airport XXX"
    error["field_violations"].append({"field": "destination", "description": "is required"})
    assert error_line(error) == "origin: unknown airport XXX; destination: is required"


def test_other_errors_say_their_reason() -> None:
    error = {
        "code": "NOT_FOUND",
        "message": "booking 'ABC234' not found",
        "reason": "BOOKING_NOT_FOUND",
        "domain": "skyroute.dev",
    }
    assert error_line(error) == "booking 'ABC234' not found (BOOKING_NOT_FOUND)"
    assert error_line({"code": "PERMISSION_DENIED", "message": "no"}) == "no (PERMISSION_DENIED)"


def test_errors_the_user_can_fix_say_how() -> None:
    error = {
        "code": "UNAUTHENTICATED",
        "message": "the token has expired",
        "reason": "TOKEN_EXPIRED",
        "domain": "skyroute.dev",
    }
    assert error_line(error) == (
        "the token has expired (TOKEN_EXPIRED): "
        "--user NAME mints a fresh development JWT from BOOKING_JWT_*"
    )
    error.update(message="invalid caller credentials", reason="CALLER_CREDENTIALS_INVALID")
    assert error_line(error).endswith(
        ": check TOKEN_CALLER_ID and TOKEN_CALLER_KEY (source .run/dev.env after make run)"
    )
    error["domain"] = "elsewhere.example"  # only our own reasons
    assert error_line(error) == "invalid caller credentials (CALLER_CREDENTIALS_INVALID)"


def test_internal_errors_carry_the_request_id_and_retry_hint() -> None:
    error = {
        "code": "INTERNAL",
        "message": "internal error",
        "reason": "INTERNAL",
        "domain": "skyroute.dev",
        "retry_delay_seconds": 2.5,
        "request_id": "abc123",
    }
    assert error_line(error) == "internal error (INTERNAL; retry in 2 s; request id abc123)"


def test_unreachable_service_gets_the_hint() -> None:
    error = {"code": "UNAVAILABLE", "message": "failed to connect to all addresses"}
    assert error_line(error, SEARCH) == (
        "cannot reach search at 127.0.0.1:50052 (is the stack running? make run)"
    )


def test_unavailable_from_our_service_is_not_a_connection_problem() -> None:
    error = {
        "code": "UNAVAILABLE",
        "message": "provider amadeus unavailable",
        "reason": "UPSTREAM_UNAVAILABLE",
        "domain": "skyroute.dev",
    }
    assert error_line(error, SEARCH) == "provider amadeus unavailable (UPSTREAM_UNAVAILABLE)"


def test_a_deadline_says_which_service_and_how_long() -> None:
    error = {"code": "DEADLINE_EXCEEDED", "message": "Deadline Exceeded", "request_id": "r1"}
    assert error_line(error, SEARCH) == (
        "search at 127.0.0.1:50052 did not answer within 15 s "
        "(--timeout SECONDS waits longer; request id r1)"
    )


# ------------------------------------------------------------------------ commands


def test_program_is_the_interpreter_as_run(tmp_path: Any) -> None:
    venv_python = str(tmp_path / ".venv" / "bin" / "python")
    assert program(str(tmp_path), venv_python) == [".venv/bin/python", "-m", "skyroute_cli"]
    elsewhere = "/nowhere/bin/python3"
    assert program(str(tmp_path), elsewhere) == [elsewhere, "-m", "skyroute_cli"]
    # This very interpreter: runnable from here as printed.
    here = program()
    assert os.access(os.path.join(os.getcwd(), here[0]), os.X_OK) or os.access(here[0], os.X_OK)


def test_rerun_sets_the_option_and_never_repeats_a_jwt() -> None:
    argv = ["booking", "list", "--jwt", "eyJsecret", "--page-token", "old", "--page-size", "2"]
    assert rerun(argv, "--page-token", "new") == [
        "booking",
        "list",
        "--jwt",
        "JWT",
        "--page-size",
        "2",
        "--page-token",
        "new",
    ]
    assert rerun(["search", "--page-token=old", "--jwt=eyJ"], "--page-token", "p") == [
        "search",
        "--jwt=JWT",
        "--page-token",
        "p",
    ]


# ------------------------------------------------------------------------ main()


class FailingSearch(spb_grpc.SearchServiceServicer):
    """Answers PriceOffer with the status the offer id names, as our services send
    them (ErrorInfo, BadRequest); SearchFlights with far more than a pipe holds."""

    def SearchFlights(
        self, request: spb.SearchFlightsRequest, context: grpc.ServicerContext
    ) -> spb.SearchFlightsResponse:
        return spb.SearchFlightsResponse(
            itineraries=[
                spb.Itinerary(offer_id=f"offer-{i}-" + "x" * 200, total_price={"units": i})
                for i in range(2000)
            ],
            total_size=2000,
        )

    def PriceOffer(self, request: spb.PriceOfferRequest, context: grpc.ServicerContext) -> Any:
        errors = {
            "bad": ValidationError(
                [FieldViolation("offer_id", "is malformed \x1b[31m"), FieldViolation("x", "y")]
            ),
            "gone": NotFoundError("offer not found", reason="OFFER_NOT_FOUND"),
            "busy": UnavailableError(
                "upstream unavailable", reason="UPSTREAM_UNAVAILABLE", retry_after_seconds=3
            ),
        }
        context.abort_with_status(rpc_status.to_status(errors[request.offer_id].to_status()))


@pytest.fixture(scope="module")
def search_address() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    spb_grpc.add_SearchServiceServicer_to_server(FailingSearch(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


@pytest.mark.parametrize(
    ("offer", "line"),
    [
        ("bad", "error: offer_id: is malformed \\x1b[31m; x: y"),
        ("gone", "error: offer not found (OFFER_NOT_FOUND)"),
        ("busy", "error: upstream unavailable (UPSTREAM_UNAVAILABLE; retry in 3 s)"),
    ],
)
def test_main_prints_one_line_per_error(
    search_address: str, offer: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SEARCH_SERVICE_ADDRESSES": search_address}
    assert main(["search", "price", offer], env) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == line + "\n"


def test_main_json_errors_keep_the_details(
    search_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SEARCH_SERVICE_ADDRESSES": search_address}
    assert main(["--json", "search", "price", "busy"], env) == 1
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["code"] == "UNAVAILABLE" and error["reason"] == "UPSTREAM_UNAVAILABLE"
    assert error["retry_delay_seconds"] == 3 and error["service"] == "search"
    assert error["request_id"] and "addresses" not in error
    # --json after the command as well
    assert main(["search", "price", "gone", "--json"], env) == 1
    assert json.loads(capsys.readouterr().err)["error"]["reason"] == "OFFER_NOT_FOUND"


def test_main_against_a_closed_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        env = {"SEARCH_SERVICE_ADDRESSES": address}
        assert main(["search", "price", "x", "--timeout", "5"], env) == 1
    assert capsys.readouterr().err == (
        f"error: cannot reach search at {address} (is the stack running? make run)\n"
    )


def test_usage_errors_are_one_line_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "price", "x"], {}) == 2
    assert capsys.readouterr().err == (
        "error: SEARCH_SERVICE_ADDRESSES not set (source .run/dev.env after make run)\n"
    )


def test_hint_command_is_shell_quoted() -> None:
    stream = io.StringIO()
    Output(stdout=stream, env={}).hint("open it", "booking", "get", "it's")
    label, _, command = stream.getvalue().rstrip("\n").partition(": ")
    assert label == "open it"
    assert shlex.split(command)[-3:] == ["booking", "get", "it's"]
    assert shlex.split(command)[:3] == program()


def test_bad_usage_is_one_line_naming_the_commands_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["search", "flights", "--from", "LHR"], {}) == 2
    assert capsys.readouterr().err == (
        "error: the following arguments are required: --to, --date "
        f"(see {shlex.join(program())} search flights --help)\n"
    )
    assert main(["--json", "search", "flights", "--from", "LHR", "--date", "soon"], {}) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["code"] == "USAGE" and error["message"].startswith("argument --date: ")
    with pytest.raises(SystemExit) as exit_:  # --help is not an error
        main(["search", "--help"], {})
    assert exit_.value.code == 0


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    search_address: str, json_flag: list[str]
) -> None:
    """``... | head -1``: no traceback, the status of a broken pipe."""
    query = [*json_flag, "search", "flights", "--from", "LHR", "--to", "JFK", "--date", "+1"]
    proc = subprocess.Popen(
        dying_with_parent([sys.executable, "-m", "skyroute_cli", *query]),
        env={**os.environ, "SEARCH_SERVICE_ADDRESSES": search_address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert first == b"{\n" if json_flag else first.split()[:2] == [b"PRICE", b"DURATION"]
    proc.stdout.close()  # about 500 kB are still to come
    assert proc.wait(timeout=60) == 141, proc.stderr.read()
    assert proc.stderr.read() == b""
