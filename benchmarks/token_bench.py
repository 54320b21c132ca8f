"""Token-service benchmark: ``python -m benchmarks.token_bench`` (``make bench-token``).

Measures GetToken throughput and p50/p99 latency with 1 and 2 replicas, for a
client-credentials provider and for a refresh-token provider (single-use rotating refresh
tokens with reuse detection), the floors it is judged against (a raw Redis GET loop, an
echo gRPC server driven the same way), the upstream token requests per lifetime of the
token service vs two peers (fetch per call; a per-process cache in N processes), the
refresh chain's refreshes per generation and reuses, and the shared rate budget's cost
(permits/s; one permit's latency against a plain Redis GET). Prints a table and rewrites
the token-service section of docs/benchmarks.md. Every process it starts is stopped and
every Redis key it wrote deleted on the way out, including on Ctrl-C and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import secrets
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks import sanity
from benchmarks.bench_run import (
    BenchRun,
    add_redis_option,
    bench_parser,
    command_line,
    keep_quietest,
    run_bench,
)
from benchmarks.cpu import CpuMeter
from benchmarks.echo_server import METHOD as ECHO_METHOD
from benchmarks.load import GrpcCall, LoadGenerator, ensure_h2load
from benchmarks.peers import per_call_peer
from benchmarks.procs import Child
from benchmarks.rate_budget_bench import limiter_figures
from benchmarks.redis_floor import redis_get_floor
from benchmarks.report import RefreshChain, Results, Upstream, print_summary, write_doc
from benchmarks.services_up import GET_TOKEN, PROVIDER, ProviderSim, TokenCluster
from benchmarks.stats import ECHO, PER_CALL, PER_PROCESS, TOKEN, TOKEN_RT, Point
from services.generated.skyroute.token.v1 import token_service_pb2 as pb

PROG = "benchmarks.token_bench"
CLIENTS = {1: "bench-token-1", 2: "bench-token-2"}
REFRESH_CLIENTS = {1: "bench-refresh-1", 2: "bench-refresh-2"}
PER_PROCESS_CLIENT = "bench-per-process"
PER_CALL_CLIENT = "bench-per-call"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = bench_parser(
        PROG, __doc__, "smoke run: 2 s per point, concurrency 16 only, 2 s tokens"
    )
    parser.set_defaults(rounds=2)
    parser.add_argument(
        "--token-ttl", type=float, default=5.0, help="token lifetime the provider stand-in issues"
    )
    parser.add_argument(
        "--peer-processes", type=int, default=4, help="N of the per-process-cache peer"
    )
    parser.add_argument(
        "--load-generator",
        choices=["auto", "h2load", "python"],
        default="auto",
        help="auto: h2load, installed if missing (as root)",
    )
    add_redis_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.token_ttl, args.rounds = 2.0, 0.5, 2.0, 1
    args.concurrencies = [16] if args.quick else [1, 16, 64]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results(
        command=command_line(PROG, argv),
        seconds=args.seconds,
        warmup=args.warmup,
        concurrencies=args.concurrencies,
        token_ttl=args.token_ttl,
        peer_processes=args.peer_processes,
        rounds=args.rounds,
        load_generator="",
    )
    prefix = f"skyroute-bench-{secrets.token_hex(4)}"
    return run_bench(
        results,
        args.redis_url,
        prefix,
        lambda run: Bench(args, run).run(),
        args,
        print_summary=print_summary,
        write=write_doc,
    )


class Bench:
    def __init__(self, args: argparse.Namespace, run: BenchRun[Results]) -> None:
        self.args = args
        self.ctx = run  # the run's processes, work directory, report
        self.group = run.group
        self.workdir = run.workdir
        self.prefix = run.prefix
        self.results = run.report
        self.request = pb.GetTokenRequest(provider=PROVIDER).SerializeToString()
        self.candidates: list[Point] = []
        self.metric_runs: list[tuple[int, float]] = []  # (HTTP 200s seen, OK handled)

    def log(self, message: str) -> None:
        print(message, flush=True)

    def measured(self, run: Callable[[], Point]) -> Point:
        """Runs one measurement, noting how busy the rest of the machine was meanwhile."""
        meter = CpuMeter()
        meter.start()
        point = run()
        point.foreign_cores = meter.foreign_cores()
        note = f"  [{'; '.join(point.notes)}]" if point.notes else ""
        self.log(
            f"  {point.subject:<16} r={point.replicas} c={point.concurrency:<3} "
            f"{point.rps:>9,.0f} rps  p50 {point.p50_ms:6.2f} ms  "
            f"p99 {point.p99_ms:6.2f} ms  failed {point.failed}  "
            f"other CPU {point.foreign_cores:.2f} cores{note}"
        )
        if point.failed:
            self.results.problems.append(
                f"{point.subject} r={point.replicas} c={point.concurrency}: "
                f"{point.failed} failed requests"
            )
        self.candidates.append(point)
        return point

    def keep_quietest(self) -> list[Point]:
        """Of each point's rounds, keeps the least disturbed (bench_run.keep_quietest)."""
        chosen = keep_quietest(self.candidates)
        self.candidates.clear()
        self.results.points.extend(chosen)
        return chosen

    def run(self) -> None:
        args = self.args
        h2load = None if args.load_generator == "python" else ensure_h2load()
        if h2load is None and args.load_generator == "h2load":
            raise SystemExit("h2load is not available")
        if h2load is None:
            print(
                "note: h2load unavailable; falling back to multi-process Python gRPC load "
                "generators, which are much slower and share the CPU with the servers",
                flush=True,
            )
        self.load = LoadGenerator(self.group, self.workdir, h2load)
        self.results.load_generator = self.load.name
        self.ctx.warn_if_busy()
        self.log(f"provider stand-in (token TTL {args.token_ttl:g} s) ...")
        self.sim = ProviderSim(
            self.group,
            [*CLIENTS.values(), *REFRESH_CLIENTS.values(), PER_PROCESS_CLIENT, PER_CALL_CLIENT],
            args.token_ttl,
        )
        clusters = [self.start_cluster(1), self.start_cluster(2)]
        refresh_clusters = [
            self.start_cluster(1, refresh=True),
            self.start_cluster(2, refresh=True),
        ]
        response = asyncio.run(
            sanity.raw_bytes_response(
                clusters[0].addresses[0], GrpcCall(GET_TOKEN, self.request, clusters[0].metadata)
            )
        )
        self.check_response(response, "raw-bytes grpc.aio call (the load's request bytes)")
        # The echo floor gets the same headers, so only the server's work differs.
        self.echo_metadata = clusters[0].metadata
        echo = self.start_echo(len(response))
        for cluster in [*clusters, *refresh_clusters]:
            self.sanity(cluster)

        # Interleaved per concurrency, so that subject and floors see the same conditions
        # (this machine may be shared); idle servers cost next to nothing meanwhile.
        def one_round(c: int, round_: int) -> list[Point]:
            self.echo_point(echo, c)
            for cluster in clusters:
                self.token_point(cluster, c)
            for cluster in refresh_clusters:
                self.token_point(cluster, c, TOKEN_RT)
            self.redis_point(response, c)
            points, self.candidates = self.candidates, []
            return points

        window_start = time.time()
        self.results.points += self.ctx.rounds(args.concurrencies, args.rounds, one_round)
        window_end = time.time()
        self.summarize_metrics()
        for cluster in clusters:
            n = len(cluster.replicas)
            label = f"{n} replica{'s' * (n > 1)}"
            self.count_upstream(f"{TOKEN} ({label})", label, CLIENTS[n], window_start, window_end)
            cluster.stop()
        for cluster in refresh_clusters:
            n = len(cluster.replicas)
            label = f"{n} replica{'s' * (n > 1)}"
            self.count_upstream(
                f"{TOKEN_RT} ({label})", label, REFRESH_CLIENTS[n], window_start, window_end
            )
            cluster.stop()
            self.count_chain(cluster, label, REFRESH_CLIENTS[n])
        self.group.stop(echo)
        self.per_process_peer()
        self.per_call_peer()
        self.limiter()

    def start_cluster(self, replicas: int, refresh: bool = False) -> TokenCluster:
        """``replicas`` token replicas for the client-credentials client, or (``refresh``)
        for the refresh-token client, bootstrapped with a refresh token given as a secret."""
        grant = "refresh-token" if refresh else "client-credentials"
        self.log(f"token service, {replicas} replica(s), {grant} grant ...")
        if not refresh:
            return TokenCluster(
                self.group,
                self.sim,
                CLIENTS[replicas],
                self.args.redis_url,
                f"{self.prefix}-r{replicas}",
                replicas,
            )
        client_id = REFRESH_CLIENTS[replicas]
        first = self.sim.rotating_refresh_token(client_id, self.args.token_ttl)
        return TokenCluster(
            self.group,
            self.sim,
            client_id,
            self.args.redis_url,
            f"{self.prefix}-rt{replicas}",
            replicas,
            grant_env={
                f"PROVIDER_{PROVIDER.upper()}_GRANT": "refresh_token",
                f"PROVIDER_{PROVIDER.upper()}_REFRESH_TOKEN": first,
            },
        )

    def check_response(self, data: bytes, what: str) -> None:
        token = pb.GetTokenResponse.FromString(data).token
        if token.access_token and token.provider == PROVIDER:
            self.results.checks.append(f"{what}: returned a token")
        else:
            self.results.problems.append(f"{what}: no token in the response")

    def sanity(self, cluster: TokenCluster) -> None:
        n = len(cluster.replicas)
        label = f"{n} replica{'s' * (n > 1)}"
        problems = asyncio.run(
            sanity.python_client_pass(cluster.addresses, "bench", cluster.caller_key, PROVIDER)
        )
        if problems:
            self.results.problems.append(
                f"Python client pass ({label}): {len(problems)} of "
                f"200 calls failed, e.g. {problems[0]}"
            )
        else:
            self.results.checks.append(
                f"Python token client, 200 calls round robin over "
                f"{label}: every call returned a valid token"
            )
        call = GrpcCall(GET_TOKEN, self.request, cluster.metadata)
        self.results.checks.append(
            f"{label}, one request as the load generator frames it (nghttp): "
            f"{sanity.nghttp_status(cluster.addresses[0], call, self.workdir)}"
        )

    # ------------------------------------------------------------------ floors

    def start_echo(self, payload_size: int) -> Child:
        echo, self.echo_address = self.ctx.start_echo(payload_size)
        self.results.checks.append(
            f"echo server, one request as the load generator frames it (nghttp): "
            f"{sanity.nghttp_status(self.echo_address, self.echo_call, self.workdir)}"
        )
        return echo

    @property
    def echo_call(self) -> GrpcCall:
        return GrpcCall(ECHO_METHOD, self.request, self.echo_metadata)

    def echo_point(self, echo: Child, c: int) -> None:
        self.measured(
            lambda: self.load.run(
                ECHO, 0, self.echo_call, [self.echo_address], c, self.args.seconds, self.args.warmup
            )
        )

    def redis_point(self, value: bytes, c: int) -> None:
        key = f"{self.prefix}-floor"
        self.measured(
            lambda: asyncio.run(
                redis_get_floor(
                    self.args.redis_url, key, value, c, self.args.seconds, self.args.warmup
                )
            )
        )

    # ------------------------------------------------------------------ token service

    def token_point(self, cluster: TokenCluster, c: int, subject: str = TOKEN) -> None:
        replicas = len(cluster.replicas)
        call = GrpcCall(GET_TOKEN, self.request, cluster.metadata)
        self.load.run(subject, replicas, call, cluster.addresses, c, self.args.warmup, 0)
        before = cluster.handled()
        point = self.measured(
            lambda: self.load.run(
                subject, replicas, call, cluster.addresses, c, self.args.seconds, 0
            )
        )
        self.verify_metrics(point, before, cluster.handled())

    def verify_metrics(
        self, point: Point, before: dict[str, float], after: dict[str, float]
    ) -> None:
        """The replicas' own count of OK GetToken calls must match what the load saw."""
        handled_ok = after.get("OK", 0) - before.get("OK", 0)
        errors = {
            code: after[code] - before.get(code, 0)
            for code in after
            if code != "OK" and after[code] > before.get(code, 0)
        }
        # Calls still in flight when the load generator stops are handled but not logged.
        close = abs(handled_ok - point.ok) <= max(point.concurrency * 2, point.ok * 0.01)
        if close and not errors:
            self.metric_runs.append((point.ok, handled_ok))
        else:
            self.results.problems.append(
                f"metrics mismatch r={point.replicas} c={point.concurrency}: replicas counted "
                f"{handled_ok:.0f} OK GetToken calls, the load generator {point.ok} "
                f"HTTP 200; other codes {errors or 'none'}"
            )

    def summarize_metrics(self) -> None:
        if not self.metric_runs:
            return
        seen = sum(ok for ok, _ in self.metric_runs)
        handled = sum(h for _, h in self.metric_runs)
        worst = max(abs(h - ok) for ok, h in self.metric_runs)
        self.results.checks.append(
            f"replica metrics, all {len(self.metric_runs)} measured token-service runs: "
            f'`grpc_server_handled_total{{grpc_code="OK"}}` for GetToken rose by {handled:.0f} '
            f"for {seen} HTTP 200s seen by the load generator (largest difference in one "
            f"run {worst:.0f}: calls in flight when it stopped); no other status codes"
        )

    def count_upstream(
        self, subject: str, fetchers: str, client_id: str, start: float, end: float
    ) -> None:
        times = self.sim.issue_times(client_id, start, end)
        window = end - start
        if len(times) >= 3:
            # Between first and last issue: free of where the window's edges fall.
            rate = (len(times) - 1) / (times[-1] - times[0])
        else:
            rate = len(times) / window
            self.results.warnings.append(
                f"{subject}: only {len(times)} token(s) issued in {window:.1f} s; too few "
                f"for a rate (run longer than a --quick run)"
            )
        self.results.upstream.append(
            Upstream(
                subject, fetchers, len(times), window, rate, self.args.token_ttl, len(times) >= 3
            )
        )

    def count_chain(self, cluster: TokenCluster, fetchers: str, client_id: str) -> None:
        """The refresh chain over the cluster's whole life: the stand-in's refresh grants
        and reuses against the generations the token service stored (one per rotation)."""
        stats = self.sim.refresh_stats(client_id)
        rotations = cluster.chain_rotations()
        chain = RefreshChain(
            fetchers=fetchers,
            refresh_grants=stats.get("refresh_grants", 0),
            rotations=rotations,
            reuses=stats.get("reuses_detected", 0) + stats.get("grace_reuses", 0),
            invalid_grant=stats.get("invalid_grant", 0),
            families_started=stats.get("families_started", 0),
            families_revoked=stats.get("families_revoked", 0),
        )
        self.results.refresh.append(chain)
        self.log(
            f"  refresh chain, {fetchers}: {chain.refresh_grants} refresh grants for "
            f"{chain.rotations} generations, {chain.reuses} reuses, "
            f"{chain.invalid_grant} invalid_grant"
        )
        if chain.reuses or chain.invalid_grant or chain.families_revoked:
            self.results.problems.append(
                f"refresh chain ({fetchers}): {chain.reuses} reuses, {chain.invalid_grant} "
                f"invalid_grant, {chain.families_revoked} families revoked"
            )

    def limiter(self) -> None:
        """The shared rate budget (services/rate_budget.py) against a plain GET, with the
        token service's processes stopped so both see the same idle machine."""
        self.log("shared rate budget: permit vs GET latency, permits/s ...")
        seconds = min(self.args.seconds, 3.0)
        figures = limiter_figures(self.args.redis_url, f"{self.prefix}-rate", seconds)
        self.results.limiter = figures
        self.log(
            f"  permit p50 {figures.permit_p50_ms:.3f} ms p99 {figures.permit_p99_ms:.3f} ms; "
            f"GET p50 {figures.get_p50_ms:.3f} ms p99 {figures.get_p99_ms:.3f} ms; "
            f"{figures.one_process:,.0f} permits/s (1 process), "
            f"{figures.processes_rate:,.0f} permits/s ({figures.processes} processes)"
        )

    # ------------------------------------------------------------------ peers

    def per_process_peer(self) -> None:
        n = self.args.peer_processes
        seconds = max(3.2 * self.args.token_ttl, self.args.seconds)
        self.log(f"per-process cache peer: {n} processes for {seconds:g} s ...")
        env = {"PEER_CLIENT_SECRET": self.sim.clients[PER_PROCESS_CLIENT]}
        children = [
            self.group.python(
                f"peer-{i}",
                [
                    "-m",
                    "benchmarks.per_process_peer",
                    "--token-url",
                    self.sim.token_url,
                    "--client-id",
                    PER_PROCESS_CLIENT,
                    "--callers",
                    "4",
                ],
                env,
            )
            for i in range(n)
        ]
        for child in children:
            child.wait_ready()
        start = time.time()
        time.sleep(seconds)
        end = time.time()
        calls = fetches = 0
        for child in children:
            self.group.stop(child)
            lines = child.log_path.read_text().strip().splitlines()
            report = json.loads(lines[-1]) if lines else {}
            calls += int(report.get("calls", 0))
            fetches += int(report.get("fetches", 0))
        self.count_upstream(PER_PROCESS, f"{n} processes", PER_PROCESS_CLIENT, start, end)
        self.results.checks.append(
            f"per-process peer: {calls} cache reads served, {fetches} fetches by its own count"
        )

    def per_call_peer(self) -> None:
        self.log("per-call fetch peer (aiohttp POST to the token endpoint per call) ...")
        before = self.sim.issued(PER_CALL_CLIENT)
        calls = 0
        for c in self.args.concurrencies:
            for _ in range(self.args.rounds):
                peer = per_call_peer(
                    self.sim.token_url,
                    PER_CALL_CLIENT,
                    self.sim.clients[PER_CALL_CLIENT],
                    c,
                    self.args.seconds,
                    self.args.warmup,
                )
                point = self.measured(functools.partial(asyncio.run, peer))
                calls += point.ok + point.failed
        points = self.keep_quietest()
        issued = self.sim.issued(PER_CALL_CLIENT) - before
        self.results.checks.append(
            f"per-call peer: the stand-in issued {issued} tokens for its {calls} measured "
            f"calls (plus warm-up calls)"
        )
        # Every call is one token request, so its rate is the call rate; quoted at the
        # concurrency where the stand-in served the most.
        best = max(points, key=lambda p: p.rps)
        self.results.upstream.append(
            Upstream(
                PER_CALL,
                f"every call (c={best.concurrency})",
                best.ok,
                best.seconds,
                best.rps,
                self.args.token_ttl,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
