"""Booking offers of upstream providers: the provider's flight order is the hold.

Decision: the order is created at CreateBooking (provider orders hold the seats until
ticketing) and checked at ConfirmBooking, where our ticket numbers are issued; the
providers we speak to (services/providers) have no ticketing call. Every order goes
to the provider the booking's offers came from (``bookings.provider``).

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
   - unknown (timeout, 5xx): the order is looked up by its remark
     (``FlightProvider.find_order``, services/providers/lookup.py),
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
from collections.abc import Mapping
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter

from booking_service.flows.plan import BookingPlan, segment_sold_out
from booking_service.store.models import ProviderOrderStatus
from booking_service.store.repository import BookingRecord, BookingStore, OrderWork
from services.errors import (
    ConflictError,
    DomainError,
    FailedPreconditionError,
    UnavailableError,
)
from services.providers.base import (
    FlightProvider,
    LookupUnavailable,
    OrderNotBookable,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    OrderTraveller,
    PlacedOrder,
    ProviderUnavailable,
)

log = logging.getLogger("skyroute.booking.provider")

REMARK_PREFIX = "SKYROUTE"


def new_remark(reference: str) -> str:
    """Unique to one order attempt: the booking reference and a random suffix (a
    reference freed by a failed attempt may be given out again)."""
    return f"{REMARK_PREFIX}-{reference}-{secrets.token_hex(4).upper()}"


def order_request(plan: BookingPlan, remark: str) -> OrderRequest:
    """The order for the plan's provider offers (as priced), its passengers, contact
    and remark."""
    travellers = []
    for t, kind in zip(plan.request.travellers, plan.passenger_types, strict=True):
        # Validation requires a document of every passenger of a booking with flights.
        assert t.document is not None
        d = t.document
        travellers.append(
            OrderTraveller(
                kind.value,
                t.given_name,
                t.family_name,
                t.birth_date,
                d.type.value,
                d.number,
                d.country,
                d.expire_date,
            )
        )
    return OrderRequest(
        offers=tuple(o.offer for o in plan.provider_offers),
        travellers=tuple(travellers),
        email=plan.request.email,
        remark=remark,
    )


class OrderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "skyroute_booking_provider_orders_total",
            "Provider order attempts by outcome (created, found, rejected, not_sent, "
            "not_found, unknown)",
            ["outcome"],
            registry=registry,
        )
        self.cancelled = Counter(
            "skyroute_booking_provider_orders_cancelled_total",
            "Provider orders deleted at the provider",
            registry=registry,
        )


def rejected_error(exc: OrderRejected, plan: BookingPlan) -> DomainError:
    if exc.price_changed:
        metadata = {"currency": plan.currency, "original_total": str(plan.original_total)}
        if exc.current_total is not None:  # the order's part, plus the inventory offers
            inventory = sum(
                (o.current_total for o in plan.offers if o.provider is None), Decimal(0)
            )
            metadata["current_total"] = str(Decimal(exc.current_total) + inventory)
        return FailedPreconditionError(
            "the provider's price changed since the offer was priced; book again",
            reason="PRICE_CHANGED",
            metadata=metadata,
        )
    if exc.sold_out:
        return segment_sold_out(next(s for s in plan.segments if s.priced.fare_id is None), 0)
    return FailedPreconditionError(
        "the provider refused the order",
        reason="PROVIDER_REJECTED",
        metadata={"status": str(exc.status), "codes": ",".join(str(c) for c in exc.codes)},
    )


class ProviderOrdering:
    """Orders at the configured providers, each booking's at its own provider."""

    def __init__(
        self,
        store: BookingStore,
        providers: Mapping[str, FlightProvider],
        lease_seconds: float,
        metrics: OrderMetrics | None = None,
    ) -> None:
        self._store = store
        self._providers = dict(providers)
        self._lease = lease_seconds
        self._metrics = metrics

    def serves(self, provider: str) -> bool:
        return provider in self._providers

    def _provider(self, name: str | None) -> FlightProvider:
        """The provider of a booking; ProviderUnavailable if it is not configured here."""
        provider = self._providers.get(name or "")
        if provider is None:
            raise ProviderUnavailable(f"provider {name!r} is not configured")
        return provider

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.outcomes.labels(outcome).inc()

    # -- placing ------------------------------------------------------------------------

    async def place(self, booking: BookingRecord, plan: BookingPlan) -> BookingRecord:
        """Creates the order for a PENDING booking and returns the booking HELD; on
        failure nothing stays held (unless the outcome cannot be told: see above)."""
        assert booking.provider_remark is not None
        extra = {"booking_reference": booking.reference}
        provider = self._providers[plan.provider or ""]
        try:
            placed = await provider.create_order(order_request(plan, booking.provider_remark))
            self._count("created")
        except OrderNotBookable:  # refused before anything was sent
            await self._store.release_pending(booking.id)
            raise
        except OrderRejected as exc:
            self._count("rejected")
            log.info("provider refused the order", extra={**extra, "codes": exc.codes})
            await self._store.release_pending(booking.id)
            raise rejected_error(exc, plan) from None
        except OrderNotSent as exc:
            self._count("not_sent")
            log.warning("provider order not sent", extra={**extra, "error": str(exc)})
            await self._store.release_pending(booking.id)
            raise UnavailableError(
                "the provider could not be reached; nothing was booked",
                reason=exc.reason,
                retry_after_seconds=exc.retry_after,
            ) from None
        except OrderOutcomeUnknown as exc:
            log.warning(
                "provider order outcome unknown; looking it up", extra={**extra, "error": str(exc)}
            )
            placed = await self._settle_unknown(booking, provider)
        return await self._attach(booking, placed)

    async def _settle_unknown(
        self, booking: BookingRecord, provider: FlightProvider
    ) -> PlacedOrder:
        assert booking.provider_remark is not None
        try:
            found = await provider.find_order(booking.provider_remark)
        except LookupUnavailable as exc:
            self._count("unknown")
            log.warning(
                "provider order lookup failed; the sweeper will settle the booking",
                extra={"booking_reference": booking.reference, "error": str(exc)},
            )
            await self._store.release_lease(booking.id)
            raise UnavailableError(
                "the provider did not say whether the booking was placed; retry with the "
                "same request_id (no second order is placed)",
                reason="PROVIDER_OUTCOME_UNKNOWN",
            ) from None
        if found is None:
            self._count("not_found")
            log.info(
                "provider order was not placed", extra={"booking_reference": booking.reference}
            )
            await self._store.release_pending(booking.id)
            raise UnavailableError(
                "the provider failed to place the order; nothing was booked; retry",
                reason="PROVIDER_UNAVAILABLE",
            )
        self._count("found")
        log.info(
            "provider order found by its remark", extra={"booking_reference": booking.reference}
        )
        return found

    async def _attach(self, booking: BookingRecord, placed: PlacedOrder) -> BookingRecord:
        # A failure here leaves the booking PENDING with the order at the provider: the
        # sweeper finds the order by its remark and attaches it.
        attached = await self._store.attach_order(
            booking.id, placed.order_id, placed.record_locator
        )
        current = await self._store.load(booking.id)
        if attached and current is not None:
            log.info(
                "provider order placed",
                extra={
                    "booking_reference": booking.reference,
                    "record_locator": placed.record_locator,
                },
            )
            return current
        if current is not None and current.provider_order_id == placed.order_id:
            return current  # a sweeper found and attached this very order meanwhile
        # The booking was settled without this order: it must not stay at the provider.
        await self._delete_quietly(booking.provider, placed.order_id, booking.reference)
        raise ConflictError(
            "the booking was settled concurrently; retry with the same request_id",
            reason="REQUEST_IN_PROGRESS",
        )

    # -- confirming ---------------------------------------------------------------------

    async def check_order(self, booking: BookingRecord) -> None:
        """Before confirming: the provider still holds the order."""
        assert booking.provider_order_id is not None
        try:
            order = await self._provider(booking.provider).get_order(booking.provider_order_id)
        except ProviderUnavailable:
            raise UnavailableError(
                "the provider did not answer; the hold is kept; retry",
                reason="PROVIDER_UNAVAILABLE",
            ) from None
        if order is None:
            raise FailedPreconditionError(
                f"the provider no longer holds the seats of booking {booking.reference}",
                reason="PROVIDER_ORDER_CANCELLED",
                metadata={"booking_reference": booking.reference},
            )

    # -- cancelling ---------------------------------------------------------------------

    async def cancel_now(self, booking: BookingRecord) -> None:
        """After a cancel committed (order CANCELLING): deletes the order at once; if
        that fails, the sweeper retries."""
        if booking.provider_order_status != ProviderOrderStatus.CANCELLING:
            return
        if await self._cancel(
            booking.provider, booking.reference, booking.provider_order_id, booking.provider_remark
        ):
            await self._store.order_cancelled(booking.id)
        else:
            await self._store.release_lease(booking.id)

    async def _cancel(
        self, provider_name: str | None, reference: str, order_id: str | None, remark: str | None
    ) -> bool:
        """True once the order is gone at the provider."""
        try:
            provider = self._provider(provider_name)
            if order_id is None:
                found = await provider.find_order(remark) if remark else None
                if found is None:
                    return True
                order_id = found.order_id
            deleted = await provider.cancel_order(order_id)
        except (ProviderUnavailable, LookupUnavailable) as exc:
            log.warning(
                "provider order not cancelled yet; will retry",
                extra={"booking_reference": reference, "error": str(exc)},
            )
            return False
        if deleted and self._metrics is not None:
            self._metrics.cancelled.inc()
        log.info(
            "provider order cancelled", extra={"booking_reference": reference, "was_live": deleted}
        )
        return True

    async def _delete_quietly(self, provider: str | None, order_id: str, reference: str) -> None:
        if not await self._cancel(provider, reference, order_id, None):
            log.error(
                "an unowned provider order could not be cancelled",
                extra={"booking_reference": reference},
            )

    # -- the sweeper's part -------------------------------------------------------------

    async def sweep(self, batch_size: int) -> int:
        """Settles orders whose placing was abandoned, and deletes orders of cancelled
        or expired bookings. Returns how many bookings it worked on."""
        settling = await self._store.claim_order_work(
            ProviderOrderStatus.ORDERING.value, self._lease, batch_size
        )
        for work in settling:
            await self._settle_abandoned(work)
        cancelling = await self._store.claim_order_work(
            ProviderOrderStatus.CANCELLING.value, self._lease, batch_size
        )
        for work in cancelling:
            if await self._cancel(work.provider, work.reference, work.order_id, work.remark):
                await self._store.order_cancelled(work.booking_id)
        return len(settling) + len(cancelling)

    async def _settle_abandoned(self, work: OrderWork) -> None:
        try:
            found = await self._provider(work.provider).find_order(work.remark)
        except (LookupUnavailable, ProviderUnavailable) as exc:
            log.warning(
                "provider order lookup failed; will retry",
                extra={"booking_reference": work.reference, "error": str(exc)},
            )
            return
        if found is None:
            if await self._store.release_pending(work.booking_id):
                log.info(
                    "abandoned booking released: no provider order",
                    extra={"booking_reference": work.reference},
                )
            return
        if await self._store.attach_order(work.booking_id, found.order_id, found.record_locator):
            log.info(
                "abandoned booking settled: provider order found",
                extra={"booking_reference": work.reference},
            )
            return
        current = await self._store.load(work.booking_id)
        if current is None or current.provider_order_id != found.order_id:
            await self._delete_quietly(work.provider, found.order_id, work.reference)


def provider_offer_field(plan: BookingPlan) -> str:
    index = next(i for i, o in enumerate(plan.offers) if o.provider is not None)
    return f"offer_ids[{index}]"
