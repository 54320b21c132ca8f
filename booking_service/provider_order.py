"""Booking offers of the upstream provider: its flight order is the hold.

Decision: the order is created at CreateBooking (Amadeus orders hold the seats until
ticketing) and checked at ConfirmBooking, where our ticket numbers are issued; the
stand-in, like Amadeus Self-Service, has no ticketing call.

The steps, each safe against a crash or a concurrent replica:

1. The booking is inserted PENDING (invisible to the user), with its inventory seats
   if it also has inventory offers, and a remark unique to this attempt
   (``provider_remark``), in one transaction; it leases the order for
   ``lease_seconds`` (``provider_attempt_at``).
2. One flight order is created for all of its provider offers, tagged with the remark.
3. The outcome settles the booking:
   - created: PENDING -> HELD with the order id and record locator;
   - refused, or never sent: the booking is deleted and its seats returned (its
     request_id is free again); the error says why;
   - unknown (timeout, 5xx): the order is looked up by its remark (order_lookup.py),
     never created again: found -> HELD; not found -> deleted as above; the lookup
     itself fails -> the booking stays PENDING, the lease is released, and the
     sweeper settles it by lookup later.
   Every settling statement is guarded by ``status = 'PENDING'``, so exactly one
   outcome wins; an order found or created that no booking will own is deleted.
4. Cancel and hold expiry mark the order CANCELLING in the same statement that changes
   the booking; it is then deleted at the provider (cancel: at once; otherwise, and on
   failure, by the sweeper, retried until the provider confirms it is gone).
"""

from __future__ import annotations

import logging
import secrets
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from booking_service.models import PassengerType, ProviderOrderStatus
from booking_service.order_lookup import LookupUnavailable, OrderLookup
from booking_service.plan import BookingPlan, segment_sold_out
from booking_service.provider_orders import (
    PRICE_DISCREPANCY,
    SEGMENT_SELL_FAILURE,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    PlacedOrder,
    ProviderOrders,
    ProviderUnavailable,
)
from booking_service.repository import BookingRecord, BookingStore, OrderWork
from booking_service.validation import Traveller
from services.errors import (
    ConflictError,
    DomainError,
    FailedPreconditionError,
    UnavailableError,
)

log = logging.getLogger("skyroute.booking.provider")

REMARK_PREFIX = "SKYROUTE"
# Amadeus traveler types by ours.
TRAVELER_TYPES = {PassengerType.ADULT: "ADULT", PassengerType.CHILD: "CHILD",
                  PassengerType.INFANT: "HELD_INFANT"}
DOCUMENT_TYPES = {"PASSPORT": "PASSPORT", "NATIONAL_ID": "IDENTITY_CARD"}


def new_remark(reference: str) -> str:
    """Unique to one order attempt: the booking reference and a random suffix (a
    reference freed by a failed attempt may be given out again)."""
    return f"{REMARK_PREFIX}-{reference}-{secrets.token_hex(4).upper()}"


def _traveler_ids(offer: dict[str, Any]) -> dict[str, list[str]]:
    """The offer's travelerIds by Amadeus traveler type, in order."""
    ids: dict[str, list[str]] = {}
    for pricing in offer.get("travelerPricings") or ():
        ids.setdefault(str(pricing.get("travelerType")), []).append(str(pricing["travelerId"]))
    return ids


def order_request(plan: BookingPlan, remark: str) -> dict[str, Any]:
    """The flight-order request for the plan's provider offers: the offers as priced,
    one traveler per passenger (ids matched to the offers' travelerIds by type, in
    order), the contact and the remark. Raises FailedPreconditionError when the
    offers' travelers do not match the passengers."""
    offers = [dict(o.offer) for o in plan.provider_offers]
    try:
        available = _traveler_ids(offers[0])
    except (KeyError, TypeError, AttributeError):
        available = {}
    travelers = []
    used: dict[str, int] = {}
    for i, (traveller, kind) in enumerate(zip(plan.request.travellers, plan.passenger_types,
                                              strict=True)):
        amadeus_type = TRAVELER_TYPES[kind]
        n = used.get(amadeus_type, 0)
        ids = available.get(amadeus_type, [])
        if n >= len(ids):
            raise FailedPreconditionError(
                "the provider's offer is not priced for these passengers",
                reason="OFFER_NOT_BOOKABLE", metadata={"field": f"passengers[{i}]"})
        used[amadeus_type] = n + 1
        travelers.append(_traveler(ids[n], traveller, plan if i == 0 else None))
    if sum(used.values()) != sum(len(v) for v in available.values()):
        raise FailedPreconditionError(
            "the provider's offer is priced for more passengers than were given",
            reason="OFFER_NOT_BOOKABLE", metadata={"field": "passengers"})
    return {"data": {
        "type": "flight-order",
        "flightOffers": offers,
        "travelers": travelers,
        "remarks": {"general": [{"subType": "GENERAL_MISCELLANEOUS", "text": remark}]},
    }}


def _traveler(traveler_id: str, t: Traveller, contact_of: BookingPlan | None
              ) -> dict[str, Any]:
    traveler: dict[str, Any] = {
        "id": traveler_id,
        "dateOfBirth": t.birth_date.isoformat(),
        "name": {"firstName": t.given_name.upper(), "lastName": t.family_name.upper()},
        "documents": [{
            "documentType": DOCUMENT_TYPES[t.document_type.value],
            "number": t.document_number,
            "expiryDate": t.document_expire_date.isoformat(),
            "issuanceCountry": t.document_country,
            "nationality": t.document_country,
            "holder": True,
        }],
    }
    if contact_of is not None:  # the booking's contact goes with the first traveler
        traveler["contact"] = {"emailAddress": contact_of.request.email}
    return traveler


class OrderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "booking_provider_orders_total",
            "Provider order attempts by outcome (created, found, rejected, not_sent, "
            "not_found, unknown)", ["outcome"], registry=registry)
        self.cancelled = Counter("booking_provider_orders_cancelled_total",
                                 "Provider orders deleted at the provider", registry=registry)


def rejected_error(exc: OrderRejected, plan: BookingPlan) -> DomainError:
    if PRICE_DISCREPANCY in exc.codes:
        metadata = {"currency": plan.currency, "original_total": str(plan.original_total)}
        if exc.current_total is not None:  # the order's part, plus the inventory offers
            inventory = sum((o.current_total for o in plan.offers if o.provider is None),
                            Decimal(0))
            metadata["current_total"] = str(Decimal(exc.current_total) + inventory)
        return FailedPreconditionError(
            "the provider's price changed since the offer was priced; book again",
            reason="PRICE_CHANGED", metadata=metadata)
    if SEGMENT_SELL_FAILURE in exc.codes:
        return segment_sold_out(next(s for s in plan.segments if s.priced.fare_id is None),
                                0)
    return FailedPreconditionError(
        "the provider refused the order", reason="PROVIDER_REJECTED",
        metadata={"status": str(exc.status), "codes": ",".join(str(c) for c in exc.codes)})


class ProviderOrdering:
    def __init__(self, store: BookingStore, orders: ProviderOrders, lookup: OrderLookup,
                 lease_seconds: float, metrics: OrderMetrics | None = None) -> None:
        self._store = store
        self._orders = orders
        self._lookup = lookup
        self._lease = lease_seconds
        self._metrics = metrics

    @property
    def provider(self) -> str:
        return self._orders.provider

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.outcomes.labels(outcome).inc()

    # -- placing ------------------------------------------------------------------------

    async def place(self, booking: BookingRecord, plan: BookingPlan) -> BookingRecord:
        """Creates the order for a PENDING booking and returns the booking HELD; on
        failure nothing stays held (unless the outcome cannot be told: see above)."""
        assert booking.provider_remark is not None
        extra = {"booking_reference": booking.reference}
        try:
            request = order_request(plan, booking.provider_remark)
        except DomainError:
            await self._store.release_pending(booking.id)
            raise
        try:
            placed = await self._orders.create(request)
            self._count("created")
        except OrderRejected as exc:
            self._count("rejected")
            log.info("provider refused the order", extra={**extra, "codes": exc.codes})
            await self._store.release_pending(booking.id)
            raise rejected_error(exc, plan) from None
        except OrderNotSent as exc:
            self._count("not_sent")
            log.warning("provider order not sent", extra={**extra, "error": str(exc)})
            await self._store.release_pending(booking.id)
            raise UnavailableError("the provider could not be reached; nothing was booked",
                                   reason=exc.reason) from None
        except OrderOutcomeUnknown as exc:
            log.warning("provider order outcome unknown; looking it up",
                        extra={**extra, "error": str(exc)})
            placed = await self._settle_unknown(booking)
        return await self._attach(booking, placed)

    async def _settle_unknown(self, booking: BookingRecord) -> PlacedOrder:
        assert booking.provider_remark is not None
        try:
            found = await self._lookup.find(booking.provider_remark)
        except LookupUnavailable as exc:
            self._count("unknown")
            log.warning("provider order lookup failed; the sweeper will settle the booking",
                        extra={"booking_reference": booking.reference, "error": str(exc)})
            await self._store.release_lease(booking.id)
            raise UnavailableError(
                "the provider did not say whether the booking was placed; retry with the "
                "same request_id (no second order is placed)",
                reason="PROVIDER_OUTCOME_UNKNOWN") from None
        if found is None:
            self._count("not_found")
            log.info("provider order was not placed",
                     extra={"booking_reference": booking.reference})
            await self._store.release_pending(booking.id)
            raise UnavailableError("the provider failed to place the order; nothing was "
                                   "booked; retry", reason="PROVIDER_UNAVAILABLE")
        self._count("found")
        log.info("provider order found by its remark",
                 extra={"booking_reference": booking.reference})
        return found

    async def _attach(self, booking: BookingRecord, placed: PlacedOrder) -> BookingRecord:
        # A failure here leaves the booking PENDING with the order at the provider: the
        # sweeper finds the order by its remark and attaches it.
        attached = await self._store.attach_order(booking.id, placed.order_id,
                                                  placed.record_locator)
        current = await self._store.load(booking.id)
        if attached and current is not None:
            log.info("provider order placed", extra={
                "booking_reference": booking.reference,
                "record_locator": placed.record_locator})
            return current
        if current is not None and current.provider_order_id == placed.order_id:
            return current  # a sweeper found and attached this very order meanwhile
        # The booking was settled without this order: it must not stay at the provider.
        await self._delete_quietly(placed.order_id, booking.reference)
        raise ConflictError("the booking was settled concurrently; retry with the same "
                            "request_id", reason="REQUEST_IN_PROGRESS")

    # -- confirming ---------------------------------------------------------------------

    async def check_order(self, booking: BookingRecord) -> None:
        """Before confirming: the provider still holds the order."""
        assert booking.provider_order_id is not None
        try:
            order = await self._orders.get(booking.provider_order_id)
        except ProviderUnavailable:
            raise UnavailableError("the provider did not answer; the hold is kept; retry",
                                   reason="PROVIDER_UNAVAILABLE") from None
        if order is None:
            raise FailedPreconditionError(
                f"the provider no longer holds the seats of booking {booking.reference}",
                reason="PROVIDER_ORDER_CANCELLED",
                metadata={"booking_reference": booking.reference})

    # -- cancelling ---------------------------------------------------------------------

    async def cancel_now(self, booking: BookingRecord) -> None:
        """After a cancel committed (order CANCELLING): deletes the order at once; if
        that fails, the sweeper retries."""
        if booking.provider_order_status != ProviderOrderStatus.CANCELLING:
            return
        if await self._cancel(booking.reference, booking.provider_order_id,
                              booking.provider_remark):
            await self._store.order_cancelled(booking.id)
        else:
            await self._store.release_lease(booking.id)

    async def _cancel(self, reference: str, order_id: str | None, remark: str | None) -> bool:
        """True once the order is gone at the provider."""
        try:
            if order_id is None:
                found = await self._lookup.find(remark) if remark else None
                if found is None:
                    return True
                order_id = found.order_id
            deleted = await self._orders.delete(order_id)
        except (ProviderUnavailable, LookupUnavailable) as exc:
            log.warning("provider order not cancelled yet; will retry",
                        extra={"booking_reference": reference, "error": str(exc)})
            return False
        if deleted and self._metrics is not None:
            self._metrics.cancelled.inc()
        log.info("provider order cancelled", extra={"booking_reference": reference,
                                                     "was_live": deleted})
        return True

    async def _delete_quietly(self, order_id: str, reference: str) -> None:
        if not await self._cancel(reference, order_id, None):
            log.error("an unowned provider order could not be cancelled",
                      extra={"booking_reference": reference})

    # -- the sweeper's part -------------------------------------------------------------

    async def sweep(self, batch_size: int) -> int:
        """Settles orders whose placing was abandoned, and deletes orders of cancelled
        or expired bookings. Returns how many bookings it worked on."""
        settling = await self._store.claim_order_work(
            ProviderOrderStatus.ORDERING.value, self._lease, batch_size)
        for work in settling:
            await self._settle_abandoned(work)
        cancelling = await self._store.claim_order_work(
            ProviderOrderStatus.CANCELLING.value, self._lease, batch_size)
        for work in cancelling:
            if await self._cancel(work.reference, work.order_id, work.remark):
                await self._store.order_cancelled(work.booking_id)
        return len(settling) + len(cancelling)

    async def _settle_abandoned(self, work: OrderWork) -> None:
        try:
            found = await self._lookup.find(work.remark)
        except LookupUnavailable as exc:
            log.warning("provider order lookup failed; will retry",
                        extra={"booking_reference": work.reference, "error": str(exc)})
            return
        if found is None:
            if await self._store.release_pending(work.booking_id):
                log.info("abandoned booking released: no provider order",
                         extra={"booking_reference": work.reference})
            return
        if await self._store.attach_order(work.booking_id, found.order_id,
                                          found.record_locator):
            log.info("abandoned booking settled: provider order found",
                     extra={"booking_reference": work.reference})
            return
        current = await self._store.load(work.booking_id)
        if current is None or current.provider_order_id != found.order_id:
            await self._delete_quietly(found.order_id, work.reference)


def provider_offer_field(plan: BookingPlan) -> str:
    index = next(i for i, o in enumerate(plan.offers) if o.provider is not None)
    return f"offer_ids[{index}]"

