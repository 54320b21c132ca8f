"""``python -m skyroute_cli``: demo and debug the skyroute stack from a terminal.

    search flights --from LHR --to JFK --date +7 [--return +14]
                   [--adults N --children N --infants N] [--cabin economy|premium-economy|
                   business|first] [--max-stops 0|1] [--airlines BA,AA |
                   --exclude-airlines BA,AA] [--depart-between 06:00-12:00]
                   [--max-price 800.00] [--flex N] [--sort price|duration|departure]
                   [--page-size N] [--page-token T] [--provider] [--json]
    search price OFFER_ID [--json]
    hotels search --city PAR | --city-name Paris | --near LAT,LON [--radius KM] |
                  --hotel-id HVPAR018 [--hotel-id ...]
                  --check-in +30 --check-out +33 [--rooms N --adults N --children-ages 4,7]
                  [--min-stars N] [--amenities WIFI,SPA] [--refundable] [--board breakfast]
                  [--max-per-night '200 EUR'] [--max-total '900 EUR']
                  [--sort price|stars|distance|rating] [--currency EUR] [--page-size N]
                  [--page-token T] [--json]
    hotels price OFFER_ID [--json]
    booking create --offer OFFER_ID [--offer ...] --email E [--phone P]
                   --passenger "First Last,1990-01-31[,ADULT|CHILD|INFANT]
                                [,PASSPORT:X1234567:GB:2030-01-01]" [--passenger ...]
                   [--request-id ID] [--max-total 900.00]
    booking confirm REF --payment-token tok_visa
    booking get REF | cancel REF | link REF
    booking list [--status held|confirmed|cancelled|expired] [--page-size N]
                 [--page-token T]
    booking itinerary DOWNLOAD_TOKEN [--text]          (no user needed)
    token get|status|report|watch [--provider amadeus]  download issue|validate|revoke
    account register|verify|login|sessions|logout [--all]|reset-password   (skyroute_cli/account.py)
    tracking create --from LHR --to JFK --date +30 [--every hourly] [--drop 10]
                    [--below 300.00] [--back-in-stock]
    tracking create --city PAR|--near LAT,LON|--hotel HVPAR018 --check-in +30
                    --check-out +33 [--adults 2] [--rooms 1] [--children-ages 4,7]
                    [--min-stars 4] [--board breakfast] [--refundable] [--drop 10]
    tracking list | history TRACKER_ID | alerts [--new] [--watch] [--ack ALERT_ID]

Booking commands act as a user: ``--user alice`` mints a development JWT from
BOOKING_JWT_* (as ``python -m booking_service.dev_token`` does), or ``--jwt TOKEN`` /
SKYROUTE_USER_JWT gives one; without any, the session of ``account login`` (refreshed
as needed). It is never printed. Amounts without a currency are USD.

Environment (``source .run/dev.env`` after ``make run``):
  SEARCH_SERVICE_ADDRESSES, BOOKING_SERVICE_ADDRESSES, TOKEN_SERVICE_ADDRESSES,
  TRACKING_SERVICE_ADDRESSES
                           comma-separated host:port lists (round robin over replicas)
  BOOKING_JWT_SECRET, BOOKING_JWT_ISSUER, BOOKING_JWT_AUDIENCE   for --user
  TOKEN_CALLER_ID, TOKEN_CALLER_KEY   the token service caller (key never printed)

Output is for people: aligned tables with headers, times as "in 12 m", coloured on a
terminal (plain text in pipes and files, and with NO_COLOR set), and hints that are
commands to paste as printed. ``--json`` (before or after the command) prints the
protobuf JSON instead, and errors as JSON on stderr. Upstream tokens are masked unless
``--show-token``. ``--provider`` defaults to the caller's only provider.

Every call has a deadline (``--timeout``; 10 s for token, 15 s for search, 30 s for
booking) and an ``x-request-id``. A failed RPC prints one line on stderr and exits 1:
``error: origin: unknown airport XXX`` (the field violations, else the message and
its reason), ``error: cannot reach search at 127.0.0.1:50052 (is the stack running?
make run)``; with ``--json`` the code, message, request id and error details
(ErrorInfo, BadRequest field violations, RetryInfo). Bad usage exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

import grpc

from services.context import new_request_id, request_id_var
from skyroute_cli import account, booking, hotels, search, tokens, tracking
from skyroute_cli.common import (
    EXIT_RPC_ERROR,
    EXIT_USAGE,
    UsageError,
    describe_rpc_error,
    positive_float,
)
from skyroute_cli.output import Output, error_line, program, unreachable


class BadUsage(Exception):
    """What argparse found wrong with the command line."""


class Parser(argparse.ArgumentParser):
    """Bad usage is reported by main() like every error: one line pointing at the
    command's --help, or JSON with --json (argparse makes the subcommands' parsers of
    this class as well)."""

    def error(self, message: str) -> NoReturn:
        raise BadUsage(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    prog = shlex.join(program())  # usage lines name the program as it was run
    parser = Parser(
        prog=prog,
        description="Demo and debug the skyroute stack: search flights, book "
        "them, open itineraries, inspect the token service.",
        epilog="Reads SEARCH_SERVICE_ADDRESSES, BOOKING_SERVICE_ADDRESSES, BOOKING_JWT_* "
        "and TOKEN_* from the environment (source .run/dev.env after make run). "
        f"`{prog} GROUP COMMAND --help` describes each command.",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="deadline of each call (default: token 10, search 15, booking 30)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print results as protobuf JSON, and errors as JSON on stderr (for scripts)",
    )
    groups = parser.add_subparsers(
        dest="group",
        required=True,
        metavar="{search,hotels,booking,token,download,account,tracking}",
    )
    search.add_parsers(groups)
    hotels.add_parsers(groups)
    booking.add_parsers(groups)
    tokens.add_parsers(groups)
    account.add_parsers(groups)
    tracking.add_parsers(groups)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    out = Output(env=env)
    try:
        args = build_parser().parse_args(argv)
    except BadUsage as exc:
        if "--json" in argv:
            out.error_json({"code": "USAGE", "message": str(exc)})
        else:
            out.error(str(exc))
        return EXIT_USAGE
    args.argv = argv  # for hints that repeat the command (the next page)
    args.out = out
    # One id for every call of this command, in the services' logs as request_id; a
    # booking's idempotency key defaults to it too.
    request_id = getattr(args, "request_id", None) or new_request_id()
    reset = request_id_var.set(request_id)
    try:
        asyncio.run(args.run(args, env))
    except UsageError as exc:
        if args.json:
            out.error_json({"code": "USAGE", "message": str(exc)})
        else:
            out.error(str(exc))
        return EXIT_USAGE
    except grpc.aio.AioRpcError as err:
        endpoint = getattr(args, "endpoint", None)
        error = {**describe_rpc_error(err), "request_id": request_id}
        if endpoint is not None:
            error["service"] = endpoint.name
            if unreachable(error):
                error["addresses"] = list(endpoint.addresses)
        if args.json:
            out.error_json(error)
        else:
            out.error(error_line(error, endpoint))
        return EXIT_RPC_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head -3`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        request_id_var.reset(reset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
