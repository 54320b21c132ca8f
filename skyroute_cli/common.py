"""What the command groups share: errors and exit codes, output, argument types,
money and time formatting, addresses from the environment, per-call options."""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import grpc
from google.protobuf import duration_pb2, json_format, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.clients.channels import target_for
from services.context import REQUEST_ID_HEADER
from services.generated.skyroute.common.v1 import money_pb2
from services.money_text import money_text as money_text_of
from skyroute_cli.output import relative_text

EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
# The seeded inventory is priced in USD; a price limit without a currency means USD.
DEFAULT_CURRENCY = "USD"


class UsageError(Exception):
    """Bad input or environment; exits 2 like argparse does."""


# ------------------------------------------------------------------------ output


def to_dict(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return fields


def emit(message: Message | dict[str, Any], *, compact: bool = False) -> None:
    data = to_dict(message) if isinstance(message, Message) else message
    if compact:
        print(json.dumps(data, ensure_ascii=False), flush=True)
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def describe_rpc_error(err: grpc.aio.AioRpcError) -> dict[str, Any]:
    """Code, message and the rich details (ErrorInfo, BadRequest, RetryInfo) of a failed call."""
    out: dict[str, Any] = {"code": err.code().name, "message": err.details() or ""}
    try:
        status = rpc_status.from_call(err)
    except ValueError:  # trailers inconsistent with the status: show what we have
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out["reason"] = info.reason
            out["domain"] = info.domain
            if info.metadata:
                out["metadata"] = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out["field_violations"] = [
                {"field": v.field, "description": v.description} for v in bad.field_violations
            ]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            out["retry_delay_seconds"] = retry.retry_delay.ToMilliseconds() / 1000
    return out


# ------------------------------------------------------------------------ formatting


def amount(value: money_pb2.Money) -> Decimal:
    return Decimal(value.units) + Decimal(value.nanos).scaleb(-9)


def money_text(value: money_pb2.Money) -> str:
    """``USD 612.40``, ``JPY 1500``; more decimals only when the amount has them."""
    return money_text_of(amount(value), value.currency_code)


def duration_text(value: duration_pb2.Duration) -> str:
    """``7h05m``; ``45m`` under an hour."""
    minutes = round(value.ToTimedelta().total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def timestamp_text(value: timestamp_pb2.Timestamp) -> str:
    """UTC, to the second: ``2026-12-01T10:30:00Z``; empty when unset."""
    if not value.seconds and not value.nanos:
        return ""
    moment: datetime = value.ToDatetime(tzinfo=UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def seconds_until(value: timestamp_pb2.Timestamp, now: datetime | None = None) -> float:
    moment: datetime = value.ToDatetime(tzinfo=UTC)
    return (moment - (now or datetime.now(UTC))).total_seconds()


def moment_text(value: timestamp_pb2.Timestamp, now: datetime | None = None) -> str:
    """``in 14 m (2026-12-01T10:30:00Z)``; ``-`` when unset."""
    if not value.seconds and not value.nanos:
        return "-"
    return f"{relative_text(seconds_until(value, now))} ({timestamp_text(value)})"


def local_time(local_iso: str, day: date | None = None) -> str:
    """``10:30+00:00`` from ``2026-12-01T10:30:00+00:00``; with ``day``, a ``(+1)`` when
    the local date is later than it (an overnight arrival)."""
    try:
        moment = datetime.fromisoformat(local_iso)
    except ValueError:
        return local_iso
    text = moment.isoformat(timespec="minutes")[11:]
    if day is not None and moment.date() != day:
        text += f"({(moment.date() - day).days:+d})"
    return text


def local_date(local_iso: str) -> date | None:
    try:
        return datetime.fromisoformat(local_iso).date()
    except ValueError:
        return None


def enum_label(name: str, prefix: str) -> str:
    """``HELD`` from ``BOOKING_STATUS_HELD``."""
    return name.removeprefix(prefix)


# ------------------------------------------------------------------------ arguments


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


_RELATIVE_DAY = re.compile(r"^\+(\d{1,3})$")


def day_arg(text: str, *, today: date | None = None) -> str:
    """A calendar date: ``YYYY-MM-DD``, or ``+N`` for N days after today (UTC), so
    that a command written down keeps working on later days."""
    match = _RELATIVE_DAY.match(text.strip())
    if match is not None:
        base = today or datetime.now(UTC).date()
        return (base + timedelta(days=int(match.group(1)))).isoformat()
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:32]!r} is not a date: use YYYY-MM-DD or +N (days from today)"
        ) from None


def uuid_arg(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a UUID") from None


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


_MONEY = re.compile(r"^\s*(?:([A-Za-z]{3})\s*)?(-?\d+(?:\.\d+)?)\s*(?:([A-Za-z]{3}))?\s*$")


def money_arg(text: str) -> money_pb2.Money:
    """``800.00``, ``800.00 EUR`` or ``EUR 800``; without a currency, USD."""
    match = _MONEY.match(text)
    if match is None or (match.group(1) and match.group(3)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount like 800.00, 800.00 EUR or EUR 800.00"
        )
    try:
        value = Decimal(match.group(2))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value.quantize(Decimal("1e-9")):
        raise argparse.ArgumentTypeError(f"{text!r} has more than 9 decimals")
    units = int(value)  # towards zero, so nanos keeps the sign of units
    nanos = int((value - units) * 1_000_000_000)
    currency = (match.group(1) or match.group(3) or DEFAULT_CURRENCY).upper()
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json`` after the command too; the top-level one applies when it is not given
    here."""
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the response as protobuf JSON (errors as JSON on stderr)",
    )


def add_common_options(parser: argparse.ArgumentParser, default_timeout: float) -> None:
    """``--timeout`` on a subcommand too (``booking create ... --timeout 60``); the
    top-level one applies when it is not given here."""
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help=f"deadline of each call (default: {default_timeout:g})",
    )


# ------------------------------------------------------------------------ connecting


def addresses_from_env(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in env.get(name, "").split(",") if a.strip())
    if not addresses:
        raise UsageError(f"{name} not set (source .run/dev.env after make run)")
    try:
        target_for(addresses)
    except ValueError as exc:  # e.g. several DNS names
        raise UsageError(f"{name}: {exc}") from None
    return addresses


@dataclass(frozen=True)
class CallOptions:
    """Deadline and metadata for every call of one command. The metadata may hold a
    credential, so it stays out of repr."""

    timeout: float
    request_id: str
    metadata: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def kwargs(self) -> dict[str, Any]:
        return {
            "timeout": self.timeout,
            "metadata": ((REQUEST_ID_HEADER, self.request_id), *self.metadata),
        }


def timeout_of(args: argparse.Namespace, default: float) -> float:
    return float(args.timeout) if getattr(args, "timeout", None) else default
