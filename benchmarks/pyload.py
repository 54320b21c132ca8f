"""Fallback load generator when h2load is unavailable: grpc.aio clients in N processes.

``python -m benchmarks.pyload --target HOST:PORT --path /pkg.Service/Method
--body-file F --concurrency C --processes N --seconds S --log-file L [--header k:v]``

The body file holds a framed gRPC message (as for h2load); the frame is stripped and the
message sent with raw-bytes serializers. A body file with several framed messages one
after another makes every call send the next one, each at most once (distinct requests,
say searches that must miss a cache): the processes take disjoint shares, and a process
that has sent all of its share stops and notes how many calls it could not make.

Writes h2load's log format to L (start µs, status, duration µs) with status 200 for
gRPC OK and -1 for anything else, so one reader serves both generators. Python clients
are far slower than h2load; a run with them measures the client as much as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from services import event_loop
from services.parent_death import die_with_spawning_process


def _identity(data: bytes) -> bytes:
    return data


def unframe(data: bytes) -> list[bytes]:
    """The messages of a file of concatenated gRPC frames."""
    messages = []
    offset = 0
    while offset + 5 <= len(data):
        _flag, length = struct.unpack_from(">BI", data, offset)
        messages.append(data[offset + 5 : offset + 5 + length])
        offset += 5 + length
    return messages


async def _drive(
    target: str,
    path: str,
    messages: list[bytes],
    metadata: tuple[tuple[str, str], ...],
    concurrency: int,
    seconds: float,
) -> tuple[list[str], int]:
    """(log rows, calls not made because every distinct message had been sent)."""
    rows: list[str] = []
    distinct = len(messages) > 1
    bodies: Iterator[bytes] = iter(messages)
    short = 0
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(
            path, request_serializer=_identity, response_deserializer=_identity
        )
        if distinct:  # connect without spending (or caching) one of the messages
            await asyncio.wait_for(channel.channel_ready(), 10)
        else:  # connect before the clock starts
            await call(messages[0], metadata=metadata, timeout=10)
        end = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal short
            while time.monotonic() < end:
                message = next(bodies, None) if distinct else messages[0]
                if message is None:
                    short += 1
                    return
                start = time.time()
                t0 = time.perf_counter()
                status = "200"
                try:
                    await call(message, metadata=metadata, timeout=10)
                except grpc.aio.AioRpcError:
                    status = "-1"
                rows.append(f"{int(start * 1e6)}\t{status}\t{(time.perf_counter() - t0) * 1e6:.0f}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return rows, short


def _worker(
    args: argparse.Namespace, concurrency: int, out: str, index: int, processes: int
) -> None:
    die_with_spawning_process()
    messages = unframe(Path(args.body_file).read_bytes())
    if len(messages) > 1:
        messages = messages[index::processes]  # disjoint shares
    metadata = tuple((name, value) for name, _, value in (h.partition(":") for h in args.header))
    rows, short = event_loop.run(
        _drive(args.target, args.path, messages, metadata, concurrency, args.seconds)
    )
    Path(out).write_text("\n".join(rows) + "\n")
    if short:
        print(f"pyload: ran out of distinct messages ({short} workers stopped early)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pyload")
    parser.add_argument("--target", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    processes = max(1, min(args.processes, args.concurrency))
    shares = [
        args.concurrency // processes + (i < args.concurrency % processes) for i in range(processes)
    ]
    ctx = multiprocessing.get_context("spawn")  # no fork after grpc is loaded
    parts = [f"{args.log_file}.{i}" for i in range(processes)]
    workers = [
        ctx.Process(target=_worker, args=(args, share, part, i, processes))
        for i, (share, part) in enumerate(zip(shares, parts, strict=True))
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(args.log_file, "w") as log:
        for part in parts:
            log.write(Path(part).read_text())
    if any(w.exitcode for w in workers):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
