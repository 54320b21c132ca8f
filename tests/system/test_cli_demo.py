"""The demo CLI (``python -m skyroute_cli``) as a user runs it, against the stack of
test_booking_end_to_end (provider stand-in, token, search and booking replicas as
processes): search, price, book, confirm, open the itinerary link, list, cancel, the
token commands; tables with headers, hints run exactly as printed, colour only on a
terminal; what bad usage (exit 2) and a failed call (exit 1: one line on stderr, or
the details as JSON with --json) print, and the hint for a service nobody answers.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from booking_service.dev_token import mint
from booking_service.settings import JwtSettings
from tests.system import test_booking_end_to_end as e2e
from tests.system.test_booking_end_to_end import TOMORROW, Stack
from tests.utils.booking_cluster import AUDIENCE, ISSUER
from tests.utils.pgbouncer import DIRECT
from tests.utils.processes import ROOT

# That module's fixture: a stack of our own for this module's tests, with the same
# checks of the services' logs on teardown; straight to PostgreSQL only (the CLI does
# not see the services' database path; test_booking_end_to_end covers PgBouncer).
stack = e2e.stack
pytestmark = pytest.mark.parametrize("stack", [DIRECT], indirect=True)

PASSENGER = "Alice Smith,1990-01-31,ADULT,PASSPORT:X1234567:GB:2036-01-31"


def cli_env(stack: Stack, **extra: str) -> dict[str, str]:
    """What `source .run/dev.env` gives a terminal, for this stack."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "SEARCH_SERVICE_ADDRESSES": ",".join(stack.search.addresses),
        "BOOKING_SERVICE_ADDRESSES": ",".join(stack.booking.addresses),
        "BOOKING_JWT_SECRET": stack.booking.secret,
        "BOOKING_JWT_ISSUER": ISSUER,
        "BOOKING_JWT_AUDIENCE": AUDIENCE,
        **extra,
    }


def cli(env: Mapping[str, str], *argv: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    return run(env, [sys.executable, "-m", "skyroute_cli", *argv], expect)


def run_hint(
    env: Mapping[str, str], output: str, label: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """Runs the command after ``label: `` in ``output`` exactly as printed (through a
    shell, from the checkout as the README's session does)."""
    [line] = [ln for ln in output.splitlines() if ln.startswith(f"{label}: ")]
    command = line.removeprefix(f"{label}: ")
    assert shlex.split(command)[:3] == [".venv/bin/python", "-m", "skyroute_cli"], command
    return run(env, ["/bin/sh", "-c", command], expect)


def run(env: Mapping[str, str], argv: list[str], expect: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == expect, (argv, proc.stdout, proc.stderr)
    jwt = env.get("SKYROUTE_USER_JWT")
    assert not jwt or jwt not in proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr  # not a terminal: no colour codes
    if expect == 1 and "--json" not in argv:  # one line, no traceback, no JSON dump
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")
    return proc


def cli_json(env: Mapping[str, str], *argv: str) -> Any:
    return json.loads(cli(env, *argv, "--json").stdout)


def kv(text: str) -> dict[str, str]:
    """A key/value listing (keys aligned, two or more spaces before the value)."""
    pairs = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def rpc_error(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(proc.stderr)["error"]
    return error


def test_search_book_confirm_and_open_the_itinerary(stack: Stack) -> None:
    env = cli_env(stack)
    # The tiny seed flies LHR-JFK on some days of the coming week.
    for days in range(1, 8):
        date = (TOMORROW + timedelta(days=days)).isoformat()
        found = cli_json(
            env,
            "search",
            "flights",
            "--from",
            "LHR",
            "--to",
            "JFK",
            "--date",
            date,
            "--page-size",
            "100",
        )
        if found["itineraries"]:
            break
    else:
        raise AssertionError("no LHR-JFK itineraries in the tiny seed")
    first = found["itineraries"][0]
    segment = first["journeys"][0]["segments"][0]
    assert first["source"] == "SOURCE_INVENTORY" and found["next_page_token"] == ""
    # --json before the command is the same output.
    again = json.loads(
        cli(
            env, "--json", "search", "flights", "--from", "LHR", "--to", "JFK", "--date", date
        ).stdout
    )
    assert [i["offer_id"] for i in again["itineraries"]] == [
        i["offer_id"] for i in found["itineraries"][:20]
    ]

    query = ("search", "flights", "--from", "LHR", "--to", "JFK", "--date", date)
    listing = cli(env, *query, "--page-size", "1").stdout
    header, line, offer_line, *rest = listing.splitlines()
    assert header.split() == ["PRICE", "DURATION", "STOPS", "FLIGHTS", "(LOCAL", "TIMES)", "SOURCE"]
    total = first["total_price"]
    assert line.startswith(f"{total['currency_code']} ")
    assert f"{segment['flight_designator']} LHR {segment['departure_local_time'][11:16]}" in line
    assert "→ JFK" in line and line.endswith("inventory")
    # Columns line up under their headers (left-aligned ones start where it starts).
    for name in ("DURATION", "STOPS", "FLIGHTS", "SOURCE"):
        at = header.index(name)
        assert line[at - 2 : at] == "  " and line[at] != " ", (name, header, line)
    assert line.index("  ") == header.index("PRICE") + len("PRICE")  # right-aligned
    assert offer_line == f"  offer {first['offer_id']}"
    assert rest[0] == f"1 of {found['total_size']} itineraries"
    assert rest[-1].startswith("price one: ")
    if found["total_size"] > 1:
        # The next page, as printed, shows the second itinerary.
        second = run_hint(env, listing, "next page").stdout.splitlines()
        assert second[0] == header
        assert second[2] == f"  offer {found['itineraries'][1]['offer_id']}"

    # The price hint runs as printed and prices the first offer.
    priced = run_hint(env, listing, "price one").stdout
    rows = kv(priced)
    assert rows["price"].startswith(f"{total['currency_code']} ")
    assert rows["price"].endswith(" (unchanged)") and rows["available"] == "yes"
    assert rows["guaranteed"].startswith("in ")
    offer = priced.splitlines()[-1].removeprefix("  offer to book ")
    assert offer and " " not in offer

    # --user mints the JWT in-process from BOOKING_JWT_*; the later calls take one from
    # SKYROUTE_USER_JWT (quicker: minting imports the booking service's settings).
    user = ("--user", "alice")
    create = (
        "booking",
        "create",
        *user,
        "--offer",
        offer,
        "--passenger",
        PASSENGER,
        "--email",
        "alice@example.com",
        "--phone",
        "+442071234567",
        "--request-id",
        "cli-demo-1",
    )
    held = cli_json(env, *create)["booking"]
    assert held["status"] == "BOOKING_STATUS_HELD" and held["request_id"] == "cli-demo-1"
    assert held["passengers"][0]["document"]["number"] == "X1234567"
    ref = held["booking_reference"]
    # The same request id again: the same booking, now as a person reads it.
    shown_held = cli(env, *create).stdout
    lines = shown_held.splitlines()
    assert lines[0].startswith(f"booking {ref}  HELD  ") and "hold expires in " in lines[0]
    assert lines[1].split() == ["FLIGHT", "(LOCAL", "TIMES)", "CABIN", "SEATS", "PRICE", "FARE"]
    assert lines[3].split() == ["PASSENGER", "TYPE", "BORN", "DOCUMENT", "TICKET"]
    assert lines[4].split() == ["Alice", "Smith", "ADULT", "1990-01-31", "PASSPORT", "****4567"]
    assert "X1234567" not in shown_held
    assert lines[-1] == (
        f"confirm: .venv/bin/python -m skyroute_cli booking confirm {ref} --user alice "
        "--payment-token tok_visa"
    )

    # The confirm hint, pasted as printed, confirms (it acts as alice: --user).
    confirmed = run_hint(env, shown_held, "confirm").stdout
    assert confirmed.startswith(f"booking {ref}  CONFIRMED  ")
    assert "TICKET" in confirmed and "****4567" in confirmed and "X1234567" not in confirmed
    assert "itinerary link: expires in " in confirmed
    opened = run_hint(env, confirmed, "open it").stdout  # no user needed
    link = confirmed.splitlines()[-1].split()[-1]
    assert json.loads(opened)["booking_reference"] == ref
    alice = mint(JwtSettings.from_env(env), "alice", 600)
    env = cli_env(stack, SKYROUTE_USER_JWT=alice)
    # Confirming again is a no-op that returns the confirmed booking.
    again = cli_json(env, "booking", "confirm", ref, "--payment-token", "tok_visa")
    assert again["booking"]["status"] == "BOOKING_STATUS_CONFIRMED"

    itinerary = json.loads(cli(env, "booking", "itinerary", link).stdout)
    assert itinerary["booking_reference"] == ref
    assert itinerary["itinerary"]["segments"][0]["flight"] == segment["flight_designator"]
    text = cli(env, "booking", "itinerary", link, "--text").stdout
    assert ref in text and "SKYROUTE ITINERARY" in text

    shown = cli(env, "booking", "get", ref).stdout
    assert shown.splitlines()[0].startswith(f"booking {ref}  CONFIRMED")
    listed = cli(env, "booking", "list", "--status", "confirmed").stdout.splitlines()
    assert listed[0].split() == ["REFERENCE", "STATUS", "TOTAL", "ROUTE", "DEPARTS", "CREATED"]
    assert listed[1].startswith(f"{ref}     CONFIRMED  ") and "LHR→JFK" in listed[1]
    assert listed[1].endswith(" ago")
    assert cli(env, "booking", "list", "--status", "cancelled").stdout == "no bookings\n"
    fresh = cli_json(env, "booking", "link", ref)["itinerary_link"]
    assert fresh["download_token"] and fresh["download_token"] != link

    # Another user does not see the booking (cli() checks no JWT is ever printed).
    bob = mint(JwtSettings.from_env(env), "bob", 600)
    bob_env = cli_env(stack, SKYROUTE_USER_JWT=bob)
    other = cli(bob_env, "booking", "get", ref, "--json", expect=1)
    assert (rpc_error(other)["code"], rpc_error(other)["reason"]) == (
        "NOT_FOUND",
        "BOOKING_NOT_FOUND",
    )
    assert cli(bob_env, "booking", "get", ref, expect=1).stderr.endswith(" (BOOKING_NOT_FOUND)\n")

    cancelled = cli(env, "booking", "cancel", ref).stdout
    assert cancelled.startswith(f"booking {ref}  CANCELLED  ")
    assert any(ln.split()[0] == "refund" for ln in cancelled.splitlines())
    gone = cli(env, "booking", "itinerary", link, "--json", expect=1)
    assert rpc_error(gone)["reason"] == "BOOKING_NOT_CONFIRMED"
    assert "BOOKING_NOT_CONFIRMED" in cli(env, "booking", "itinerary", link, expect=1).stderr


def test_usage_and_rpc_errors(stack: Stack) -> None:
    env = cli_env(stack)
    date = (TOMORROW + timedelta(days=2)).isoformat()

    bad = cli(
        env,
        "booking",
        "create",
        "--user",
        "alice",
        "--offer",
        "x",
        "--email",
        "a@example.com",
        "--passenger",
        "Alice,1990-01-31",
        expect=2,
    )
    assert (
        "argument --passenger: 'Alice,1990-01-31': give the given and the family name" in bad.stderr
    )
    bad = cli(
        env,
        "booking",
        "create",
        "--user",
        "alice",
        "--offer",
        "x",
        "--email",
        "a@example.com",
        "--passenger",
        "Alice Smith,1990-01-31,PASSPORT:X1",
        expect=2,
    )
    assert "TYPE:NUMBER:COUNTRY:EXPIRY" in bad.stderr
    nobody = cli(env, "booking", "list", expect=2)
    assert nobody.stderr.startswith("error: ") and len(nobody.stderr.splitlines()) == 1
    assert "--user NAME" in nobody.stderr and "SKYROUTE_USER_JWT" in nobody.stderr
    unset = cli({"PATH": env["PATH"]}, "search", "price", "x", expect=2)
    assert unset.stderr == (
        "error: SEARCH_SERVICE_ADDRESSES not set (source .run/dev.env after make run)\n"
    )
    unset = cli({"PATH": env["PATH"]}, "--json", "search", "price", "x", expect=2)
    assert json.loads(unset.stderr)["error"]["code"] == "USAGE"

    query = ("search", "flights", "--from", "XXX", "--to", "JFK", "--date", date)
    unknown = cli(env, *query, expect=1)
    assert unknown.stderr == "error: origin: unknown airport XXX\n" and unknown.stdout == ""
    error = rpc_error(cli(env, *query, "--json", expect=1))
    assert error["code"] == "INVALID_ARGUMENT" and error["request_id"]
    assert error["field_violations"] == [{"field": "origin", "description": "unknown airport XXX"}]

    # A credential the service refuses: the line says how to get a good one.
    refused = cli(cli_env(stack, SKYROUTE_USER_JWT="not.a.jwt"), "booking", "list", expect=1)
    assert refused.stderr.startswith("error: ") and refused.stderr.endswith(
        ": --user NAME mints a fresh development JWT from BOOKING_JWT_*\n"
    )
    wrong_key = {**token_env(stack, "booking"), "TOKEN_CALLER_KEY": "not-the-key"}
    refused = cli(wrong_key, "token", "status", expect=1)
    assert refused.stderr == (
        "error: invalid caller credentials (CALLER_CREDENTIALS_INVALID): check "
        "TOKEN_CALLER_ID and TOKEN_CALLER_KEY (source .run/dev.env after make run)\n"
    )

    # The shape is the CLI's to check; the values are the service's.
    undocumented = (
        "booking",
        "create",
        "--user",
        "alice",
        "--offer",
        "x",
        "--email",
        "a@example.com",
        "--passenger",
        "Alice Smith,1990-01-31",
    )
    fields = [
        v["field"]
        for v in rpc_error(cli(env, *undocumented, "--json", expect=1))["field_violations"]
    ]
    assert "passengers[0].document" in fields
    line = cli(env, *undocumented, expect=1).stderr
    assert "passengers[0].document: is required" in line


def test_a_service_nobody_answers_gets_a_hint(stack: Stack) -> None:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
        env = cli_env(stack, SEARCH_SERVICE_ADDRESSES=closed, BOOKING_SERVICE_ADDRESSES=closed)
        down = cli(env, "search", "price", "x", expect=1)
        assert down.stderr == (
            f"error: cannot reach search at {closed} (is the stack running? make run)\n"
        )
        down = cli(env, "booking", "list", "--user", "alice", expect=1)
        assert down.stderr.startswith(f"error: cannot reach booking at {closed} ")
        error = rpc_error(cli(env, "--json", "search", "price", "x", expect=1))
        assert (error["code"], error["service"], error["addresses"]) == (
            "UNAVAILABLE",
            "search",
            [closed],
        )


def token_env(stack: Stack, caller: str) -> dict[str, str]:
    return cli_env(
        stack,
        TOKEN_SERVICE_ADDRESSES=",".join(stack.tokens.addresses),
        TOKEN_CALLER_ID=caller,
        TOKEN_CALLER_KEY=stack.tokens.keys[caller],
    )


def test_token_commands_default_to_the_only_provider_and_hide_the_token(stack: Stack) -> None:
    # "booking" may use one provider (amadeus): no --provider needed.
    env = token_env(stack, "booking")
    status = cli(env, "token", "status").stdout
    rows = kv(status)
    assert rows["provider"] == "amadeus"
    got = cli(env, "token", "get").stdout
    rows = kv(got)
    assert rows["provider"] == "amadeus" and rows["type"] == "Bearer"
    assert rows["expires"].startswith("in ") and int(rows["generation"]) >= 1
    assert rows["token"].endswith("… (masked; --show-token prints it)")
    status = kv(cli(env, "token", "status").stdout)
    assert status["state"] == "green: valid token" and status["generation"] == rows["generation"]
    assert status["next refresh"].startswith("in ")
    as_json = cli_json(env, "token", "get")  # the AccessToken, as before
    assert as_json["provider"] == "amadeus" and as_json["access_token"].endswith("…")
    watched = cli(env, "token", "watch", "--count", "1").stdout.split()
    assert watched[1:6] == ["amadeus", "generation", rows["generation"], "expires", "in"]
    assert watched[-2:] == ["token", rows["token"].split()[0]]  # masked
    # No command printed an upstream token except the one asked to.
    issued = [t["access_token"] for t in stack.sim.tokens()]
    assert issued
    for argv in (("token", "get"), ("token", "status"), ("token", "watch", "--count", "1")):
        out = cli(env, *argv).stdout + cli(env, *argv, "--json").stdout
        assert not any(t in out for t in issued), argv
    shown = cli(env, "token", "get", "--show-token").stdout
    assert any(f"token       {t}\n" in shown for t in issued)

    # "search" may use two: the error lists them.
    several = cli(token_env(stack, "search"), "token", "status", expect=2)
    assert several.stderr == "error: --provider: choose one of amadeus, other\n"
    other = cli(token_env(stack, "search"), "token", "status", "--provider", "amadeus").stdout
    assert kv(other)["provider"] == "amadeus"

    # download issue prints the token (what it is for); validate and revoke say what
    # happened in words.
    issued_dl = cli(env, "download", "issue", "--resource", "itinerary/ABC234", "--ttl", "600")
    rows = kv(issued_dl.stdout)
    assert rows["resource"] == "itinerary/ABC234" and rows["expires"].startswith("in 9 m")
    assert rows["uses"] == "unlimited until it expires"
    checked = kv(cli(env, "download", "validate", rows["download token"], "--peek").stdout)
    assert checked["result"] == "valid" and checked["uses left"] == "unlimited"
    assert cli(env, "download", "revoke", rows["download token"]).stdout == "revoked\n"
    checked = kv(cli(env, "download", "validate", rows["download token"]).stdout)
    assert checked == {"result": "revoked"}


def test_colour_on_a_terminal_only(stack: Stack) -> None:
    env = token_env(stack, "booking")

    def on_a_terminal(extra: Mapping[str, str]) -> str:
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "skyroute_cli", "token", "status"],
                cwd=ROOT,
                env={**env, "TERM": "xterm-256color", **extra},
                stdout=follower,
                stderr=subprocess.PIPE,
                timeout=60,
                check=True,
            )
            assert proc.stderr == b""
            os.close(follower)
            follower = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the writer is gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode()
        finally:
            os.close(leader)
            if follower >= 0:
                os.close(follower)

    coloured = on_a_terminal({})
    assert "\x1b[" in coloured and "green: valid token" in coloured
    plain = on_a_terminal({"NO_COLOR": "1"})
    assert "\x1b" not in plain and "green: valid token" in plain
