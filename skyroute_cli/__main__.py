"""``python -m skyroute_cli``: demo and debug the skyroute stack from a terminal.

    search flights --from LHR --to JFK --date +7 [--return +14]
                   [--adults N --children N --infants N] [--cabin economy|premium-economy|
                   business|first] [--max-stops 0|1] [--airlines BA,AA |
                   --exclude-airlines BA,AA] [--depart-between 06:00-12:00]
                   [--max-price 800.00] [--flex N] [--sort price|duration|departure]
                   [--page-size N] [--page-token T] [--provider] [--json]
    search price OFFER_ID [--json]
    booking create --offer OFFER_ID [--offer ...] --email E [--phone P]
                   --passenger "First Last,1990-01-31[,ADULT|CHILD|INFANT]
                                [,PASSPORT:X1234567:GB:2030-01-01]" [--passenger ...]
                   [--request-id ID] [--max-total 900.00]
    booking confirm REF --payment-token tok_visa
    booking get REF | cancel REF | link REF
    booking list [--status held|confirmed|cancelled|expired] [--page-size N]
                 [--page-token T]
    booking itinerary DOWNLOAD_TOKEN [--text]          (no user needed)
    token get|status|report|watch --provider amadeus   download issue|validate|revoke
    tracking create --from LHR --to JFK --date +30 [--every hourly] [--drop 10]
                    [--below 300.00] [--back-in-stock]
    tracking list | history TRACKER_ID | alerts [--new] [--watch] [--ack ALERT_ID]

Booking commands act as a user: ``--user alice`` mints a development JWT from
BOOKING_JWT_* (as ``python -m booking_service.dev_token`` does), or ``--jwt TOKEN`` /
SKYROUTE_USER_JWT gives one; it is never printed. Amounts without a currency are USD.

Environment (``source .run/dev.env`` after ``make run``):
  SEARCH_SERVICE_ADDRESSES, BOOKING_SERVICE_ADDRESSES, TOKEN_SERVICE_ADDRESSES,
  TRACKING_SERVICE_ADDRESSES
                           comma-separated host:port lists (round robin over replicas)
  BOOKING_JWT_SECRET, BOOKING_JWT_ISSUER, BOOKING_JWT_AUDIENCE   for --user
  TOKEN_CALLER_ID, TOKEN_CALLER_KEY   the token service caller (key never printed)

Search and booking print a compact summary (``--json``: the protobuf JSON); token and
download commands print protobuf JSON, upstream tokens masked unless ``--show-token``.
Every call has a deadline (``--timeout``; 10 s for token, 15 s for search, 30 s for
booking) and an ``x-request-id``. A failed RPC prints its code, message, request id and
error details (ErrorInfo, BadRequest field violations) as JSON to stderr and exits 1;
bad usage exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence

import grpc

from services.context import new_request_id, request_id_var
from skyroute_cli import booking, search, tokens, tracking
from skyroute_cli.common import (
    EXIT_RPC_ERROR,
    EXIT_USAGE,
    PROG,
    UsageError,
    describe_rpc_error,
    positive_float,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Demo and debug the skyroute stack: search flights, book "
        "them, open itineraries, inspect the token service.",
        epilog="Reads SEARCH_SERVICE_ADDRESSES, BOOKING_SERVICE_ADDRESSES, BOOKING_JWT_* "
        "and TOKEN_* from the environment (source .run/dev.env after make run). "
        f"`{PROG} GROUP COMMAND --help` describes each command.",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="deadline of each call (default: token 10, search 15, booking 30)",
    )
    groups = parser.add_subparsers(
        dest="group", required=True, metavar="{search,booking,token,download,tracking}"
    )
    search.add_parsers(groups)
    booking.add_parsers(groups)
    tokens.add_parsers(groups)
    tracking.add_parsers(groups)
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # One id for every call of this command, in the services' logs as request_id; a
    # booking's idempotency key defaults to it too.
    request_id = getattr(args, "request_id", None) or new_request_id()
    reset = request_id_var.set(request_id)
    try:
        asyncio.run(args.run(args, os.environ if env is None else env))
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.aio.AioRpcError as err:
        error = {**describe_rpc_error(err), "request_id": request_id}
        print(json.dumps({"error": error}, indent=2, ensure_ascii=False), file=sys.stderr)
        return EXIT_RPC_ERROR
    except KeyboardInterrupt:
        return 130
    finally:
        request_id_var.reset(reset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
