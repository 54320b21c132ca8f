"""Package bookings per second with the hotel supplier answering slowly:
``python -m benchmarks.package_bench`` (issue 11 item 6).

The stack as processes (tests/utils clusters): the stand-in with ``api_latency_ms``
(every supplier API call waits that long, 200 ms by default), one token replica, one
search replica (flights from the seeded inventory, hotels from the stand-in) and
``--booking-replicas`` booking replicas (one by default) on a scratch database. One
package = CreateBooking (the flight held,
the hotel priced again at the supplier: one supplier call) + ConfirmBooking (the hotel
order: one supplier call), so waiting alone allows ``c / (2 x latency)`` packages/s at
concurrency c. Each point runs ``--seconds`` at concurrency c over the booking replicas.

One booking replica by default: on two cores a second one adds its event loop's and its
pool's overhead and no parallelism (five runs each way on one machine: CPU per package
~10 % higher with two, packages/s the same, p99 ~10 % higher; docs/benchmarks.md).
Replicas are what the tests exercise
(tests/system/test_booking_packages.py kills one mid-package); ``--booking-replicas 2``
measures them here too.

The workers of a measured point start spread over one package's waiting time (0.4 s),
as independent clients arrive; started together, the supplier's constant latency keeps
them in one burst that queues at every hop at once (the spread counts in the elapsed
time, so it can only lower packages/s).

Besides the package's end-to-end latency it prints each call's (CreateBooking's and
ConfirmBooking's) median and p99: each waits for one supplier call, so what exceeds
the latency is the platform's own time.

After every point it checks: no double supplier order (one live order per remark at
most) and no half-booked package (every package CONFIRMED has exactly one live hotel
order and its booking CONFIRMED; every other has none). Prints a table (and a Markdown
one with ``--markdown``), and each point's CPU milliseconds per package: each service's
processes, the PostgreSQL backends serving the scratch database and this load
generator (on a shared machine the throughput moves with other people's load; the CPU
per package much less).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from benchmarks.cpu import pid_seconds
from services import event_loop
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as spb_grpc
from tests.utils.booking_cluster import BookingCluster, bearer, passenger, token_service_env
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import CALLERS, TokenCluster

HOTEL_ID, HOTEL_SECRET = f"hotel-{secrets.token_hex(3)}", secrets.token_urlsafe(24)
USER, PASSWORD = "skyroute-ops", secrets.token_urlsafe(18)
WARMUP_SECONDS = 2.0
SUPPLIER_CALLS = 2  # per package: the hotel's pricing at create, its order at confirm

INVARIANTS = """
SELECT b.reference, b.status, p.state, h.remark
FROM booking_packages p JOIN bookings b ON b.id = p.booking_id
JOIN booking_hotel_stays h ON h.booking_id = p.booking_id"""


# Service -> its processes (for CPU seconds per package).
cpu: dict[str, list[Any]] = {}

# The scratch database's client backends (the services' pooled connections), but not
# the connection that asks.
_BACKENDS = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()"""


async def cpu_seconds(database_url: str) -> dict[str, dict[int, float]]:
    """CPU time (user + system) used so far by each service's processes, PostgreSQL's
    backends serving the scratch database and this load generator, per pid."""
    used = {name: _seconds(p.proc.pid for p in processes) for name, processes in cpu.items()}
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        backends = [row["pid"] for row in await connection.fetch(_BACKENDS)]
    finally:
        await connection.close()
    used["postgres"] = _seconds(backends)
    used["load generator"] = {os.getpid(): time.process_time()}
    return used


def _seconds(pids: Iterable[int]) -> dict[int, float]:
    seconds = {pid: pid_seconds(pid) for pid in pids}
    return {pid: s for pid, s in seconds.items() if s is not None}


def cpu_ms_per_package(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], packages: int
) -> dict[str, float]:
    """Milliseconds of CPU per package for each group (a pid that appeared meanwhile,
    say a new pooled connection's backend, counts from zero)."""
    return {
        name: 1000
        * sum(s - before.get(name, {}).get(pid, 0.0) for pid, s in pids.items())
        / max(packages, 1)
        for name, pids in after.items()
    }


@contextmanager
def stack(
    redis_url: str, latency_ms: int, booking_replicas: int
) -> Iterator[tuple[Sim, SearchCluster, BookingCluster, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="package-bench-"))
    prefix = f"skyroute-bench-{secrets.token_hex(4)}"
    with seeded_database() as database_url:
        sim = Sim(
            workdir,
            new_clients(),
            hotel_clients={HOTEL_ID: HOTEL_SECRET},
            hotel_users={USER: PASSWORD},
            # As the services below: no line per request (the access log's CPU is
            # not the supplier's).
            extra_args=("--log-level", "WARNING"),
        ).start()
        started: list[Any] = [sim]
        try:
            callers = {
                **CALLERS,
                "search": [*CALLERS["search"], "hotel"],
                "booking": [*CALLERS["booking"], "hotel"],
            }
            tokens = TokenCluster(
                workdir,
                sim,
                redis_url,
                prefix,
                1,
                env={
                    "TOKEN_PROVIDERS": "amadeus,other,hotel",
                    "TOKEN_CALLERS": json.dumps(callers),
                    "PROVIDER_HOTEL_TOKEN_URL": sim.hotel_token_url,
                    "PROVIDER_HOTEL_CLIENT_ID": HOTEL_ID,
                    "PROVIDER_HOTEL_CLIENT_SECRET": HOTEL_SECRET,
                    "PROVIDER_HOTEL_GRANT": "password",
                    "PROVIDER_HOTEL_USERNAME": USER,
                    "PROVIDER_HOTEL_PASSWORD": PASSWORD,
                    "LOG_LEVEL": "WARNING",
                },
            ).start()
            started.append(tokens)
            search = SearchCluster(
                workdir,
                database_url,
                redis_url,
                prefix,
                1,
                tokens,
                env={
                    "PROVIDER_ENABLED": "false",
                    "SEARCH_HOTEL_PROVIDER": "hotel",
                    "PROVIDER_HOTEL_BASE_URL": sim.base_url,
                    "LOG_LEVEL": "WARNING",
                },
            ).start()
            started.append(search)
            booking = BookingCluster(
                workdir,
                database_url,
                replicas=booking_replicas,
                env={
                    "BOOKING_PRICE_SOURCE": "search",
                    "SEARCH_SERVICE_ADDRESSES": ",".join(search.addresses),
                    "SEARCH_TIMEOUT_SECONDS": "10",
                    **token_service_env(tokens),
                    "BOOKING_HOTEL_PROVIDER": "hotel",
                    "PROVIDER_HOTEL_BASE_URL": sim.base_url,
                    "PROVIDER_HOTEL_TIMEOUT_SECONDS": "5",
                    "BOOKING_PACKAGE_LEASE_SECONDS": "60",
                    "LOG_LEVEL": "WARNING",
                    "DB_POOL_SIZE": "20",
                },
            ).start()
            started.append(booking)
            sim.config(api_latency_ms=latency_ms)
            cpu.update(
                {
                    "stand-in": [sim.process],
                    "token": [r.process for r in tokens.replicas],
                    "search": list(search.processes),
                    "booking": list(booking.processes),
                }
            )
            yield sim, search, booking, database_url
        finally:
            for service in reversed(started):
                service.stop()


async def offers(search: SearchCluster, sim: Sim, database_url: str) -> tuple[str, str]:
    """A flight offer (its fare given plenty of seats) and a hotel offer (its nights
    plenty of rooms), booked over and over."""
    channel = search.channel()
    stub = spb_grpc.SearchServiceStub(channel)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    try:
        for days in range(1, 8):
            found = await stub.SearchFlights(
                spb.SearchFlightsRequest(
                    origin="LHR",
                    destination="JFK",
                    departure_date=(tomorrow + timedelta(days=days)).isoformat(),
                    passengers=spb.Passengers(adults=1),
                    cabin=spb.CABIN_ECONOMY,
                    page_size=10,
                ),
                timeout=30,
            )
            if found.itineraries:
                break
        flight = found.itineraries[0]
        check_in = tomorrow + timedelta(days=days + 1)
        hotels = await stub.SearchHotels(
            spb.SearchHotelsRequest(
                destination=spb.HotelDestination(code="NYC"),
                check_in_date=check_in.isoformat(),
                check_out_date=(check_in + timedelta(days=2)).isoformat(),
                rooms=[spb.RoomOccupancy(adults=1)],
                currency_code=flight.total_price.currency_code,
                page_size=5,
            ),
            timeout=30,
        )
    finally:
        await channel.close()
    offer = hotels.hotels[0].offers[0]
    sim._call(
        "POST",
        "/_sim/hotel-rooms",
        {
            "hotelId": offer.hotel_id,
            "roomType": offer.room_type,
            "checkInDate": offer.check_in_date,
            "checkOutDate": offer.check_out_date,
            "rooms": 100000,
        },
    )
    fare_id = flight.journeys[0].segments[0].fare_id
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        await connection.execute(
            "UPDATE fares SET seats_total = 100000, seats_available = 100000 WHERE id = $1",
            fare_id,
        )
    finally:
        await connection.close()
    return flight.offer_id, offer.offer_id


async def point(
    booking: BookingCluster,
    flight: str,
    hotel: str,
    concurrency: int,
    seconds: float,
    spread: float = 0.0,
) -> dict[str, Any]:
    """``spread``: worker i starts ``i / concurrency * spread`` seconds late, so the
    workers arrive as independent clients would, not as one burst that the supplier's
    constant latency would keep together (counted in the elapsed time: it only lowers
    the figure)."""
    channels = [grpc.aio.insecure_channel(a) for a in booking.addresses]
    stubs = [pb_grpc.BookingServiceStub(c) for c in channels]
    users = [bearer(booking.token(f"bench-{i}")) for i in range(concurrency)]
    latencies: list[float] = []
    creates: list[float] = []
    confirms: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def worker(i: int) -> None:
        stub = stubs[i % len(stubs)]
        await asyncio.sleep(i / concurrency * spread)
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                held = await stub.CreateBooking(
                    pb.CreateBookingRequest(
                        offer_ids=[flight],
                        hotel_offer_id=hotel,
                        passengers=[passenger(number=f"P{secrets.randbelow(10**8):08d}")],
                        contact=pb.Contact(email="bench@example.com"),
                        request_id=secrets.token_hex(8),
                    ),
                    metadata=users[i],
                    timeout=30,
                )
                created = time.monotonic()
                await stub.ConfirmBooking(
                    pb.ConfirmBookingRequest(
                        booking_reference=held.booking.booking_reference,
                        payment_token="tok_visa",
                    ),
                    metadata=users[i],
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                continue
            done = time.monotonic()
            latencies.append(done - started)
            creates.append(created - started)
            confirms.append(done - created)

    began = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - began
    for channel in channels:
        await channel.close()
    return {
        "c": concurrency,
        "packages": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": _percentile_ms(latencies, 0.5),
        "p99_ms": _percentile_ms(latencies, 0.99),
        "create_ms": (_percentile_ms(creates, 0.5), _percentile_ms(creates, 0.99)),
        "confirm_ms": (_percentile_ms(confirms, 0.5), _percentile_ms(confirms, 0.99)),
        "errors": dict(errors),
    }


def _percentile_ms(seconds: list[float], fraction: float) -> float:
    if not seconds:
        return 0.0
    ordered = sorted(seconds)
    if fraction == 0.5:
        return 1000 * statistics.median(ordered)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def check(sim: Sim, database_url: str) -> tuple[int, int, int]:
    """(packages, double supplier orders, half-booked packages) over the whole run."""
    live = collections.Counter(
        o["remark"] for o in sim._call("GET", "/_sim/hotel-orders")["orders"]
    )
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        rows = await connection.fetch(INVARIANTS)
    finally:
        await connection.close()
    doubles = sum(1 for n in live.values() if n > 1)
    half = 0
    for row in rows:
        orders = live.get(row["remark"], 0)
        if row["state"] == "CONFIRMED":
            half += orders != 1 or row["status"] != "CONFIRMED"
        elif row["state"] in ("FAILED", "HELD"):
            half += orders != 0
    return len(rows), doubles, half


def cpu_line(cpu_ms: dict[str, float]) -> str:
    parts = [f"{name} {ms:.1f}" for name, ms in cpu_ms.items()]
    return ", ".join(parts) + f"; total {sum(cpu_ms.values()):.1f}"


async def run(args: argparse.Namespace) -> int:
    latency = args.latency_ms
    bound_per_c = 1000.0 / (SUPPLIER_CALLS * latency)
    results = []
    with stack(args.redis_url, latency, args.booking_replicas) as (
        sim,
        search,
        booking,
        database_url,
    ):
        flight, hotel = await offers(search, sim, database_url)
        await point(booking, flight, hotel, 2, 2.0)  # warm-up: tokens, connections
        for c in args.concurrency:
            # Warm-up at the point's own concurrency: connection pools grow to it and
            # each new connection's statements get their plans before the measurement.
            await point(booking, flight, hotel, c, WARMUP_SECONDS)
            before = await cpu_seconds(database_url)
            result = await point(
                booking, flight, hotel, c, args.seconds, SUPPLIER_CALLS * latency / 1000
            )
            after = await cpu_seconds(database_url)
            result["cpu_ms"] = cpu_ms_per_package(before, after, result["packages"])
            packages, doubles, half = await check(sim, database_url)
            result.update(
                bound=c * bound_per_c, doubles=doubles, half_booked=half, checked=packages
            )
            results.append(result)
            print(
                f"c={c:3d}  {result['per_second']:7.1f} packages/s  "
                f"(waiting allows {c * bound_per_c:6.1f}; "
                f"{result['per_second'] / (c * bound_per_c):.2f}x)  "
                f"p50 {result['p50_ms']:6.0f} ms  p99 {result['p99_ms']:6.0f} ms  "
                f"errors {result['errors'] or 0}  double orders {doubles}  "
                f"half-booked {half} of {packages}",
                flush=True,
            )
            print(
                f"       CreateBooking p50 {result['create_ms'][0]:.0f} ms p99 "
                f"{result['create_ms'][1]:.0f} ms; ConfirmBooking p50 "
                f"{result['confirm_ms'][0]:.0f} ms p99 {result['confirm_ms'][1]:.0f} ms "
                f"(each waits {latency} ms for the supplier)",
                flush=True,
            )
            print(
                f"       CPU ms per package: {cpu_line(result['cpu_ms'])}",
                flush=True,
            )
    if args.markdown:
        print()
        print(
            f"Supplier at {latency} ms per call, {SUPPLIER_CALLS} calls per package "
            f"(sum {SUPPLIER_CALLS * latency} ms); {args.seconds:g} s per point; "
            f"{args.booking_replicas} booking replica(s).\n"
        )
        print(
            "| concurrency | packages/s | waiting allows | ratio | p50 ms | p99 ms | "
            "p99 / sum | double orders | half-booked |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            print(
                f"| {r['c']} | {r['per_second']:.1f} | {r['bound']:.1f} | "
                f"{r['per_second'] / r['bound']:.2f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
                f"{r['p99_ms'] / (SUPPLIER_CALLS * latency):.2f} | {r['doubles']} | "
                f"{r['half_booked']} |"
            )
        print("\nEach call (p50 / p99 ms; each waits once for the supplier):\n")
        for r in results:
            print(
                f"- c={r['c']}: CreateBooking {r['create_ms'][0]:.0f} / {r['create_ms'][1]:.0f}, "
                f"ConfirmBooking {r['confirm_ms'][0]:.0f} / {r['confirm_ms'][1]:.0f}"
            )
        print("\nCPU ms per package:\n")
        for r in results:
            print(f"- c={r['c']}: {cpu_line(r['cpu_ms'])}")
    failed = any(r["doubles"] or r["half_booked"] for r in results)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64], metavar="C")
    parser.add_argument(
        "--booking-replicas", type=int, default=1, help="booking replicas (default 1)"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--markdown", action="store_true")
    return event_loop.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
