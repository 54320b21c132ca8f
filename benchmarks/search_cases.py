"""The searches the search benchmark sends, and the SQL the service runs for each.

Routes come from the seeded inventory: *direct* cases are non-stop searches
(``max_stops=0``) on routes that have non-stop flights; *one-stop* cases are searches
with ``max_stops=1`` between airports no flight links directly but that have about one
or more connections a day (45 minutes to 6 hours on the ground). Every case differs
from every other one in route, date, party size or sort order, so no two share a cache
entry. Each case renders to the ``SearchFlightsRequest`` the load sends and to the
statement and arguments the service's repository runs for it (the floor), built with
the service's own statement builder and policy defaults.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from search_service.airports import local_midnight
from search_service.repository import DirectionQuery, LegFilter, search_statement
from search_service.settings import SearchPolicy
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

DIRECT = "direct"
ONE_STOP = "one-stop"
CABIN = "ECONOMY"
SORTS = (pb.SORT_ORDER_PRICE, pb.SORT_ORDER_DURATION, pb.SORT_ORDER_DEPARTURE_TIME)
MAX_ADULTS = 4
# Days ahead searched: inside the seeded schedule (tomorrow + 60 days) with margin.
FIRST_DAY, LAST_DAY = 2, 55
# A one-stop route qualifies with at least this many connections in the sample week.
MIN_CONNECTIONS_PER_WEEK = 7


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    origin: str
    destination: str
    day: date
    adults: int
    sort: int
    max_stops: int

    def request(self) -> pb.SearchFlightsRequest:
        return pb.SearchFlightsRequest(
            origin=self.origin,
            destination=self.destination,
            departure_date=self.day.isoformat(),
            passengers=pb.Passengers(adults=self.adults),
            cabin=pb.CABIN_ECONOMY,
            filters=pb.SearchFilters(max_stops=self.max_stops),
            sort_order=self.sort,  # type: ignore[arg-type]
        )


@dataclass
class Network:
    zones: dict[str, str]
    direct: list[tuple[str, str]]
    one_stop: list[tuple[str, str]]
    busiest: list[tuple[str, str]]  # direct routes, the most flights first

    def routes(self, kind: str) -> list[tuple[str, str]]:
        return self.direct if kind == DIRECT else self.one_stop


async def load_network(dsn: str) -> Network:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        zones = {
            r["iata_code"]: r["timezone"]
            for r in await conn.fetch("SELECT iata_code, timezone FROM airports")
        }
        direct_rows = await conn.fetch(
            "SELECT origin, destination, count(*) AS n FROM flights "
            "GROUP BY 1, 2 ORDER BY n DESC, 1, 2"
        )
        # Connections actually flown in one sample week, on routes with no non-stop.
        one_stop_rows = await conn.fetch(
            """
            WITH direct AS (SELECT DISTINCT origin, destination FROM flights)
            SELECT f1.origin, f2.destination, count(*) AS n
            FROM flights f1
            JOIN flights f2 ON f2.origin = f1.destination
              AND f2.departure_at >= f1.arrival_at + interval '45 minutes'
              AND f2.departure_at <= f1.arrival_at + interval '360 minutes'
            WHERE f1.departure_at >= now() + interval '7 days'
              AND f1.departure_at < now() + interval '14 days'
              AND f2.destination <> f1.origin
              AND NOT EXISTS (SELECT FROM direct d
                              WHERE d.origin = f1.origin AND d.destination = f2.destination)
            GROUP BY 1, 2 HAVING count(*) >= $1 ORDER BY 1, 2""",
            MIN_CONNECTIONS_PER_WEEK,
        )
    finally:
        await conn.close()
    direct = [(r["origin"].strip(), r["destination"].strip()) for r in direct_rows]
    return Network(
        zones={k.strip(): v for k, v in zones.items()},
        direct=sorted(direct),
        one_stop=[(r["origin"].strip(), r["destination"].strip()) for r in one_stop_rows],
        busiest=direct,
    )


class CaseStream:
    """Distinct cases of one kind, in a reproducible random order; never the same case
    twice (across every stream made from the same ``used`` set)."""

    def __init__(self, network: Network, kind: str, seed: int, used: set[Case]) -> None:
        self._routes = network.routes(kind)
        if not self._routes:
            raise RuntimeError(f"the inventory has no {kind} routes to search")
        self._kind = kind
        self._random = random.Random(f"{kind}-{seed}")
        self._used = used
        self._today = datetime.now(UTC).date()

    def take(self, n: int) -> list[Case]:
        return [next(self) for _ in range(n)]

    def __iter__(self) -> Iterator[Case]:
        return self

    def __next__(self) -> Case:
        r = self._random
        while True:
            origin, destination = r.choice(self._routes)
            case = Case(
                self._kind,
                origin,
                destination,
                self._today + timedelta(days=r.randint(FIRST_DAY, LAST_DAY)),
                r.randint(1, MAX_ADULTS),
                r.choice(SORTS),
                0 if self._kind == DIRECT else 1,
            )
            if case not in self._used:
                self._used.add(case)
                return case


class StatementBook:
    """The repository's statement for each case, as asyncpg SQL text and arguments."""

    def __init__(self, zones: dict[str, str], policy: SearchPolicy | None = None) -> None:
        self._zones = {code: ZoneInfo(name) for code, name in zones.items()}
        self._policy = policy or SearchPolicy()

    def call(self, case: Case) -> tuple[str, list[Any]]:
        zone = self._zones[case.origin]
        earliest = local_midnight(case.day, zone).astimezone(UTC)
        latest = local_midnight(case.day + timedelta(days=1), zone).astimezone(UTC)
        policy = self._policy
        statement, params = search_statement(
            [DirectionQuery(0, case.origin, case.destination, earliest, latest)],
            LegFilter(
                cabin=CABIN,
                seats=case.adults,
                max_stops=case.max_stops,
                min_connection_minutes=policy.min_connection_minutes,
                max_layover_minutes=policy.max_layover_minutes,
            ),
        )
        # One SQL text per statement shape, compiled once, exactly as the service runs it.
        return statement.sql, statement.args(params)

    def calls(self, cases: Sequence[Case]) -> tuple[list[str], list[tuple[int, list[Any]]]]:
        """(distinct SQL texts, per case: index of its text and its arguments)."""
        texts: list[str] = []
        out = []
        for case in cases:
            sql, args = self.call(case)
            if sql not in texts:
                texts.append(sql)
            out.append((texts.index(sql), args))
        return texts, out
