"""Provider bookings: the provider's flight order on a booking, a PENDING status while
it is placed, flights without an inventory fare, and local times for the itinerary.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of what booking_service/models.py said when this revision was written.
TIMESTAMP = sa.DateTime(timezone=True)
OLD_STATUSES = ("HELD", "CONFIRMED", "CANCELLED", "EXPIRED")
STATUSES = ("PENDING", *OLD_STATUSES)
ORDER_STATUSES = ("ORDERING", "ORDERED", "CANCELLING", "CANCELLED")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_bookings_status_known"), "bookings", type_="check")
    op.create_check_constraint(
        op.f("ck_bookings_status_known"), "bookings", _in("status", STATUSES)
    )
    for name in (
        "provider",
        "provider_remark",
        "provider_order_status",
        "provider_order_id",
        "provider_record_locator",
    ):
        op.add_column("bookings", sa.Column(name, sa.Text(), nullable=True))
    op.add_column("bookings", sa.Column("provider_attempt_at", TIMESTAMP, nullable=True))
    op.create_check_constraint(
        op.f("ck_bookings_provider_order_status_known"),
        "bookings",
        _in("provider_order_status", ORDER_STATUSES),
    )
    op.create_check_constraint(
        op.f("ck_bookings_provider_fields_together"),
        "bookings",
        "(provider IS NULL) = (provider_order_status IS NULL) AND "
        "(provider IS NULL) = (provider_remark IS NULL)",
    )
    op.create_check_constraint(
        op.f("ck_bookings_pending_is_ordering"),
        "bookings",
        "status <> 'PENDING' OR provider_order_status = 'ORDERING'",
    )
    op.create_check_constraint(
        op.f("ck_bookings_provider_order_id_known"),
        "bookings",
        "provider_order_status IS NULL OR provider_order_status = 'ORDERING' "
        "OR provider_order_id IS NOT NULL",
    )
    op.create_unique_constraint(
        op.f("uq_bookings_provider_remark"), "bookings", ["provider_remark"]
    )
    op.create_index(
        "ix_bookings_provider_work",
        "bookings",
        ["provider_attempt_at"],
        postgresql_where=sa.text("provider_order_status IN ('ORDERING', 'CANCELLING')"),
    )

    op.alter_column("booking_segments", "fare_id", existing_type=sa.BigInteger(), nullable=True)
    op.add_column("booking_segments", sa.Column("departure_local_time", sa.Text(), nullable=True))
    op.add_column("booking_segments", sa.Column("arrival_local_time", sa.Text(), nullable=True))


def downgrade() -> None:
    # Revision 0002 knows no provider bookings: they (and their segments) go.
    op.execute("DELETE FROM bookings WHERE provider IS NOT NULL OR status = 'PENDING'")
    op.drop_column("booking_segments", "arrival_local_time")
    op.drop_column("booking_segments", "departure_local_time")
    op.alter_column("booking_segments", "fare_id", existing_type=sa.BigInteger(), nullable=False)

    op.drop_index("ix_bookings_provider_work", table_name="bookings")
    op.drop_constraint(op.f("uq_bookings_provider_remark"), "bookings", type_="unique")
    for name in (
        "provider_order_id_known",
        "pending_is_ordering",
        "provider_fields_together",
        "provider_order_status_known",
    ):
        op.drop_constraint(op.f(f"ck_bookings_{name}"), "bookings", type_="check")
    for name in (
        "provider_attempt_at",
        "provider_record_locator",
        "provider_order_id",
        "provider_order_status",
        "provider_remark",
        "provider",
    ):
        op.drop_column("bookings", name)
    op.drop_constraint(op.f("ck_bookings_status_known"), "bookings", type_="check")
    op.create_check_constraint(
        op.f("ck_bookings_status_known"), "bookings", _in("status", OLD_STATUSES)
    )
