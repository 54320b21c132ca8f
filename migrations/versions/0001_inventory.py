"""Inventory: airports, airlines, flights and per-cabin fares.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Names are final (op.f): the models' naming convention must not be applied again.
# Frozen copies of what the models said when this revision was written: later model
# changes get their own revision and must not rewrite this one.
MONEY = sa.Numeric(12, 2)
CABINS = ("ECONOMY", "PREMIUM_ECONOMY", "BUSINESS", "FIRST")


def upgrade() -> None:
    op.create_table(
        "airports",
        sa.Column("iata_code", sa.CHAR(3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("country", sa.CHAR(2), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("iata_code", name=op.f("pk_airports")),
        sa.CheckConstraint("iata_code ~ '^[A-Z]{3}$'", name=op.f("ck_airports_iata_code_format")),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_airports_country_format")),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90", name=op.f("ck_airports_latitude_range")),
        sa.CheckConstraint(
            "longitude BETWEEN -180 AND 180", name=op.f("ck_airports_longitude_range")
        ),
        sa.CheckConstraint("timezone <> ''", name=op.f("ck_airports_timezone_not_empty")),
    )
    op.create_table(
        "airlines",
        sa.Column("iata_code", sa.CHAR(2), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("iata_code", name=op.f("pk_airlines")),
        sa.CheckConstraint(
            "iata_code ~ '^[A-Z0-9]{2}$'", name=op.f("ck_airlines_iata_code_format")
        ),
    )
    op.create_table(
        "flights",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("airline_code", sa.CHAR(2), nullable=False),
        sa.Column("flight_number", sa.Integer(), nullable=False),
        sa.Column("origin", sa.CHAR(3), nullable=False),
        sa.Column("destination", sa.CHAR(3), nullable=False),
        sa.Column("departure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arrival_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flights")),
        sa.ForeignKeyConstraint(
            ["airline_code"], ["airlines.iata_code"], name=op.f("fk_flights_airline_code_airlines")
        ),
        sa.ForeignKeyConstraint(
            ["origin"], ["airports.iata_code"], name=op.f("fk_flights_origin_airports")
        ),
        sa.ForeignKeyConstraint(
            ["destination"], ["airports.iata_code"], name=op.f("fk_flights_destination_airports")
        ),
        sa.UniqueConstraint(
            "airline_code",
            "flight_number",
            "departure_at",
            name=op.f("uq_flights_airline_code_flight_number_departure_at"),
        ),
        sa.CheckConstraint(
            "flight_number BETWEEN 1 AND 9999", name=op.f("ck_flights_flight_number_range")
        ),
        sa.CheckConstraint("origin <> destination", name=op.f("ck_flights_origin_not_destination")),
        sa.CheckConstraint(
            "arrival_at > departure_at", name=op.f("ck_flights_arrival_after_departure")
        ),
    )
    # Non-stop search and first legs of connections (origin + date), second legs of
    # connections (destination + arrival time).
    op.create_index(
        op.f("ix_flights_origin_destination_departure_at"),
        "flights",
        ["origin", "destination", "departure_at"],
    )
    op.create_index(op.f("ix_flights_origin_departure_at"), "flights", ["origin", "departure_at"])
    op.create_index(
        op.f("ix_flights_destination_arrival_at"), "flights", ["destination", "arrival_at"]
    )
    op.create_table(
        "fares",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("flight_id", sa.BigInteger(), nullable=False),
        sa.Column("cabin", sa.Text(), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("seats_total", sa.Integer(), nullable=False),
        sa.Column("seats_available", sa.Integer(), nullable=False),
        sa.Column("refundable", sa.Boolean(), nullable=False),
        sa.Column("change_fee", MONEY, nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fares")),
        # The unique (flight_id, cabin) index also serves the cascade and flight lookups.
        sa.ForeignKeyConstraint(
            ["flight_id"],
            ["flights.id"],
            ondelete="CASCADE",
            name=op.f("fk_fares_flight_id_flights"),
        ),
        sa.UniqueConstraint("flight_id", "cabin", name=op.f("uq_fares_flight_id_cabin")),
        sa.CheckConstraint(
            "cabin IN (" + ", ".join(f"'{c}'" for c in CABINS) + ")",
            name=op.f("ck_fares_cabin_known"),
        ),
        sa.CheckConstraint("price > 0", name=op.f("ck_fares_price_positive")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_fares_currency_format")),
        sa.CheckConstraint("seats_total > 0", name=op.f("ck_fares_seats_total_positive")),
        sa.CheckConstraint(
            "seats_available BETWEEN 0 AND seats_total", name=op.f("ck_fares_seats_available_range")
        ),
        sa.CheckConstraint("change_fee >= 0", name=op.f("ck_fares_change_fee_not_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_fares_version_positive")),
    )


def downgrade() -> None:
    op.drop_table("fares")
    op.drop_index(op.f("ix_flights_destination_arrival_at"), table_name=op.f("flights"))
    op.drop_index(op.f("ix_flights_origin_departure_at"), table_name=op.f("flights"))
    op.drop_index(op.f("ix_flights_origin_destination_departure_at"), table_name=op.f("flights"))
    op.drop_table("flights")
    op.drop_table("airlines")
    op.drop_table("airports")
