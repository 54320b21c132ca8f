"""The flight inventory: airports, airlines, flights, and per-cabin fares.

Every invariant the rest of the platform relies on is a constraint in the database,
not only here, so rows written by any replica, script or migration obey it too.
Money is ``Decimal`` (NUMERIC(12, 2)) end to end, never float.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import CHAR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.schema import Base, Money


class Cabin(enum.StrEnum):
    ECONOMY = "ECONOMY"
    PREMIUM_ECONOMY = "PREMIUM_ECONOMY"
    BUSINESS = "BUSINESS"
    FIRST = "FIRST"


CABINS_SQL = ", ".join(f"'{c.value}'" for c in Cabin)


class Airport(Base):
    __tablename__ = "airports"
    __table_args__ = (
        CheckConstraint("iata_code ~ '^[A-Z]{3}$'", name="iata_code_format"),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country_format"),
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("timezone <> ''", name="timezone_not_empty"),
    )

    iata_code: Mapped[str] = mapped_column(CHAR(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(CHAR(2))
    latitude: Mapped[float] = mapped_column(Double)
    longitude: Mapped[float] = mapped_column(Double)
    timezone: Mapped[str] = mapped_column(Text)  # IANA name, e.g. "Europe/London"


class Airline(Base):
    __tablename__ = "airlines"
    __table_args__ = (CheckConstraint("iata_code ~ '^[A-Z0-9]{2}$'", name="iata_code_format"),)

    iata_code: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class Flight(Base):
    __tablename__ = "flights"
    __table_args__ = (
        CheckConstraint("flight_number BETWEEN 1 AND 9999", name="flight_number_range"),
        CheckConstraint("origin <> destination", name="origin_not_destination"),
        CheckConstraint("arrival_at > departure_at", name="arrival_after_departure"),
        UniqueConstraint("airline_code", "flight_number", "departure_at"),
        # Non-stop search and first legs of connections: origin (+ destination) by time.
        Index(None, "origin", "destination", "departure_at"),
        Index(None, "origin", "departure_at"),
        # Second legs of connections: flights into the destination by arrival time.
        Index(None, "destination", "arrival_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    airline_code: Mapped[str] = mapped_column(CHAR(2), ForeignKey("airlines.iata_code"))
    flight_number: Mapped[int] = mapped_column(Integer)
    origin: Mapped[str] = mapped_column(CHAR(3), ForeignKey("airports.iata_code"))
    destination: Mapped[str] = mapped_column(CHAR(3), ForeignKey("airports.iata_code"))
    departure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    arrival_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    fares: Mapped[list[Fare]] = relationship(
        back_populates="flight", passive_deletes=True, order_by="Fare.id"
    )

    @property
    def designator(self) -> str:
        """The marketing flight designator, e.g. ``BA117``."""
        return f"{self.airline_code}{self.flight_number}"


class Fare(Base):
    """One cabin's inventory and price on one flight."""

    __tablename__ = "fares"
    __table_args__ = (
        CheckConstraint(f"cabin IN ({CABINS_SQL})", name="cabin_known"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_format"),
        CheckConstraint("seats_total > 0", name="seats_total_positive"),
        CheckConstraint("seats_available BETWEEN 0 AND seats_total", name="seats_available_range"),
        CheckConstraint("change_fee >= 0", name="change_fee_not_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        UniqueConstraint("flight_id", "cabin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    flight_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("flights.id", ondelete="CASCADE"))
    cabin: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Money)  # per adult
    currency: Mapped[str] = mapped_column(CHAR(3))
    seats_total: Mapped[int] = mapped_column(Integer)
    seats_available: Mapped[int] = mapped_column(Integer)
    refundable: Mapped[bool] = mapped_column(Boolean)
    change_fee: Mapped[Decimal] = mapped_column(Money)
    # Bumped on every price change, so an offer id that carries it detects the change.
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    flight: Mapped[Flight] = relationship(back_populates="fares")


__all__ = ["Airline", "Airport", "Cabin", "Fare", "Flight"]
