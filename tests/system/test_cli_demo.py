"""The demo CLI (``python -m skyroute_cli``) as a user runs it, against the stack of
test_booking_end_to_end (provider stand-in, token, search and booking replicas as
processes): search, price, book, confirm, open the itinerary link, list, cancel; and
what bad usage (exit 2) and a failed call (exit 1, details as JSON on stderr) print.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from booking_service.dev_token import mint
from booking_service.settings import JwtSettings
from tests.system import test_booking_end_to_end as e2e
from tests.system.test_booking_end_to_end import TOMORROW, Stack
from tests.utils.booking_cluster import AUDIENCE, ISSUER
from tests.utils.processes import ROOT

# That module's fixture: a stack of our own for this module's tests, with the same
# checks of the services' logs on teardown.
stack = e2e.stack

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
    proc = subprocess.run(
        [sys.executable, "-m", "skyroute_cli", *argv],
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
    return proc


def cli_json(env: Mapping[str, str], *argv: str) -> Any:
    return json.loads(cli(env, *argv, "--json").stdout)


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

    table = cli(
        env, "search", "flights", "--from", "LHR", "--to", "JFK", "--date", date, "--page-size", "1"
    ).stdout.splitlines()
    line, offer_line = table[0], table[1]
    total = first["total_price"]
    assert line.startswith(f"{total['currency_code']} ")
    assert f"{segment['flight_designator']} LHR {segment['departure_local_time'][11:16]}" in line
    assert "→ JFK" in line and line.endswith("inventory")
    assert offer_line == f"    offer {first['offer_id']}"
    assert table[2] == f"1 of {found['total_size']} itineraries"
    if found["total_size"] > 1:
        assert table[3].startswith("next page: --page-token ")

    priced = cli(env, "search", "price", first["offer_id"]).stdout
    assert "(unchanged)" in priced and "available         yes" in priced
    offer = priced.splitlines()[-1].removeprefix("    offer to book ")
    assert offer and " " not in offer

    # --user mints the JWT in-process from BOOKING_JWT_*; the later calls take one from
    # SKYROUTE_USER_JWT (quicker: minting imports the booking service's settings).
    user = ("--user", "alice")
    held = cli_json(
        env,
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
    )["booking"]
    assert held["status"] == "BOOKING_STATUS_HELD" and held["request_id"] == "cli-demo-1"
    assert held["passengers"][0]["document"]["number"] == "X1234567"
    ref = held["booking_reference"]

    confirmed = cli(
        env, "booking", "confirm", ref.lower(), *user, "--payment-token", "tok_visa"
    ).stdout
    assert confirmed.startswith(f"booking {ref}  CONFIRMED  ")
    assert "ticket " in confirmed and "****4567" in confirmed and "X1234567" not in confirmed
    [link] = [
        ln.split()[-1] for ln in confirmed.splitlines() if "skyroute_cli booking itinerary " in ln
    ]
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
    listed = cli(env, "booking", "list", "--status", "confirmed").stdout
    assert listed.startswith(f"{ref}  CONFIRMED  ") and "LHR→JFK" in listed
    assert cli(env, "booking", "list", "--status", "cancelled").stdout == "no bookings\n"
    fresh = cli_json(env, "booking", "link", ref)["itinerary_link"]
    assert fresh["download_token"] and fresh["download_token"] != link

    # Another user does not see the booking (cli() checks no JWT is ever printed).
    bob = mint(JwtSettings.from_env(env), "bob", 600)
    other = cli(cli_env(stack, SKYROUTE_USER_JWT=bob), "booking", "get", ref, expect=1)
    assert (rpc_error(other)["code"], rpc_error(other)["reason"]) == (
        "NOT_FOUND",
        "BOOKING_NOT_FOUND",
    )

    cancelled = cli(env, "booking", "cancel", ref).stdout
    assert cancelled.startswith(f"booking {ref}  CANCELLED  ") and "  refund " in cancelled
    gone = cli(env, "booking", "itinerary", link, expect=1)
    assert rpc_error(gone)["reason"] == "BOOKING_NOT_CONFIRMED"


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
    assert "--user NAME" in nobody.stderr and "SKYROUTE_USER_JWT" in nobody.stderr
    unset = cli({"PATH": env["PATH"]}, "search", "price", "x", expect=2)
    assert "SEARCH_SERVICE_ADDRESSES not set" in unset.stderr

    unknown = cli(
        env, "search", "flights", "--from", "XXX", "--to", "JFK", "--date", date, expect=1
    )
    error = rpc_error(unknown)
    assert error["code"] == "INVALID_ARGUMENT" and error["request_id"]
    assert error["field_violations"] == [{"field": "origin", "description": "unknown airport XXX"}]
    assert unknown.stdout == ""

    # The shape is the CLI's to check; the values are the service's.
    undocumented = cli(
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
        "Alice Smith,1990-01-31",
        expect=1,
    )
    fields = [v["field"] for v in rpc_error(undocumented)["field_violations"]]
    assert "passengers[0].document" in fields
