"""Hotel trackers: the HOTEL tracker kind, and a run's (and its alerts') best offer
described (a hotel run's hotel, room, board and refundability).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_price_trackers_kind_known"), "price_trackers", type_="check")
    op.create_check_constraint(
        op.f("ck_price_trackers_kind_known"), "price_trackers", "kind IN ('FLIGHT', 'HOTEL')"
    )
    for table in ("tracker_runs", "tracker_alerts"):
        op.add_column(
            table, sa.Column("best_offer", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
        )


def downgrade() -> None:
    for table in ("tracker_runs", "tracker_alerts"):
        op.drop_column(table, "best_offer")
    op.execute("DELETE FROM price_trackers WHERE kind = 'HOTEL'")
    op.drop_constraint(op.f("ck_price_trackers_kind_known"), "price_trackers", type_="check")
    op.create_check_constraint(
        op.f("ck_price_trackers_kind_known"), "price_trackers", "kind IN ('FLIGHT')"
    )
