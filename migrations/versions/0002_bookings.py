"""Bookings: bookings, their segments (seats held on fares) and passengers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of what booking_service/models.py said when this revision was written;
# names are final (op.f).
MONEY = sa.Numeric(12, 2)
TIMESTAMP = sa.DateTime(timezone=True)
STATUSES = ("HELD", "CONFIRMED", "CANCELLED", "EXPIRED")
PASSENGER_TYPES = ("ADULT", "CHILD", "INFANT")
DOCUMENT_TYPES = ("PASSPORT", "NATIONAL_ID")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("ticket_serial_seq", start=1)))
    op.create_table(
        "bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reference", sa.CHAR(6), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.CHAR(64), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("total_price", MONEY, nullable=False),
        sa.Column("contact_email", sa.Text(), nullable=False),
        sa.Column("contact_phone", sa.Text(), nullable=True),
        sa.Column("hold_expires_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.func.now(), nullable=False),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.Column("cancelled_at", TIMESTAMP, nullable=True),
        sa.Column("expired_at", TIMESTAMP, nullable=True),
        sa.Column("refund_amount", MONEY, nullable=True),
        sa.Column("payment_reference", sa.Text(), nullable=True),
        sa.Column("payment_token_hash", sa.CHAR(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("reference", name=op.f("uq_bookings_reference")),
        sa.UniqueConstraint("user_id", "request_id", name=op.f("uq_bookings_user_id_request_id")),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_bookings_status_known")),
        sa.CheckConstraint(
            "reference ~ '^[A-HJKMNP-Z2-9]{6}$'", name=op.f("ck_bookings_reference_format")
        ),
        sa.CheckConstraint("total_price >= 0", name=op.f("ck_bookings_total_price_not_negative")),
        sa.CheckConstraint(
            "refund_amount >= 0", name=op.f("ck_bookings_refund_amount_not_negative")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_bookings_currency_format")),
    )
    op.create_index(op.f("ix_bookings_user_id_id"), "bookings", ["user_id", "id"])
    op.create_index(op.f("ix_bookings_user_id_status_id"), "bookings", ["user_id", "status", "id"])
    op.create_index(
        "ix_bookings_held_hold_expires_at",
        "bookings",
        ["hold_expires_at"],
        postgresql_where=sa.text("status = 'HELD'"),
    )

    op.create_table(
        "booking_segments",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("offer_index", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Text(), nullable=False),
        sa.Column("fare_id", sa.BigInteger(), nullable=False),
        sa.Column("flight_designator", sa.Text(), nullable=False),
        sa.Column("origin", sa.CHAR(3), nullable=False),
        sa.Column("destination", sa.CHAR(3), nullable=False),
        sa.Column("departure_at", TIMESTAMP, nullable=False),
        sa.Column("arrival_at", TIMESTAMP, nullable=False),
        sa.Column("cabin", sa.Text(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("refundable", sa.Boolean(), nullable=False),
        sa.Column("change_fee", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("booking_id", "position", name=op.f("pk_booking_segments")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            ondelete="CASCADE",
            name=op.f("fk_booking_segments_booking_id_bookings"),
        ),
        sa.ForeignKeyConstraint(
            ["fare_id"],
            ["fares.id"],
            ondelete="RESTRICT",
            name=op.f("fk_booking_segments_fare_id_fares"),
        ),
        sa.CheckConstraint("seats >= 1", name=op.f("ck_booking_segments_seats_positive")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_booking_segments_price_not_negative")),
        sa.CheckConstraint(
            "change_fee >= 0", name=op.f("ck_booking_segments_change_fee_not_negative")
        ),
    )
    op.create_index(op.f("ix_booking_segments_fare_id"), "booking_segments", ["fare_id"])

    op.create_table(
        "booking_passengers",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("given_name", sa.Text(), nullable=False),
        sa.Column("family_name", sa.Text(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("passenger_type", sa.Text(), nullable=False),
        sa.Column("document_type", sa.Text(), nullable=False),
        sa.Column("document_number", sa.Text(), nullable=False),
        sa.Column("document_country", sa.CHAR(2), nullable=False),
        sa.Column("document_expire_date", sa.Date(), nullable=False),
        sa.Column("ticket_number", sa.CHAR(13), nullable=True),
        sa.PrimaryKeyConstraint("booking_id", "position", name=op.f("pk_booking_passengers")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            ondelete="CASCADE",
            name=op.f("fk_booking_passengers_booking_id_bookings"),
        ),
        sa.UniqueConstraint("ticket_number", name=op.f("uq_booking_passengers_ticket_number")),
        sa.CheckConstraint(
            _in("passenger_type", PASSENGER_TYPES),
            name=op.f("ck_booking_passengers_passenger_type_known"),
        ),
        sa.CheckConstraint(
            _in("document_type", DOCUMENT_TYPES),
            name=op.f("ck_booking_passengers_document_type_known"),
        ),
        sa.CheckConstraint(
            "ticket_number ~ '^[0-9]{13}$'", name=op.f("ck_booking_passengers_ticket_number_format")
        ),
    )


def downgrade() -> None:
    op.drop_table("booking_passengers")
    op.drop_index(op.f("ix_booking_segments_fare_id"), table_name="booking_segments")
    op.drop_table("booking_segments")
    op.drop_index("ix_bookings_held_hold_expires_at", table_name="bookings")
    op.drop_index(op.f("ix_bookings_user_id_status_id"), table_name="bookings")
    op.drop_index(op.f("ix_bookings_user_id_id"), table_name="bookings")
    op.drop_table("bookings")
    op.execute(sa.schema.DropSequence(sa.Sequence("ticket_serial_seq")))
