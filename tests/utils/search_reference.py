"""A plain-Python reference for SearchFlights over all inventory rows.

Deliberately naive (nested loops over every fare, Decimal arithmetic) and independent
of search_service's code, so a property test can compare the service with it. It
encodes the documented rules: a connection needs 45 minutes to 6 hours on the ground,
both fares in the same currency; a round trip's inbound departs at least 45 minutes
after the outbound arrives; each fare costs price x (1 per adult, 0.75 per child,
0.10 per infant), rounded half-up to the cent; ties sort by price, duration,
departure and the fare ids; at most 500 results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIN_CONNECTION = timedelta(minutes=45)
MAX_LAYOVER = timedelta(hours=6)
MAX_RESULTS = 500


@dataclass(frozen=True)
class FareRow:
    fare_id: int
    airline: str
    number: int
    origin: str
    destination: str
    departure: datetime
    arrival: datetime
    cabin: str
    price: Decimal
    currency: str
    seats: int


@dataclass(frozen=True)
class RefQuery:
    origin: str
    destination: str
    departure_date: date
    return_date: date | None
    adults: int
    children: int
    infants: int
    cabin: str
    max_stops: int
    included: frozenset[str]
    excluded: frozenset[str]
    window: tuple[int, int]
    max_price: Decimal | None
    max_currency: str | None
    flexible_days: int
    sort: str  # price | duration | departure


@dataclass(frozen=True)
class RefResult:
    identity: str
    total: Decimal
    duration_s: int
    departure_ts: int
    seats: int


async def load_inventory(engine: AsyncEngine) -> tuple[list[FareRow], dict[str, ZoneInfo]]:
    async with engine.connect() as conn:
        fares = (
            await conn.execute(
                text(
                    "SELECT fa.id, f.airline_code, f.flight_number, f.origin, f.destination, "
                    "f.departure_at, f.arrival_at, fa.cabin, fa.price, fa.currency, "
                    "fa.seats_available FROM fares fa JOIN flights f ON f.id = fa.flight_id"
                )
            )
        ).all()
        zones = (await conn.execute(text("SELECT iata_code, timezone FROM airports"))).all()
    return [FareRow(*row) for row in fares], {code: ZoneInfo(z) for code, z in zones}


def _cost(price: Decimal, q: RefQuery) -> Decimal:
    raw = (
        price * q.adults
        + price * Decimal("0.75") * q.children
        + (price * Decimal("0.10") * q.infants)
    )
    return raw.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _dates(day: date, n: int) -> set[date]:
    return {day + timedelta(days=d) for d in range(-n, n + 1)}


def reference_search(
    rows: list[FareRow], zones: dict[str, ZoneInfo], q: RefQuery, now: datetime
) -> list[RefResult]:
    seats = q.adults + q.children
    usable = [
        r
        for r in rows
        if r.cabin == q.cabin
        and r.seats >= seats
        and (not q.included or r.airline in q.included)
        and r.airline not in q.excluded
    ]

    def journeys(origin: str, destination: str, dates: set[date]) -> list[tuple[FareRow, ...]]:
        out: list[tuple[FareRow, ...]] = []
        for f in usable:
            if f.origin != origin or f.departure < now:
                continue
            if f.departure.astimezone(zones[origin]).date() not in dates:
                continue
            if f.destination == destination:
                out.append((f,))
            elif q.max_stops >= 1:
                for g in usable:
                    if (
                        g.origin == f.destination
                        and g.destination == destination
                        and g.currency == f.currency
                        and MIN_CONNECTION <= g.departure - f.arrival <= MAX_LAYOVER
                    ):
                        out.append((f, g))
        return out

    def in_window(f: FareRow) -> bool:
        local = f.departure.astimezone(zones[f.origin])
        return q.window[0] <= local.hour * 60 + local.minute <= q.window[1]

    outbound = [
        j
        for j in journeys(q.origin, q.destination, _dates(q.departure_date, q.flexible_days))
        if in_window(j[0])
    ]
    if q.return_date is None:
        trips = [(j,) for j in outbound]
    else:
        inbound = journeys(q.destination, q.origin, _dates(q.return_date, q.flexible_days))
        trips = [
            (o, i)
            for o in outbound
            for i in inbound
            if i[0].currency == o[0].currency and i[0].departure >= o[-1].arrival + MIN_CONNECTION
        ]

    results = []
    for trip in trips:
        currency = trip[0][0].currency
        total = sum((_cost(f.price, q) for j in trip for f in j), Decimal(0))
        if q.max_price is not None and (currency != q.max_currency or total > q.max_price):
            continue
        duration = sum(int((j[-1].arrival - j[0].departure).total_seconds()) for j in trip)
        results.append(
            RefResult(
                identity="I:" + "/".join("-".join(str(f.fare_id) for f in j) for j in trip),
                total=total,
                duration_s=duration,
                departure_ts=int(trip[0][0].departure.timestamp()),
                seats=min(f.seats for j in trip for f in j),
            )
        )

    def key(r: RefResult) -> tuple[object, ...]:
        cents = int(r.total * 100)
        if q.sort == "duration":
            return (r.duration_s, cents, r.departure_ts, r.identity)
        if q.sort == "departure":
            return (r.departure_ts, cents, r.duration_s, r.identity)
        return (cents, r.duration_s, r.departure_ts, r.identity)

    return sorted(results, key=key)[:MAX_RESULTS]
