"""The tracking service's tables: trackers, their runs (one per tracker and period) and
the alerts the runs raised (one per tracker, period and kind).

Declared on the shared ``Base`` of services/schema.py; gathered with every other
service's tables in migrations/schema.py. Invariants are constraints in the database:
a run is unique per (tracker, period), an alert per (tracker, period, kind), so a run
finished twice (a replica paused past its lease, say) can store nothing twice.

The claim columns (``lease_owner``, ``lease_until``, ``fence``) live on the tracker row:
the scheduler claims due trackers with ``FOR UPDATE SKIP LOCKED`` (tracking_service/
store.py); docs/architecture.md says why not a Redis lease.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.schema import Base, Money

TIMESTAMP = DateTime(timezone=True)


class TrackerKind(enum.StrEnum):
    FLIGHT = "FLIGHT"
    HOTEL = "HOTEL"


class AlertKind(enum.StrEnum):
    PRICE_DROP = "PRICE_DROP"
    BELOW_TARGET = "BELOW_TARGET"
    BACK_IN_STOCK = "BACK_IN_STOCK"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class PriceTracker(Base):
    __tablename__ = "price_trackers"
    __table_args__ = (
        UniqueConstraint("user_id", "request_id"),
        CheckConstraint(_in("kind", TrackerKind), name="kind_known"),
        CheckConstraint("frequency_seconds > 0", name="frequency_positive"),
        CheckConstraint("drop_percent > 0 AND drop_percent < 100", name="drop_percent_range"),
        CheckConstraint("(target_price IS NULL) = (target_currency IS NULL)", name="target_whole"),
        # The claim query: due, not paused trackers in due order, runs of one search
        # together (migrations/versions/0007_tracking_claims.py).
        Index(
            "ix_price_trackers_due",
            "next_run_at",
            "search_key",
            postgresql_where=text("NOT paused"),
        ),
        Index("ix_price_trackers_user_id_id", "user_id", "id"),
        # Room for a claim's new row version on its page (a HOT update: no index write).
        {"postgresql_with": {"fillfactor": 70}},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    # The search's canonical parameters and their digest: trackers with equal keys are
    # searched once per period (tracking_service/prices.py).
    search: Mapped[dict[str, Any]] = mapped_column(JSONB)
    search_key: Mapped[str] = mapped_column(Text)
    frequency_seconds: Mapped[int] = mapped_column(Integer)
    drop_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    target_price: Mapped[Decimal | None] = mapped_column(Money)
    target_currency: Mapped[str | None] = mapped_column(Text)
    back_in_stock: Mapped[bool] = mapped_column(Boolean)
    paused: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    ends_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    # The start of the next period: due then. A run stores its result for this period.
    next_run_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    # The claim: which replica runs the due period, until when, with which fencing number.
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    fence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # What the triggers compare with (tracking_service/triggers.py).
    last_price: Mapped[Decimal | None] = mapped_column(Money)
    last_currency: Mapped[str | None] = mapped_column(Text)
    last_in_stock: Mapped[bool | None] = mapped_column(Boolean)
    drop_reference: Mapped[Decimal | None] = mapped_column(Money)
    below_target: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    last_period: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())


class TrackerRun(Base):
    __tablename__ = "tracker_runs"

    tracker_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("price_trackers.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(TIMESTAMP, primary_key=True)
    fence: Mapped[int] = mapped_column(BigInteger)
    replica: Mapped[str] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(TIMESTAMP)
    finished_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    lowest_price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Text)
    best_offer_id: Mapped[str | None] = mapped_column(Text)
    # The best offer described, where its id says too little (a hotel run: the hotel,
    # room, board, refundability; tracking_service/hotels.py).
    best_offer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    offers_found: Mapped[int] = mapped_column(Integer)


class TrackerAlert(Base):
    __tablename__ = "tracker_alerts"
    __table_args__ = (
        UniqueConstraint("tracker_id", "period_start", "kind"),
        CheckConstraint(_in("kind", AlertKind), name="kind_known"),
        Index("ix_tracker_alerts_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tracker_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("price_trackers.id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(Text)
    period_start: Mapped[datetime] = mapped_column(TIMESTAMP)
    kind: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(Text)
    reference_price: Mapped[Decimal | None] = mapped_column(Money)
    best_offer_id: Mapped[str | None] = mapped_column(Text)
    # The run's best offer described, as in tracker_runs.best_offer.
    best_offer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TIMESTAMP, server_default=func.now())
    acknowledged_at: Mapped[datetime | None] = mapped_column(TIMESTAMP)
