"""Price tracking (tracking_service/models.py): trackers with their claim columns, one
run per (tracker, period), one alert per (tracker, period, kind).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "price_trackers",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("search", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search_key", sa.Text(), nullable=False),
        sa.Column("frequency_seconds", sa.Integer(), nullable=False),
        sa.Column("drop_percent", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("target_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("target_currency", sa.Text(), nullable=True),
        sa.Column("back_in_stock", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fence", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("last_currency", sa.Text(), nullable=True),
        sa.Column("last_in_stock", sa.Boolean(), nullable=True),
        sa.Column("drop_reference", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("below_target", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_period", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('FLIGHT')", name=op.f("ck_price_trackers_kind_known")),
        sa.CheckConstraint(
            "(target_price IS NULL) = (target_currency IS NULL)",
            name=op.f("ck_price_trackers_target_whole"),
        ),
        sa.CheckConstraint(
            "drop_percent > 0 AND drop_percent < 100",
            name=op.f("ck_price_trackers_drop_percent_range"),
        ),
        sa.CheckConstraint(
            "frequency_seconds > 0", name=op.f("ck_price_trackers_frequency_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_trackers")),
        sa.UniqueConstraint(
            "user_id", "request_id", name=op.f("uq_price_trackers_user_id_request_id")
        ),
    )
    op.create_index(
        "ix_price_trackers_due",
        "price_trackers",
        ["next_run_at"],
        unique=False,
        postgresql_where=sa.text("NOT paused"),
    )
    op.create_index(
        "ix_price_trackers_user_id_id", "price_trackers", ["user_id", "id"], unique=False
    )
    op.create_table(
        "tracker_alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tracker_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("reference_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("best_offer_id", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('PRICE_DROP', 'BELOW_TARGET', 'BACK_IN_STOCK')",
            name=op.f("ck_tracker_alerts_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["tracker_id"],
            ["price_trackers.id"],
            name=op.f("fk_tracker_alerts_tracker_id_price_trackers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_alerts")),
        sa.UniqueConstraint(
            "tracker_id",
            "period_start",
            "kind",
            name=op.f("uq_tracker_alerts_tracker_id_period_start_kind"),
        ),
    )
    op.create_index(
        "ix_tracker_alerts_user_id_id", "tracker_alerts", ["user_id", "id"], unique=False
    )
    op.create_table(
        "tracker_runs",
        sa.Column("tracker_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fence", sa.BigInteger(), nullable=False),
        sa.Column("replica", sa.Text(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lowest_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("best_offer_id", sa.Text(), nullable=True),
        sa.Column("offers_found", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tracker_id"],
            ["price_trackers.id"],
            name=op.f("fk_tracker_runs_tracker_id_price_trackers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tracker_id", "period_start", name=op.f("pk_tracker_runs")),
    )


def downgrade() -> None:
    op.drop_table("tracker_runs")
    op.drop_index("ix_tracker_alerts_user_id_id", table_name="tracker_alerts")
    op.drop_table("tracker_alerts")
    op.drop_index("ix_price_trackers_user_id_id", table_name="price_trackers")
    op.drop_index(
        "ix_price_trackers_due", table_name="price_trackers", postgresql_where=sa.text("NOT paused")
    )
    op.drop_table("price_trackers")
