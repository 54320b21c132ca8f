"""The booking flows: create (revalidate + hold), confirm, get, list, cancel.

Knows nothing of gRPC: takes the caller's user id and plain inputs, returns
``BookingRecord`` rows (with segments and passengers), raises the domain errors of
services/errors.py. Every booking query is scoped to the user, so another user's
booking is NOT_FOUND, never PERMISSION_DENIED (no enumeration).

Offers of upstream providers are booked through their order API (upstream_orders.py):
the booking is held PENDING while the order is placed, then HELD with the order as its
hold; cancel deletes the order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from booking_service.flows import page_tokens
from booking_service.flows.packages import (
    Packages,
    hotel_refund,
    new_hotel_remark,
    stay_record,
)
from booking_service.flows.payments import SimulatedPayments, token_hash
from booking_service.flows.plan import (
    BookingPlan,
    check_price,
    final_prices,
    plan_booking,
    sold_out,
)
from booking_service.flows.pnr import new_reference
from booking_service.flows.refunds import refund_if_confirmed
from booking_service.flows.upstream_orders import ProviderOrdering, new_remark, provider_offer_field
from booking_service.flows.validation import (
    CreateBookingInput,
    ValidRequest,
    validate_payment_token,
    validate_reference,
    validate_request,
)
from booking_service.flows.wire import status_name
from booking_service.pricing.checker import PriceChecker
from booking_service.pricing.from_search import SearchPriceChecker
from booking_service.pricing.hotels import PricedHotel
from booking_service.settings import BookingPolicy
from booking_service.store.hotels import insert_stay, mark_cancel, stay_for_update
from booking_service.store.models import BookingStatus
from booking_service.store.repository import (
    BookingRecord,
    BookingStore,
    HeldFare,
    NewBookingRow,
    PassengerRecord,
    ReferenceTaken,
    SeatsUnavailable,
    SegmentRecord,
)
from services.errors import (
    AlreadyExistsError,
    ConflictError,
    DomainError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
    ValidationError,
    shown,
)

log = logging.getLogger("skyroute.booking")

REFERENCE_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Page:
    bookings: Sequence[BookingRecord]
    next_page_token: str


def _not_found(reference: str) -> NotFoundError:
    return NotFoundError(
        f"booking {shown(reference)} not found",
        reason="BOOKING_NOT_FOUND",
        metadata={"booking_reference": shown(reference)},
    )


class Bookings:
    def __init__(
        self,
        store: BookingStore,
        prices: PriceChecker,
        policy: BookingPolicy,
        *,
        payments: SimulatedPayments | None = None,
        references: Callable[[], str] = new_reference,
        clock: Callable[[], float] = time.time,
        ordering: ProviderOrdering | None = None,
        packages: Packages | None = None,
    ) -> None:
        """``ordering``: the provider's order API; None: provider offers are refused.
        ``packages``: hotel stays (flows/packages.py); None: hotel offers are refused."""
        self._store = store
        self._prices = prices
        self._policy = policy
        self._payments = payments or SimulatedPayments()
        self._references = references
        self._clock = clock
        self._ordering = ordering
        self._packages = packages

    async def _details(self, booking: BookingRecord) -> BookingRecord:
        """The booking with its hotel stay, if any."""
        if self._packages is None:
            return booking
        return await self._packages.with_stay(booking)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _today(self) -> date:
        return self._now().date()

    # -- create ---------------------------------------------------------------------

    async def create(self, user_id: str, raw: CreateBookingInput) -> BookingRecord:
        request = validate_request(raw, self._today(), self._prices.check_offer_id)
        try:
            plan, ordering, booking = await self._price_and_hold(user_id, request)
        except DomainError:
            # A retry of a request that made its booking already gets that booking,
            # even if its offers have changed or sold out since.
            existing = await self._store.find_by_request(user_id, request.request_id)
            if existing is None:
                raise
            return await self._details(self._same_request(existing, request))
        if booking is None:  # the request_id is taken: a retry, or a concurrent one won
            existing = await self._store.find_by_request(user_id, request.request_id)
            if existing is None:  # bookings are never deleted: not expected
                raise ConflictError(
                    "concurrent request with the same request_id; retry",
                    reason="REQUEST_IN_PROGRESS",
                )
            return await self._details(self._same_request(existing, request))
        if ordering is not None:
            # Shielded: a caller that gives up (deadline, disconnect) must not cut the
            # order off half-way; it completes, and a retry finds the booking.
            booking = await asyncio.shield(ordering.place(booking, plan))
            if plan.hotel is not None:
                booking = await self._details(booking)
        log.info(
            "booking held",
            extra={
                "booking_reference": booking.reference,
                "seats": plan.party.seats,
                "segments": len(plan.segments),
                "provider": booking.provider,
                "hotel": plan.hotel is not None,
            },
        )
        return booking  # with its stay and package row as written, if it has one

    async def _price_and_hold(
        self, user_id: str, request: ValidRequest
    ) -> tuple[BookingPlan, ProviderOrdering | None, BookingRecord | None]:
        """Revalidates the offers and holds their seats under a fresh reference; the
        booking is None if the request_id is taken."""
        hotel: PricedHotel | None = None
        if request.hotel_offer_id:
            if self._packages is None:
                raise FailedPreconditionError(
                    "hotel_offer_id: hotel stays cannot be booked here (no hotel supplier is "
                    "configured)",
                    reason="OFFER_NOT_BOOKABLE",
                    metadata={"field": "hotel_offer_id"},
                )
            if request.offer_ids and isinstance(self._prices, SearchPriceChecker):
                # Flights and hotel from search: one PriceItems call prices both.
                self._packages.check_bookable()
                offers, priced = await self._prices.price_items(
                    request.offer_ids, request.hotel_offer_id
                )
                assert priced is not None
                hotel = self._packages.accept(priced)
            elif request.offer_ids:
                offers, hotel = await asyncio.gather(
                    self._prices.price_offers(request.offer_ids),
                    self._packages.price(request.hotel_offer_id),
                )
            else:
                offers, hotel = [], await self._packages.price(request.hotel_offer_id)
        else:
            offers = await self._prices.price_offers(request.offer_ids)
        plan = plan_booking(request, offers, hotel)
        check_price(plan)
        ordering = self._ordering_for(plan)
        for _ in range(REFERENCE_ATTEMPTS):
            reference = self._references()
            remark = new_remark(reference) if ordering is not None else None
            try:
                return plan, ordering, await self._hold(user_id, plan, reference, remark)
            except ReferenceTaken:
                continue
        raise ConflictError(
            "could not allocate a booking reference; retry", reason="REFERENCE_ALLOCATION_FAILED"
        )

    def _ordering_for(self, plan: BookingPlan) -> ProviderOrdering | None:
        """The order API for the plan's provider offers; None without any."""
        provider = plan.provider
        if provider is None:
            return None
        if self._ordering is None or not self._ordering.serves(provider):
            field = provider_offer_field(plan)
            raise FailedPreconditionError(
                f"{field}: offers of the provider {shown(provider)!r} cannot be booked here (its "
                f"order API is not configured)",
                reason="OFFER_NOT_BOOKABLE",
                metadata={"field": field},
            )
        return self._ordering

    def _same_request(self, existing: BookingRecord, request: ValidRequest) -> BookingRecord:
        if existing.request_hash != request.request_hash:
            raise AlreadyExistsError(
                f"request_id {shown(request.request_id)!r} was already used for a different "
                f"booking request; use a new request_id for a new booking",
                reason="REQUEST_ID_REUSED",
                metadata={
                    "request_id": shown(request.request_id),
                    "booking_reference": existing.reference,
                },
            )
        if existing.status == BookingStatus.PENDING:
            raise ConflictError(
                "the booking with this request_id is still being placed "
                "with the provider; retry shortly",
                reason="REQUEST_IN_PROGRESS",
                metadata={"request_id": request.request_id},
            )
        return existing

    async def _hold(
        self, user_id: str, plan: BookingPlan, reference: str, remark: str | None
    ) -> BookingRecord | None:
        """Writes the booking and takes its seats, all or nothing; None if the request
        id is taken. With a ``remark`` (provider offers) the booking is PENDING until
        its order is placed.

        One inventory fare (with its hotel stay, if any) is one statement that takes the
        seats only while the fare still costs what it was priced at (any price while
        guaranteed). Otherwise, or
        when that fare's price or currency has moved since: one transaction that
        writes the booking, passengers and segments, then takes the seats on every
        fare (ascending fare id) as its last statements, so a busy fare's row lock is
        held only until the commit, and reprices segments whose fare's price read
        under its lock differs."""
        request = plan.request
        row = NewBookingRow(
            reference=reference,
            user_id=user_id,
            request_id=request.request_id,
            request_hash=request.request_hash,
            currency=plan.currency,
            total_price=plan.total,
            contact_email=request.email,
            contact_phone=request.phone,
            hold_seconds=self._policy.hold_seconds,
            provider=plan.provider if remark is not None else None,
            provider_remark=remark,
        )
        priced_hotel = plan.hotel
        passengers = [
            PassengerRecord(
                t.given_name,
                t.family_name,
                t.birth_date,
                kind.value,
                t.document.type.value if t.document else None,
                t.document.number if t.document else None,
                t.document.country if t.document else None,
                t.document.expire_date if t.document else None,
            )
            for t, kind in zip(request.travellers, plan.passenger_types, strict=True)
        ]
        segments = [
            SegmentRecord(
                offer_index=s.offer_index,
                offer_id=s.offer_id,
                fare_id=s.priced.fare_id,
                leg=s.priced.leg,
                cabin=s.priced.cabin,
                seats=s.seats,
                price=s.priced.price,
                refundable=s.priced.refundable,
                change_fee=s.priced.change_fee,
            )
            for s in plan.segments
        ]
        # The stay (booking id set once written), under a remark new for this reference.
        new_stay = (
            None
            if priced_hotel is None
            else stay_record(0, priced_hotel, new_hotel_remark(reference))
        )
        single = self._one_fare(plan, remark)
        if single is not None:
            fare_id, seats, cost = single
            try:
                held = await self._store.hold_one_fare(
                    row,
                    passengers,
                    segments,
                    fare_id,
                    seats,
                    cost,
                    plan.party.weight_percent,
                    new_stay,
                )
            except SeatsUnavailable as exc:
                raise sold_out(plan, exc.fare_id, exc.seats_available) from None
            if not isinstance(held, HeldFare):
                return held
            # The fare's price or currency moved since it was priced: the transaction
            # below reprices the segment (or refuses the new total).
        async with self._store.transaction() as tx:
            booking = await tx.insert_booking(row, passengers, segments)
            if booking is None:
                return None
            if new_stay is not None:
                stay = replace(new_stay, booking_id=booking.id)
                booking = replace(
                    booking, hotel=stay, package=await insert_stay(tx.connection, stay)
                )
            try:
                held_fares = await tx.hold_seats(plan.seats_by_fare)
            except SeatsUnavailable as exc:
                raise sold_out(plan, exc.fare_id, exc.seats_available) from None
            prices = final_prices(plan, held_fares, self._now())
            written = booking.segments
            changed = {
                segment.position: price
                for segment, price in zip(written, prices, strict=True)
                if price != segment.price
            }
            total = sum(prices, plan.hotel_total)
            if changed or total != booking.total_price:
                await tx.set_prices(booking.id, changed, total)
                written = tuple(
                    replace(segment, price=price)
                    for segment, price in zip(written, prices, strict=True)
                )
        return replace(booking, total_price=total, segments=written)

    def _one_fare(
        self, plan: BookingPlan, remark: str | None
    ) -> tuple[int, int, Decimal | None] | None:
        """(fare id, seats, the party's cost to insist on or None for any) when the plan
        is one inventory segment: its priced cost, or None while the offer's price is
        guaranteed (as final_prices decides)."""
        if remark is not None or len(plan.segments) != 1:
            return None
        segment = plan.segments[0]
        if segment.priced.fare_id is None:
            return None
        until = plan.offers[segment.offer_index].guaranteed_until
        guaranteed = until is not None and until > self._now()
        return (segment.priced.fare_id, segment.seats, None if guaranteed else segment.priced.price)

    # -- read -----------------------------------------------------------------------

    async def get(self, user_id: str, reference: str) -> BookingRecord:
        reference = validate_reference(reference)
        if self._packages is None:
            booking = await self._store.get(user_id, reference)
        else:  # with its hotel stay, in the same query
            booking = await self._store.get_with_stay(user_id, reference)
        if booking is None:
            raise _not_found(reference)
        return booking

    async def list(
        self, user_id: str, page_size: int, page_token: str, status: BookingStatus | None
    ) -> Page:
        if page_size < 0:
            raise ValidationError.field("page_size", "must not be negative")
        size = min(page_size or self._policy.default_page_size, self._policy.max_page_size)
        status_value = status.value if status else ""
        before = (
            page_tokens.decode(page_token, user_id, status_value).before_id if page_token else None
        )
        rows = await self._store.page(user_id, status.value if status else None, before, size + 1)
        page = list(rows[:size])
        if self._packages is not None:
            page = await self._packages.with_stays(page)
        next_token = ""
        if len(rows) > size:
            next_token = page_tokens.encode(
                page_tokens.PageToken(page[-1].id, status_value, user_id)
            )
        return Page(page, next_token)

    # -- confirm --------------------------------------------------------------------

    async def confirm(
        self,
        user_id: str,
        reference: str,
        payment_token: str,
        on_claimed: Callable[[BookingRecord], None] | None = None,
    ) -> BookingRecord:
        """``on_claimed``: called (without blocking) once a package is claimed for this
        payment, i.e. it is the user's, held within its hold and the payment authorised,
        before its remaining steps (the hotel order) run: ConfirmBooking starts the
        itinerary link's issue then (itinerary/links.py). Never called otherwise."""
        reference = validate_reference(reference)
        payment_token = validate_payment_token(payment_token)
        token_digest = token_hash(payment_token)
        declined = self._payments.declines(payment_token)
        if not declined:
            # The common case in one statement, without reading the booking first: the
            # payment is authorised for the total the confirmation records. A declined
            # token, a provider booking (its order is checked first), a retry or a
            # booking no longer held take the path below.
            # A package held within its hold is claimed for this payment by the same
            # statement (its confirmation's first step, flows/packages.py).
            payment = self._payments.authorise(payment_token)
            unread = await self._store.confirm_unread(
                user_id,
                reference,
                payment,
                token_digest,
                self._policy.ticket_prefix,
                None if self._packages is None else self._packages.unread_claim(),
            )
            if unread.confirmed is not None:
                log.info("booking confirmed", extra={"booking_reference": reference})
                return unread.confirmed
            if unread.claimed is not None:
                assert unread.package is not None
                return await self._confirm_package(
                    unread.package, payment, token_digest, unread.claimed, on_claimed
                )
            self._payments.void(payment)
            package = unread.package
        else:
            package = None
        # A package came back read with its stay by the statement above.
        booking = package or await self.get(user_id, reference)
        if booking.package is not None and self._packages is not None:
            # A hotel stay: confirmed in steps, all or none (flows/packages.py). A declined
            # payment changes nothing.
            payment = self._payments.authorise(
                payment_token, str(booking.total_price), booking.currency
            )
            return await self._confirm_package(booking, payment, token_digest, None, on_claimed)
        if booking.status != BookingStatus.HELD:
            return self._already(booking, token_digest)
        if booking.provider is None and not declined:
            # Held, with no order to check, yet not confirmed just now: its hold has run
            # out (the sweeper has not expired it yet).
            raise _hold_expired(booking)
        if booking.provider_order_id is not None:
            if self._ordering is None:
                raise UnavailableError(
                    "the provider's order API is not configured", reason="PROVIDER_UNAVAILABLE"
                )
            await self._ordering.check_order(booking)
        # Whether the hold is still valid is decided by the database's clock, in the
        # guarded update below. Authorise first: a declined payment changes nothing and
        # the hold stays.
        payment = self._payments.authorise(
            payment_token, str(booking.total_price), booking.currency
        )
        confirmed = await self._store.confirm(
            booking.id, payment, token_digest, self._policy.ticket_prefix
        )
        if confirmed is not None:
            log.info("booking confirmed", extra={"booking_reference": reference})
            return confirmed
        # The sweeper, a cancel or another confirm got there first.
        self._payments.void(payment)
        current = await self._store.load(booking.id)
        if current is None:  # bookings past PENDING are never deleted: not expected
            raise _not_found(reference)
        if current.status == BookingStatus.HELD:
            raise _hold_expired(current)
        return self._already(current, token_digest)

    async def _confirm_package(
        self,
        booking: BookingRecord,
        payment: str,
        token_digest: str,
        claimed: tuple[int, bool] | None,
        on_claimed: Callable[[BookingRecord], None] | None = None,
    ) -> BookingRecord:
        """A booking with a hotel stay confirmed in steps with the authorised
        ``payment`` (Packages.confirm); the payment is voided unless it stands."""
        assert self._packages is not None
        try:
            confirmed = await self._packages.confirm(
                booking, payment, token_digest, claimed, on_claimed
            )
        except DomainError:
            self._payments.void(payment)
            raise
        if confirmed.payment_reference != payment:  # a retry: the first one's stands
            self._payments.void(payment)
        return confirmed

    def _already(self, booking: BookingRecord, token_digest: str) -> BookingRecord:
        """Confirm on a booking that is not held: a retry of the confirmation that
        succeeded returns it; anything else is FAILED_PRECONDITION."""
        if booking.status == BookingStatus.CONFIRMED and booking.payment_token_hash == token_digest:
            return booking
        if booking.status == BookingStatus.EXPIRED:
            raise _hold_expired(booking)
        raise FailedPreconditionError(
            f"booking {booking.reference} is {status_name(booking.status)}, not "
            f"{status_name(BookingStatus.HELD)}",
            reason="BOOKING_NOT_HELD",
            metadata={
                "booking_reference": booking.reference,
                "status": status_name(booking.status),
            },
        )

    # -- cancel ---------------------------------------------------------------------

    async def cancel(self, user_id: str, reference: str) -> BookingRecord:
        reference = validate_reference(reference)
        async with self._store.transaction() as tx:
            booking = await tx.get(user_id, reference)
            if booking is None:
                raise _not_found(reference)
            won = False
            if booking.status in (BookingStatus.HELD, BookingStatus.CONFIRMED):
                was_confirmed = booking.status == BookingStatus.CONFIRMED
                refund = refund_if_confirmed(booking.segments, len(booking.passengers))
                stay = await stay_for_update(tx.connection, booking.id)
                stay_refund = hotel_refund(stay, was_confirmed, self._now()) if stay else Decimal(0)
                won = await tx.cancel(booking.id, refund + stay_refund)
                if won:
                    if stay is not None:
                        await mark_cancel(tx.connection, booking.id, stay_refund)
                    log.info("booking cancelled", extra={"booking_reference": reference})
                booking = await tx.load(booking.id)
        booking = await self._details(booking)
        if won and booking.provider is not None and self._ordering is not None:
            await asyncio.shield(self._ordering.cancel_now(booking))
        if won and self._packages is not None:
            await asyncio.shield(self._packages.cancel_now(booking))
            booking = await self._details(booking)
        if booking.status in (BookingStatus.HELD, BookingStatus.EXPIRED):
            # Still HELD without winning: the database's clock says the hold has run
            # out (the sweeper has not expired it yet, and gives its seats back when it
            # does). Expired or about to be, the answer is confirm's.
            raise _hold_expired(booking)
        return booking  # CANCELLED: now, or already (idempotent)


def _hold_expired(booking: BookingRecord) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"the hold on booking {booking.reference} has expired",
        reason="HOLD_EXPIRED",
        metadata={
            "booking_reference": booking.reference,
            "hold_expire_time": booking.hold_expires_at.isoformat(),
        },
    )
