"""CPU per hotel search in a search replica: ``python -m benchmarks.hotel_cpu``.

A load-insensitive companion to ``make bench-search``'s hotel points: one search
replica (the hotel supplier's stand-in and a token replica beside it, as the benchmark
wires them, on a migrated scratch database), then N cached searches (the benchmark's
cached query, repeated) and M cold ones (each distinct, each asking the supplier), and
the replica's CPU time (user + system, from /proc) per search. ``--flights N`` adds N
cached flight searches (the busiest route of a small seeded inventory, two weeks ahead)
to compare the two cached paths. Other work on the machine slows the run down but hardly
changes these figures. ``--profile DIR`` runs the replica under cProfile and writes one
profile per phase (cached.prof, cold.prof, flights.prof) to DIR. ``--callgrind DIR``
runs it under valgrind's callgrind instead, counting only the measured searches, and
prints instructions per search (what other load cannot change at all; the server is
~50 times slower, so use a few hundred searches; at c=1 every search does its own Redis
GET); the counts (``<phase>.out.*``, for callgrind_annotate) go to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc

from benchmarks.cpu import pid_seconds
from benchmarks.hotel_search import HotelCaseStream, HotelSupplier, cached_case
from benchmarks.procs import Child, ProcessGroup
from benchmarks.scratch_db import ScratchDatabase
from benchmarks.search_cases import Case, load_network
from services import stack
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.redis_client import sync_client
from tests.utils.db import create_database, migrate

SERVICE = "/skyroute.search.v1.SearchService"
METHODS = {"cached": "SearchHotels", "cold": "SearchHotels", "flights": "SearchFlights"}


def _identity(data: bytes) -> bytes:
    return data


async def drive(address: str, method: str, bodies: Sequence[bytes], concurrency: int) -> int:
    """Sends every body once over one channel, ``concurrency`` calls at a time; returns
    the number of failed calls."""
    failed = 0
    errors: list[str] = []
    queue = list(reversed(bodies))
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(
            f"{SERVICE}/{method}", request_serializer=_identity, response_deserializer=_identity
        )

        async def worker() -> None:
            nonlocal failed
            while queue:
                body = queue.pop()
                try:
                    await call(body, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    failed += 1
                    errors.append(f"{exc.code().name}: {exc.details()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if errors:
        print(f"{failed} calls failed, e.g. {errors[0]}", file=sys.stderr)
    return failed


def replica(
    group: ProcessGroup,
    facts: stack.Facts,
    name: str,
    profile: Path | None,
    callgrind: Path | None = None,
) -> tuple[Child, str]:
    env = {
        **stack.SEARCH.replica_env(facts, name, grpc_port=0, metrics_port=0),
        "SHUTDOWN_GRACE_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    argv = ["-m", stack.SEARCH.module]
    if profile is not None:
        argv = ["-m", "cProfile", "-o", str(profile), *argv]
    wrapper: list[str] = []
    if callgrind is not None:
        # Counting starts with callgrind_control -i on (``measure``), not at startup.
        wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        wrapper.append(f"--callgrind-out-file={callgrind}.out.%p")
    child = group.python(name, argv, env, wrapper=wrapper)
    ready = child.wait_ready(timeout=900 if callgrind is not None else 60)
    return child, f"127.0.0.1:{ready['grpc']}"


def _callgrind(child: Child, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(child.pid)], check=True, capture_output=True)


def _instructions(out: Path, pid: int) -> int:
    """The instructions counted in the replica's last dump (its ``totals:`` line)."""
    dumps = sorted(out.parent.glob(f"{out.name}.out.{pid}*"), key=lambda p: p.stat().st_mtime)
    for line in dumps[-1].read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[-1]}")


def _cpu(child: Child) -> float:
    seconds = pid_seconds(child.pid)
    if seconds is None:
        raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
    return seconds


def measure(
    label: str,
    child: Child,
    address: str,
    bodies: Sequence[bytes],
    concurrency: int,
    callgrind: Path | None = None,
) -> float:
    if callgrind is not None:
        _callgrind(child, "-z")
        _callgrind(child, "-i", "on")
    before, started = _cpu(child), time.monotonic()
    failed = asyncio.run(drive(address, METHODS[label], bodies, concurrency))
    used, wall = _cpu(child) - before, time.monotonic() - started
    if callgrind is not None:
        _callgrind(child, "-i", "off")
        _callgrind(child, "-d", label)
        count = _instructions(callgrind, child.pid)
        print(f"{label:<7} {count / len(bodies) / 1000:,.0f}k instructions per search", flush=True)
    per_call = used * 1000 / len(bodies)
    print(
        f"{label:<7} {len(bodies):>6} searches, c={concurrency}: replica CPU {per_call:.3f} ms "
        f"per search ({used:.2f} s in {wall:.1f} s wall), {failed} failed",
        flush=True,
    )
    return per_call


async def busiest_flight(dsn: str) -> bytes:
    origin, destination = (await load_network(dsn)).busiest[0]
    day = datetime.now(UTC).date() + timedelta(days=14)
    request = Case("cached", origin, destination, day, 1, pb.SORT_ORDER_PRICE, 1).request()
    body: bytes = request.SerializeToString()
    return body


def run(args: argparse.Namespace) -> None:
    prefix = f"h3-hotel-cpu-{secrets.token_hex(3)}"
    workdir = Path(tempfile.mkdtemp(prefix="h3-hotel-cpu-"))
    group = ProcessGroup(workdir)
    scratch = ScratchDatabase()
    try:
        if args.flights:
            scratch.create("small")
        else:
            scratch.url = asyncio.run(create_database())
            asyncio.run(migrate(scratch.url))
        hotels = HotelSupplier(group, args.redis_url, prefix)
        facts = hotels.search_facts(
            stack.Facts(
                database_url=scratch.url,
                redis_url=args.redis_url,
                key_prefix=prefix,
                page_token_secret=secrets.token_urlsafe(32),
            )
        )
        cached = cached_case().request().SerializeToString()
        stream = HotelCaseStream()
        flight = asyncio.run(busiest_flight(scratch.dsn)) if args.flights else b""
        phases = [
            ("cached", [cached] * args.cached),
            ("cold", stream.bodies(args.cold)),
            ("flights", [flight] * args.flights),
        ]
        for label, bodies in phases:
            if not bodies:
                continue
            # One replica per phase, so each profile covers one kind of search.
            profile = args.profile / f"{label}.prof" if args.profile else None
            counts = args.callgrind.resolve() / label if args.callgrind else None
            child, address = replica(group, facts, f"search-{label}", profile, counts)
            warm = stream.bodies(20) if label == "cold" else bodies[:20]
            asyncio.run(drive(address, METHODS[label], warm, args.concurrency))
            measure(label, child, address, bodies, args.concurrency, counts)
            group.stop(child)
            if profile is not None:
                stats = pstats.Stats(str(profile))
                stats.sort_stats("cumulative").print_stats(args.top)
    finally:
        group.close()
        scratch.drop()
        redis = sync_client(args.redis_url)
        keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
        redis.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotel_cpu", description=__doc__)
    parser.add_argument("--cached", type=int, default=3000, help="cached searches")
    parser.add_argument("--cold", type=int, default=300, help="cold searches")
    parser.add_argument("--flights", type=int, default=0, help="cached flight searches")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", type=Path, help="cProfile the replica; profiles to DIR")
    parser.add_argument("--top", type=int, default=40, help="profile lines printed per phase")
    parser.add_argument(
        "--callgrind", type=Path, help="count the replica's instructions; counts to DIR"
    )
    args = parser.parse_args(argv)
    if args.profile and args.callgrind:
        parser.error("--profile and --callgrind exclude each other")
    for directory in (args.profile, args.callgrind):
        if directory:
            directory.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run(args)


if __name__ == "__main__":
    main()
