"""Hotel stays on bookings, and the package confirmation state machine (a row per
booking with a hotel stay: state, fence, lease).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import CHAR

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of what booking_service/store/models.py said when this was written.
TIMESTAMP = sa.DateTime(timezone=True)
MONEY = sa.Numeric(12, 2)
ORDER_STATUSES = ("NONE", "ORDERING", "ORDERED", "CANCELLING", "CANCELLED")
STATES = ("HELD", "CONFIRMING", "COMPENSATING", "CONFIRMED", "FAILED")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "booking_hotel_stays",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("offer_id", sa.Text(), nullable=False),
        sa.Column("supplier_offer_id", sa.Text(), nullable=False),
        sa.Column("hotel_id", sa.Text(), nullable=False),
        sa.Column("hotel_name", sa.Text(), nullable=False),
        sa.Column("city_code", sa.Text(), nullable=False),
        sa.Column("room_type", sa.Text(), nullable=False),
        sa.Column("room_description", sa.Text(), nullable=False),
        sa.Column("board_type", sa.Text(), nullable=False),
        sa.Column("check_in", sa.Date(), nullable=False),
        sa.Column("check_out", sa.Date(), nullable=False),
        sa.Column("rooms", sa.Integer(), nullable=False),
        sa.Column("refundable", sa.Boolean(), nullable=False),
        sa.Column("cancellation_deadline", TIMESTAMP, nullable=True),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("remark", sa.Text(), nullable=False),
        sa.Column("order_status", sa.Text(), nullable=False),
        sa.Column("supplier_order_id", sa.Text(), nullable=True),
        sa.Column("confirmation_number", sa.Text(), nullable=True),
        sa.Column("refund_amount", MONEY, nullable=True),
        sa.Column("attempt_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            _in("order_status", ORDER_STATUSES),
            name=op.f("ck_booking_hotel_stays_order_status_known"),
        ),
        sa.CheckConstraint("price >= 0", name=op.f("ck_booking_hotel_stays_price_not_negative")),
        sa.CheckConstraint(
            "refund_amount >= 0", name=op.f("ck_booking_hotel_stays_refund_amount_not_negative")
        ),
        sa.CheckConstraint("rooms >= 1", name=op.f("ck_booking_hotel_stays_rooms_positive")),
        sa.CheckConstraint(
            "check_out > check_in", name=op.f("ck_booking_hotel_stays_check_out_after_check_in")
        ),
        sa.CheckConstraint(
            "order_status <> 'ORDERED' OR supplier_order_id IS NOT NULL",
            name=op.f("ck_booking_hotel_stays_ordered_has_order_id"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_hotel_stays_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_booking_hotel_stays")),
        sa.UniqueConstraint("remark", name=op.f("uq_booking_hotel_stays_remark")),
    )
    op.create_index(
        "ix_booking_hotel_stays_cancelling",
        "booking_hotel_stays",
        ["attempt_at"],
        postgresql_where=sa.text("order_status = 'CANCELLING'"),
    )
    op.create_table(
        "booking_packages",
        sa.Column("booking_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("fence", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.Column("payment_reference", sa.Text(), nullable=True),
        sa.Column("payment_token_hash", CHAR(64), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_booking_packages_state_known")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_packages_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_booking_packages")),
    )
    op.create_index(
        "ix_booking_packages_work",
        "booking_packages",
        ["lease_until"],
        postgresql_where=sa.text("state IN ('CONFIRMING', 'COMPENSATING')"),
    )


def downgrade() -> None:
    op.drop_index("ix_booking_packages_work", table_name="booking_packages")
    op.drop_table("booking_packages")
    op.drop_index("ix_booking_hotel_stays_cancelling", table_name="booking_hotel_stays")
    op.drop_table("booking_hotel_stays")
