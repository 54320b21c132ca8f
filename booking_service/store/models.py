"""Bookings: a booking row, its segments (seats held on inventory fares) and its
passengers.

The tables are declared on the shared ``Base`` of services/schema.py (one metadata,
one naming convention); ``booking_segments.fare_id`` references the inventory's
``fares`` table (search_service/models.py) by name only, so this module does not import
the search service. Invariants are constraints in the database too: a reference is
unique and from the unambiguous alphabet, a ticket number is unique, a request id is
unique per user. Money is NUMERIC(12, 2), ``Decimal`` in Python.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Sequence,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import CHAR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.schema import Base, Money


class BookingStatus(enum.StrEnum):
    # Internal: the provider's flight order is being placed. The user never sees a
    # pending booking; it becomes HELD, or is deleted (its seats returned) if the
    # provider did not place the order.
    PENDING = "PENDING"
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class ProviderOrderStatus(enum.StrEnum):
    """Where a provider booking's flight order is (flows/upstream_orders.py)."""

    # The create call is in flight, or its outcome is not known yet.
    ORDERING = "ORDERING"
    # The order exists at the provider (provider_order_id).
    ORDERED = "ORDERED"
    # The booking was cancelled or expired: the order is to be deleted.
    CANCELLING = "CANCELLING"
    # Deleted at the provider (or found gone).
    CANCELLED = "CANCELLED"


class PassengerType(enum.StrEnum):
    ADULT = "ADULT"
    CHILD = "CHILD"
    INFANT = "INFANT"


class DocumentType(enum.StrEnum):
    PASSPORT = "PASSPORT"
    NATIONAL_ID = "NATIONAL_ID"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


# The reference alphabet as a regex class: A-Z and 2-9 without I, L, O (0, 1 absent).
REFERENCE_PATTERN = "^[A-HJKMNP-Z2-9]{6}$"

# Ticket numbers: a 3-digit prefix and a 10-digit serial from this sequence.
ticket_serial = Sequence("ticket_serial_seq", metadata=Base.metadata, start=1)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint(_in("status", BookingStatus), name="status_known"),
        CheckConstraint(f"reference ~ '{REFERENCE_PATTERN}'", name="reference_format"),
        CheckConstraint("total_price >= 0", name="total_price_not_negative"),
        CheckConstraint("refund_amount >= 0", name="refund_amount_not_negative"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_format"),
        CheckConstraint(
            _in("provider_order_status", ProviderOrderStatus), name="provider_order_status_known"
        ),
        # A provider booking has all of provider, remark and order status; others none.
        CheckConstraint(
            "(provider IS NULL) = (provider_order_status IS NULL) AND "
            "(provider IS NULL) = (provider_remark IS NULL)",
            name="provider_fields_together",
        ),
        CheckConstraint(
            "status <> 'PENDING' OR provider_order_status = 'ORDERING'", name="pending_is_ordering"
        ),
        CheckConstraint(
            "provider_order_status IS NULL OR provider_order_status = 'ORDERING' "
            "OR provider_order_id IS NOT NULL",
            name="provider_order_id_known",
        ),
        UniqueConstraint("reference"),
        # Each order attempt's remark finds exactly one booking.
        UniqueConstraint("provider_remark"),
        # Idempotency keys are per user: another user's key never collides with yours.
        UniqueConstraint("user_id", "request_id"),
        # ListBookings: a user's bookings newest first, optionally by status.
        Index(None, "user_id", "id"),
        Index(None, "user_id", "status", "id"),
        # The sweeper: due holds only.
        Index(
            "ix_bookings_held_hold_expires_at",
            "hold_expires_at",
            postgresql_where=text("status = 'HELD'"),
        ),
        # The sweeper's provider work: orders to reconcile or to cancel.
        Index(
            "ix_bookings_provider_work",
            "provider_attempt_at",
            postgresql_where=text("provider_order_status IN ('ORDERING', 'CANCELLING')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(CHAR(6))
    user_id: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(Text)
    # SHA-256 (hex) of the canonical create request: same key + other request is refused.
    request_hash: Mapped[str] = mapped_column(CHAR(64))
    status: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(CHAR(3))
    total_price: Mapped[Decimal] = mapped_column(Money)
    contact_email: Mapped[str] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(Text)
    hold_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_amount: Mapped[Decimal | None] = mapped_column(Money)
    payment_reference: Mapped[str | None] = mapped_column(Text)
    # SHA-256 (hex) of the payment token: recognises a retried confirm, stores no token.
    payment_token_hash: Mapped[str | None] = mapped_column(CHAR(64))
    # Provider bookings only (all NULL otherwise): the provider's name, the remark
    # that tags the order attempt (to find it again), the order's status, id and
    # record locator, and when a replica last took up work on the order (a lease:
    # others leave it alone for a while).
    provider: Mapped[str | None] = mapped_column(Text)
    provider_remark: Mapped[str | None] = mapped_column(Text)
    provider_order_status: Mapped[str | None] = mapped_column(Text)
    provider_order_id: Mapped[str | None] = mapped_column(Text)
    provider_record_locator: Mapped[str | None] = mapped_column(Text)
    provider_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    segments: Mapped[list[BookingSegment]] = relationship(
        order_by="BookingSegment.position", passive_deletes=True, lazy="raise"
    )
    passengers: Mapped[list[BookingPassenger]] = relationship(
        order_by="BookingPassenger.position", passive_deletes=True, lazy="raise"
    )


class BookingSegment(Base):
    """One flight of a booking, with what its fare was at booking time: seats held on an
    inventory fare, or (``fare_id`` NULL) a flight of the provider's order."""

    __tablename__ = "booking_segments"
    __table_args__ = (
        CheckConstraint("seats >= 1", name="seats_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("change_fee >= 0", name="change_fee_not_negative"),
        # Seat accounting and "who holds this fare" queries.
        Index(None, "fare_id"),
    )

    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_index: Mapped[int] = mapped_column(Integer)
    offer_id: Mapped[str] = mapped_column(Text)
    # RESTRICT: a fare with bookings on it cannot silently disappear.
    fare_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("fares.id", ondelete="RESTRICT")
    )
    flight_designator: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(CHAR(3))
    destination: Mapped[str] = mapped_column(CHAR(3))
    departure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrival_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cabin: Mapped[str] = mapped_column(Text)
    seats: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money)  # for all passengers
    refundable: Mapped[bool] = mapped_column(Boolean)
    change_fee: Mapped[Decimal] = mapped_column(Money)  # per passenger
    # Local times, ISO 8601 with the UTC offset (for the itinerary); NULL on rows
    # from before revision 0003.
    departure_local_time: Mapped[str | None] = mapped_column(Text)
    arrival_local_time: Mapped[str | None] = mapped_column(Text)


class BookingPassenger(Base):
    __tablename__ = "booking_passengers"
    __table_args__ = (
        CheckConstraint(_in("passenger_type", PassengerType), name="passenger_type_known"),
        CheckConstraint(_in("document_type", DocumentType), name="document_type_known"),
        CheckConstraint("ticket_number ~ '^[0-9]{13}$'", name="ticket_number_format"),
        # A travel document is all four columns or none (a hotel stay's guest needs none).
        CheckConstraint(
            "(document_type IS NULL) = (document_number IS NULL) AND "
            "(document_type IS NULL) = (document_country IS NULL) AND "
            "(document_type IS NULL) = (document_expire_date IS NULL)",
            name="document_complete",
        ),
        UniqueConstraint("ticket_number"),
    )

    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    given_name: Mapped[str] = mapped_column(Text)
    family_name: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[date] = mapped_column(Date)
    passenger_type: Mapped[str] = mapped_column(Text)
    # The travel document: required for flights, optional for a hotel stay alone.
    document_type: Mapped[str | None] = mapped_column(Text)
    document_number: Mapped[str | None] = mapped_column(Text)
    document_country: Mapped[str | None] = mapped_column(CHAR(2))
    document_expire_date: Mapped[date | None] = mapped_column(Date)
    # Issued at confirmation to a booking with flights; a hotel stay alone has none.
    ticket_number: Mapped[str | None] = mapped_column(CHAR(13))


class HotelOrderStatus(enum.StrEnum):
    """Where a booking's hotel order is at the supplier (flows/packages.py)."""

    # Priced and held on our side; nothing at the supplier yet (booked on confirmation).
    NONE = "NONE"
    # The create call is in flight, or its outcome is not known yet (looked up by remark).
    ORDERING = "ORDERING"
    # The order exists at the supplier (supplier_order_id).
    ORDERED = "ORDERED"
    # To be cancelled at the supplier (cancel, or compensation of a failed package).
    CANCELLING = "CANCELLING"
    # Cancelled at the supplier, found gone, or never placed.
    CANCELLED = "CANCELLED"


class PackageState(enum.StrEnum):
    """A booking with a hotel stay (hotel only, or flight + hotel) on its way to being
    confirmed all or none (flows/packages.py)."""

    HELD = "HELD"  # seats held and hotel priced; not being confirmed
    CONFIRMING = "CONFIRMING"  # steps running: hotel order, then the flights' confirmation
    COMPENSATING = "COMPENSATING"  # a step failed: undoing what was done
    CONFIRMED = "CONFIRMED"  # every item booked
    FAILED = "FAILED"  # compensated: nothing booked, the booking cancelled


class BookingHotelStay(Base):
    """A booking's hotel item: one priced offer (every room and night), and its order at
    the supplier, placed on confirmation under ``remark``."""

    __tablename__ = "booking_hotel_stays"
    __table_args__ = (
        CheckConstraint(_in("order_status", HotelOrderStatus), name="order_status_known"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("refund_amount >= 0", name="refund_amount_not_negative"),
        CheckConstraint("rooms >= 1", name="rooms_positive"),
        CheckConstraint("check_out > check_in", name="check_out_after_check_in"),
        CheckConstraint(
            "order_status <> 'ORDERED' OR supplier_order_id IS NOT NULL",
            name="ordered_has_order_id",
        ),
        UniqueConstraint("remark"),
        Index(
            "ix_booking_hotel_stays_cancelling",
            "attempt_at",
            postgresql_where=text("order_status = 'CANCELLING'"),
        ),
    )

    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(Text)
    offer_id: Mapped[str] = mapped_column(Text)  # search's id, as the booking was made with
    supplier_offer_id: Mapped[str] = mapped_column(Text)  # as priced at the hold
    hotel_id: Mapped[str] = mapped_column(Text)
    hotel_name: Mapped[str] = mapped_column(Text)
    city_code: Mapped[str] = mapped_column(Text)
    room_type: Mapped[str] = mapped_column(Text)
    room_description: Mapped[str] = mapped_column(Text)
    board_type: Mapped[str] = mapped_column(Text)
    check_in: Mapped[date] = mapped_column(Date)
    check_out: Mapped[date] = mapped_column(Date)
    rooms: Mapped[int] = mapped_column(Integer)
    refundable: Mapped[bool] = mapped_column(Boolean)
    cancellation_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    price: Mapped[Decimal] = mapped_column(Money)  # every room and night
    remark: Mapped[str] = mapped_column(Text)
    order_status: Mapped[str] = mapped_column(Text)
    supplier_order_id: Mapped[str | None] = mapped_column(Text)
    confirmation_number: Mapped[str | None] = mapped_column(Text)
    refund_amount: Mapped[Decimal | None] = mapped_column(Money)
    # When a replica last took up cancelling the order (a lease for the resumer).
    attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BookingPackage(Base):
    """The confirmation state machine of a booking with a hotel stay: one row per such
    booking. ``fence`` grows each time a replica takes the work up; every step writes
    only under the fence it took, so a replica that lost its lease changes nothing."""

    __tablename__ = "booking_packages"
    __table_args__ = (
        CheckConstraint(_in("state", PackageState), name="state_known"),
        Index(
            "ix_booking_packages_work",
            "lease_until",
            postgresql_where=text("state IN ('CONFIRMING', 'COMPENSATING')"),
        ),
    )

    booking_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(Text)
    fence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_reference: Mapped[str | None] = mapped_column(Text)
    payment_token_hash: Mapped[str | None] = mapped_column(CHAR(64))
    # Why a confirmation failed (an ErrorInfo reason), once COMPENSATING or FAILED.
    failure_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


__all__ = [
    "REFERENCE_PATTERN",
    "Booking",
    "BookingHotelStay",
    "BookingPackage",
    "BookingPassenger",
    "BookingSegment",
    "BookingStatus",
    "DocumentType",
    "HotelOrderStatus",
    "PackageState",
    "PassengerType",
    "ProviderOrderStatus",
    "ticket_serial",
]
