"""Checks that the load really got tokens, since h2load only sees HTTP statuses."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from benchmarks.load import GrpcCall, frame
from services.clients.token_client import TokenClient


def _identity(data: bytes) -> bytes:
    return data


async def python_client_pass(
    addresses: Sequence[str],
    caller: str,
    key: str,
    provider: str,
    calls: int = 200,
    concurrency: int = 16,
) -> list[str]:
    """``calls`` GetToken calls through the real token client (round robin over all
    replicas); returns the problems found (empty when every call returned a token)."""
    client = TokenClient(addresses, caller, key, timeout=10)
    problems: list[str] = []
    now = time.time()
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                token = await client.get_token(provider)
            except grpc.aio.AioRpcError as exc:
                problems.append(f"{exc.code().name}: {exc.details()}")
                continue
            if not (
                token.access_token
                and token.token_type == "Bearer"
                and token.provider == provider
                and token.generation > 0
                and token.expire_time.ToMilliseconds() / 1000 > now
            ):
                problems.append(
                    f"bad token: generation={token.generation} "
                    f"type={token.token_type!r} provider={token.provider!r} "
                    f"has value={bool(token.access_token)} "
                    f"expires {token.expire_time.ToMilliseconds() / 1000 - now:+.2f} s "
                    "after the pass began"
                )

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.close()
    return problems


async def raw_bytes_response(address: str, call: GrpcCall) -> bytes:
    """The response to exactly the bytes the load generator sends (unframed)."""
    async with grpc.aio.insecure_channel(address) as channel:
        method = channel.unary_unary(
            call.path, request_serializer=_identity, response_deserializer=_identity
        )
        return await method(call.message, metadata=call.metadata, timeout=10)  # type: ignore[no-any-return]


_GRPC_STATUS = re.compile(r"recv \(stream_id=\d+\) grpc-status: (\d+)")


def nghttp_status(address: str, call: GrpcCall, workdir: Path) -> str:
    """One request exactly as h2load frames it, sent with nghttp; the grpc-status seen."""
    nghttp = shutil.which("nghttp")
    if nghttp is None:
        return "not checked (no nghttp)"
    body = workdir / "nghttp-body.bin"
    body.write_bytes(frame(call.message))
    argv = [
        nghttp,
        "-v",
        "-d",
        str(body),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
    ]
    for name, value in call.metadata:
        argv += ["-H", f"{name}: {value}"]
    argv.append(f"http://{address}{call.path}")
    result = subprocess.run(argv, capture_output=True, timeout=30)
    match = _GRPC_STATUS.search(result.stdout.decode(errors="replace"))
    return f"grpc-status {match.group(1)}" if match else "no grpc-status trailer"
