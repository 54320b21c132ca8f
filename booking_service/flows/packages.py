"""Bookings with a hotel stay (hotel alone, or flights + hotel: a package), confirmed all
or none by a state machine persisted in PostgreSQL (``booking_packages``).

The hotel item is priced again at create (search's PriceHotelOffer, or with flights
priced by search the same PriceItems call as they: the supplier's offer pricing; a
changed price is refused or accepted within max_total_price, never applied
silently) and written with the booking, its flights' seats held as today. Nothing is
booked at the supplier until confirmation, which runs in steps:

1. claim: HELD -> CONFIRMING in one statement that also checks the booking is held
   within its hold; the package's ``fence`` grows and a lease starts; the payment is
   recorded on the row (a resumer needs it for step 4).
2. flights' order (provider flights): the provider still holds it.
3. hotel order: NONE -> ORDERING (under the fence), then one create at the supplier
   tagged with the stay's remark. Created -> ORDERED. Refused or never sent -> the
   package fails (compensation). Unknown outcome (timeout, 5xx after sending) -> looked
   up by the remark, never created again: found -> ORDERED; not found -> fails; the
   lookup fails -> the lease is given up and a resumer settles it by lookup.
   A resumer finding ORDERING (its replica died mid-call) looks the order up the same
   way. The move to ORDERING restarts the owner's lease, which is longer than a create
   can take (two calls on a 401, and the token service's), so by the time anyone else
   may take the package up, the dead replica's call is over: one create per stay, ever.
4. flights: the booking HELD -> CONFIRMED (tickets), in the existing guarded statement;
   if the hold ran out meanwhile (or the user cancelled), the package fails.
5. CONFIRMED.

Failing is compensation (state COMPENSATING, under the fence, with the reason): the
hotel order is cancelled at the supplier (found by its remark if its id is not known),
then the booking cancelled and its seats given back (a provider flight order is
cancelled as on any cancel); then FAILED. Each compensation step is idempotent and
retried by the resumer until done, so nothing stays half-booked.

Every write is guarded by the fence the replica took; a replica whose lease ran out
and was taken over writes nothing. The resumer (every replica, each sweep) claims
CONFIRMING / COMPENSATING packages whose lease ran out with ``FOR UPDATE SKIP LOCKED``
and drives them on; it also retries hotel orders left to cancel (``CANCELLING``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter

from booking_service.flows.upstream_orders import REMARK_PREFIX, ProviderOrdering
from booking_service.flows.wire import status_name
from booking_service.pricing.hotels import HotelPricer, PricedHotel
from booking_service.store.hotels import HotelStayRecord, HotelStore, PackageRecord
from booking_service.store.models import (
    BookingStatus,
    HotelOrderStatus,
    PackageState,
    PassengerType,
)
from booking_service.store.repository import (
    BookingRecord,
    BookingStore,
    PackageClaim,
    PassengerRecord,
)
from services.errors import (
    ConflictError,
    DomainError,
    FailedPreconditionError,
    UnavailableError,
)
from services.providers.base import (
    LookupUnavailable,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    PlacedOrder,
    ProviderUnavailable,
)
from services.providers.hotels import HotelGuest, HotelOrderRequest, HotelProvider

log = logging.getLogger("skyroute.booking.packages")

# failure_reason values (ErrorInfo reasons of a failed confirmation).
HOTEL_SOLD_OUT = "HOTEL_SOLD_OUT"
HOTEL_PRICE_CHANGED = "HOTEL_PRICE_CHANGED"
HOTEL_REJECTED = "HOTEL_REJECTED"
HOTEL_NOT_BOOKED = "HOTEL_NOT_BOOKED"
HOLD_EXPIRED = "HOLD_EXPIRED"
BOOKING_CANCELLED = "BOOKING_CANCELLED"
PROVIDER_ORDER_CANCELLED = "PROVIDER_ORDER_CANCELLED"

_MESSAGES = {
    HOTEL_SOLD_OUT: "the hotel has no rooms left for the stay",
    HOTEL_PRICE_CHANGED: "the hotel's price changed since the booking was made",
    HOTEL_REJECTED: "the hotel supplier refused the order",
    HOTEL_NOT_BOOKED: "the hotel supplier could not be reached or did not book the stay",
    HOLD_EXPIRED: "the hold expired before the booking was confirmed",
    BOOKING_CANCELLED: "the booking was cancelled during its confirmation",
    PROVIDER_ORDER_CANCELLED: "the provider no longer holds the flights' seats",
}


def new_hotel_remark(reference: str) -> str:
    return f"{REMARK_PREFIX}-H-{reference}-{secrets.token_hex(4).upper()}"


def stay_record(booking_id: int, priced: PricedHotel, remark: str) -> HotelStayRecord:
    return HotelStayRecord(
        booking_id=booking_id,
        provider=priced.provider,
        offer_id=priced.offer_id,
        supplier_offer_id=priced.supplier_offer_id,
        hotel_id=priced.hotel_id,
        hotel_name=priced.hotel_name,
        city_code=priced.city_code,
        room_type=priced.room_type,
        room_description=priced.room_description,
        board_type=priced.board_type,
        check_in=priced.check_in,
        check_out=priced.check_out,
        rooms=priced.rooms,
        refundable=priced.refundable,
        cancellation_deadline=priced.cancellation_deadline,
        price=priced.total,
        remark=remark,
        order_status=HotelOrderStatus.NONE.value,
    )


def hotel_guests(passengers: Sequence[PassengerRecord]) -> tuple[HotelGuest, ...]:
    """The stay's guests by name, the lead guest first: the first adult (validation
    makes sure there is one), who carries the booking's contact at the supplier."""
    lead = next((p for p in passengers if p.passenger_type == PassengerType.ADULT), None)
    ordered = ([lead] if lead else []) + [p for p in passengers if p is not lead]
    return tuple(HotelGuest(p.given_name, p.family_name) for p in ordered)


def hotel_refund(stay: HotelStayRecord, was_confirmed: bool, now: datetime) -> Decimal:
    """A confirmed stay's refund on cancellation: its price while refundable (before
    its deadline), nothing after it or when not refundable; a held stay was not charged."""
    if not was_confirmed or not stay.refundable:
        return Decimal(0)
    if stay.cancellation_deadline is not None and now >= stay.cancellation_deadline:
        return Decimal(0)
    return stay.price


def failed_error(reference: str, reason: str) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"booking {reference} was not confirmed: {_MESSAGES.get(reason, reason)}; nothing "
        f"was booked and the booking is cancelled",
        reason=reason,
        metadata={"booking_reference": reference},
    )


def _not_held(booking: BookingRecord) -> FailedPreconditionError:
    return FailedPreconditionError(
        f"booking {booking.reference} is {status_name(booking.status)}, not "
        f"{status_name(BookingStatus.HELD)}",
        reason="BOOKING_NOT_HELD",
        metadata={"booking_reference": booking.reference, "status": status_name(booking.status)},
    )


class PackageMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "skyroute_booking_hotel_orders_total",
            "Hotel order attempts by outcome (created, found, rejected, not_sent, "
            "not_found, unknown)",
            ["outcome"],
            registry=registry,
        )
        self.packages = Counter(
            "skyroute_booking_packages_total",
            "Confirmations of bookings with a hotel stay, by end state (confirmed, failed)",
            ["state"],
            registry=registry,
        )
        self.resumed = Counter(
            "skyroute_booking_packages_resumed_total",
            "Packages taken up by a resumer after their lease ran out",
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A package's rows as its claim left them (see Packages.confirm); ``ordering``:
    the claim moved the stay NONE -> ORDERING (the record still says NONE)."""

    booking: BookingRecord
    stay: HotelStayRecord
    package: PackageRecord
    ordering: bool


class Step(enum.Enum):
    DONE = "done"  # CONFIRMED or FAILED: see the package row
    LOST = "lost"  # another replica holds the package now
    WAITING = "waiting"  # an outcome is not known yet; the resumer carries on


@dataclass(frozen=True, slots=True)
class PackageConfig:
    lease_seconds: float
    ticket_prefix: str
    batch_size: int = 50


class Packages:
    """Confirmation, cancellation at the supplier and resumption of hotel stays."""

    def __init__(
        self,
        store: BookingStore,
        hotels: HotelStore,
        pricer: HotelPricer | None,
        supplier: HotelProvider | None,
        config: PackageConfig,
        *,
        ordering: ProviderOrdering | None = None,
        metrics: PackageMetrics | None = None,
    ) -> None:
        self._store = store
        self._hotels = hotels
        self._pricer = pricer
        self._supplier = supplier
        self._config = config
        self._ordering = ordering
        self._metrics = metrics

    @property
    def hotels(self) -> HotelStore:
        return self._hotels

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.outcomes.labels(outcome).inc()

    # -- create -------------------------------------------------------------------------

    async def price(self, offer_id: str) -> PricedHotel:
        self.check_bookable()
        assert self._pricer is not None
        return self.accept(await self._pricer.price(offer_id))

    def check_bookable(self) -> None:
        """Raises unless hotel offers can be priced and booked here."""
        if self._pricer is None or self._supplier is None:
            raise FailedPreconditionError(
                "hotel_offer_id: hotel stays cannot be booked here (no hotel supplier is "
                "configured)",
                reason="OFFER_NOT_BOOKABLE",
                metadata={"field": "hotel_offer_id"},
            )

    def accept(self, priced: PricedHotel) -> PricedHotel:
        """The priced offer (``price``'s, or search's PriceItems' with flights), if it is
        of the supplier booked here."""
        assert self._supplier is not None  # check_bookable
        if priced.provider != self._supplier.name:
            raise FailedPreconditionError(
                f"hotel_offer_id: offers of the supplier {priced.provider!r} cannot be booked here",
                reason="OFFER_NOT_BOOKABLE",
                metadata={"field": "hotel_offer_id"},
            )
        return priced

    # -- read ---------------------------------------------------------------------------

    async def with_stays(self, bookings: list[BookingRecord]) -> list[BookingRecord]:
        """The bookings with their hotel stay and package row (one query each)."""
        stays, packages = await self._hotels.of([b.id for b in bookings])
        return [
            replace(b, hotel=stays.get(b.id), package=packages.get(b.id)) if b.id in stays else b
            for b in bookings
        ]

    async def with_stay(self, booking: BookingRecord) -> BookingRecord:
        return (await self.with_stays([booking]))[0]

    # -- confirm ------------------------------------------------------------------------

    def unread_claim(self) -> PackageClaim:
        """How BookingStore.confirm_unread claims a package for ``confirm`` (its
        ``claimed``): as ``confirm`` would."""
        return PackageClaim(self._config.lease_seconds, self._ordering is not None)

    async def confirm(
        self,
        booking: BookingRecord,
        payment_reference: str,
        token_digest: str,
        claimed: tuple[int, bool] | None = None,
        on_claimed: Callable[[BookingRecord], None] | None = None,
    ) -> BookingRecord:
        """Confirms a HELD booking with a stay (the payment authorised by the caller),
        ``booking`` as read with its stay and package row. Returns the confirmed
        booking, or raises the failure (the booking is then cancelled, nothing booked).
        ``claimed``: (fence, stay taken ORDERING) if the statement that read
        ``booking`` claimed it for this payment already (``unread_claim``).
        ``on_claimed``: called (without blocking) once the package is claimed, before
        its steps run; not if it was not ours to claim (Bookings.confirm)."""
        stay, package = booking.hotel, booking.package
        assert stay is not None and package is not None
        if claimed is None:
            # With no flights' provider order to check first (step 2), the claim takes
            # the stay's NONE -> ORDERING (step 3's first write) in its statement.
            order_now = booking.provider_order_id is None or self._ordering is None
            claimed = await self._hotels.claim_confirm(
                booking.id,
                self._config.lease_seconds,
                payment_reference,
                token_digest,
                ordering=order_now,
            )
        if claimed is None:
            return await self._settled(booking.id, token_digest, claimed=False)
        fence, ordering = claimed
        if on_claimed is not None:
            # Ours now and going ahead: the booking is the caller's, held within its
            # hold, the payment authorised (ConfirmBooking's link starts here).
            on_claimed(booking)
        log.info("package confirmation started", extra={"booking_reference": booking.reference})
        # The rows as the claim left them, without reading them again: the claim took a
        # HELD package of a booking HELD within its hold, whose stay is NONE (nothing
        # moves it before a claim) and whose other columns do not change.
        known = Claimed(
            booking,
            stay,
            replace(
                package,
                state=PackageState.CONFIRMING.value,
                fence=fence,
                payment_reference=payment_reference,
                payment_token_hash=token_digest,
            ),
            ordering,
        )
        # Shielded: a caller that gives up must not cut a step off half-way.
        step = await asyncio.shield(self._drive(booking.id, fence, known))
        if isinstance(step, BookingRecord):  # confirmed just now, as written
            return step
        if step == Step.WAITING:
            raise UnavailableError(
                "the hotel supplier did not say whether the stay was booked; it is being "
                "settled (never booked twice): retry ConfirmBooking shortly",
                reason="PROVIDER_OUTCOME_UNKNOWN",
            )
        return await self._settled(booking.id, token_digest, claimed=True)

    async def _settled(self, booking_id: int, token_digest: str, *, claimed: bool) -> BookingRecord:
        """The answer for a package once its confirmation has run (or was not ours)."""
        current = await self._store.load_with_stay(booking_id)
        if current is None:
            raise LookupError(f"booking {booking_id} vanished")
        package = current.package
        assert package is not None
        if package.state == PackageState.CONFIRMED:
            if package.payment_token_hash == token_digest:
                return current
            raise _not_held(current)
        if package.state == PackageState.FAILED and (
            package.payment_token_hash == token_digest or claimed
        ):
            raise failed_error(current.reference, package.failure_reason or HOTEL_NOT_BOOKED)
        if package.state in (PackageState.CONFIRMING, PackageState.COMPENSATING):
            if package.payment_token_hash == token_digest:
                # Our retry while it runs (or waits for the resumer): drive it now if
                # its lease is free, else say so.
                taken = await self._hotels.claim_stuck(booking_id, self._config.lease_seconds, 1)
                if taken:
                    step = await asyncio.shield(self._drive(*taken[0]))
                    if isinstance(step, BookingRecord) or step != Step.WAITING:
                        return await self._settled(booking_id, token_digest, claimed=True)
            raise ConflictError(
                f"booking {current.reference} is being confirmed; retry shortly",
                reason="CONFIRMATION_IN_PROGRESS",
                metadata={"booking_reference": current.reference},
            )
        if current.status == BookingStatus.HELD:  # HELD package, not claimable: hold ran out
            raise FailedPreconditionError(
                f"the hold on booking {current.reference} has expired",
                reason="HOLD_EXPIRED",
                metadata={
                    "booking_reference": current.reference,
                    "hold_expire_time": current.hold_expires_at.isoformat(),
                },
            )
        if current.status == BookingStatus.EXPIRED:
            raise failed_error(current.reference, HOLD_EXPIRED)
        raise _not_held(current)

    async def _load(self, booking_id: int) -> tuple[BookingRecord, HotelStayRecord, PackageRecord]:
        booking = await self._store.load_with_stay(booking_id)
        if booking is None:
            raise LookupError(f"booking {booking_id} vanished")
        assert booking.hotel is not None and booking.package is not None
        return booking, booking.hotel, booking.package

    async def _drive(
        self, booking_id: int, fence: int, known: Claimed | None = None
    ) -> Step | BookingRecord:
        """Runs the package's remaining steps under ``fence`` (from the rows ``known``
        at the claim, else read now); the booking when it was confirmed here."""
        try:
            return await self._steps(booking_id, fence, known)
        except DomainError:
            await self._hotels.release(booking_id, fence)
            raise
        except Exception:
            log.exception("package step failed; the resumer will retry")
            await self._hotels.release(booking_id, fence)
            return Step.WAITING

    async def _steps(
        self, booking_id: int, fence: int, known: Claimed | None
    ) -> Step | BookingRecord:
        if known is None:
            booking, stay, package = await self._load(booking_id)
        else:
            booking, stay, package = known.booking, known.stay, known.package
        if package.fence != fence:
            return Step.LOST
        if package.state == PackageState.COMPENSATING:
            return await self._compensate(booking, stay, fence, package.failure_reason)
        if package.state != PackageState.CONFIRMING:
            return Step.DONE
        extra = {"booking_reference": booking.reference}
        # Step 2: the flights' provider order is still there (before anything is booked).
        if (
            stay.order_status == HotelOrderStatus.NONE
            and booking.provider_order_id is not None
            and self._ordering is not None
            and booking.status == BookingStatus.HELD
        ):
            try:
                await self._ordering.check_order(booking)
            except FailedPreconditionError:
                return await self._fail(booking, stay, fence, PROVIDER_ORDER_CANCELLED)
            except UnavailableError:
                await self._hotels.release(booking_id, fence)
                return Step.WAITING
        # Step 3: the hotel order.
        status = BookingStatus(booking.status)
        if stay.order_status in (HotelOrderStatus.NONE, HotelOrderStatus.ORDERING):
            if booking.status != BookingStatus.HELD and stay.order_status == HotelOrderStatus.NONE:
                # The hold ran out or the booking was cancelled first: book nothing.
                reason = (
                    HOLD_EXPIRED if booking.status == BookingStatus.EXPIRED else BOOKING_CANCELLED
                )
                return await self._fail(booking, stay, fence, reason)
            taken = known is not None and known.ordering
            outcome = await self._order_hotel(booking, stay, fence, taken=taken)
            if isinstance(outcome, Step):
                return outcome
            if isinstance(outcome, str):
                return await self._fail(booking, stay, fence, outcome)
            recorded = await self._record_order(booking, package, fence, outcome)
            if not isinstance(recorded, BookingStatus):
                return recorded
            status = recorded
        elif stay.order_status != HotelOrderStatus.ORDERED:
            # Cancelled meanwhile (the booking was cancelled): nothing to confirm.
            return await self._fail(booking, stay, fence, BOOKING_CANCELLED)
        # Step 4: the flights (the booking itself), in its guarded statement.
        if status == BookingStatus.HELD:
            assert package.payment_reference and package.payment_token_hash
            confirmed = await self._store.confirm(
                booking_id,
                package.payment_reference,
                package.payment_token_hash,
                self._config.ticket_prefix,
            )
            if confirmed is None:
                current = await self._store.load(booking_id)
                status = BookingStatus(current.status) if current else BookingStatus.CANCELLED
            else:
                status = BookingStatus.CONFIRMED
        if status != BookingStatus.CONFIRMED:
            reason = BOOKING_CANCELLED if status == BookingStatus.CANCELLED else HOLD_EXPIRED
            booking, stay, _ = await self._load(booking_id)
            return await self._fail(booking, stay, fence, reason)
        # Step 5.
        if not await self._hotels.set_state(booking_id, fence, PackageState.CONFIRMED):
            return Step.LOST
        self._confirmed(extra)
        return Step.DONE

    async def _record_order(
        self, booking: BookingRecord, package: PackageRecord, fence: int, placed: PlacedOrder
    ) -> Step | BookingRecord | BookingStatus:
        """Records the stay ORDERED. While the booking is held, steps 4 and 5 go in the
        same statement, which gives the confirmed booking back; otherwise (or if the
        booking was no longer held) the booking's status for step 4. Step.LOST if the
        fence was lost (the new owner finds the order by its remark)."""
        extra = {"booking_reference": booking.reference}
        if booking.status != BookingStatus.HELD:
            if not await self._hotels.stay_ordered(
                booking.id, fence, placed.order_id, placed.record_locator
            ):
                return Step.LOST
            log.info("hotel order placed", extra=extra)
            return BookingStatus(booking.status)
        assert package.payment_reference and package.payment_token_hash
        done = await self._store.confirm_ordered(
            booking.id,
            fence,
            placed.order_id,
            placed.record_locator,
            package.payment_reference,
            package.payment_token_hash,
            self._config.ticket_prefix,
        )
        if not done.ordered:
            return Step.LOST
        log.info("hotel order placed", extra=extra)
        if done.booking is not None:
            self._confirmed(extra)
            return done.booking
        current = await self._store.load(booking.id)
        return BookingStatus(current.status) if current else BookingStatus.CANCELLED

    def _confirmed(self, extra: dict[str, str]) -> None:
        if self._metrics is not None:
            self._metrics.packages.labels("confirmed").inc()
        log.info("package confirmed", extra=extra)

    async def _order_hotel(
        self, booking: BookingRecord, stay: HotelStayRecord, fence: int, *, taken: bool = False
    ) -> PlacedOrder | str | Step:
        """The stay's order at the supplier: placed (the caller records it ORDERED), a
        failure reason (nothing booked), or a Step when it cannot be told now.
        ``taken``: the stay's NONE -> ORDERING was made with the claim."""
        assert self._supplier is not None
        extra = {"booking_reference": booking.reference}
        placed: PlacedOrder | None
        if stay.order_status == HotelOrderStatus.ORDERING:
            # A previous attempt's outcome is unknown (its replica died or the supplier
            # did not say): look it up, never create it again.
            found = await self._lookup(booking, stay, fence)
            if isinstance(found, Step):
                return found
            if found is None:
                self._count("not_found")
                return HOTEL_NOT_BOOKED
            placed = found
        else:
            if not taken and not await self._hotels.stay_ordering(
                booking.id, fence, self._config.lease_seconds
            ):
                return Step.LOST
            request = HotelOrderRequest(
                offer_id=stay.supplier_offer_id,
                rooms=stay.rooms,
                guests=hotel_guests(booking.passengers),
                email=booking.contact_email,
                remark=stay.remark,
                phone=booking.contact_phone or "",
            )
            try:
                placed = await self._supplier.create_order(request)
                self._count("created")
            except OrderRejected as exc:
                self._count("rejected")
                log.info("hotel supplier refused the order", extra={**extra, "codes": exc.codes})
                await self._hotels.stay_status(booking.id, fence, HotelOrderStatus.CANCELLED)
                if exc.sold_out:
                    return HOTEL_SOLD_OUT
                return HOTEL_PRICE_CHANGED if exc.price_changed else HOTEL_REJECTED
            except OrderNotSent as exc:
                self._count("not_sent")
                log.warning("hotel order not sent", extra={**extra, "error": str(exc)})
                await self._hotels.stay_status(booking.id, fence, HotelOrderStatus.CANCELLED)
                return HOTEL_NOT_BOOKED
            except OrderOutcomeUnknown as exc:
                log.warning(
                    "hotel order outcome unknown; looking it up",
                    extra={**extra, "error": str(exc)},
                )
                found = await self._lookup(booking, stay, fence)
                if isinstance(found, Step):
                    return found
                if found is None:
                    self._count("not_found")
                    await self._hotels.stay_status(booking.id, fence, HotelOrderStatus.CANCELLED)
                    return HOTEL_NOT_BOOKED
                placed = found
        return placed

    async def _lookup(
        self, booking: BookingRecord, stay: HotelStayRecord, fence: int
    ) -> PlacedOrder | Step | None:
        assert self._supplier is not None
        try:
            found = await self._supplier.find_order(stay.remark)
        except LookupUnavailable as exc:
            self._count("unknown")
            log.warning(
                "hotel order lookup failed; the resumer will settle it",
                extra={"booking_reference": booking.reference, "error": str(exc)},
            )
            await self._hotels.release(booking.id, fence)
            return Step.WAITING
        if found is not None:
            self._count("found")
            log.info(
                "hotel order found by its remark", extra={"booking_reference": booking.reference}
            )
        return found

    async def _fail(
        self, booking: BookingRecord, stay: HotelStayRecord, fence: int, reason: str
    ) -> Step:
        if not await self._hotels.set_state(booking.id, fence, PackageState.COMPENSATING, reason):
            return Step.LOST
        log.info(
            "package confirmation failed; compensating",
            extra={"booking_reference": booking.reference, "reason": reason},
        )
        booking, stay, _ = await self._load(booking.id)
        return await self._compensate(booking, stay, fence, reason)

    async def _compensate(
        self, booking: BookingRecord, stay: HotelStayRecord, fence: int, reason: str | None
    ) -> Step:
        """Undoes the package: the hotel order cancelled, the booking cancelled (seats
        back, the flights' provider order cancelled). Idempotent."""
        if stay.order_status in (
            HotelOrderStatus.ORDERING,
            HotelOrderStatus.ORDERED,
            HotelOrderStatus.CANCELLING,
        ):
            if not await self._cancel_at_supplier(booking.reference, stay):
                await self._hotels.release(booking.id, fence)
                return Step.WAITING
            await self._hotels.stay_status(booking.id, fence, HotelOrderStatus.CANCELLED)
        if booking.status in (BookingStatus.HELD, BookingStatus.CONFIRMED):
            async with self._store.transaction() as tx:
                # Nothing was charged: the payment is voided with the package.
                won = await tx.cancel(booking.id, Decimal(0))
                cancelled = await tx.load(booking.id)
            if won and cancelled.provider is not None and self._ordering is not None:
                await self._ordering.cancel_now(cancelled)
            if not won and cancelled.status == BookingStatus.HELD:
                # HELD past its hold: expired now (seats back), as the sweeper would.
                await self._store.expire_due(self._config.batch_size)
                current = await self._store.load(booking.id)
                if current is None or current.status == BookingStatus.HELD:
                    await self._hotels.release(booking.id, fence)
                    return Step.WAITING
        if not await self._hotels.set_state(booking.id, fence, PackageState.FAILED, reason):
            return Step.LOST
        if self._metrics is not None:
            self._metrics.packages.labels("failed").inc()
        log.info(
            "package compensated: nothing booked",
            extra={"booking_reference": booking.reference, "reason": reason},
        )
        return Step.DONE

    async def _cancel_at_supplier(self, reference: str, stay: HotelStayRecord) -> bool:
        """True once the stay's order is gone at the supplier (or was never placed)."""
        if self._supplier is None:
            return False
        try:
            order_id = stay.supplier_order_id
            if order_id is None:
                found = await self._supplier.find_order(stay.remark)
                if found is None:
                    return True
                order_id = found.order_id
            deleted = await self._supplier.cancel_order(order_id)
        except (ProviderUnavailable, LookupUnavailable) as exc:
            log.warning(
                "hotel order not cancelled yet; will retry",
                extra={"booking_reference": reference, "error": str(exc)},
            )
            return False
        log.info(
            "hotel order cancelled", extra={"booking_reference": reference, "was_live": deleted}
        )
        return True

    # -- cancel -------------------------------------------------------------------------

    async def cancel_now(self, booking: BookingRecord) -> None:
        """After a cancel committed with the stay CANCELLING: cancels at the supplier
        at once; on failure the resumer retries."""
        if booking.hotel is None or booking.hotel.order_status != HotelOrderStatus.CANCELLING:
            return
        if await self._cancel_at_supplier(booking.reference, booking.hotel):
            await self._hotels.stay_cancelled(booking.id)

    # -- the resumer --------------------------------------------------------------------

    async def resume(self) -> int:
        """Takes up packages whose lease ran out and hotel orders left to cancel; how
        many it worked on."""
        claimed = await self._hotels.claim_stuck(
            None, self._config.lease_seconds, self._config.batch_size
        )
        for booking_id, fence in claimed:
            if self._metrics is not None:
                self._metrics.resumed.inc()
            log.info("resuming a package", extra={"booking_id": booking_id})
            try:
                await self._drive(booking_id, fence)
            except DomainError as exc:
                log.warning("resumed package step failed", extra={"error": str(exc)})
        cancelling = await self._hotels.claim_cancelling(
            self._config.lease_seconds, self._config.batch_size
        )
        for stay in cancelling:
            if await self._cancel_at_supplier(str(stay.booking_id), stay):
                await self._hotels.stay_cancelled(stay.booking_id)
        return len(claimed) + len(cancelling)
