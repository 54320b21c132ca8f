"""Requests to domain inputs: every problem is a ValidationError naming its field."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services import base64url
from services.errors import FieldViolation, ValidationError
from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service.kinds import TrackedSearch, tracked_search
from tracking_service.settings import MAX_FREQUENCY_SECONDS
from tracking_service.triggers import TriggerSpec

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_REQUEST_ID_CHARS = 64
MAX_FIRST_RUN_DAYS = 7
MAX_ID = 2**63 - 1
CURRENCY = re.compile(r"^[A-Z]{3}$")
UPDATABLE = ("frequency", "triggers")


@dataclass(frozen=True)
class TrackerInput:
    search: TrackedSearch
    frequency_seconds: int
    triggers: TriggerSpec
    first_run_at: datetime | None
    request_id: str | None


def parse_id(value: str, field: str) -> int:
    if not value:
        raise ValidationError.field(field, "is required")
    if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_ID:
        raise ValidationError.field(field, "is not an id from this service")
    return int(value)


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise ValidationError.field(field, "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def encode_page(cursor: str, user: str, scope: str) -> str:
    body = json.dumps({"c": cursor, "d": _digest(user, scope)}, separators=(",", ":"))
    return base64url.encode(body.encode())


def decode_page(token: str, user: str, scope: str) -> str | None:
    """The cursor in ``token`` (None for no token), made for this user and listing."""
    if not token:
        return None
    try:
        data = json.loads(base64url.decode(token))
        cursor, digest = str(data["c"]), data["d"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValidationError.field("page_token", "is not a page token of this listing") from None
    if digest != _digest(user, scope):
        raise ValidationError.field("page_token", "was made for another caller or listing")
    return cursor


def _money(value: money_pb2.Money, field: str, problems: list[FieldViolation]) -> Decimal | None:
    if not CURRENCY.match(value.currency_code):
        problems.append(FieldViolation(f"{field}.currency_code", "must be an ISO 4217 code"))
    if abs(value.nanos) > 999_999_999 or (
        value.units and value.nanos and (value.units > 0) != (value.nanos > 0)
    ):
        problems.append(FieldViolation(f"{field}.nanos", "is out of range or of the wrong sign"))
        return None
    amount = Decimal(value.units) + Decimal(value.nanos).scaleb(-9)
    if amount <= 0 or amount >= Decimal("1e10") or amount != amount.quantize(Decimal("0.01")):
        problems.append(FieldViolation(f"{field}", "must be positive, in cents, below 1e10"))
        return None
    return amount


def triggers(message: pb.Triggers, field: str) -> TriggerSpec:
    problems: list[FieldViolation] = []
    drop = None
    if message.HasField("drop_percent"):
        value = message.drop_percent
        if math.isfinite(value) and 0 < value < 100:
            drop = Decimal(repr(value)).quantize(Decimal("0.01"))
        if drop is None or not 0 < drop < 100:
            problems.append(
                FieldViolation(f"{field}.drop_percent", "must be above 0 and below 100")
            )
            drop = None
    target = currency = None
    if message.HasField("target_price"):
        target = _money(message.target_price, f"{field}.target_price", problems)
        currency = message.target_price.currency_code if target is not None else None
    if not problems and drop is None and target is None and not message.back_in_stock:
        problems.append(FieldViolation(field, "set at least one trigger"))
    if problems:
        raise ValidationError(problems)
    return TriggerSpec(drop, target, currency, message.back_in_stock)


def frequency(message: pb.Tracker, field: str, minimum: int) -> int:
    if not message.HasField("frequency"):
        raise ValidationError.field(field, "is required")
    value = message.frequency
    if value.nanos or value.seconds < minimum or value.seconds > MAX_FREQUENCY_SECONDS:
        raise ValidationError.field(
            field, f"must be whole seconds from {minimum} to {MAX_FREQUENCY_SECONDS}"
        )
    return int(value.seconds)


def create_input(
    request: pb.CreateTrackerRequest, now: datetime, min_frequency: int
) -> TrackerInput:
    tracker = request.tracker
    problems: list[FieldViolation] = []
    search = spec = None
    freq = 0
    for check in ("search", "frequency", "triggers"):
        try:
            if check == "search":
                search = tracked_search(tracker, now)
            elif check == "frequency":
                freq = frequency(tracker, "tracker.frequency", min_frequency)
            else:
                spec = triggers(tracker.triggers, "tracker.triggers")
        except ValidationError as exc:
            problems.extend(exc.violations)
    first = None
    if request.HasField("first_run_time"):
        try:
            first = request.first_run_time.ToDatetime(UTC)
        except (ValueError, OverflowError):
            problems.append(FieldViolation("first_run_time", "is not a valid timestamp"))
        else:
            if first > now + timedelta(days=MAX_FIRST_RUN_DAYS):
                problems.append(FieldViolation("first_run_time", "is more than 7 days ahead"))
            first = max(first, now)  # a time past is now
    if len(request.request_id) > MAX_REQUEST_ID_CHARS or not request.request_id.isprintable():
        problems.append(FieldViolation("request_id", "must be at most 64 printable characters"))
    if problems:
        raise ValidationError(problems)
    assert search is not None and spec is not None
    return TrackerInput(search, freq, spec, first, request.request_id or None)


def update_input(
    request: pb.UpdateTrackerRequest, min_frequency: int
) -> tuple[int, int | None, TriggerSpec | None]:
    tracker_id = parse_id(request.tracker.tracker_id, "tracker.tracker_id")
    if not request.update_mask:
        raise ValidationError.field("update_mask", "name the fields to change: frequency, triggers")
    unknown = [p for p in request.update_mask if p not in UPDATABLE]
    if unknown:
        raise ValidationError.field(
            "update_mask", "only frequency and triggers can change (a search cannot)"
        )
    freq = (
        frequency(request.tracker, "tracker.frequency", min_frequency)
        if "frequency" in request.update_mask
        else None
    )
    spec = (
        triggers(request.tracker.triggers, "tracker.triggers")
        if "triggers" in request.update_mask
        else None
    )
    return tracker_id, freq, spec
