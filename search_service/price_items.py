"""PriceItems: a booking's items (flight offers, a hotel offer) priced in one call.

The booking service prices a package's flight offers and its hotel offer before it holds
them; one call instead of one per item saves a round trip (and its CPU on both sides) on
every package. Each item is priced exactly as its own RPC prices it (PriceOffer,
PriceHotelOffer), concurrently, and keeps its own outcome: its response, or the status
its own call would have failed with (services.errors.wire_status, as the interceptor
sends it), so the caller reads an item's error as it reads a failed call's.

Only a request that is invalid as a whole fails the call (validate_items). The call then
succeeds whatever its items' outcomes, so the interceptor neither counts nor logs an
item's error: ``ItemErrors`` does, as the interceptor does for a failed call (a counter
by item, code and reason; a log line per kind, repeats counted, services/failure_log.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from search_service.offers import MAX_OFFER_ID_CHARS
from services.errors import (
    DomainError,
    FieldViolation,
    ValidationError,
    logged_failure,
    wire_status,
)
from services.failure_log import FailureLog
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

log = logging.getLogger("skyroute.search.price_items")

# A booking has at most 4 flight offers (booking_service/flows/validation.py); twice that
# leaves room without letting one call fan out without bound.
MAX_ITEM_OFFERS = 8


def validate_items(request: pb.PriceItemsRequest) -> None:
    """Raises ValidationError naming every field that makes the request invalid as a
    whole. An id that is merely not an offer id is the item's own error, as its own
    call would report it."""
    violations: list[FieldViolation] = []
    offer_ids: Sequence[str] = request.offer_ids
    if not offer_ids and not request.hotel_offer_id:
        violations.append(
            FieldViolation("offer_ids", "at least one offer id (or a hotel_offer_id) is required")
        )
    elif len(offer_ids) > MAX_ITEM_OFFERS:
        violations.append(FieldViolation("offer_ids", f"at most {MAX_ITEM_OFFERS} offer ids"))
    # Oversized ids are refused before any item is priced: they bound the request.
    for i, offer_id in enumerate(offer_ids):
        if len(offer_id) > MAX_OFFER_ID_CHARS:
            violations.append(
                FieldViolation(f"offer_ids[{i}]", f"longer than {MAX_OFFER_ID_CHARS} characters")
            )
    if len(request.hotel_offer_id) > MAX_OFFER_ID_CHARS:
        violations.append(
            FieldViolation("hotel_offer_id", f"longer than {MAX_OFFER_ID_CHARS} characters")
        )
    if violations:
        raise ValidationError(violations)


def item_error(exc: DomainError) -> pb.ItemError:
    """``exc`` as the status its item's own call would have failed with."""
    status = wire_status(exc)
    return pb.ItemError(code=status.code, message=status.message, details=status.details)


class ItemErrors:
    """Counts and logs the items PriceItems answered with an error (``item`` is
    ``flight`` or ``hotel``)."""

    def __init__(self, registry: CollectorRegistry, failures: FailureLog | None = None) -> None:
        self._errors = Counter(
            "skyroute_search_price_items_item_errors_total",
            "PriceItems items answered with an error (the call itself succeeded), by item "
            "(flight, hotel), code and reason: what the item's own RPC would have failed with",
            ["item", "code", "reason"],
            registry=registry,
        )
        self._failures = failures or FailureLog(log)

    def record(self, item: str, exc: DomainError) -> None:
        code = exc.code.name
        self._errors.labels(item, code, exc.reason).inc()
        level, fields = logged_failure(exc)
        self._failures.failed(
            (f"PriceItems/{item}", code, exc.reason),
            level,
            "price item failed",
            {"item": item, **fields},
        )
