"""All of the booking service's SQL.

Seat counts only ever change through conditional, state-guarded statements:

- a hold is ``UPDATE fares SET seats_available = seats_available - n
  WHERE id = :id AND seats_available >= n``, one per fare, in ascending fare id order
  (every transaction that touches several fares locks them in the same order, so they
  cannot deadlock), all in the transaction that inserts the booking: all or none;
- seats go back only in the transaction whose ``UPDATE bookings ... WHERE status IN
  (...)`` actually changed the booking's status (cancel, expiry), so two cancels, or a
  cancel and the sweeper, can never both give the same seats back;
- confirm is ``UPDATE bookings ... WHERE status = 'HELD' AND hold_expires_at > now()``;
  it and the sweeper's ``... WHERE status = 'HELD' AND hold_expires_at <= now()`` lock
  the same row, so exactly one of them wins.

Provider bookings (provider_order.py) add a PENDING status while the provider's order
is placed: inserted PENDING, then either attached to the order (-> HELD) or deleted
(seats returned) by a guarded statement, so exactly one outcome wins. Cancel and expiry
mark a provider order CANCELLING in the same statement that changes the status; the
order is then deleted at the provider, outside any transaction. Work on a provider
order is claimed with a lease (``provider_attempt_at``) rather than a row lock, so no
transaction stays open across an HTTP call.

Times (hold expiry, confirm and cancel times) come from PostgreSQL's clock, never a
replica's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Text, case, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.sql import Select

from booking_service.models import (
    Booking,
    BookingPassenger,
    BookingSegment,
    BookingStatus,
    ProviderOrderStatus,
    ticket_serial,
)
from search_service.models import Airport, Fare, Flight

PENDING = BookingStatus.PENDING.value
HELD = BookingStatus.HELD.value
CONFIRMED = BookingStatus.CONFIRMED.value
CANCELLED = BookingStatus.CANCELLED.value
EXPIRED = BookingStatus.EXPIRED.value
ORDERING = ProviderOrderStatus.ORDERING.value
ORDERED = ProviderOrderStatus.ORDERED.value
CANCELLING = ProviderOrderStatus.CANCELLING.value
ORDER_CANCELLED = ProviderOrderStatus.CANCELLED.value

# Cancel and expiry: an order at the provider is to be deleted.
_ORDER_TO_CANCEL = case((Booking.provider_order_status == ORDERED, CANCELLING),
                        else_=Booking.provider_order_status)


class SeatsUnavailable(Exception):
    """A fare has fewer seats left than the booking needs (the transaction is lost)."""

    def __init__(self, fare_id: int, seats_available: int) -> None:
        super().__init__(f"fare {fare_id}: {seats_available} seats left")
        self.fare_id = fare_id
        self.seats_available = seats_available


class ReferenceTaken(Exception):
    """The generated booking reference exists already: pick another and retry."""


@dataclass(frozen=True, slots=True)
class FareRow:
    fare_id: int
    flight_designator: str
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    cabin: str
    price: Decimal
    currency: str
    refundable: bool
    change_fee: Decimal
    seats_available: int
    origin_time_zone: str
    destination_time_zone: str


@dataclass(frozen=True, slots=True)
class HeldFare:
    """A fare's price at the moment its seats were taken (under the row lock)."""

    price: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class NewBookingRow:
    reference: str
    user_id: str
    request_id: str
    request_hash: str
    currency: str
    total_price: Decimal
    contact_email: str
    contact_phone: str | None
    hold_seconds: float
    # Provider bookings: inserted PENDING, with the remark that tags the order attempt.
    provider: str | None = None
    provider_remark: str | None = None


@dataclass(frozen=True, slots=True)
class PassengerRow:
    given_name: str
    family_name: str
    birth_date: object  # datetime.date
    passenger_type: str
    document_type: str
    document_number: str
    document_country: str
    document_expire_date: object  # datetime.date


@dataclass(frozen=True, slots=True)
class SegmentRow:
    offer_index: int
    offer_id: str
    fare_id: int | None
    flight_designator: str
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    cabin: str
    seats: int
    price: Decimal
    refundable: bool
    change_fee: Decimal
    departure_local_time: str | None = None
    arrival_local_time: str | None = None


@dataclass(frozen=True, slots=True)
class Expired:
    booking_ids: list[int]
    references: list[str]
    seats_returned: int
    provider_orders: int = 0  # provider orders now to be cancelled


@dataclass(frozen=True, slots=True)
class OrderWork:
    """A provider order claimed for work (placing it is settled by lookup, or it is
    to be deleted)."""

    booking_id: int
    reference: str
    remark: str
    order_id: str | None


def _with_details(query: Select[Booking]) -> Select[Booking]:
    # populate_existing: a booking re-read in the transaction that changed it shows
    # the new state, not the session's earlier copy.
    return query.options(selectinload(Booking.segments), selectinload(Booking.passengers)
                         ).execution_options(populate_existing=True)


def _constraint_of(exc: IntegrityError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None)


class BookingStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[BookingTx]:
        """One transaction: committed on a normal exit, rolled back on any exception."""
        async with self._sessions() as session, session.begin():
            yield BookingTx(session)

    async def fares(self, fare_ids: Iterable[int]) -> dict[int, FareRow]:
        ids = sorted(set(fare_ids))
        if not ids:
            return {}
        origin, destination = aliased(Airport), aliased(Airport)
        query = (select(Fare, Flight, origin.timezone, destination.timezone)
                 .join(Flight, Fare.flight_id == Flight.id)
                 .join(origin, origin.iata_code == Flight.origin)
                 .join(destination, destination.iata_code == Flight.destination)
                 .where(Fare.id.in_(ids)))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {fare.id: FareRow(
            fare_id=fare.id, flight_designator=flight.designator, origin=flight.origin,
            destination=flight.destination, departure_at=flight.departure_at,
            arrival_at=flight.arrival_at, cabin=fare.cabin, price=fare.price,
            currency=fare.currency, refundable=fare.refundable, change_fee=fare.change_fee,
            seats_available=fare.seats_available, origin_time_zone=origin_tz,
            destination_time_zone=destination_tz)
            for fare, flight, origin_tz, destination_tz in rows}

    async def find_by_request(self, user_id: str, request_id: str) -> Booking | None:
        """Pending bookings included (a retry must not start a second order)."""
        async with self._sessions() as session:
            return (await session.execute(_with_details(select(Booking).where(
                Booking.user_id == user_id, Booking.request_id == request_id)))
            ).scalar_one_or_none()

    async def get(self, user_id: str, reference: str) -> Booking | None:
        async with self._sessions() as session:
            return await BookingTx(session).get(user_id, reference)

    async def by_reference(self, reference: str) -> Booking | None:
        """Any user's booking (for a download link, whose token names the booking)."""
        async with self._sessions() as session:
            return (await session.execute(_with_details(select(Booking).where(
                Booking.reference == reference, Booking.status != PENDING)))
            ).scalar_one_or_none()

    async def load(self, booking_id: int) -> Booking | None:
        async with self._sessions() as session:
            return (await session.execute(_with_details(
                select(Booking).where(Booking.id == booking_id)))).scalar_one_or_none()

    async def list(self, user_id: str, status: str | None, before_id: int | None, limit: int
                   ) -> Sequence[Booking]:
        """The user's bookings, newest (highest id) first, below ``before_id``."""
        query = select(Booking).where(Booking.user_id == user_id, Booking.status != PENDING)
        if status is not None:
            query = query.where(Booking.status == status)
        if before_id is not None:
            query = query.where(Booking.id < before_id)
        query = query.order_by(Booking.id.desc()).limit(limit)
        async with self._sessions() as session:
            return (await session.execute(_with_details(query))).scalars().all()

    async def expire_due(self, batch_size: int) -> Expired:
        """Expires up to ``batch_size`` held bookings whose hold has run out and gives
        their seats back, in one transaction. Rows another replica is expiring (or a
        confirm or cancel holds) are skipped, never waited for."""
        due = (select(Booking.id)
               .where(Booking.status == HELD, Booking.hold_expires_at <= func.now())
               .order_by(Booking.hold_expires_at).limit(batch_size)
               .with_for_update(skip_locked=True).cte("due"))
        expire = (update(Booking)
                  .where(Booking.id == due.c.id, Booking.status == HELD)
                  .values(status=EXPIRED, expired_at=func.now(), updated_at=func.now(),
                          provider_order_status=_ORDER_TO_CANCEL, provider_attempt_at=None)
                  .returning(Booking.id, Booking.reference, Booking.provider_order_status)
                  .execution_options(synchronize_session=False))
        async with self.transaction() as tx:
            rows = (await tx.session.execute(expire)).all()
            ids = [row.id for row in rows]
            seats = await tx.return_seats_of(ids)
        orders = sum(1 for row in rows if row.provider_order_status == CANCELLING)
        return Expired(ids, [row.reference for row in rows], seats, orders)

    # -- provider orders ------------------------------------------------------------

    async def attach_order(self, booking_id: int, order_id: str, record_locator: str) -> bool:
        """PENDING -> HELD with the provider's order; False if the booking is no longer
        pending (another replica settled it)."""
        async with self.transaction() as tx:
            won = (await tx.session.execute(
                update(Booking)
                .where(Booking.id == booking_id, Booking.status == PENDING)
                .values(status=HELD, provider_order_status=ORDERED,
                        provider_order_id=order_id, provider_record_locator=record_locator,
                        provider_attempt_at=None, updated_at=func.now())
                .returning(Booking.id)
                .execution_options(synchronize_session=False))).scalar_one_or_none()
        return won is not None

    async def release_pending(self, booking_id: int) -> bool:
        """Deletes a PENDING booking whose order was not placed, giving its inventory seats
        back; False if it is no longer pending. Frees its request_id for a retry."""
        async with self.transaction() as tx:
            locked = (await tx.session.execute(
                select(Booking.id).where(Booking.id == booking_id, Booking.status == PENDING)
                .with_for_update())).scalar_one_or_none()
            if locked is None:
                return False
            await tx.return_seats_of([booking_id])
            await tx.session.execute(delete(Booking).where(Booking.id == booking_id)
                                     .execution_options(synchronize_session=False))
        return True

    async def release_lease(self, booking_id: int) -> None:
        """Lets the next sweep take up the booking's provider order at once."""
        async with self.transaction() as tx:
            await tx.session.execute(
                update(Booking).where(Booking.id == booking_id)
                .values(provider_attempt_at=None)
                .execution_options(synchronize_session=False))

    async def claim_order_work(self, order_status: str, lease_seconds: float, limit: int
                               ) -> list[OrderWork]:
        """Up to ``limit`` provider orders in ``order_status`` (ORDERING: placed by a
        replica that stopped working on them; CANCELLING) whose lease is free, each now
        leased to the caller for ``lease_seconds``."""
        lease = timedelta(seconds=lease_seconds)
        free = (select(Booking.id)
                .where(Booking.provider_order_status == order_status,
                       or_(Booking.provider_attempt_at.is_(None),
                           Booking.provider_attempt_at <= func.now() - lease))
                .order_by(Booking.provider_attempt_at.asc().nulls_first())
                .limit(limit).with_for_update(skip_locked=True).cte("free"))
        claim = (update(Booking)
                 .where(Booking.id == free.c.id, Booking.provider_order_status == order_status)
                 .values(provider_attempt_at=func.now())
                 .returning(Booking.id, Booking.reference, Booking.provider_remark,
                            Booking.provider_order_id)
                 .execution_options(synchronize_session=False))
        async with self.transaction() as tx:
            rows = (await tx.session.execute(claim)).all()
        return [OrderWork(row.id, row.reference, row.provider_remark, row.provider_order_id)
                for row in rows]

    async def order_cancelled(self, booking_id: int) -> bool:
        """CANCELLING -> CANCELLED, once the order is gone at the provider."""
        async with self.transaction() as tx:
            won = (await tx.session.execute(
                update(Booking)
                .where(Booking.id == booking_id, Booking.provider_order_status == CANCELLING)
                .values(provider_order_status=ORDER_CANCELLED, provider_attempt_at=None,
                        updated_at=func.now())
                .returning(Booking.id)
                .execution_options(synchronize_session=False))).scalar_one_or_none()
        return won is not None


class BookingTx:
    """Statements run inside one transaction (see BookingStore.transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str, reference: str) -> Booking | None:
        """The user's booking; a pending one is not shown (it may never exist)."""
        return (await self.session.execute(_with_details(select(Booking).where(
            Booking.user_id == user_id, Booking.reference == reference,
            Booking.status != PENDING)))).scalar_one_or_none()

    async def load(self, booking_id: int) -> Booking:
        return (await self.session.execute(_with_details(
            select(Booking).where(Booking.id == booking_id)))).scalar_one()

    async def insert_booking(self, row: NewBookingRow) -> int | None:
        """The new booking's id; None if the user's request_id is taken (by a
        committed booking: a concurrent insert with the same key is waited for).
        Raises ReferenceTaken if the reference is."""
        provider = {}
        if row.provider is not None:
            provider = {"provider": row.provider, "provider_remark": row.provider_remark,
                        "provider_order_status": ORDERING, "provider_attempt_at": func.now()}
        statement = (
            pg_insert(Booking)
            .values(reference=row.reference, user_id=row.user_id, request_id=row.request_id,
                    request_hash=row.request_hash,
                    status=HELD if row.provider is None else PENDING, currency=row.currency,
                    total_price=row.total_price, contact_email=row.contact_email,
                    contact_phone=row.contact_phone,
                    hold_expires_at=func.now() + timedelta(seconds=row.hold_seconds),
                    **provider)
            .on_conflict_do_nothing(constraint="uq_bookings_user_id_request_id")
            .returning(Booking.id))
        try:
            return (await self.session.execute(statement)).scalar_one_or_none()
        except IntegrityError as exc:
            if _constraint_of(exc) == "uq_bookings_reference":
                raise ReferenceTaken(row.reference) from None
            raise

    async def insert_passengers(self, booking_id: int, passengers: Sequence[PassengerRow]
                                ) -> None:
        await self.session.execute(pg_insert(BookingPassenger).values([
            {"booking_id": booking_id, "position": i, "given_name": p.given_name,
             "family_name": p.family_name, "birth_date": p.birth_date,
             "passenger_type": p.passenger_type, "document_type": p.document_type,
             "document_number": p.document_number, "document_country": p.document_country,
             "document_expire_date": p.document_expire_date}
            for i, p in enumerate(passengers)]))

    async def insert_segments(self, booking_id: int, segments: Sequence[SegmentRow]) -> None:
        await self.session.execute(pg_insert(BookingSegment).values([
            {"booking_id": booking_id, "position": i, "offer_index": s.offer_index,
             "offer_id": s.offer_id, "fare_id": s.fare_id,
             "flight_designator": s.flight_designator, "origin": s.origin,
             "destination": s.destination, "departure_at": s.departure_at,
             "arrival_at": s.arrival_at, "cabin": s.cabin, "seats": s.seats,
             "price": s.price, "refundable": s.refundable, "change_fee": s.change_fee,
             "departure_local_time": s.departure_local_time,
             "arrival_local_time": s.arrival_local_time}
            for i, s in enumerate(segments)]))

    async def set_total(self, booking_id: int, total: Decimal) -> None:
        await self.session.execute(
            update(Booking).where(Booking.id == booking_id).values(total_price=total)
            .execution_options(synchronize_session=False))

    async def hold_seats(self, seats_by_fare: Mapping[int, int]) -> dict[int, HeldFare]:
        """Takes the seats from every fare, in ascending fare id order; raises
        SeatsUnavailable at the first fare without enough (the caller's transaction
        must then roll back, which gives back what was taken before it)."""
        held = {}
        for fare_id in sorted(seats_by_fare):
            seats = seats_by_fare[fare_id]
            row = (await self.session.execute(
                update(Fare)
                .where(Fare.id == fare_id, Fare.seats_available >= seats)
                .values(seats_available=Fare.seats_available - seats)
                .returning(Fare.price, Fare.currency)
                .execution_options(synchronize_session=False))).one_or_none()
            if row is None:
                left = (await self.session.execute(
                    select(Fare.seats_available).where(Fare.id == fare_id))).scalar()
                raise SeatsUnavailable(fare_id, left or 0)
            held[fare_id] = HeldFare(row.price, row.currency)
        return held

    async def return_seats(self, seats_by_fare: Mapping[int, int]) -> int:
        """Gives seats back, in ascending fare id order. Call only in the transaction
        whose guarded status change released them."""
        total = 0
        for fare_id in sorted(seats_by_fare):
            seats = seats_by_fare[fare_id]
            await self.session.execute(
                update(Fare).where(Fare.id == fare_id)
                .values(seats_available=Fare.seats_available + seats)
                .execution_options(synchronize_session=False))
            total += seats
        return total

    async def return_seats_of(self, booking_ids: Sequence[int]) -> int:
        if not booking_ids:
            return 0
        rows = (await self.session.execute(
            select(BookingSegment.fare_id, func.sum(BookingSegment.seats))
            .where(BookingSegment.booking_id.in_(booking_ids),
                   BookingSegment.fare_id.is_not(None))
            .group_by(BookingSegment.fare_id))).all()
        return await self.return_seats({fare_id: int(seats) for fare_id, seats in rows})

    async def confirm(self, booking_id: int, payment_reference: str, payment_token_hash: str,
                      ticket_prefix: str) -> bool:
        """HELD and unexpired -> CONFIRMED with a ticket number per passenger; False if
        the booking was not (any more) held or its hold had run out."""
        won = (await self.session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.status == HELD,
                   Booking.hold_expires_at > func.now())
            .values(status=CONFIRMED, confirmed_at=func.now(), updated_at=func.now(),
                    payment_reference=payment_reference,
                    payment_token_hash=payment_token_hash)
            .returning(Booking.id)
            .execution_options(synchronize_session=False))).scalar_one_or_none()
        if won is None:
            return False
        serial = func.lpad(cast(ticket_serial.next_value(), Text), 10, "0", type_=Text)
        await self.session.execute(
            update(BookingPassenger).where(BookingPassenger.booking_id == booking_id)
            .values(ticket_number=func.concat(ticket_prefix, serial))
            .execution_options(synchronize_session=False))
        return True

    async def cancel(self, booking_id: int, refund_if_confirmed: Decimal) -> bool:
        """HELD or CONFIRMED -> CANCELLED, seats given back; False (nothing changed)
        if the booking was in neither state by the time its row lock was granted."""
        won = (await self.session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.status.in_((HELD, CONFIRMED)))
            .values(status=CANCELLED, cancelled_at=func.now(), updated_at=func.now(),
                    # In SET, status is still the old value: nothing was charged for a hold.
                    refund_amount=case((Booking.status == CONFIRMED, refund_if_confirmed),
                                       else_=Decimal("0.00")),
                    # The canceller deletes the order at once; the lease keeps sweepers
                    # off it meanwhile.
                    provider_order_status=_ORDER_TO_CANCEL, provider_attempt_at=func.now())
            .returning(Booking.id)
            .execution_options(synchronize_session=False))).scalar_one_or_none()
        if won is None:
            return False
        await self.return_seats_of([booking_id])
        return True
