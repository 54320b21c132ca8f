"""Cost as the work grows: ``python -m benchmarks.cost_curves`` (``make bench-scale``).

Three curves, each against its aim (issue 14), measured in one run and plotted to
docs/cost-curves.png (data in docs/cost-curves.json), with the section "Cost as the work
grows" of docs/benchmarks.md rewritten:

- search: cold p95 of distinct non-stop and one-stop searches (2 replicas, c=8) with
  120k, 600k and 1.2M flights stored. The default-scale schedule (60 days, ~120k flights)
  is generated once; the larger tables add earlier copies of it inside PostgreSQL
  (benchmarks/bulk_rows.py), so every size answers the same searches with the same
  rows. Aim: p95 at 1.2M <= 1.5 x p95 at 120k.
- booking: bookings per second (CreateBooking then ConfirmBooking, spread over the
  economy fares of the small scale, 2 replicas with Redis as deployed, c=8) with 0, 1M
  and 5M bookings already stored, next to the same writes straight through asyncpg.
  Aim: throughput at 5M >= 0.9 x an empty table. No economy seat may be oversold.
- token: Redis commands per GetToken (INFO commandstats of a Redis server of the
  run's own, so nothing else is counted) and upstream token requests per token lifetime
  (counted by the provider stand-in) with 1, 3, 6 and 12 token-service replicas under
  h2load. Aims: 1.00 request per lifetime and flat commands per GetToken.

``--quick`` runs small sizes in a minute or two and leaves docs/ alone unless --plot or
--output are given; ``--replot FILE`` draws a saved JSON again. Every process,
database and Redis key the run made is removed on the way out, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from redis import Redis

from benchmarks import proc_load, sanity
from benchmarks.bench_run import (
    BenchRun,
    add_redis_option,
    bench_parser,
    command_line,
    keep_quietest,
    run_bench,
)
from benchmarks.booking_load import SqlPairs, service_pairs, sql_pairs
from benchmarks.bulk_rows import FlightHistory, StoredBookings
from benchmarks.cost_plot import (
    AIM_BOOKING_RATIO,
    AIM_SEARCH_P95_RATIO,
    AIM_UPSTREAM_PER_LIFETIME,
    BookingPoint,
    Curves,
    SearchPoint,
    TokenPoint,
    plot,
)
from benchmarks.load import GrpcCall, LoadGenerator, ensure_h2load
from benchmarks.procs import ROOT
from benchmarks.report import REFRESH_FRACTION
from benchmarks.search_cases import DIRECT, ONE_STOP, CaseStream, StatementBook, load_network
from benchmarks.service_clusters import ServiceCluster, increase
from benchmarks.service_report import ServiceReport, ms, print_summary, write
from benchmarks.services_up import GET_TOKEN, PROVIDER, ProviderSim, TokenCluster
from benchmarks.stats import Point
from booking_service.status_counts import CONFIRMED_COUNT, HELD_COUNT
from services import stack
from services.generated.skyroute.token.v1 import token_service_pb2 as token_pb
from tests.utils.redis_server import PrivateRedis

PROG = "benchmarks.cost_curves"
HEADING = "Cost as the work grows"
PNG = ROOT / "docs" / "cost-curves.png"
QUICK_PNG = ROOT / ".run" / "cost-curves-quick.png"
SEARCH = "/skyroute.search.v1.SearchService/SearchFlights"
CACHE_LOOKUPS = "skyroute_search_cache_lookups_total"
KIND = {DIRECT: "non-stop", ONE_STOP: "one-stop"}
COLD_BUDGET_PER_SECOND = 3000  # distinct searches prepared per measured second
ISSUER, AUDIENCE = "https://id.skyroute.bench", "skyroute-booking"
LOAD_PROCESSES = 2
HOLDS_EXPLAINED = 20
# Redis commands of this script itself (INFO commandstats), not counted.
OWN_COMMANDS = ("info",)

ECONOMY_INVARIANT = """
WITH booked AS (
  SELECT s.fare_id, sum(s.seats) AS seats
  FROM booking_segments s JOIN bookings b ON b.id = s.booking_id
  JOIN fares f ON f.id = s.fare_id AND f.cabin = 'ECONOMY'
  WHERE b.status IN ('PENDING', 'HELD', 'CONFIRMED')
  GROUP BY s.fare_id)
SELECT count(*) FROM fares f LEFT JOIN booked b ON b.fare_id = f.id
WHERE f.cabin = 'ECONOMY'
  AND (f.seats_total - f.seats_available <> coalesce(b.seats, 0) OR f.seats_available < 0)"""


def _ints(raw: str) -> list[int]:
    return [int(x.replace("_", "")) for x in raw.split(",") if x]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(
        PROG,
        __doc__,
        "smoke run: small sizes (small scale x1, x2, x4; 0, 20k, 100k bookings; 1 and 3 "
        "token replicas), 2 s per point; writes docs/ only if --plot/--output are given",
    )
    add_redis_option(parser)
    parser.add_argument("--only", default="search,booking,token", help="curves to measure")
    parser.add_argument("--plot", type=Path, help=f"PNG to write (default {PNG})")
    parser.add_argument("--replot", type=Path, help="draw this saved JSON; measure nothing")
    parser.add_argument("--replicas", type=int, default=2, help="search and booking replicas")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--search-copies", help="schedule copies per point (1,5,10)")
    parser.add_argument("--stored", help="bookings stored per point (0,1000000,5000000)")
    parser.add_argument("--token-replicas", help="token replicas per point (1,3,6,12)")
    parser.add_argument("--token-ttl", type=float, default=5.0, help="stand-in token lifetime")
    # The machine may be shared: each point twice, the quieter one kept.
    parser.set_defaults(seconds=8.0, warmup=2.0, rounds=2)
    given = set(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.token_ttl, args.rounds = 2.0, 0.5, 2.0, 1
        args.search_scale, copies, stored, replicas = "small", "1,2,4", "0,20000,100000", "1,3"
        if "--output" not in given and "--plot" not in given:
            args.no_doc = True
    else:
        args.search_scale, copies, stored, replicas = (
            "default",
            "1,5,10",
            "0,1000000,5000000",
            ("1,3,6,12"),
        )
    args.copies = _ints(args.search_copies or copies)
    args.stored_levels = _ints(args.stored or stored)
    args.token_levels = _ints(args.token_replicas or replicas)
    args.curves = set(args.only.split(","))
    # Tokens are counted over several lifetimes; idle Redis traffic over a few seconds.
    args.token_seconds = max(args.seconds, 6 * args.token_ttl)
    args.idle_seconds = max(2.0, 2 * args.token_ttl)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = ServiceReport(HEADING, command_line(PROG, argv), "bench-scale", [])
    curves = Curves()
    if args.replot:
        curves = Curves.from_json(args.replot.read_text())
        aims(curves, report)
        path = plot(curves, args.plot or PNG, f"replotted from {args.replot.name}")
        print("\n".join(report.aims))
        print(f"wrote {path}")
        return 0
    prefix = f"skyroute-bench-scale-{secrets.token_hex(4)}"

    def bench(run: BenchRun[ServiceReport]) -> None:
        CostCurves(args, run, curves).run()
        aims(curves, report)
        # A smoke run's figure goes to .run/ (git-ignored), not over the measured one.
        png = args.plot or (QUICK_PNG if args.no_doc else PNG)
        plot(curves, png, f"{report.command} ({report.started:%Y-%m-%d})")
        png.with_suffix(".json").write_text(curves.to_json() + "\n")
        if png.parent == (ROOT / "docs"):
            report.setup.append(f"![Cost curves]({png.name}) (data: `{png.stem}.json`)")
        print(f"plotted {png}")

    return run_bench(
        report, args.redis_url, prefix, bench, args, print_summary=print_summary, write=write
    )


class CostCurves:
    def __init__(self, args: argparse.Namespace, run: BenchRun[ServiceReport], curves: Curves):
        self.args = args
        self.ctx = run
        self.report = run.report
        self.curves = curves
        self.log = run.log
        self.subjects: list[str] = run.report.subjects  # type: ignore[assignment]
        self.clusters: list[ServiceCluster] = []
        self.setup: list[str] = []
        self.extra_pids: list[int] = []  # the token curve's own Redis server

    def run(self) -> None:
        self.ctx.warn_if_busy()
        self.ctx.server_pids = lambda: [
            *(pid for c in self.clusters for pid in c.pids),
            *self.extra_pids,
        ]
        started = time.monotonic()
        if "search" in self.args.curves:
            self.search_curve()
        if "booking" in self.args.curves:
            if self.ctx.db.url:
                self.ctx.db.drop()  # one scratch database at a time
            self.booking_curve()
        if "token" in self.args.curves:
            self.token_curve()
        self.report.setup = [
            *self.setup,
            f"Everything on one machine over loopback, sharing its cores; {self.args.warmup:g} "
            f"s warm-up, then {self.args.seconds:g} s per search and booking point, each "
            f"measured {self.args.rounds} time(s) and the round least disturbed by other "
            "processes kept (bench_run.keep_quietest). The whole "
            f"run took {(time.monotonic() - started) / 60:.1f} minutes.",
        ]

    def point(self, point: Point) -> Point:
        self.report.points.append(point)
        if point.subject not in self.subjects:
            self.subjects.append(point.subject)
        return point

    def quietest(self, measure: Callable[[], Point]) -> Point:
        """``--rounds`` measurements; the one other processes disturbed least."""
        rounds = [self.ctx.measured(measure) for _ in range(max(1, self.args.rounds))]
        point = keep_quietest(rounds)[0]
        if len(rounds) > 1:
            point.notes.append(
                "quietest of "
                + ", ".join(f"{p.p95_ms:.1f} ms p95 / {p.rps:,.0f}/s" for p in rounds)
            )
        return self.point(point)

    def start(self, *args: Any, **kwargs: Any) -> ServiceCluster:
        cluster = ServiceCluster(self.ctx.group, *args, **kwargs)
        self.clusters.append(cluster)
        return cluster

    def stop(self, cluster: ServiceCluster) -> None:
        cluster.stop()
        self.clusters.remove(cluster)

    # ------------------------------------------------------------------ search

    def search_curve(self) -> None:
        args, db = self.args, self.ctx.db
        self.log(f"search: scratch database at scale {args.search_scale!r} ...")
        seeded = db.create(args.search_scale)
        network = asyncio.run(load_network(db.dsn))
        statements = StatementBook(network.zones)
        used: set[Any] = set()
        streams = {k: CaseStream(network, k, i, used) for i, k in enumerate((DIRECT, ONE_STOP))}
        history = FlightHistory()
        shared_buffers = db.settings(("shared_buffers",)).get("shared_buffers", "0")
        self.setup.append(
            f"Search: {args.replicas} replicas (default settings) on a database seeded at "
            f"scale `{args.search_scale}` ({seeded.flights:,} flights, {seeded.fares:,} "
            "fares), grown to "
            + ", ".join(f"{c}x" for c in args.copies)
            + " by copying the schedule into the past (bulk_rows.FlightHistory), VACUUM "
            "ANALYZE after each growth. Cold searches: every one distinct (route, date 2-55 "
            "days ahead, 1-4 adults, sort), non-stop on routes with non-stop flights, "
            "one-stop between airports with connections only, driven by one Python "
            f"grpc.aio process per replica at concurrency {args.concurrency}; each replica "
            "restarted at each size. PostgreSQL shared_buffers "
            f"{int(shared_buffers) * 8 // 1024} MB."
        )
        load = LoadGenerator(self.ctx.group, self.ctx.workdir, None)
        call = GrpcCall(SEARCH, b"", ())

        async def grow(copies: int) -> dict[str, Any]:
            conn = await asyncpg.connect(db.dsn, timeout=30)
            try:
                if not history.flights:
                    await history.start(conn)
                await history.grow(conn, copies, self.log)
                return dict(
                    await conn.fetchrow(
                        "SELECT (SELECT count(*) FROM flights) AS flights, "
                        "(SELECT count(*) FROM fares) AS fares, "
                        "pg_total_relation_size('flights') + pg_total_relation_size('fares') "
                        "AS bytes"
                    )
                )
            finally:
                await conn.close()

        for copies in args.copies:
            self.log(f"search: growing to {copies} copies of the schedule ...")
            t0 = time.monotonic()
            size = asyncio.run(grow(copies))
            flights = int(size["flights"])
            self.report.checks.append(
                f"search at {flights:,} flights: {size['fares']:,} fares, flights + fares "
                f"with indexes {size['bytes'] / 2**20:,.0f} MB (grown in "
                f"{time.monotonic() - t0:.0f} s)"
            )
            cluster = self.start(
                stack.SEARCH,
                stack.Facts(
                    database_url=db.url,
                    redis_url=args.redis_url,
                    key_prefix=f"{self.ctx.prefix}-x{copies}",
                    page_token_secret=secrets.token_urlsafe(32),
                ),
                args.replicas,
                name=f"search-x{copies}",
            )
            for kind in (DIRECT, ONE_STOP):
                self.search_point(cluster, load, call, streams[kind], kind, flights)
                case = streams[kind].take(1)[0]
                sql, params = statements.call(case)
                self.explain(f"one {KIND[kind]} search at {flights:,} flights", sql, params)
            self.stop(cluster)

    def search_point(
        self,
        cluster: ServiceCluster,
        load: LoadGenerator,
        call: GrpcCall,
        stream: CaseStream,
        kind: str,
        flights: int,
    ) -> None:
        args = self.args
        subject = f"search cold {KIND[kind]}, {flights:,} flights"

        def bodies(seconds: float) -> list[bytes]:
            return [
                c.request().SerializeToString()
                for c in stream.take(int(COLD_BUDGET_PER_SECOND * seconds))
            ]

        addresses = cluster.addresses
        n = len(addresses)

        def measure() -> Point:
            # Warm-up first, so the cache counters below cover the measured calls only.
            warm, measured = bodies(args.warmup), bodies(args.seconds)
            load.run_distinct(
                subject, n, call, [], warm, addresses, args.concurrency, args.warmup, 0, 1
            )
            before = cluster.samples(CACHE_LOOKUPS, by="result")
            point = load.run_distinct(
                subject, n, call, [], measured, addresses, args.concurrency, args.seconds, 0, 1
            )
            rose = increase(before, cluster.samples(CACHE_LOOKUPS, by="result"))
            calls = point.ok + point.failed
            if abs(rose.get("miss", 0) - calls) > 2 * args.concurrency + 2 or rose.get("hit"):
                self.report.problems.append(f"{subject}: cache lookups {rose} for {calls} calls")
            return point

        point = self.quietest(measure)
        self.curves.search.append(
            SearchPoint(flights, KIND[kind], point.p95_ms, point.p50_ms, point.rps)
        )

    def explain(self, label: str, sql: str, params: list[Any]) -> None:
        """EXPLAIN (ANALYZE, BUFFERS) of one search statement: where its time goes."""

        async def run() -> dict[str, Any]:
            conn = await asyncpg.connect(self.ctx.db.dsn, timeout=30)
            try:
                raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *params)
            finally:
                await conn.close()
            return json.loads(raw)[0]  # type: ignore[no-any-return]

        plan = asyncio.run(run())
        top = plan["Plan"]
        scans = sorted(_scans(top))
        self.report.findings.append(
            f"EXPLAIN ANALYZE, {label}: {plan['Execution Time']:.2f} ms executing, "
            f"{plan['Planning Time']:.2f} ms planning, {top.get('Actual Rows', 0)} rows, "
            f"buffers hit {top.get('Shared Hit Blocks', 0)} / read "
            f"{top.get('Shared Read Blocks', 0)}; scans: {', '.join(scans) or 'none'}"
        )

    # ------------------------------------------------------------------ booking

    def booking_curve(self) -> None:
        args, db = self.args, self.ctx.db
        self.log("booking: scratch database at scale 'small' ...")
        seeded = db.create("small")
        fares = asyncio.run(self.economy_fares())
        secret = "bench-hs256-" + secrets.token_urlsafe(32)
        stored = StoredBookings()
        self.setup.append(
            f"Booking: {args.replicas} replicas (`BOOKING_PRICE_SOURCE=database`, Redis as "
            "deployed, so each replica's 2-second heartbeat runs too) on a database at scale "
            f"`small` ({seeded.flights:,} flights); bookings already stored are added "
            "in bulk (bulk_rows.StoredBookings: 80 % confirmed, 10 % cancelled, 10 % expired, "
            "one segment and one passenger each, on premium-cabin fares; VACUUM ANALYZE "
            f"after). Load: CreateBooking then ConfirmBooking, one adult, a random one of "
            f"{len(fares):,} economy fares, {LOAD_PROCESSES} Python processes at concurrency "
            f"{args.concurrency}; the SQL ceiling sends the service's two statements straight "
            "through asyncpg. Replicas restarted at each size."
        )

        async def grow(total: int) -> dict[str, Any]:
            conn = await asyncpg.connect(db.dsn, timeout=30)
            try:
                await stored.grow(conn, total, self.log)
                return dict(
                    await conn.fetchrow(
                        "SELECT (SELECT count(*) FROM bookings) AS bookings, "
                        "pg_total_relation_size('bookings') "
                        "+ pg_total_relation_size('booking_segments') "
                        "+ pg_total_relation_size('booking_passengers') AS bytes, "
                        "pg_indexes_size('bookings') AS index_bytes"
                    )
                )
            finally:
                await conn.close()

        for level in args.stored_levels:
            self.log(f"booking: {level:,} bookings stored ...")
            t0 = time.monotonic()
            size = asyncio.run(grow(level))
            self.report.checks.append(
                f"booking with {level:,} stored: {size['bookings']:,} bookings in the table "
                f"(with the load's so far), bookings + segments + passengers "
                f"{size['bytes'] / 2**20:,.0f} MB, of which bookings' indexes "
                f"{size['index_bytes'] / 2**20:,.0f} MB (grown in {time.monotonic() - t0:.0f} s)"
            )
            cluster = self.start(
                stack.BOOKING,
                stack.Facts(
                    database_url=db.url,
                    redis_url=args.redis_url,
                    key_prefix=f"{self.ctx.prefix}-b{level}",
                    jwt=stack.Jwt(secret, ISSUER, AUDIENCE),
                ),
                args.replicas,
                env={"BOOKING_PRICE_SOURCE": "database"},
                name=f"booking-{level}",
            )
            config = {
                "fares": fares,
                "addresses": cluster.addresses,
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "secret": secret,
                "dsn": db.dsn,
            }
            for subject, factory in (("service", service_pairs), ("SQL ceiling", sql_pairs)):
                name = f"booking {subject}, {level:,} stored"
                run_id = f"{self.ctx.prefix}-{subject[:3]}-{level}"
                measure = partial(
                    self.booking_load, factory, {**config, "run": run_id}, name, args.replicas
                )
                point = self.quietest(measure)
                self.curves.booking.append(BookingPoint(level, subject, point.rps, point.p95_ms))
            asyncio.run(self.explain_holds(fares, level))
            for what, sql in (("held", HELD_COUNT), ("confirmed", CONFIRMED_COUNT)):
                self.explain(f"status count of {what} bookings, {level:,} stored", sql, [])
            oversold = asyncio.run(self.oversold())
            line = f"economy fares after the load with {level:,} stored: {oversold} oversold"
            (self.report.problems if oversold else self.report.checks).append(line)
            self.stop(cluster)

    async def explain_holds(self, fares: list[dict[str, Any]], level: int) -> None:
        """EXPLAIN (ANALYZE, BUFFERS, WAL) of the service's hold statement for a few
        bookings (rolled back): the pages and WAL one booking costs at this size."""
        statements = _Captured()
        pairs = SqlPairs({"run": f"explain-{level}", "fares": fares}, 0, 1)
        for i in range(HOLDS_EXPLAINED):
            fare = fares[i * 7 % len(fares)]
            await pairs._hold(statements, fare, f"explain-{level}")
        conn = await asyncpg.connect(self.ctx.db.dsn, timeout=30)
        totals: Counter[str] = Counter()
        try:
            for sql, params in statements.calls:
                tx = conn.transaction()
                await tx.start()
                try:
                    raw = await conn.fetchval(
                        f"EXPLAIN (ANALYZE, BUFFERS, WAL, FORMAT JSON) {sql}", *params
                    )
                finally:
                    await tx.rollback()
                plan = json.loads(raw)[0]
                totals["ms"] += plan["Execution Time"]
                for key in (
                    "Shared Hit Blocks",
                    "Shared Read Blocks",
                    "Shared Dirtied Blocks",
                    "WAL Records",
                    "WAL FPI",
                    "WAL Bytes",
                ):
                    totals[key] += plan["Plan"].get(key, 0)
        finally:
            await conn.close()
        n = len(statements.calls)
        self.report.findings.append(
            f"EXPLAIN (ANALYZE, BUFFERS, WAL), the hold statement with {level:,} stored, mean "
            f"of {n} bookings (rolled back): {totals['ms'] / n:.2f} ms, buffers hit "
            f"{totals['Shared Hit Blocks'] / n:.0f} / read {totals['Shared Read Blocks'] / n:.1f}"
            f" / dirtied {totals['Shared Dirtied Blocks'] / n:.1f}, WAL "
            f"{totals['WAL Records'] / n:.0f} records, {totals['WAL FPI'] / n:.1f} full-page "
            f"images, {totals['WAL Bytes'] / n / 1024:.1f} KiB"
        )

    def booking_load(
        self, factory: proc_load.Factory, config: dict[str, Any], name: str, replicas: int
    ) -> Point:
        args = self.args
        # A run id of its own per round: the users' request ids must not repeat.
        config = {**config, "run": f"{config['run']}-{secrets.token_hex(3)}"}
        result = proc_load.run(
            factory,
            config,
            processes=LOAD_PROCESSES,
            concurrency=args.concurrency,
            seconds=args.seconds,
            warmup=args.warmup,
            workdir=self.ctx.workdir,
            name=config["run"],
        )
        return result.point(name, replicas, args.concurrency)

    async def economy_fares(self) -> list[dict[str, Any]]:
        """Every economy fare at least a day ahead, with all its seats free (the seed
        pre-sells some seats with no booking behind them)."""
        conn = await asyncpg.connect(self.ctx.db.dsn, timeout=10)
        try:
            await conn.execute("UPDATE fares SET seats_available = seats_total")
            rows = await conn.fetch("""
                SELECT fa.id, fa.price, fa.currency, fa.refundable, fa.change_fee,
                       f.airline_code || f.flight_number AS designator, f.origin,
                       f.destination, f.departure_at, f.arrival_at
                FROM fares fa JOIN flights f ON f.id = fa.flight_id
                WHERE fa.cabin = 'ECONOMY' AND f.departure_at > now() + interval '1 day'
                ORDER BY fa.id""")
        finally:
            await conn.close()
        return [
            {
                "fare_id": r["id"],
                "price": str(r["price"]),
                "currency": r["currency"],
                "refundable": r["refundable"],
                "change_fee": str(r["change_fee"]),
                "designator": r["designator"],
                "origin": r["origin"].strip(),
                "destination": r["destination"].strip(),
                "departure_at": r["departure_at"],
                "arrival_at": r["arrival_at"],
            }
            for r in rows
        ]

    async def oversold(self) -> int:
        conn = await asyncpg.connect(self.ctx.db.dsn, timeout=10)
        try:
            await conn.execute("SET statement_timeout = 0")
            return int(await conn.fetchval(ECONOMY_INVARIANT))
        finally:
            await conn.close()

    # ------------------------------------------------------------------ token

    def token_curve(self) -> None:
        args, group = self.args, self.ctx.group
        redis_server = PrivateRedis(self.ctx.workdir).start()
        assert redis_server.proc is not None
        self.extra_pids = [redis_server.proc.pid]
        try:
            h2load = ensure_h2load()
            load = LoadGenerator(group, self.ctx.workdir, h2load)
            clients = {n: f"cost-token-{n}" for n in args.token_levels}
            sim = ProviderSim(group, list(clients.values()), args.token_ttl)
            self.setup.append(
                f"Token: 1 to {max(args.token_levels)} replicas on a Redis server of the "
                "run's own (so INFO commandstats counts their commands only), the provider "
                f"stand-in issuing {args.token_ttl:g}-second tokens (refresh at 75-85 % of a "
                f"lifetime); GetToken driven by {load.name} at concurrency {args.concurrency} "
                f"for {args.token_seconds:g} s per replica count, after {args.idle_seconds:g} "
                "s with no calls (the background: heartbeats, lease renewals). *Per lifetime* "
                "= tokens issued per second x TTL x 0.8 (the mean refresh cycle)."
            )
            for n in args.token_levels:
                self.token_point(load, sim, clients[n], redis_server.url, n)
        finally:
            redis_server.stop()

    def token_point(
        self, load: LoadGenerator, sim: ProviderSim, client: str, redis_url: str, n: int
    ) -> None:
        args = self.args
        self.log(f"token: {n} replicas ...")
        cluster = TokenCluster(self.ctx.group, sim, client, redis_url, f"{self.ctx.prefix}-t{n}", n)
        self.clusters.append(cluster)
        request = token_pb.GetTokenRequest(provider=PROVIDER).SerializeToString()
        call = GrpcCall(GET_TOKEN, request, cluster.metadata)
        for address in cluster.addresses:  # every replica holds the token
            asyncio.run(sanity.raw_bytes_response(address, call))
        redis = Redis.from_url(redis_url)
        try:
            before = _commands(redis)
            time.sleep(args.idle_seconds)
            idle = Counter(_commands(redis))
            idle.subtract(before)
            before = _commands(redis)
            start = time.time()
            point = self.point(
                self.ctx.measured(
                    lambda: load.run(
                        f"GetToken, {n} replicas",
                        n,
                        call,
                        cluster.addresses,
                        args.concurrency,
                        args.token_seconds,
                        0,
                    )
                )
            )
            end = time.time()
            commands = Counter(_commands(redis))
            commands.subtract(before)
        finally:
            redis.close()
        times = sim.issue_times(client, start, end)
        rate = (
            (len(times) - 1) / (times[-1] - times[0])
            if len(times) >= 3
            else len(times) / (end - start)
        )
        if len(times) < 3:
            self.report.warnings.append(
                f"{n} token replicas: only {len(times)} tokens issued; too few for a rate"
            )
        self.curves.token.append(
            TokenPoint(
                replicas=n,
                calls=point.ok,
                redis_commands=commands.total(),
                idle_commands_per_s=idle.total() / args.idle_seconds,
                seconds=end - start,
                upstream_per_lifetime=rate * args.token_ttl * REFRESH_FRACTION,
                tokens_issued=len(times),
                commands={k: v for k, v in commands.most_common() if v},
                idle_commands={
                    k: round(v / args.idle_seconds, 2) for k, v in idle.most_common() if v
                },
            )
        )
        self.stop(cluster)


class _Captured:
    """Stands in for a connection: keeps the statements ``fetchrow`` is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchrow(self, sql: str, *params: Any) -> None:
        self.calls.append((sql, params))


def _commands(redis: Redis) -> dict[str, int]:
    """Commands the Redis server has run by name, other than this script's own."""
    stats: dict[str, dict[str, Any]] = redis.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
    return {k: v for k, v in calls.items() if k.split("|")[0] not in OWN_COMMANDS}


def _scans(node: dict[str, Any]) -> set[str]:
    found = set()
    if "Scan" in node.get("Node Type", ""):
        found.add(f"{node['Node Type']} {node.get('Index Name') or node.get('Relation Name')}")
    for child in node.get("Plans", []):
        found |= _scans(child)
    return found


def aims(curves: Curves, report: ServiceReport) -> None:
    """The curves' tables and each aim's verdict, into ``report``."""
    for title, rows in (
        ("Search: cold latency by flights stored", _search_aims(curves.search, report)),
        ("Booking: throughput by bookings stored", _booking_aims(curves.booking, report)),
        ("Token: Redis and upstream by replicas", _token_aims(curves.token, report)),
    ):
        if len(rows) > 2:
            report.extra_tables.append((title, rows))


def _search_aims(curve: list[SearchPoint], report: ServiceReport) -> list[str]:
    search_rows = ["| flights | kind | p50 ms | p95 ms | p95 / smallest | searches/s |"]
    search_rows.append("|---:|---|---:|---:|---:|---:|")
    for kind in ("non-stop", "one-stop"):
        points = sorted((p for p in curve if p.kind == kind), key=lambda p: p.flights)
        if not points:
            continue
        base = points[0]
        for p in points:
            search_rows.append(
                f"| {p.flights:,} | {kind} | {ms(p.p50_ms)} | {ms(p.p95_ms)} | "
                f"{p.p95_ms / base.p95_ms:.2f} | {p.rps:,.0f} |"
            )
        last = points[-1]
        ratio = last.p95_ms / base.p95_ms
        report.aims.append(
            f"search cold {kind} p95 at {last.flights:,} flights <= {AIM_SEARCH_P95_RATIO:g} x "
            f"at {base.flights:,}: **{_verdict(ratio <= AIM_SEARCH_P95_RATIO)}** "
            f"({ms(last.p95_ms)} ms vs {ms(base.p95_ms)} ms: {ratio:.2f} x)"
        )
    return search_rows


def _booking_aims(curve: list[BookingPoint], report: ServiceReport) -> list[str]:
    booking_rows = ["| stored | subject | bookings/s | p95 ms | / empty table |"]
    booking_rows.append("|---:|---|---:|---:|---:|")
    for subject in ("service", "SQL ceiling"):
        points = sorted((p for p in curve if p.subject == subject), key=lambda p: p.stored)
        if not points:
            continue
        base = points[0]
        for p in points:
            booking_rows.append(
                f"| {p.stored:,} | {subject} | {p.rps:,.0f} | {ms(p.p95_ms)} | "
                f"{p.rps / base.rps if base.rps else math.nan:.2f} |"
            )
        if subject == "service":
            last = points[-1]
            ratio = last.rps / base.rps if base.rps else math.nan
            report.aims.append(
                f"booking throughput with {last.stored:,} stored >= {AIM_BOOKING_RATIO:g} x "
                f"with {base.stored:,}: **{_verdict(ratio >= AIM_BOOKING_RATIO)}** "
                f"({last.rps:,.0f} vs {base.rps:,.0f} bookings/s: {ratio:.2f} x)"
            )
    return booking_rows


def _token_aims(curve: list[TokenPoint], report: ServiceReport) -> list[str]:
    token_rows = [
        "| replicas | GetToken calls | Redis commands | per GetToken | beyond idle, per "
        "GetToken | idle commands/s | tokens issued | upstream per lifetime |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    token = sorted(curve, key=lambda p: p.replicas)
    for p in token:
        token_rows.append(
            f"| {p.replicas} | {p.calls:,} | {p.redis_commands:,} | {p.commands_per_call:.4f} | "
            f"{p.extra_per_call:.4f} | "
            f"{p.idle_commands_per_s:.1f} | {p.tokens_issued} | {p.upstream_per_lifetime:.2f} |"
        )
    for p in token[:1] + token[1:][-1:]:
        report.findings.append(
            f"Redis commands with {p.replicas} token replicas: during the load "
            + ", ".join(f"{k} {v:,}" for k, v in list(p.commands.items())[:8])
            + f" ({p.calls:,} calls); with no calls, per second: "
            + ", ".join(f"{k} {v:g}" for k, v in list(p.idle_commands.items())[:8])
        )
    if token:
        worst = max(abs(p.upstream_per_lifetime - AIM_UPSTREAM_PER_LIFETIME) for p in token)
        report.aims.append(
            f"upstream requests per lifetime {AIM_UPSTREAM_PER_LIFETIME:.2f} from "
            f"{token[0].replicas} to {token[-1].replicas} replicas: "
            f"**{_verdict(worst <= 0.1)}** ("
            + ", ".join(f"{p.replicas}: {p.upstream_per_lifetime:.2f}" for p in token)
            + "; within 0.10 counts as met: the refresh point is drawn at random)"
        )
        total, extra = [p.commands_per_call for p in token], [p.extra_per_call for p in token]
        report.aims.append(
            f"Redis commands per GetToken flat from {token[0].replicas} to "
            f"{token[-1].replicas} replicas: in total **{_verdict(_flat(total))}** ("
            + ", ".join(f"{p.replicas}: {p.commands_per_call:.4f}" for p in token)
            + f"); beyond the replicas' background **{_verdict(_flat(extra))}** ("
            + ", ".join(f"{p.replicas}: {p.extra_per_call:.4f}" for p in token)
            + "); the background, per replica with no calls: "
            + ", ".join(f"{p.replicas}: {p.idle_commands_per_s / p.replicas:.2f}/s" for p in token)
            + " (heartbeat writes, and each replica's part of every refresh round: with the "
            "stand-in's short token lifetime, most of it)"
        )
    return token_rows


def _flat(per_call: list[float]) -> bool:
    """The most per call at most 0.01 command above the fewest (1 command in 100 calls),
    or within 25 % of it."""
    return max(per_call) - min(per_call) <= max(0.01, 0.25 * min(per_call))


def _verdict(ok: bool) -> str:
    return "met" if ok else "not met"


if __name__ == "__main__":
    sys.exit(main())
