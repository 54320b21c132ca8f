"""Cheaper tracker claims: the due index also orders by search key, and the trackers
table leaves room on its pages for a claim's row version.

The claim query takes the first due trackers in (next_run_at, search_key) order, so that
runs of one search land in one batch and are priced once. With the index on
next_run_at alone, PostgreSQL read and sorted every due tracker for each claim (10,000
due at once: a scan and sort of 10,000 rows per batch of 200); ordered by both columns
it reads about one batch. A claim only changes unindexed columns (lease, fence), so
with free space on the page its new row version stays there (a HOT update) and no
index is written.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_PAUSED = sa.text("NOT paused")


def _due_index(columns: list[str]) -> None:
    op.drop_index("ix_price_trackers_due", table_name="price_trackers", postgresql_where=NOT_PAUSED)
    op.create_index("ix_price_trackers_due", "price_trackers", columns, postgresql_where=NOT_PAUSED)


def upgrade() -> None:
    _due_index(["next_run_at", "search_key"])
    # Applies to pages written from now on (existing rows move as they are updated).
    op.execute("ALTER TABLE price_trackers SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE price_trackers RESET (fillfactor)")
    _due_index(["next_run_at"])
