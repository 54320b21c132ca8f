"""Travel documents optional on a booking's passengers: a hotel stay alone needs its
guests' names, not their documents (flights still require one, checked by the service).
A document is all four columns or none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("document_type", "document_number", "document_country", "document_expire_date")
COMPLETE = "ck_booking_passengers_document_complete"


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column("booking_passengers", column, nullable=True)
    op.create_check_constraint(
        op.f(COMPLETE),
        "booking_passengers",
        " AND ".join(f"(document_type IS NULL) = ({c} IS NULL)" for c in COLUMNS[1:]),
    )


def downgrade() -> None:
    # Fails (NOT NULL) while a guest without a document is stored: those bookings
    # cannot be kept by a schema that requires one, and are not deleted silently.
    op.drop_constraint(op.f(COMPLETE), "booking_passengers", type_="check")
    for column in COLUMNS:
        op.alter_column("booking_passengers", column, nullable=False)
