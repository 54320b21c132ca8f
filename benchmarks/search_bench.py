"""Search-service benchmark: ``python -m benchmarks.search_bench`` (``make bench-search``).

Two search replicas (processes) on a scratch database seeded at the default scale,
sharing one Redis. Measures SearchFlights throughput and p50/p95/p99 latency for cached
searches (one query repeated), cold non-stop searches and cold one-stop searches
(every query distinct, so each misses the cache), next to what they are judged
against, measured in the same run: the echo gRPC ceiling driven by the same load
generator, a Redis GET of the cached value, and the SQL floor (the service's own
statements for the same kind of queries, sent straight through asyncpg). SearchHotels
likewise, over the hotel supplier's stand-in (benchmarks/hotel_search.py): cached (one
query repeated, against an echo server answering as many bytes and a Redis GET of its
cached value) and cold (every query distinct, each one asking the supplier). Prints a
table and rewrites the search-service section of docs/benchmarks.md. Every process it
starts is stopped, the database dropped and every Redis key it wrote deleted on the way
out, including on Ctrl-C and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import cast

import asyncpg
import grpc
from redis import Redis

from benchmarks import proc_load, profile, sanity
from benchmarks.bench_run import (
    BenchRun,
    add_redis_option,
    add_service_options,
    bench_parser,
    command_line,
    run_bench,
)
from benchmarks.cpu import pid_seconds
from benchmarks.echo_server import METHOD as ECHO_METHOD
from benchmarks.hotel_search import HotelCaseStream, HotelSupplier, cached_case
from benchmarks.load import GrpcCall, LoadGenerator, ensure_h2load
from benchmarks.procs import Child
from benchmarks.redis_floor import redis_get_floor
from benchmarks.search_cases import (
    DIRECT,
    ONE_STOP,
    Case,
    CaseStream,
    Network,
    StatementBook,
    load_network,
)
from benchmarks.search_floor import sql_floor
from benchmarks.service_clusters import ServiceCluster, increase
from benchmarks.service_report import ServiceReport, ms, plural, print_summary, write
from benchmarks.stats import Point
from inventory_seed.seed import SeedReport
from services import stack
from services.clients.channels import open_channel
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc

SERVICE = "skyroute.search.v1.SearchService"
SEARCH = f"/{SERVICE}/SearchFlights"
SEARCH_HOTELS = f"/{SERVICE}/SearchHotels"
CACHE_LOOKUPS = "skyroute_search_cache_lookups_total"

CACHED = "search, cached"
KIND = {DIRECT: "non-stop", ONE_STOP: "one-stop"}
COLD = {DIRECT: "search, cold non-stop", ONE_STOP: "search, cold one-stop"}
FLOOR = {DIRECT: "SQL floor, non-stop", ONE_STOP: "SQL floor, one-stop"}
ECHO_H2 = "echo gRPC (h2load)"
ECHO_PY = "echo gRPC (Python load)"
REDIS_GET = "redis GET (cached value)"
HOTEL_CACHED = "hotel search, cached"
HOTEL_COLD = "hotel search, cold"
ECHO_HOTEL = "echo gRPC (h2load, hotel-sized)"
REDIS_HOTEL = "redis GET (cached hotel value)"
SUBJECTS = (
    CACHED,
    ECHO_H2,
    REDIS_GET,
    COLD[DIRECT],
    FLOOR[DIRECT],
    COLD[ONE_STOP],
    FLOOR[ONE_STOP],
    ECHO_PY,
    HOTEL_CACHED,
    ECHO_HOTEL,
    REDIS_HOTEL,
    HOTEL_COLD,
)

# Distinct searches prepared per second of a cold point: far above what two replicas
# can serve, so the load never runs out (it would say so).
COLD_BUDGET_PER_SECOND = 3000
COLD_HOTEL_BUDGET_PER_SECOND = 1000
FLOOR_CASES = 20_000
# The cached search is the fullest of this many busiest routes.
CACHED_CANDIDATES = 50
SANITY_CASES = 25
# Aims, and the previous system they replace.
AIM_CACHED_RPS = 1500.0
AIM_P95_MS = {DIRECT: 50.0, ONE_STOP: 150.0}
PREVIOUS_RPS = 100.0
PREVIOUS_P95_MS = 2000.0
# Cached hotel search against the echo server answering as many bytes (as cached
# flight search is judged).
AIM_HOTEL_CACHED_VS_ECHO = 0.6


PROG = "benchmarks.search_bench"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(
        PROG, __doc__, "smoke run: small inventory, 2 s per point, one concurrency per kind"
    )
    add_service_options(parser, "default", "seed scale (default, small)")
    add_redis_option(parser)
    parser.add_argument("--cached-concurrency", help="comma-separated (1,16,64)")
    parser.add_argument("--cold-concurrency", help="comma-separated (8,16)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.rounds, args.scale = 2.0, 0.5, 1, "small"
        args.no_profile = True
    args.cached_concurrencies = [16] if args.quick else [1, 16, 64]
    args.cold_concurrencies = [8] if args.quick else [8, 16]
    if args.cached_concurrency:
        args.cached_concurrencies = [int(c) for c in args.cached_concurrency.split(",")]
    if args.cold_concurrency:
        args.cold_concurrencies = [int(c) for c in args.cold_concurrency.split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = ServiceReport("Search service", command_line(PROG, argv), "bench-search", SUBJECTS)
    prefix = f"skyroute-bench-search-{secrets.token_hex(4)}"
    return run_bench(
        report,
        args.redis_url,
        prefix,
        lambda run: SearchBench(args, run).run(),
        args,
        print_summary=print_summary,
        write=write,
    )


class SearchBench:
    def __init__(self, args: argparse.Namespace, run: BenchRun[ServiceReport]) -> None:
        self.args = args
        self.ctx = run  # the run's processes, database, report
        self.report = run.report
        self.log = run.log
        self.echo: Child | None = None
        self.hotel_echo: Child | None = None
        self.hotels: HotelSupplier | None = None
        self.hotel_streams = HotelCaseStream()
        self.cluster: ServiceCluster | None = None
        self.used: set[Case] = set()
        self.sample_sizes: dict[str, tuple[float, float]] = {}  # kind: (itineraries, rows)
        self.floor_rows: dict[str, float] = {}
        self.sessions: dict[tuple[str, int], int] = {}  # new PostgreSQL sessions per point
        # Per concurrency, per cold hotel search computed: supplier API calls, and CPU ms
        # of the search replicas, the stand-in and the token replica.
        self.hotel_costs: dict[int, tuple[float, float, float, float]] = {}

    # ------------------------------------------------------------------ setup

    def run(self) -> None:
        args = self.args
        ctx = self.ctx
        ctx.warn_if_busy()
        h2load = ensure_h2load()
        if h2load is None:
            self.log(
                "note: h2load unavailable; cached searches are driven by Python "
                "processes too (much slower, sharing the CPU with the servers)"
            )
        self.load = LoadGenerator(ctx.group, ctx.workdir, h2load)
        self.pyload = LoadGenerator(ctx.group, ctx.workdir, None)
        self.log(f"scratch database, seeded at scale {args.scale!r} ...")
        seeded = ctx.db.create(args.scale)
        self.log(
            f"  {seeded.flights} flights, {seeded.fares} fares in {seeded.total_seconds:.1f} s"
        )
        self.network = asyncio.run(load_network(ctx.db.dsn))
        self.statements = StatementBook(self.network.zones)
        self.streams = {
            kind: CaseStream(self.network, kind, i, self.used)
            for i, kind in enumerate((DIRECT, ONE_STOP))
        }
        self.log("hotel supplier stand-in and a token-service replica logged in to it ...")
        self.hotels = HotelSupplier(ctx.group, args.redis_url, ctx.prefix)
        self.log(f"search service, {args.replicas} replicas ...")
        self.cluster = ServiceCluster(
            ctx.group,
            stack.SEARCH,
            self.hotels.search_facts(
                stack.Facts(
                    database_url=ctx.db.url,
                    redis_url=args.redis_url,
                    key_prefix=ctx.prefix,
                    page_token_secret=secrets.token_urlsafe(32),
                )
            ),
            args.replicas,
        )
        ctx.server_pids = self.server_pids
        self.cached_call = GrpcCall(SEARCH, self.cached_request().SerializeToString(), ())
        cached_value = self.prime_cache()
        self.echo, self.echo_address = ctx.start_echo(len(self.cached_response))
        self.echo_call = GrpcCall(ECHO_METHOD, self.cached_call.message, ())
        self.hotel_call = GrpcCall(SEARCH_HOTELS, cached_case().request().SerializeToString(), ())
        self.hotel_value = self.prime_hotel_cache()
        self.hotel_echo, self.hotel_echo_address = ctx.start_echo(len(self.hotel_response))
        self.hotel_echo_call = GrpcCall(ECHO_METHOD, self.hotel_call.message, ())
        self.compare_with_sql()
        self.describe(
            seeded,
            ctx.db.settings(("fsync", "synchronous_commit", "shared_buffers", "max_connections")),
        )

        cached_points = self.measure_cached(cached_value)
        cold_points = self.measure_cold()
        self.report.points.extend(cached_points + cold_points)
        self.check_statuses()
        self.ratios_and_aims()
        self.cpu_findings()
        if not args.no_profile:
            self.profile_passes()

    def server_pids(self) -> list[int]:
        pids = list(self.cluster.pids) if self.cluster else []
        for echo in (self.echo, self.hotel_echo):
            if echo is not None:
                pids.append(echo.pid)
        if self.hotels is not None:
            pids += self.hotels.pids
        return pids

    def cached_request(self) -> pb.SearchFlightsRequest:
        """A popular search: of the busiest non-stop routes, the one with the most
        itineraries two weeks ahead (one adult, economy, connections allowed, sorted by
        price), so that it fills the default first page if any does."""
        day = datetime.now(UTC).date() + timedelta(days=14)
        candidates = [
            Case("cached", o, d, day, 1, pb.SORT_ORDER_PRICE, 1)
            for o, d in self.network.busiest[:CACHED_CANDIDATES]
        ]

        async def rows() -> list[int]:
            conn = await asyncpg.connect(self.ctx.db.dsn, timeout=10)
            try:
                counts = []
                for case in candidates:
                    sql, params = self.statements.call(case)
                    counts.append(len(await conn.fetch(sql, *params)))
                return counts
            finally:
                await conn.close()

        counts = asyncio.run(rows())
        best = max(range(len(candidates)), key=lambda i: (counts[i], -i))
        return candidates[best].request()

    def prime_cache(self) -> bytes:
        """One cached search through each replica; returns the cached value (the whole
        sorted result list as the service stores it)."""
        assert self.cluster is not None
        for address in self.cluster.addresses:
            self.cached_response = asyncio.run(sanity.raw_bytes_response(address, self.cached_call))
        response = pb.SearchFlightsResponse.FromString(self.cached_response)
        request = pb.SearchFlightsRequest.FromString(self.cached_call.message)
        self.cached_route = f"{request.origin}-{request.destination}"
        if not response.itineraries:
            self.report.problems.append("the cached search found no itineraries")
        redis = Redis.from_url(self.args.redis_url)
        try:
            keys = [
                k
                for k in redis.scan_iter(match=f"{self.ctx.prefix}:search:results:*")
                if not k.endswith((b":lock", b":tag"))
            ]
            value = cast(bytes | None, redis.get(keys[0])) if len(keys) == 1 else None
        finally:
            redis.close()
        if value is None:
            raise RuntimeError(f"expected one cached result in Redis, found {len(keys)}")
        self.cached_value_size = len(value)
        self.cached_total = response.total_size
        self.cached_page = len(response.itineraries)
        status = sanity.nghttp_status(self.cluster.addresses[0], self.cached_call, self.ctx.workdir)
        self.report.checks.append(
            f"cached search {self.cached_route}: "
            f"{response.total_size} itineraries, {len(response.itineraries)} on the first "
            f"page ({len(self.cached_response):,} bytes); Redis holds "
            f"{len(value):,} bytes for it; one request as h2load frames it (nghttp): "
            f"{status}"
        )
        return value

    def result_keys(self) -> set[bytes]:
        redis = Redis.from_url(self.args.redis_url)
        try:
            return {
                k
                for k in redis.scan_iter(match=f"{self.ctx.prefix}:search:results:*")
                if not k.endswith((b":lock", b":tag"))
            }
        finally:
            redis.close()

    def prime_hotel_cache(self) -> bytes:
        """The cached hotel search once through each replica; returns its cached value."""
        assert self.cluster is not None
        before = self.result_keys()
        for address in self.cluster.addresses:
            self.hotel_response = asyncio.run(sanity.raw_bytes_response(address, self.hotel_call))
        response = pb.SearchHotelsResponse.FromString(self.hotel_response)
        if not response.hotels:
            self.report.problems.append("the cached hotel search found no hotels")
        keys = list(self.result_keys() - before)
        redis = Redis.from_url(self.args.redis_url)
        try:
            value = cast(bytes | None, redis.get(keys[0])) if len(keys) == 1 else None
        finally:
            redis.close()
        if value is None:
            raise RuntimeError(f"expected one cached hotel result in Redis, found {len(keys)}")
        self.hotel_value_size = len(value)
        self.hotel_total = response.total_size
        self.hotel_page = len(response.hotels)
        self.hotel_offers = sum(len(h.offers) for h in response.hotels)
        status = sanity.nghttp_status(self.cluster.addresses[0], self.hotel_call, self.ctx.workdir)
        self.report.checks.append(
            f"cached hotel search {cached_case()}: {response.total_size} hotels, "
            f"{len(response.hotels)} on the first page with {self.hotel_offers} offers "
            f"({len(self.hotel_response):,} bytes); Redis holds {len(value):,} bytes for "
            f"it; one request as h2load frames it (nghttp): {status}"
        )
        return value

    def compare_with_sql(self) -> None:
        """Sample searches of each kind: what the service answers, and the rows the
        floor's SQL returns for them (one row = one journey = one itinerary)."""

        async def compare(kind: str) -> tuple[int, int, int, int, list[str]]:
            cases = self.streams[kind].take(SANITY_CASES)
            assert self.cluster is not None
            channel = open_channel(self.cluster.addresses, SERVICE)
            conn = await asyncpg.connect(self.ctx.db.dsn)
            itineraries = rows = same = 0
            problems = []
            try:
                stub = pb_grpc.SearchServiceStub(channel)
                for case in cases:
                    sql, params = self.statements.call(case)
                    found = len(await conn.fetch(sql, *params))
                    try:
                        response = await stub.SearchFlights(case.request(), timeout=10)
                    except grpc.aio.AioRpcError as exc:
                        problems.append(f"{case}: {exc.code().name} {exc.details()}")
                        continue
                    itineraries += response.total_size
                    rows += found
                    same += response.total_size == found
            finally:
                await conn.close()
                await channel.close()
            return len(cases), same, itineraries, rows, problems

        for kind in (DIRECT, ONE_STOP):
            n, same, itineraries, rows, problems = asyncio.run(compare(kind))
            self.sample_sizes[kind] = (itineraries / n, rows / n)
            line = (
                f"{KIND[kind]} sample of {n} distinct searches: the service's itinerary count "
                f"equals the floor SQL's row count for {same} ({itineraries / n:.2f} "
                f"itineraries per search on average)"
            )
            if problems or same != n:
                self.report.problems.append(
                    line + (f"; errors: {problems[:3]}" if problems else "")
                )
            else:
                self.report.checks.append(line)

    # ------------------------------------------------------------------ measuring

    def measure_cached(self, cached_value: bytes) -> list[Point]:
        args = self.args
        assert self.cluster is not None
        cluster = self.cluster

        def one_round(c: int, round_: int) -> list[Point]:
            echo = self.ctx.measured(
                partial(
                    self.load.run,
                    ECHO_H2,
                    0,
                    self.echo_call,
                    [self.echo_address],
                    c,
                    args.seconds,
                    args.warmup,
                )
            )
            self.load.run(
                CACHED,
                len(cluster.addresses),
                self.cached_call,
                cluster.addresses,
                c,
                args.warmup,
                0,
            )
            before = self.cache_lookups()
            sessions = self.ctx.db.sessions()
            point = self.ctx.measured(
                partial(
                    self.load.run,
                    CACHED,
                    len(cluster.addresses),
                    self.cached_call,
                    cluster.addresses,
                    c,
                    args.seconds,
                    0,
                )
            )
            self.sessions[(CACHED, c)] = self.ctx.db.sessions() - sessions
            self.check_lookups(point, before, expect="hit")
            key = f"{self.ctx.prefix}-floor"
            redis = self.ctx.measured(partial(asyncio.run, self.redis_point(key, cached_value, c)))
            return [echo, point, redis, *self.hotel_cached_points(c)]

        return self.ctx.rounds(args.cached_concurrencies, args.rounds, one_round, "cached, ")

    def hotel_cached_points(self, c: int) -> list[Point]:
        """Cached SearchHotels, the echo server answering as many bytes, and a Redis GET
        of the cached value, driven as the flight points are."""
        args = self.args
        assert self.cluster is not None
        addresses = self.cluster.addresses
        echo = self.ctx.measured(
            partial(
                self.load.run,
                ECHO_HOTEL,
                0,
                self.hotel_echo_call,
                [self.hotel_echo_address],
                c,
                args.seconds,
                args.warmup,
            )
        )
        self.load.run(HOTEL_CACHED, len(addresses), self.hotel_call, addresses, c, args.warmup, 0)
        before = self.cache_lookups()
        point = self.ctx.measured(
            partial(
                self.load.run,
                HOTEL_CACHED,
                len(addresses),
                self.hotel_call,
                addresses,
                c,
                args.seconds,
                0,
            )
        )
        self.check_lookups(point, before, expect="hit")
        key = f"{self.ctx.prefix}-hotel-floor"
        redis = self.ctx.measured(
            partial(asyncio.run, self.redis_point(key, self.hotel_value, c, REDIS_HOTEL))
        )
        return [echo, point, redis]

    async def redis_point(self, key: str, value: bytes, c: int, subject: str = REDIS_GET) -> Point:
        point = await redis_get_floor(
            self.args.redis_url, key, value, c, self.args.seconds, self.args.warmup
        )
        point.subject = subject
        return point

    def measure_cold(self) -> list[Point]:
        args = self.args
        assert self.cluster is not None

        def one_round(c: int, round_: int) -> list[Point]:
            points = [
                self.ctx.measured(
                    partial(
                        self.pyload.run,
                        ECHO_PY,
                        0,
                        self.echo_call,
                        [self.echo_address] * 2,
                        c,
                        args.seconds,
                        args.warmup,
                    )
                )
            ]
            for kind in (DIRECT, ONE_STOP):
                points += [self.cold_point(kind, c), self.floor_point(kind, c)]
            points.append(self.hotel_cold_point(c))
            return points

        return self.ctx.rounds(args.cold_concurrencies, args.rounds, one_round, "cold, ")

    def cold_point(self, kind: str, c: int) -> Point:
        args = self.args
        assert self.cluster is not None
        warm = self.cold_bodies(kind, args.warmup)
        bodies = self.cold_bodies(kind, args.seconds)
        addresses = self.cluster.addresses
        before: dict[str, float] = {}
        sessions: list[int] = []

        def measure() -> Point:
            # Warm-up first, so the metrics below cover the measured calls only.
            self.pyload.run_distinct(
                COLD[kind],
                len(addresses),
                self.cached_call,
                [],
                warm,
                addresses,
                c,
                args.warmup,
                0,
                processes=1,
            )
            before.update(self.cache_lookups())
            sessions.append(self.ctx.db.sessions())
            return self.pyload.run_distinct(
                COLD[kind],
                len(addresses),
                self.cached_call,
                [],
                bodies,
                addresses,
                c,
                args.seconds,
                0,
                processes=1,
            )

        point = self.ctx.measured(measure)
        self.sessions[(COLD[kind], c)] = self.ctx.db.sessions() - sessions[0]
        self.check_lookups(point, before, expect="miss")
        return point

    def hotel_cold_point(self, c: int) -> Point:
        """Distinct hotel searches: each misses the cache and asks the supplier."""
        args = self.args
        assert self.cluster is not None and self.hotels is not None
        hotels = self.hotels
        budget = COLD_HOTEL_BUDGET_PER_SECOND
        warm = self.hotel_streams.bodies(int(budget * args.warmup))
        bodies = self.hotel_streams.bodies(int(budget * args.seconds))
        addresses = self.cluster.addresses
        call = GrpcCall(SEARCH_HOTELS, b"", ())
        before: dict[str, float] = {}
        api: list[int] = []
        parties = (self.cluster.pids, [hotels.sim_pid], hotels.tokens.pids)
        cpu: list[list[float]] = []

        def measure() -> Point:
            self.pyload.run_distinct(
                HOTEL_COLD, len(addresses), call, [], warm, addresses, c, args.warmup, 0,
                processes=1,
            )  # fmt: skip
            before.update(self.cache_lookups())
            api.append(hotels.api_requests())
            cpu.append([cpu_seconds(pids) for pids in parties])
            return self.pyload.run_distinct(
                HOTEL_COLD, len(addresses), call, [], bodies, addresses, c, args.seconds, 0,
                processes=1,
            )  # fmt: skip

        point = self.ctx.measured(measure)
        used = [cpu_seconds(pids) - start for pids, start in zip(parties, cpu[0], strict=True)]
        self.check_lookups(point, before, expect="miss")
        computed = increase(before, self.cache_lookups()).get("miss", 0.0)
        if computed:
            replicas, sim, token = (seconds * 1000 / computed for seconds in used)
            calls = (hotels.api_requests() - api[0]) / computed
            self.hotel_costs[c] = (calls, replicas, sim, token)
        return point

    def cold_bodies(self, kind: str, seconds: float) -> list[bytes]:
        return [
            case.request().SerializeToString()
            for case in self.streams[kind].take(int(COLD_BUDGET_PER_SECOND * seconds))
        ]

    def floor_point(self, kind: str, c: int) -> Point:
        texts, calls = self.statements.calls(self.streams[kind].take(FLOOR_CASES))
        outcome: list[proc_load.Outcome] = []

        def measure() -> Point:
            result = proc_load.run(
                sql_floor,
                {"dsn": self.ctx.db.dsn, "texts": texts, "calls": calls},
                processes=self.args.replicas,
                concurrency=c,
                seconds=self.args.seconds,
                warmup=self.args.warmup,
                workdir=self.ctx.workdir,
                name=f"floor-{kind}-{c}",
            )
            outcome.append(result)
            return result.point(FLOOR[kind], 0, c)

        point = self.ctx.measured(measure)
        stats = outcome[0].stats
        if stats.get("queries"):
            self.floor_rows[kind] = stats["rows"] / stats["queries"]
        return point

    # ------------------------------------------------------------------ checks

    def cache_lookups(self) -> dict[str, float]:
        assert self.cluster is not None
        return self.cluster.samples(CACHE_LOOKUPS, by="result")

    def check_lookups(self, point: Point, before: dict[str, float], expect: str) -> None:
        """The replicas' cache counters must show that the point measured what it says:
        every cached search served from the cache (a Redis hit, or sharing a lookup
        already in flight in its replica: "coalesced"), every cold one computed."""
        rose = increase(before, self.cache_lookups())
        calls = point.ok + point.failed
        served = rose.get("hit", 0.0) + rose.get("coalesced", 0.0)
        computed = rose.get("miss", 0.0)
        # Calls in flight when the load stops are counted by the replicas only; a cached
        # entry may expire once (60 s TTL) and be computed again.
        slack = point.concurrency * 2 + 2
        if expect == "hit":
            ok = abs(served - calls) <= slack and computed <= 2
        else:
            ok = abs(computed - calls) <= slack and served == 0
        detail = ", ".join(f"{k} {v:.0f}" for k, v in sorted(rose.items()))
        line = (
            f"{point.subject} c={point.concurrency}: replica cache lookups for "
            f"{calls} calls: {detail or 'none'}"
        )
        (self.report.checks if ok else self.report.problems).append(line)

    def check_statuses(self) -> None:
        """Every SearchFlights and SearchHotels call of the run answered OK, except
        calls still in flight when a load generator closed its connections (CANCELLED;
        at most the concurrency per run)."""
        assert self.cluster is not None
        for method, runs in self.load_runs().items():
            handled = self.cluster.handled(method)
            cancelled = handled.get("CANCELLED", 0.0)
            bad = {k: v for k, v in handled.items() if k not in ("OK", "CANCELLED")}
            ok = not bad and cancelled <= runs * max(
                self.args.cached_concurrencies + self.args.cold_concurrencies
            )
            line = (
                f"replica metrics over the whole run: {method.rsplit('/', 1)[1]} answered "
                f"OK {handled.get('OK', 0):.0f} times, CANCELLED {cancelled:.0f} (calls in "
                f"flight when one of its {runs} load runs stopped)"
                + (f", other codes {bad}" if bad else ", no other status codes")
            )
            (self.report.checks if ok else self.report.problems).append(line)

    def load_runs(self) -> dict[str, int]:
        """Load runs (warm-ups included) per method, and two for the profile pass."""
        args = self.args
        cached, cold = len(args.cached_concurrencies), len(args.cold_concurrencies)
        return {
            SEARCH: int((2 * cached + 4 * cold) * args.rounds + 2),
            SEARCH_HOTELS: int((2 * cached + 2 * cold) * args.rounds),
        }

    # ------------------------------------------------------------------ report

    def describe(self, seeded: SeedReport, pg: dict[str, str]) -> None:
        args = self.args
        net: Network = self.network
        direct = self.sample_sizes.get(DIRECT, (math.nan, math.nan))[0]
        one_stop = self.sample_sizes.get(ONE_STOP, (math.nan, math.nan))[0]
        shared_buffers_mb = int(pg.get("shared_buffers", "0")) * 8 // 1024
        self.report.setup = [
            f"Setup: {args.replicas} search replicas (separate processes, default settings: "
            "60 s cache TTL, a pool of 5 + 5 database connections each) on a scratch "
            f"database seeded at scale `{args.scale}` ({seeded.flights:,} "
            f"flights, {seeded.fares:,} fares over 60 days), one Redis; "
            "PostgreSQL 127.0.0.1 (fsync "
            f"{pg.get('fsync')}, shared_buffers {shared_buffers_mb} MB), everything on one "
            "machine over loopback, sharing its cores with the load generators. "
            f"{args.warmup:g} s warm-up, then {args.seconds:g} s per point; "
            + (
                "one round per point. "
                if args.rounds == 1
                else f"{args.rounds} rounds per point, the one least disturbed by other "
                "processes and steal reported. "
            )
            + "Latency is per request as the load generator saw it; the "
            "load is closed-loop (mean latency = concurrency / throughput).",
            f"Cached: one search ({self.cached_route}, of the {CACHED_CANDIDATES} busiest "
            "non-stop routes the one with the most itineraries two weeks ahead; one adult, "
            f"economy, connections allowed: {self.cached_total} itineraries, the first page of "
            f"{self.cached_page} returned, {len(self.cached_response):,} bytes) repeated by "
            "h2load with a pre-framed request over at most 4 HTTP/2 connections split "
            "between the replicas. Its ceiling is a `grpc.aio` echo server answering the "
            "same number of bytes, driven identically; its floor a redis-py `GET` loop of "
            f"the cached value ({self.cached_value_size:,} bytes, what a hit reads).",
            f"Cold: every search distinct (route, date 2-55 days ahead, 1-4 adults, sort "
            "order), so each one misses the cache (checked with the replicas' cache "
            f"counters). Non-stop: `max_stops=0` on the {len(net.direct):,} routes that "
            f"have non-stop flights ({direct:.2f} itineraries per search in a sample); "
            f"one-stop: `max_stops=1` between the {len(net.one_stop):,} airport pairs with "
            "no non-stop flight but at least one connection a day on average "
            f"({one_stop:.2f} itineraries per search). Driven by Python grpc.aio "
            "processes (h2load sends one body only): one per replica, its calls "
            "multiplexed on one connection. *echo gRPC (Python load)* is the same "
            "generator against the echo server: its ceiling. The SQL floor runs the "
            "statement the service's repository builds for each search (same text, same "
            "parameters) through asyncpg from 2 processes, one connection per worker, and "
            "only fetches the rows.",
            f"Hotels: the search replicas' hotel supplier is the stand-in's hotel profile "
            "(its own login: a token-service replica holds its token through the password "
            "grant, rotating refresh tokens), answering at its default speed (no added "
            f"latency). Cached: one search ({cached_case()}: {self.hotel_total} hotels, the "
            f"first page of {self.hotel_page} with {self.hotel_offers} offers, "
            f"{len(self.hotel_response):,} bytes) repeated by h2load as above; its ceiling "
            "a second echo server answering that many bytes, its floor a Redis `GET` of the "
            f"cached value ({self.hotel_value_size:,} bytes). Cold: every search distinct "
            "(city of the stand-in's 25, check-in 2-180 days ahead, 1-7 nights, 1-3 "
            "adults, sort order), so each misses the cache (checked as above) and asks the "
            "supplier (city, hotel list, offers, ratings; the calls per search are counted "
            "by the stand-in), driven like the cold flight searches.",
            "*cores* splits the machine's CPU during each point: the servers under test "
            "(replicas or echo server; the hotel stand-in and its token replica count "
            "here too), PostgreSQL (the scratch database's backends plus "
            "the server's background writers), Redis, and the load generators with this "
            "script; *other CPU* is everything else (noise when above ~0.1); *steal* is the "
            "time the hypervisor took from this virtual machine (everything runs slower "
            "meanwhile).",
        ]

    def ratios_and_aims(self) -> None:
        r = self.report
        args = self.args
        for c in args.cached_concurrencies:
            search, echo, redis = r.point(CACHED, c), r.point(ECHO_H2, c), r.point(REDIS_GET, c)
            if search and echo and echo.rps:
                line = (
                    f"cached, c={c}: search / echo throughput = {search.rps / echo.rps:.2f} "
                    f"({search.rps:,.0f} / {echo.rps:,.0f} rps)"
                )
                if redis and redis.rps:
                    line += f"; search / Redis GET = {search.rps / redis.rps:.2f}"
                r.ratios.append(line)
        for kind in (DIRECT, ONE_STOP):
            for c in args.cold_concurrencies:
                search, floor, echo = (
                    r.point(COLD[kind], c),
                    r.point(FLOOR[kind], c),
                    r.point(ECHO_PY, c),
                )
                if search and floor and floor.rps:
                    line = (
                        f"cold {KIND[kind]}, c={c}: search / SQL floor throughput = "
                        f"{search.rps / floor.rps:.3f} ({search.rps:,.0f} / "
                        f"{floor.rps:,.0f}); p95 {ms(search.p95_ms)} ms vs "
                        f"{ms(floor.p95_ms)} ms"
                    )
                    if echo and echo.rps:
                        line += f"; search / echo (same generator) = {search.rps / echo.rps:.2f}"
                    r.ratios.append(line)
            if kind in self.floor_rows:
                r.ratios.append(
                    f"cold {KIND[kind]}: the floor's statements returned "
                    f"{self.floor_rows[kind]:.2f} rows per search"
                )
        cached = [p for p in r.points if p.subject == CACHED]
        if cached:
            best = max(cached, key=lambda p: p.rps)
            r.ratios.append(
                f"against the previous system (100 searches/s, p95 < 2 s "
                f"uncached): cached throughput x{best.rps / PREVIOUS_RPS:,.1f}"
            )
            verdict = "met" if best.rps >= AIM_CACHED_RPS else "not met"
            r.aims.append(
                f"cached >= {AIM_CACHED_RPS:,.0f} searches/s: **{verdict}** "
                f"({best.rps:,.0f}/s at c={best.concurrency}; "
                + ", ".join(
                    f"c={p.concurrency} {p.rps:,.0f}/s"
                    for p in sorted(cached, key=lambda p: p.concurrency)
                )
                + ")"
            )
        self.hotel_ratios_and_aim()
        for kind in (DIRECT, ONE_STOP):
            cold = sorted(
                (p for p in r.points if p.subject == COLD[kind]), key=lambda p: p.concurrency
            )
            if not cold:
                continue
            aim = AIM_P95_MS[kind]
            met = [p for p in cold if p.p95_ms <= aim]
            verdict = (
                "met"
                if len(met) == len(cold)
                else "not met"
                if not met
                else f"met up to c={max(p.concurrency for p in met)} only"
            )
            r.aims.append(
                f"cold {KIND[kind]} p95 <= {aim:g} ms: **{verdict}** ("
                + ", ".join(f"c={p.concurrency} {ms(p.p95_ms)} ms at {p.rps:,.0f}/s" for p in cold)
                + ")"
            )

    def hotel_ratios_and_aim(self) -> None:
        r = self.report
        args = self.args
        judged: list[tuple[int, float]] = []  # (c, cached hotel / echo)
        for c in args.cached_concurrencies:
            search, echo = r.point(HOTEL_CACHED, c), r.point(ECHO_HOTEL, c)
            redis = r.point(REDIS_HOTEL, c)
            if search and echo and echo.rps:
                judged.append((c, search.rps / echo.rps))
                line = (
                    f"hotel cached, c={c}: search / echo (hotel-sized) throughput = "
                    f"{search.rps / echo.rps:.2f} ({search.rps:,.0f} / {echo.rps:,.0f} rps)"
                )
                if redis and redis.rps:
                    line += f"; search / Redis GET = {search.rps / redis.rps:.2f}"
                flights = r.point(CACHED, c)
                if flights and flights.rps:
                    line += f"; hotel / flight cached searches = {search.rps / flights.rps:.2f}"
                r.ratios.append(line)
        for c in args.cold_concurrencies:
            cold, echo = r.point(HOTEL_COLD, c), r.point(ECHO_PY, c)
            if cold and echo and echo.rps:
                line = (
                    f"hotel cold, c={c}: {cold.rps:,.0f} searches/s, p95 {ms(cold.p95_ms)} ms; "
                    f"search / echo (same generator) = {cold.rps / echo.rps:.3f}"
                )
                if c in self.hotel_costs:
                    calls, replicas, sim, token = self.hotel_costs[c]
                    line += (
                        f"; per search computed: {calls:.2f} supplier API calls (the "
                        f"stand-in's counter), CPU {replicas:.1f} ms in the search replicas, "
                        f"{sim:.1f} ms in the stand-in, {token:.2f} ms in the token replica"
                    )
                r.ratios.append(line)
        if judged:
            aim = AIM_HOTEL_CACHED_VS_ECHO
            met = [c for c, ratio in judged if ratio >= aim]
            verdict = (
                "met"
                if len(met) == len(judged)
                else "not met"
                if not met
                else "met at " + ", ".join(f"c={c}" for c in met) + " only"
            )
            r.aims.append(
                f"cached hotel search >= {aim:g} x the echo gRPC floor (as cached flight "
                f"search): **{verdict}** ("
                + ", ".join(f"c={c} {ratio:.2f}" for c, ratio in judged)
                + ")"
            )

    # ------------------------------------------------------------------ where the time goes

    def cpu_findings(self) -> None:
        """CPU per search from the cores each party used during the point."""
        r = self.report
        for subject in (CACHED, COLD[DIRECT], COLD[ONE_STOP], HOTEL_CACHED, HOTEL_COLD):
            points = sorted(
                (p for p in r.points if p.subject == subject), key=lambda p: p.concurrency
            )
            if not points:
                continue
            parts = []
            for p in points:
                if not p.rps:
                    continue
                servers = p.cores.get("servers", math.nan) / p.rps * 1000
                pg = p.cores.get("postgres", math.nan) / p.rps * 1000
                redis = p.cores.get("redis", math.nan) / p.rps * 1000
                total = sum(v for k, v in p.cores.items()) + p.foreign_cores
                where = (
                    "the replicas, the hotel stand-in and its token replica"
                    if subject == HOTEL_COLD
                    else "the replicas"
                )
                parts.append(
                    f"c={p.concurrency}: {servers:.2f} ms in {where}, "
                    f"{pg:.2f} ms in PostgreSQL, {redis:.2f} ms in Redis; "
                    f"{total:.1f} of {os.cpu_count()} cores busy, "
                    + plural(
                        self.sessions.get((subject, p.concurrency), 0), "new PostgreSQL connection"
                    )
                )
            r.findings.append(f"{subject}, CPU per search: " + "; ".join(parts))

    def profile_passes(self) -> None:
        """Extra load runs (not reported as points) with py-spy sampling both replicas:
        where their Python time goes."""
        if profile.py_spy() is None:
            self.report.findings.append(profile.NO_PY_SPY)
            return
        assert self.cluster is not None
        c_cached = max(self.args.cached_concurrencies)
        c_cold = max(self.args.cold_concurrencies)
        seconds = self.args.seconds
        addresses = self.cluster.addresses
        passes = [
            (
                f"{CACHED}, c={c_cached}",
                lambda: self.load.run(
                    CACHED, len(addresses), self.cached_call, addresses, c_cached, seconds + 1, 0
                ),
            ),
        ]
        for kind in (DIRECT, ONE_STOP):
            passes.append(
                (
                    f"{COLD[kind]}, c={c_cold}",
                    partial(
                        self.pyload.run_distinct,
                        COLD[kind],
                        len(addresses),
                        self.cached_call,
                        [],
                        self.cold_bodies(kind, seconds + 1),
                        addresses,
                        c_cold,
                        seconds + 1,
                        0,
                        processes=1,
                    ),
                )
            )
        for label, load in passes:
            self.log(f"profiling the replicas: {label} ...")
            outs = [
                self.ctx.workdir / f"py-spy-{i}-{len(self.report.findings)}.txt"
                for i in range(len(self.cluster.pids))
            ]
            point, spies = profile.sampled(self.ctx.group, self.cluster.pids, outs, seconds, load)
            result = profile.summarize(outs, PROFILED)
            if not result.samples:
                self.report.findings.append(
                    f"{label}: py-spy recorded nothing ({spies[0].log_tail(2)!r})"
                )
                continue
            inc = result.inclusive
            cache_only = inc["cache"] - inc["compute"]
            building = inc["compute"] - inc["sql"]
            python_cores = result.samples / 100 / seconds
            self.report.findings.append(
                f"{label} ({point.rps:,.0f}/s while sampled), py-spy on both replicas: "
                f"{result.samples} samples holding the GIL ({python_cores:.2f} cores). "
                f"Own time by library: {result.areas_line()}. Inclusive: cache layer "
                f"(Redis GET, lock, store, release) {result.share(cache_only):.0f} %, the "
                f"SQL statement on the asyncpg pool (`search_legs`, pool checkout "
                f"included) {result.share(inc['sql']):.0f} %; building "
                f"itineraries, offer ids and protobuf {result.share(building):.0f} %; "
                f"request validation {result.share(inc['validate']):.0f} %"
            )


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU seconds the live processes ``pids`` have used."""
    return sum(pid_seconds(pid) or 0.0 for pid in pids)


# Functions whose inclusive time the profile pass reports (file suffix:function).
PROFILED = {
    "cache": "search_service/cache.py:ResultCache._fetch",
    "compute": "search_service/search.py:FlightSearch._compute",
    "sql": "search_service/repository.py:InventoryRepository.search_legs",
    "validate": "search_service/validation.py:validate_search",
}


if __name__ == "__main__":
    sys.exit(main())
