"""Inventory reads for search and offers: one statement per search.

A search's flights come from a single ``UNION ALL`` statement: per direction, the
non-stop flights and (when connections are allowed) every two-flight connection with
a connection time between the minimum and the maximum layover, both fares in the
requested cabin with enough seats, in the same currency. Prices come back as integer
cents so the hot path never builds ``Decimal`` objects, and rows as plain tuples,
never ORM objects.

Statements are built with SQLAlchemy Core (one per search shape), compiled once to
PostgreSQL text and run on an asyncpg pool (services.db.create_pool): one round trip
per search, with no pre-ping, BEGIN or ROLLBACK around it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.dialects import postgresql

from search_service.models import Base
from services.db import pooled

FLIGHTS = Base.metadata.tables["flights"]
FARES = Base.metadata.tables["fares"]
AIRPORTS = Base.metadata.tables["airports"]


@dataclass(frozen=True, slots=True)
class Leg:
    """One flight with its fare in the requested cabin. Provider legs have fare_id 0
    and no per-leg price."""

    fare_id: int
    fare_version: int
    airline_code: str
    flight_number: int
    origin: str
    destination: str
    departure_at: datetime
    arrival_at: datetime
    price_cents: int | None  # per adult
    currency: str
    seats_available: int
    refundable: bool
    change_fee_cents: int | None

    @property
    def designator(self) -> str:
        return f"{self.airline_code}{self.flight_number}"


@dataclass(frozen=True, slots=True)
class DirectionQuery:
    """Flights for one direction of a trip: ``origin`` to ``destination``, first
    departure in [``earliest``, ``latest``)."""

    direction: int  # 0 outbound, 1 inbound
    origin: str
    destination: str
    earliest: datetime
    latest: datetime


@dataclass(frozen=True, slots=True)
class LegFilter:
    cabin: str
    seats: int
    max_stops: int
    included_airlines: tuple[str, ...] = ()
    excluded_airlines: tuple[str, ...] = ()
    min_connection_minutes: int = 45
    max_layover_minutes: int = 360


@dataclass(frozen=True, slots=True)
class OfferFare:
    """A fare as GetOffer / PriceOffer see it now."""

    leg: Leg
    cabin: str


class RepositoryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queries = Counter(
            "skyroute_search_inventory_queries_total",
            "Inventory statements run, by kind",
            ["kind"],
            registry=registry,
        )


def _leg_columns(flight: Any, fare: Any) -> list[Any]:
    return [
        fare.c.id,
        fare.c.version,
        flight.c.airline_code,
        flight.c.flight_number,
        flight.c.origin,
        flight.c.destination,
        flight.c.departure_at,
        flight.c.arrival_at,
        sa.cast(fare.c.price * 100, sa.BigInteger),
        fare.c.currency,
        fare.c.seats_available,
        fare.c.refundable,
        sa.cast(fare.c.change_fee * 100, sa.BigInteger),
    ]


_NULL_TYPES = (
    sa.BigInteger,
    sa.Integer,
    sa.Text,
    sa.Integer,
    sa.Text,
    sa.Text,
    sa.DateTime(timezone=True),
    sa.DateTime(timezone=True),
    sa.BigInteger,
    sa.Text,
    sa.Integer,
    sa.Boolean,
    sa.BigInteger,
)
LEG_WIDTH = len(_NULL_TYPES)


def _null_leg() -> list[Any]:
    return [sa.cast(sa.null(), t) for t in _NULL_TYPES]


# Statements are built once per shape with bind parameters and reused: building
# SQLAlchemy constructs (aliases, column proxies) costs milliseconds per search, and
# one SQL text per shape also lets asyncpg reuse its prepared statement.
_F1, _FA1 = FLIGHTS.alias("f1"), FARES.alias("fa1")
_F2, _FA2 = FLIGHTS.alias("f2"), FARES.alias("fa2")


@dataclass(frozen=True, slots=True)
class _Shape:
    directions: int
    max_stops: int
    included: bool
    excluded: bool
    min_connection_minutes: int
    max_layover_minutes: int


def _airline_filter(flight: Any, shape: _Shape) -> list[Any]:
    out = []
    if shape.included:
        out.append(
            flight.c.airline_code
            == sa.any_(sa.bindparam("included", type_=postgresql.ARRAY(sa.Text)))
        )
    if shape.excluded:
        out.append(
            flight.c.airline_code
            != sa.all_(sa.bindparam("excluded", type_=postgresql.ARRAY(sa.Text)))
        )
    return out


def _fare_join(flight: Any, fare: Any) -> Any:
    return sa.and_(
        fare.c.flight_id == flight.c.id,
        fare.c.cabin == sa.bindparam("cabin"),
        fare.c.seats_available >= sa.bindparam("seats"),
    )


def _direction_where(flight: Any, n: int) -> list[Any]:
    return [
        flight.c.origin == sa.bindparam(f"origin{n}"),
        flight.c.departure_at >= sa.bindparam(f"earliest{n}"),
        flight.c.departure_at < sa.bindparam(f"latest{n}"),
    ]


def direct_select(n: int, shape: _Shape) -> sa.Select[Any]:
    return (
        sa.select(sa.literal_column(str(n)).label("dir"), *_leg_columns(_F1, _FA1), *_null_leg())
        .select_from(_F1.join(_FA1, _fare_join(_F1, _FA1)))
        .where(
            *_direction_where(_F1, n),
            _F1.c.destination == sa.bindparam(f"destination{n}"),
            *_airline_filter(_F1, shape),
        )
    )


def connection_select(n: int, shape: _Shape) -> sa.Select[Any]:
    min_gap: Any = sa.literal_column(f"interval '{int(shape.min_connection_minutes)} minutes'")
    max_gap: Any = sa.literal_column(f"interval '{int(shape.max_layover_minutes)} minutes'")
    destination: Any = sa.bindparam(f"destination{n}")
    second = sa.and_(
        _F2.c.origin == _F1.c.destination,
        _F2.c.destination == destination,
        _F2.c.departure_at >= _F1.c.arrival_at + min_gap,
        _F2.c.departure_at <= _F1.c.arrival_at + max_gap,
    )
    return (
        sa.select(
            sa.literal_column(str(n)).label("dir"),
            *_leg_columns(_F1, _FA1),
            *_leg_columns(_F2, _FA2),
        )
        .select_from(
            _F1.join(_FA1, _fare_join(_F1, _FA1))
            .join(_F2, second)
            .join(_FA2, sa.and_(_fare_join(_F2, _FA2), _FA2.c.currency == _FA1.c.currency))
        )
        .where(
            *_direction_where(_F1, n),
            _F1.c.destination != destination,
            *_airline_filter(_F1, shape),
            *_airline_filter(_F2, shape),
        )
    )


_DIALECT = postgresql.asyncpg.dialect()


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement as PostgreSQL text with ``$n`` parameters: their names in order,
    and the values of those the statement itself binds (literals)."""

    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[n] if n in params else self.fixed[n] for n in self.names]


def compile_statement(statement: Any) -> Compiled:
    compiled = statement.compile(dialect=_DIALECT)
    return Compiled(compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))


@functools.lru_cache(maxsize=64)
def _statement(shape: _Shape) -> Compiled:
    parts: list[sa.Select[Any]] = []
    for n in range(shape.directions):
        parts.append(direct_select(n, shape))
        if shape.max_stops >= 1:
            parts.append(connection_select(n, shape))
    return compile_statement(parts[0] if len(parts) == 1 else sa.union_all(*parts))


def search_statement(
    directions: Sequence[DirectionQuery], f: LegFilter
) -> tuple[Compiled, dict[str, Any]]:
    """The statement for this search's shape and its parameters."""
    shape = _Shape(
        len(directions),
        f.max_stops,
        bool(f.included_airlines),
        bool(f.excluded_airlines),
        f.min_connection_minutes,
        f.max_layover_minutes,
    )
    params: dict[str, Any] = {"cabin": f.cabin, "seats": f.seats}
    if f.included_airlines:
        params["included"] = list(f.included_airlines)
    if f.excluded_airlines:
        params["excluded"] = list(f.excluded_airlines)
    for n, d in enumerate(directions):
        params[f"origin{n}"] = d.origin
        params[f"destination{n}"] = d.destination
        params[f"earliest{n}"] = d.earliest
        params[f"latest{n}"] = d.latest
    return _statement(shape), params


_OFFER_FARES_SELECT = sa.select(*_leg_columns(_F1, _FA1), _FA1.c.cabin).select_from(
    _F1.join(_FA1, _FA1.c.flight_id == _F1.c.id)
)
# An offer's fares by id: one parameter per fare up to OFFER_FARES_LISTED (an offer has
# a few), an array beyond. Not ``= ANY($array)`` every time: PostgreSQL cannot tell an
# array's length when it plans a prepared statement once for all calls, so it kept
# planning this one again on every call (the estimate for a one-element array always
# beats the generic one), which cost more CPU than running it.
OFFER_FARES_LISTED = 8
_OFFER_FARES_ANY = compile_statement(
    _OFFER_FARES_SELECT.where(
        _FA1.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)))
    )
)


@functools.lru_cache(maxsize=OFFER_FARES_LISTED)
def _offer_fares_listed(count: int) -> Compiled:
    return compile_statement(
        _OFFER_FARES_SELECT.where(
            _FA1.c.id.in_([sa.bindparam(f"id{i}", type_=sa.BigInteger) for i in range(count)])
        )
    )


def offer_fares_statement(fare_ids: Sequence[int]) -> tuple[Compiled, dict[str, Any]]:
    """The statement reading ``fare_ids`` (with their flights) and its parameters."""
    if not 0 < len(fare_ids) <= OFFER_FARES_LISTED:
        return _OFFER_FARES_ANY, {"ids": list(fare_ids)}
    return _offer_fares_listed(len(fare_ids)), {f"id{i}": f for i, f in enumerate(fare_ids)}


_AIRPORTS = compile_statement(sa.select(AIRPORTS.c.iata_code, AIRPORTS.c.timezone))

# The first and last upcoming departure, from the origin to the destination or to
# anywhere: each aggregate is one probe of the (origin, destination, departure_at) or
# (origin, departure_at) index (PostgreSQL's min/max optimisation), whatever the size.
_ROUTE_DEPARTURE_RANGE = compile_statement(
    sa.select(sa.func.min(FLIGHTS.c.departure_at), sa.func.max(FLIGHTS.c.departure_at)).where(
        FLIGHTS.c.origin == sa.bindparam("origin"),
        FLIGHTS.c.destination == sa.bindparam("destination"),
        FLIGHTS.c.departure_at >= sa.bindparam("since"),
    )
)
_ORIGIN_DEPARTURE_RANGE = compile_statement(
    sa.select(sa.func.min(FLIGHTS.c.departure_at), sa.func.max(FLIGHTS.c.departure_at)).where(
        FLIGHTS.c.origin == sa.bindparam("origin"), FLIGHTS.c.departure_at >= sa.bindparam("since")
    )
)


def _leg(row: Sequence[Any], start: int) -> Leg:
    return Leg(*row[start : start + LEG_WIDTH])


class InventoryRepository:
    def __init__(
        self, pool: asyncpg.Pool, metrics: RepositoryMetrics, acquire_timeout: float = 10.0
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._acquire_timeout = acquire_timeout
        self.search_queries = 0  # statements run by search_legs, for tests

    async def _fetch(self, statement: Compiled, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        async with pooled(self._pool, self._acquire_timeout) as connection:
            rows: list[asyncpg.Record] = await connection.fetch(
                statement.sql, *statement.args(params)
            )
        return rows

    async def airports(self) -> list[tuple[str, str]]:
        return [(code, zone) for code, zone in await self._fetch(_AIRPORTS, {})]

    async def search_legs(
        self, directions: Sequence[DirectionQuery], f: LegFilter
    ) -> list[tuple[int, tuple[Leg, ...]]]:
        """Every (direction, journey legs) matching; unordered."""
        self.search_queries += 1
        self._metrics.queries.labels("search").inc()
        statement, params = search_statement(directions, f)
        rows = await self._fetch(statement, params)
        out: list[tuple[int, tuple[Leg, ...]]] = []
        second = 1 + LEG_WIDTH
        for row in rows:
            if row[second] is None:
                out.append((row[0], (_leg(row, 1),)))
            else:
                out.append((row[0], (_leg(row, 1), _leg(row, second))))
        return out

    async def departure_range(
        self, origin: str, destination: str | None, since: datetime
    ) -> tuple[datetime, datetime] | None:
        """The first and last departure at or after ``since`` from ``origin`` (to
        ``destination``, if given); None if there is none."""
        self._metrics.queries.labels("departure_range").inc()
        if destination is None:
            rows = await self._fetch(_ORIGIN_DEPARTURE_RANGE, {"origin": origin, "since": since})
        else:
            rows = await self._fetch(
                _ROUTE_DEPARTURE_RANGE,
                {"origin": origin, "destination": destination, "since": since},
            )
        first, last = rows[0]
        return None if first is None else (first, last)

    async def offer_fares(self, fare_ids: Sequence[int]) -> dict[int, OfferFare]:
        """The named fares with their flights, as they are now (missing ids absent)."""
        self._metrics.queries.labels("offer").inc()
        rows = await self._fetch(*offer_fares_statement(fare_ids))
        return {row[0]: OfferFare(_leg(row, 0), row[LEG_WIDTH]) for row in rows}
