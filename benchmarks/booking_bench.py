"""Booking-service benchmark: ``python -m benchmarks.booking_bench`` (``make bench-booking``).

Two booking replicas (processes, ``BOOKING_PRICE_SOURCE=database``) on a scratch
database seeded at the small scale. Measures bookings (CreateBooking, then
ConfirmBooking) per second and their p50/p99 latency at concurrency 1, 8 and 32, for
one hot flight and for bookings spread over many flights, next to the ceiling of the
same writes sent straight through asyncpg. After every run it checks that no seat was
oversold: for every fare, the seats taken equal the seats of its held and confirmed
bookings, and none has fewer than zero seats left; any violation fails the run. Prints
a table and rewrites the booking-service section of docs/benchmarks.md. Every process
it starts is stopped and the database dropped on the way out, including on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import asyncpg
import grpc
import jwt

from benchmarks import proc_load, profile
from benchmarks.bench_run import (
    BenchRun,
    add_service_options,
    bench_parser,
    command_line,
    run_bench,
)
from benchmarks.booking_load import SERVICE, echo_pairs, service_pairs, sql_pairs
from benchmarks.pg_activity import STATES, ActivitySampler
from benchmarks.procs import Child
from benchmarks.service_clusters import ServiceCluster, increase
from benchmarks.service_report import ServiceReport, ms, plural, print_summary, write
from benchmarks.stats import Point
from booking_service.pricing.offer_refs import format_ref
from booking_service.pricing.passengers import Party
from inventory_seed.seed import SeedReport
from services.clients.channels import open_channel
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.stack import BOOKING, Facts, Jwt
from tests.utils.pgbouncer import PgBouncer

CREATE = f"/{SERVICE}/CreateBooking"
CONFIRM = f"/{SERVICE}/ConfirmBooking"
ISSUER = "https://id.skyroute.bench"
AUDIENCE = "skyroute-booking"

HOT, SPREAD = "hot flight", "spread"
SUBJECT = {HOT: "booking, hot flight", SPREAD: "booking, spread"}
CEILING = {HOT: "SQL ceiling, hot flight", SPREAD: "SQL ceiling, spread"}
# The same two calls per booking against echo servers: gRPC and the load generator alone.
FLOOR = "gRPC floor (echo)"
SUBJECTS = (SUBJECT[HOT], CEILING[HOT], SUBJECT[SPREAD], CEILING[SPREAD], FLOOR)
# --pgbouncer: the same replicas' load through PgBouncer in transaction pooling mode.
VIA_PGBOUNCER = {HOT: "booking via PgBouncer, hot flight", SPREAD: "booking via PgBouncer, spread"}
# PgBouncer's server connections (default_pool_size): fewer than the replicas' clients.
PGBOUNCER_POOL_SIZE = 10
# Processes the load is spread over (per subject): like two client services.
LOAD_PROCESSES = 2
# Aims, and the previous system.
AIM_RPS = {SPREAD: 500.0, HOT: 200.0}
AIM_P99_MS, AIM_P99_AT = 100.0, 32
PREVIOUS_RPS = 50.0

# No seat oversold: seats taken from each fare = seats of the bookings holding them.
INVARIANT = """
WITH booked AS (
  SELECT s.fare_id, sum(s.seats) AS seats
  FROM booking_segments s JOIN bookings b ON b.id = s.booking_id
  WHERE b.status IN ('PENDING', 'HELD', 'CONFIRMED') AND s.fare_id IS NOT NULL
  GROUP BY s.fare_id)
SELECT f.id, f.seats_total, f.seats_available, coalesce(b.seats, 0) AS booked
FROM fares f LEFT JOIN booked b ON b.fare_id = f.id
WHERE f.seats_total - f.seats_available <> coalesce(b.seats, 0) OR f.seats_available < 0
ORDER BY f.id LIMIT 10"""


def ms_per_booking(point: Point, *parts: str) -> float:
    """CPU milliseconds per booking that ``parts`` of the point's *cores* split used."""
    return sum(point.cores.get(part, math.nan) for part in parts) / point.rps * 1000


PROG = "benchmarks.booking_bench"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(PROG, __doc__, "smoke run: 2 s per point, concurrency 8 only")
    add_service_options(parser, "small", "seed scale (small, default)")
    parser.add_argument(
        "--hot-seats",
        type=int,
        default=1_000_000,
        help="seats on the hot flight's fare (enough never to sell out)",
    )
    parser.add_argument("--concurrency", help="comma-separated concurrencies (1,8,32)")
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="also measure the service through PgBouncer in transaction "
        "pooling mode (DB_PGBOUNCER=true; needs Debian's pgbouncer)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.rounds, args.no_profile = 2.0, 0.5, 1, True
    args.concurrencies = [8] if args.quick else [1, 8, 32]
    if args.concurrency:
        args.concurrencies = [int(c) for c in args.concurrency.split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    subjects = SUBJECTS + ((VIA_PGBOUNCER[HOT], VIA_PGBOUNCER[SPREAD]) if args.pgbouncer else ())
    report = ServiceReport(
        "Booking service",
        command_line(PROG, argv),
        "bench-booking",
        subjects,
        unit="bookings/s",
        requests_label="bookings",
    )
    prefix = f"skyroute-bench-booking-{secrets.token_hex(4)}"
    return run_bench(
        report,
        None,
        prefix,
        lambda run: BookingBench(args, run).run(),
        args,
        print_summary=print_summary,
        write=write,
    )


class BookingBench:
    def __init__(self, args: argparse.Namespace, run: BenchRun[ServiceReport]) -> None:
        self.args = args
        self.ctx = run  # the run's processes, database, report
        self.report = run.report
        self.log = run.log
        self.cluster: ServiceCluster | None = None
        self.bounced: ServiceCluster | None = None  # --pgbouncer: replicas through it
        self.echoes: list[Child] = []
        self.echo_addresses: list[str] = []
        self.reply = b""  # the sanity booking's ConfirmBookingResponse, serialized
        self.secret = "bench-hs256-" + secrets.token_urlsafe(32)
        self.points = 0
        self.invariant_checks = 0
        self.sessions: dict[tuple[str, int], int] = {}
        self.xacts: dict[tuple[str, int], float] = {}  # database transactions per booking
        self.split_ms: dict[tuple[str, int], tuple[float, float]] = {}  # create, confirm
        self.pairs_seen = 0  # confirmed bookings the service load generator saw
        # Mean connections of the database per state during each point.
        self.activity: dict[tuple[str, int], dict[str, float]] = {}

    # ------------------------------------------------------------------ setup

    def run(self) -> None:
        if not self.args.pgbouncer:
            self.run_all(None)
            return
        bouncer = PgBouncer(pool_size=PGBOUNCER_POOL_SIZE).start()
        try:
            self.run_all(bouncer)
        finally:
            if self.bounced is not None:
                self.bounced.stop()
            bouncer.stop()

    def run_all(self, bouncer: PgBouncer | None) -> None:
        args = self.args
        ctx = self.ctx
        ctx.warn_if_busy()
        self.log(f"scratch database, seeded at scale {args.scale!r} ...")
        seeded = ctx.db.create(args.scale)
        self.log(
            f"  {seeded.flights} flights, {seeded.fares} fares in {seeded.total_seconds:.1f} s"
        )
        self.hot, self.spread = asyncio.run(self.prepare_inventory())
        self.check_invariant("before the load")
        self.log(f"booking service, {args.replicas} replicas ...")
        self.cluster = ServiceCluster(
            ctx.group,
            BOOKING,
            Facts(database_url=ctx.db.url, jwt=Jwt(self.secret, ISSUER, AUDIENCE)),
            args.replicas,
            env={"BOOKING_PRICE_SOURCE": "database"},
        )
        if bouncer is not None:
            self.log(f"booking service through PgBouncer, {args.replicas} replicas ...")
            self.bounced = ServiceCluster(
                ctx.group,
                BOOKING,
                Facts(
                    database_url=bouncer.url_for(ctx.db.url), jwt=Jwt(self.secret, ISSUER, AUDIENCE)
                ),
                args.replicas,
                env={"BOOKING_PRICE_SOURCE": "database", "DB_PGBOUNCER": "true"},
                name="booking-pgbouncer",
            )
        asyncio.run(self.sanity())
        self.start_echoes()
        ctx.server_pids = lambda: (
            ([*self.cluster.pids] if self.cluster else [])
            + ([*self.bounced.pids] if self.bounced else [])
            + ([bouncer.proc.pid] if bouncer and bouncer.proc else [])
            + [echo.popen.pid for echo in self.echoes]
        )
        self.describe(seeded, ctx.db.settings(("fsync", "synchronous_commit", "shared_buffers")))
        handled_before = self.handled()

        def one_round(c: int, round_: int) -> list[Point]:
            points = []
            for mode in (HOT, SPREAD):
                points += [self.service_point(mode, c, round_), self.ceiling_point(mode, c, round_)]
                if self.bounced is not None:
                    points.append(self.service_point(mode, c, round_, self.bounced))
            return [*points, self.floor_point(c, round_)]

        self.report.points += self.ctx.rounds(args.concurrencies, args.rounds, one_round)
        self.check_metrics(handled_before)
        self.report.checks.append(
            f"no oversold seat: after each of the {self.invariant_checks} checks (before the "
            f"load and after each of the {self.points} load runs) every fare's seats taken "
            "(seats_total - seats_available) equalled the seats of its HELD and CONFIRMED "
            "bookings, and no fare had fewer than 0 seats left"
        )
        self.ratios_and_aims()
        self.activity_table()
        self.cpu_findings()
        if not args.no_profile:
            self.profile_passes()

    async def prepare_inventory(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Gives every fare its full seat count (the seed pre-sells some seats with no
        booking behind them, which the invariant would count as oversold) and makes one
        economy fare a week ahead the hot flight with plenty of seats."""
        conn = await asyncpg.connect(self.ctx.db.dsn, timeout=10)
        try:
            await conn.execute("UPDATE fares SET seats_available = seats_total")
            rows = await conn.fetch("""
                SELECT fa.id, fa.price, fa.currency, fa.refundable, fa.change_fee,
                       f.airline_code || f.flight_number AS designator, f.origin,
                       f.destination, f.departure_at, f.arrival_at
                FROM fares fa JOIN flights f ON f.id = fa.flight_id
                WHERE fa.cabin = 'ECONOMY' AND f.departure_at > now() + interval '1 day'
                ORDER BY abs(extract(epoch FROM f.departure_at - (now() + interval '7 days'))),
                         fa.id""")
            fares = [
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
            hot = fares[0]
            await conn.execute(
                "UPDATE fares SET seats_total = $2, seats_available = $2 WHERE id = $1",
                hot["fare_id"],
                self.args.hot_seats,
            )
            self.spread_seats = await conn.fetchval(
                "SELECT sum(seats_total) FROM fares WHERE id = ANY($1::bigint[])",
                [f["fare_id"] for f in fares[1:]],
            )
        finally:
            await conn.close()
        return hot, fares[1:]

    async def sanity(self) -> None:
        """One booking through the round-robin client, checked field by field."""
        assert self.cluster is not None
        now = int(time.time())
        token = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-sanity", "iat": now, "exp": now + 600},
            self.secret,
            algorithm="HS256",
        )
        metadata = (("authorization", f"Bearer {token}"),)
        fare = self.spread[-1]
        channel = open_channel(self.cluster.addresses, SERVICE)
        try:
            stub = pb_grpc.BookingServiceStub(channel)
            created = await stub.CreateBooking(
                pb.CreateBookingRequest(
                    offer_ids=[format_ref(fare["fare_id"], Decimal(fare["price"]), Party(1, 0, 0))],
                    passengers=[
                        pb.Passenger(
                            given_name="Ada",
                            family_name="Lovelace",
                            birth_date="1985-12-10",
                            document=pb.TravelDocument(
                                type=pb.DOCUMENT_TYPE_PASSPORT,
                                number="P1234567",
                                issuing_country="GB",
                                expire_date="2036-01-31",
                            ),
                        )
                    ],
                    contact=pb.Contact(email="ada@example.com"),
                    request_id="sanity-1",
                ),
                metadata=metadata,
                timeout=10,
            )
            confirmed = await stub.ConfirmBooking(
                pb.ConfirmBookingRequest(
                    booking_reference=created.booking.booking_reference, payment_token="tok_visa"
                ),
                metadata=metadata,
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            raise RuntimeError(
                f"a single booking failed: {exc.code().name} "
                f"{exc.details()}\n{self.cluster.log_text()[-3000:]}"
            ) from None
        finally:
            await channel.close()
        self.reply = confirmed.SerializeToString()
        booking = confirmed.booking
        segment = booking.offers[0].segments[0]
        good = (
            created.booking.status == pb.BOOKING_STATUS_HELD
            and booking.status == pb.BOOKING_STATUS_CONFIRMED
            and segment.fare_id == fare["fare_id"]
            and segment.seats == 1
            and len(booking.passengers[0].ticket_number) == 13
        )
        line = (
            f"one booking through the Python client: HELD, then CONFIRMED with ticket "
            f"{booking.passengers[0].ticket_number}, 1 seat on fare {segment.fare_id}"
        )
        (self.report.checks if good else self.report.problems).append(
            line if good else f"single booking came back wrong: {booking}"
        )

    def start_echoes(self) -> None:
        """As many echo servers as replicas, each answering any call with the sanity
        booking's ConfirmBookingResponse (the gRPC floor's servers)."""
        reply = self.ctx.workdir / "confirmed-booking.bin"
        reply.write_bytes(self.reply)
        self.log(f"{self.args.replicas} echo gRPC servers ({len(self.reply)}-byte responses) ...")
        self.echoes = [
            self.ctx.group.python(
                f"echo-{i}", ["-m", "benchmarks.echo_server", "--payload-file", str(reply)]
            )
            for i in range(self.args.replicas)
        ]
        self.echo_addresses = [f"127.0.0.1:{echo.wait_ready()['grpc']}" for echo in self.echoes]

    # ------------------------------------------------------------------ measuring

    def config(
        self, mode: str, run_id: str, cluster: ServiceCluster | None = None
    ) -> dict[str, Any]:
        cluster = cluster or self.cluster
        assert cluster is not None
        return {
            "run": run_id,
            "fares": [self.hot] if mode == HOT else self.spread,
            "addresses": cluster.addresses,
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "secret": self.secret,
            "dsn": self.ctx.db.dsn,
        }

    def service_point(
        self, mode: str, c: int, round_: int, bounced: ServiceCluster | None = None
    ) -> Point:
        """The service's create+confirm pairs; with ``bounced``, through PgBouncer."""
        subject = (VIA_PGBOUNCER if bounced else SUBJECT)[mode]
        via = "-pgb" if bounced else ""
        run_id = f"{self.ctx.prefix}{via}-{'hot' if mode == HOT else 'spread'}-c{c}-r{round_}"
        outcome: list[proc_load.Outcome] = []
        counters = self.ctx.db.counters()
        cluster = bounced or self.cluster
        assert cluster is not None

        def measure() -> Point:
            result = proc_load.run(
                service_pairs,
                self.config(mode, run_id, cluster),
                processes=LOAD_PROCESSES,
                concurrency=c,
                seconds=self.args.seconds,
                warmup=self.args.warmup,
                workdir=self.ctx.workdir,
                name=f"pairs-{run_id}",
            )
            outcome.append(result)
            return result.point(subject, len(cluster.addresses), c)

        point = self.watched(measure)
        self.counted(subject, c, counters, outcome[0])
        stats = outcome[0].stats
        if stats.get("pairs"):
            self.split_ms[(subject, c)] = (
                stats["create_us"] / stats["pairs"] / 1000,
                stats["confirm_us"] / stats["pairs"] / 1000,
            )
        self.pairs_seen += int(stats.get("pairs", 0))
        self.after_load(f"{subject} c={c}")
        return point

    def ceiling_point(self, mode: str, c: int, round_: int) -> Point:
        run_id = f"{self.ctx.prefix}-sql-{'hot' if mode == HOT else 'spread'}-c{c}-r{round_}"
        outcome: list[proc_load.Outcome] = []
        counters = self.ctx.db.counters()

        def measure() -> Point:
            result = proc_load.run(
                sql_pairs,
                self.config(mode, run_id),
                processes=LOAD_PROCESSES,
                concurrency=c,
                seconds=self.args.seconds,
                warmup=self.args.warmup,
                workdir=self.ctx.workdir,
                name=f"sql-{run_id}",
            )
            outcome.append(result)
            return result.point(CEILING[mode], 0, c)

        point = self.watched(measure)
        self.counted(CEILING[mode], c, counters, outcome[0])
        self.after_load(f"{CEILING[mode]} c={c}")
        return point

    def floor_point(self, c: int, round_: int) -> Point:
        run_id = f"{self.ctx.prefix}-echo-c{c}-r{round_}"
        config = {**self.config(SPREAD, run_id), "addresses": self.echo_addresses}

        def measure() -> Point:
            result = proc_load.run(
                echo_pairs,
                config,
                processes=LOAD_PROCESSES,
                concurrency=c,
                seconds=self.args.seconds,
                warmup=self.args.warmup,
                workdir=self.ctx.workdir,
                name=f"echo-{run_id}",
            )
            return result.point(FLOOR, len(self.echo_addresses), c)

        return self.ctx.measured(measure)

    def counted(
        self, subject: str, c: int, before: dict[str, int], outcome: proc_load.Outcome
    ) -> None:
        """New sessions, and transactions per booking (warm-up included on both sides
        of the division: the counters cover the whole run)."""
        after = self.ctx.db.counters()
        self.sessions[(subject, c)] = after["sessions"] - before["sessions"]
        done = sum(outcome.outcomes.values()) + outcome.stats.get("warmup_calls", 0)
        xacts = (
            after["xact_commit"]
            - before["xact_commit"]
            + after["xact_rollback"]
            - before["xact_rollback"]
        )
        if done:
            self.xacts[(subject, c)] = xacts / done

    def watched(self, measure: Callable[[], Point]) -> Point:
        """``measured``, sampling what the database's connections do meanwhile."""
        db = self.ctx.db
        with ActivitySampler(db.admin_dsn, db.name) as sampler:
            point = self.ctx.measured(measure)
        self.activity[(point.subject, point.concurrency)] = sampler.averages(point.window)
        if sampler.error:
            self.report.warnings.append(
                f"pg_stat_activity sampling failed during "
                f"{point.subject} c={point.concurrency}: "
                f"{sampler.error}"
            )
        return point

    def after_load(self, what: str) -> None:
        self.points += 1
        self.check_invariant(f"after {what}")

    # ------------------------------------------------------------------ checks

    def check_invariant(self, when: str) -> None:
        violations = asyncio.run(self._violations())
        self.invariant_checks += 1
        if violations:
            self.report.problems.append(
                f"OVERSOLD {when}: "
                + "; ".join(
                    f"fare {r['id']}: seats_total {r['seats_total']}, seats_available "
                    f"{r['seats_available']}, booked {r['booked']}"
                    for r in violations
                )
            )
            self.log(f"  OVERSOLD {when}: {violations}")

    async def _violations(self) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.ctx.db.dsn, timeout=10)
        try:
            return list(await conn.fetch(INVARIANT))
        finally:
            await conn.close()

    def handled(self) -> dict[str, dict[str, float]]:
        """Calls handled by status code, over every replica (--pgbouncer's too)."""
        assert self.cluster is not None
        totals: dict[str, dict[str, float]] = {CREATE: {}, CONFIRM: {}}
        for cluster in (self.cluster, self.bounced):
            for method, codes in totals.items():
                for code, value in (cluster.handled(method) if cluster else {}).items():
                    codes[code] = codes.get(code, 0.0) + value
        return totals

    def check_metrics(self, before: dict[str, dict[str, float]]) -> None:
        """The replicas' own counts: every booking the load saw confirmed was created
        and confirmed OK; no other status codes (but for calls in flight at the end)."""
        after = self.handled()
        rose = {method: increase(before[method], after[method]) for method in after}
        created = rose[CREATE].get("OK", 0.0)
        confirmed = rose[CONFIRM].get("OK", 0.0)
        other = {
            f"{m.rsplit('/', 1)[1]} {code}": v
            for m, codes in rose.items()
            for code, v in codes.items()
            if code != "OK"
        }
        # Calls in flight at the end of a run are counted by the replicas only, or
        # cancelled (CANCELLED).
        ok = confirmed >= self.pairs_seen and all(k.endswith("CANCELLED") for k in other)
        line = (
            f"replica metrics: CreateBooking OK {created:.0f}, ConfirmBooking OK "
            f"{confirmed:.0f}; the load generators saw {self.pairs_seen} bookings "
            "confirmed (warm-up included)"
            + (f"; other codes {other}" if other else "; no other status codes")
        )
        (self.report.checks if ok else self.report.problems).append(line)

    # ------------------------------------------------------------------ report

    def describe(self, seeded: SeedReport, pg: dict[str, str]) -> None:
        args = self.args
        shared_buffers_mb = int(pg.get("shared_buffers", "0")) * 8 // 1024
        self.report.setup = [
            f"Setup: {args.replicas} booking replicas (separate processes, "
            "`BOOKING_PRICE_SOURCE=database`, default settings: a pool of 5 + 5 database "
            "connections each, the hold sweeper running) on a scratch database seeded at "
            f"scale `{args.scale}` ({seeded.flights:,} flights, "
            f"{seeded.fares:,} fares); PostgreSQL on 127.0.0.1 (fsync "
            f"{pg.get('fsync')}, synchronous_commit {pg.get('synchronous_commit')}, "
            f"shared_buffers {shared_buffers_mb} MB), everything on one machine over "
            "loopback, sharing its cores with the load generators. Every fare starts with "
            "all its seats (the seed's pre-sold seats have no bookings behind them); the "
            f"hot flight is one economy fare a week ahead with {args.hot_seats:,} seats; "
            f"*spread* picks one of the other {len(self.spread):,} economy fares at random "
            f"per booking ({self.spread_seats:,} seats in all).",
            f"A booking is CreateBooking (one adult, one offer `fare:<id>:<price>:1:0:0`, a "
            "new request id) then ConfirmBooking of the reference it returned, counted "
            "when confirmed; latency is the pair's, as the client saw it. Load: "
            f"{LOAD_PROCESSES} Python processes, each with a grpc.aio round-robin channel "
            "over both replicas, one user per worker with a JWT (HS256) minted for it. "
            f"{args.warmup:g} s warm-up, then {args.seconds:g} s per point; "
            + (
                "one round per point. "
                if args.rounds == 1
                else f"{args.rounds} rounds per point, the one least disturbed by other "
                "processes and steal reported. "
            )
            + "Closed loop: mean latency = concurrency / throughput.",
            "Ceiling: the service's own two write statements, imported from "
            "booking_service/store/repository.py and sent straight through asyncpg from as "
            "many processes, one connection per worker, at the same concurrency: the "
            "one-statement hold (the guarded `UPDATE fares SET seats_available = "
            "seats_available - n WHERE id = $1 AND seats_available >= n AND <the price "
            "is still the priced one>` and the booking, passenger and segment rows "
            "written from it) and the one-statement confirm by the user's booking "
            "reference (the guarded status UPDATE and ticket numbers, returning the "
            "booking). It leaves out what the service does besides: reading the fare "
            "to price the offer, JWT checks, gRPC.",
            f"gRPC floor: {args.replicas} echo servers (benchmarks/echo_server.py, "
            "grpc.aio on uvloop like the replicas, no interceptors) that answer any call "
            "with a stored ConfirmBookingResponse (the sanity booking's), driven by the "
            "same load generator sending the same CreateBooking and ConfirmBooking "
            "requests with the same JWT metadata: what the booking's two gRPC calls cost "
            "with no booking work, database or JWT check behind them. The service cannot "
            "be faster than this on this machine.",
            "After every run the benchmark checks in the database that no seat was "
            "oversold (every fare: seats_total - seats_available = seats of its HELD and "
            "CONFIRMED bookings, seats_available >= 0) and exits non-zero on a "
            "violation. *cores* splits the CPU during each point: the replicas, "
            "PostgreSQL (the database's backends and the server's background writers), "
            "Redis (unused here), the load generators with this script; *other CPU* is "
            "everything else (noise when above ~0.1); *steal* is the time the hypervisor "
            "took from this virtual machine (everything runs slower meanwhile).",
        ]

    def ratios_and_aims(self) -> None:
        r = self.report
        for mode in (HOT, SPREAD):
            for c in self.args.concurrencies:
                ours, ceiling = r.point(SUBJECT[mode], c), r.point(CEILING[mode], c)
                if ours and ceiling and ceiling.rps:
                    split = self.split_ms.get((SUBJECT[mode], c))
                    r.ratios.append(
                        f"{mode}, c={c}: service / SQL ceiling = "
                        f"{ours.rps / ceiling.rps:.2f} ({ours.rps:,.0f} / "
                        f"{ceiling.rps:,.0f} bookings/s); p99 {ms(ours.p99_ms)} ms vs "
                        f"{ms(ceiling.p99_ms)} ms"
                        + (
                            f"; mean CreateBooking {split[0]:.1f} ms + ConfirmBooking "
                            f"{split[1]:.1f} ms"
                            if split
                            else ""
                        )
                    )
        for mode in (HOT, SPREAD):
            for c in self.args.concurrencies:
                ours, floor = r.point(SUBJECT[mode], c), r.point(FLOOR, c)
                if ours and floor and floor.rps:
                    r.ratios.append(
                        f"{mode}, c={c}: service / gRPC floor = {ours.rps / floor.rps:.2f} "
                        f"({ours.rps:,.0f} / {floor.rps:,.0f} bookings/s); p99 "
                        f"{ms(ours.p99_ms)} ms vs {ms(floor.p99_ms)} ms"
                    )
        best = {
            mode: max(
                (p for p in r.points if p.subject == SUBJECT[mode]),
                key=lambda p: p.rps,
                default=None,
            )
            for mode in (HOT, SPREAD)
        }
        spread_best = best[SPREAD]
        if spread_best:
            r.ratios.append(
                f"against the previous system (50 bookings/s, < 1 s per "
                f"booking): spread x{spread_best.rps / PREVIOUS_RPS:.1f}"
            )
        for mode in (SPREAD, HOT):
            p = best[mode]
            if p is None:
                continue
            verdict = "met" if p.rps >= AIM_RPS[mode] else "not met"
            all_c = ", ".join(
                f"c={q.concurrency} {q.rps:,.0f}/s"
                for q in sorted(
                    (q for q in r.points if q.subject == SUBJECT[mode]), key=lambda q: q.concurrency
                )
            )
            r.aims.append(
                f">= {AIM_RPS[mode]:,.0f} bookings/s {mode}: **{verdict}** "
                f"({p.rps:,.0f}/s at c={p.concurrency}; {all_c})"
            )
        for mode in (SPREAD, HOT):
            p = r.point(SUBJECT[mode], AIM_P99_AT)
            if p is None:
                continue
            verdict = "met" if p.p99_ms <= AIM_P99_MS else "not met"
            r.aims.append(
                f"p99 <= {AIM_P99_MS:g} ms at c={AIM_P99_AT}, {mode}: "
                f"**{verdict}** ({ms(p.p99_ms)} ms; p50 {ms(p.p50_ms)} ms)"
            )
        self.cpu_budget()

    def cpu_budget(self) -> None:
        """What the spread aim leaves for the service's own work, from the CPU the
        points used at the highest concurrency (the closed loop's latency follows)."""
        r = self.report
        c = max(self.args.concurrencies)
        ours, ceiling, floor = (
            r.point(SUBJECT[SPREAD], c),
            r.point(CEILING[SPREAD], c),
            r.point(FLOOR, c),
        )
        if not (ours and ceiling and floor and ours.rps and ceiling.rps and floor.rps):
            return

        cores = os.cpu_count() or 1
        budget = cores / AIM_RPS[SPREAD] * 1000
        grpc_floor = ms_per_booking(floor, "servers", "clients")
        writes = ms_per_booking(ceiling, "postgres")
        replicas_above_echo = ms_per_booking(ours, "servers") - ms_per_booking(floor, "servers")
        pg_above_ceiling = ms_per_booking(ours, "postgres") - writes
        total = ms_per_booking(ours, "servers", "postgres", "clients")
        r.findings.append(
            f"CPU budget, spread, c={c}: {AIM_RPS[SPREAD]:,.0f} bookings/s on {cores} cores "
            f"allows {budget:.1f} ms per booking. The gRPC floor takes {grpc_floor:.1f} ms "
            f"(echo servers + load generator) and the two writes {writes:.1f} ms of "
            f"PostgreSQL (SQL ceiling), leaving {budget - grpc_floor - writes:.1f} ms for "
            f"the replicas' own work; they use {replicas_above_echo:.1f} ms more than the "
            f"echo servers, and PostgreSQL {pg_above_ceiling:.1f} ms more than the ceiling "
            f"(the fare read that prices the offer). All told the service takes "
            f"{total:.1f} ms per booking: at most {cores / total * 1000:,.0f} bookings/s "
            f"on these cores. Closed loop: mean latency = {c} / throughput = "
            f"{c / ours.rps * 1000:.0f} ms at {ours.rps:,.0f}/s, so a p99 of "
            f"{AIM_P99_MS:g} ms at c={c} needs well over {c / AIM_P99_MS * 1000:,.0f}/s."
        )

    def activity_table(self) -> None:
        rows = [
            "| subject | concurrency | " + " | ".join(STATES) + " |",
            "|---|---:|" + "---:|" * len(STATES),
        ]
        for subject in SUBJECTS:
            for c in self.args.concurrencies:
                averages = self.activity.get((subject, c))
                if averages:
                    rows.append(
                        f"| {subject} | {c} | "
                        + " | ".join(f"{averages.get(state, 0.0):.1f}" for state in STATES)
                        + " |"
                    )
        self.report.extra_tables.append(
            (
                "Database connections during the points (mean number in each state, sampled "
                "from pg_stat_activity every 50 ms)",
                rows,
            )
        )

    def cpu_findings(self) -> None:
        r = self.report
        for subject in SUBJECTS:
            parts = []
            for p in sorted(
                (p for p in r.points if p.subject == subject), key=lambda p: p.concurrency
            ):
                if not p.rps:
                    continue
                servers = ms_per_booking(p, "servers")
                pg = ms_per_booking(p, "postgres")
                load = ms_per_booking(p, "clients")
                busy = sum(p.cores.values()) + p.foreign_cores
                if subject == FLOOR:
                    parts.append(
                        f"c={p.concurrency}: {servers:.1f} ms in the echo "
                        f"servers, {load:.1f} ms in the load generator; "
                        f"{busy:.1f} of {os.cpu_count()} cores busy"
                    )
                    continue
                xacts = self.xacts.get((subject, p.concurrency), math.nan)
                parts.append(
                    f"c={p.concurrency}: "
                    + (f"{servers:.1f} ms in the replicas, " if subject in SUBJECT.values() else "")
                    + f"{pg:.1f} ms in PostgreSQL, {load:.1f} ms in the load "
                    f"generator; {xacts:.1f} transactions per booking; {busy:.1f} of "
                    f"{os.cpu_count()} cores busy; "
                    + plural(self.sessions.get((subject, p.concurrency), 0), "new connection")
                )
            if parts:
                r.findings.append(f"{subject}, CPU per booking: " + "; ".join(parts))

    def profile_passes(self) -> None:
        """Extra runs (not reported as points) with py-spy sampling both replicas."""
        if profile.py_spy() is None:
            self.report.findings.append(profile.NO_PY_SPY)
            return
        assert self.cluster is not None
        c = max(self.args.concurrencies)
        seconds = self.args.seconds
        for mode in (SPREAD, HOT):
            label = f"{SUBJECT[mode]}, c={c}"
            self.log(f"profiling the replicas: {label} ...")
            run_id = f"{self.ctx.prefix}-profile-{'hot' if mode == HOT else 'spread'}"
            outs = [
                self.ctx.workdir / f"py-spy-{run_id}-{i}.txt" for i in range(len(self.cluster.pids))
            ]
            result, _ = profile.sampled(
                self.ctx.group,
                self.cluster.pids,
                outs,
                seconds,
                partial(
                    proc_load.run,
                    service_pairs,
                    self.config(mode, run_id),
                    processes=LOAD_PROCESSES,
                    concurrency=c,
                    seconds=seconds + 1,
                    warmup=0,
                    workdir=self.ctx.workdir,
                    name=f"pairs-{run_id}",
                ),
            )
            self.pairs_seen += int(result.stats.get("pairs", 0))
            self.after_load(f"the profiling run ({label})")
            prof = profile.summarize(outs, PROFILED)
            if not prof.samples:
                self.report.findings.append(f"{label}: py-spy recorded nothing")
                continue
            inc = prof.inclusive
            rps = result.point("", 0, c).rps
            self.report.findings.append(
                f"{label} ({rps:,.0f}/s while sampled), py-spy on both replicas: "
                f"{prof.samples} samples holding the GIL ({prof.samples / 100 / seconds:.2f} "
                f"cores). Own time by library: {prof.areas_line()}. Inclusive: "
                f"CreateBooking's own coroutine {prof.share(inc['create']):.0f} %, "
                f"ConfirmBooking's {prof.share(inc['confirm']):.0f} %; the store's SQL "
                f"calls (booking_service/store/repository.py, asyncpg included) "
                f"{prof.share(inc['store']):.0f} %; booking to protobuf "
                f"{prof.share(inc['to_proto']):.0f} %; JWT check "
                f"{prof.share(inc['jwt']):.0f} %; log records "
                f"{prof.share(inc['logging']):.0f} %. Replica CPU that py-spy does not "
                f"see (it samples Python threads holding the GIL) is gRPC's C core and "
                f"the kernel"
            )


# Functions whose inclusive time the profile pass reports (file suffix:function).
PROFILED = {
    "create": "booking_service/flows/bookings.py:Bookings.create",
    "confirm": "booking_service/flows/bookings.py:Bookings.confirm",
    "store": "booking_service/store/repository.py:",
    "to_proto": "booking_service/api/convert.py:booking_pb",
    "jwt": "services/user_auth.py:JwtAuthenticator.__call__",
    "logging": "logging/__init__.py:Logger._log",
}


if __name__ == "__main__":
    sys.exit(main())
