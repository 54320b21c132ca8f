"""The echo floor: a ``grpc.aio`` server with one trivial unary method and nothing else.

``python -m benchmarks.echo_server --payload-size N`` answers every call to
``/skyroute.bench.v1.EchoService/Echo`` with a fixed N-byte message (N = the size of a
real ``GetTokenResponse``), using raw-bytes serializers so no proto is needed;
``--payload-file F`` answers with F's bytes instead (a real serialized response, which
the client can then parse as one). It writes
``{"grpc": port}`` to ``PORT_FILE`` once serving and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

import grpc

from benchmarks.procs import write_port_file
from services import event_loop

SERVICE = "skyroute.bench.v1.EchoService"
METHOD = f"/{SERVICE}/Echo"


def _identity(data: bytes) -> bytes:
    return data


class PassThroughInterceptor(grpc.aio.ServerInterceptor):
    """Does nothing; with ``--interceptor`` it shows what the mere presence of a server
    interceptor costs (grpc.aio then runs the interceptor chain for every call)."""

    async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        return await continuation(details)


def create_server(
    address: str, payload: bytes, *, interceptor: bool = False
) -> tuple[grpc.aio.Server, int]:
    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return payload

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                echo, request_deserializer=_identity, response_serializer=_identity
            ),
        },
    )
    server = grpc.aio.server(interceptors=[PassThroughInterceptor()] if interceptor else None)
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(address)
    return server, port


async def serve(host: str, payload: bytes, port_file: str | None, interceptor: bool) -> None:
    server, port = create_server(f"{host}:0", payload, interceptor=interceptor)
    await server.start()
    if port_file:
        write_port_file(port_file, {"grpc": port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.echo_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--payload-size", type=int, default=100)
    parser.add_argument(
        "--payload-file", type=Path, help="answer with this file's bytes (overrides --payload-size)"
    )
    parser.add_argument(
        "--interceptor",
        action="store_true",
        help="add a pass-through server interceptor (diagnostics)",
    )
    args = parser.parse_args()
    payload = args.payload_file.read_bytes() if args.payload_file else b"x" * args.payload_size
    event_loop.run(serve(args.host, payload, os.environ.get("PORT_FILE"), args.interceptor))


if __name__ == "__main__":
    main()
