"""Run the whole skyroute stack on this machine, several replicas per service.

`make run` starts this in the foreground after making sure Redis and PostgreSQL answer.
Each run makes fresh random dev secrets, gives them to the processes that need them,
and writes the CLI caller's credentials to .run/dev.env (mode 0600); nothing here
prints a secret. Child output is shown line by line, prefixed with the child's name.
Ctrl-C (or SIGTERM) stops every child: SIGTERM first, SIGKILL after a grace period.
If a child dies on its own, the stack stops and this exits non-zero.

The stack itself (services, ports, each replica's environment) is described in
services/stack.py; this script adds the run's secrets, the supervision and .run/dev.env.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: find services/ as `-m` will

from services.parent_death import dying_with_parent  # noqa: E402
from services.stack import (  # noqa: E402
    ACCOUNT,
    DEV_CALLERS,
    DEV_CLIENT_ID,
    DEV_DATABASE_URL,
    DEV_HOTEL_CLIENT_ID,
    DEV_HOTEL_PROVIDER,
    DEV_HOTEL_USER,
    DEV_JWT_AUDIENCE,
    DEV_JWT_ISSUER,
    DEV_KEY_PREFIX,
    DEV_PROVIDER,
    DEV_REDIS_URL,
    HOST,
    JWKS_PATH,
    PROVIDER_SIM,
    STACK,
    Facts,
    HotelSupplier,
    Jwt,
    ServiceSpec,
    Upstream,
    grpc_addresses,
)

RUN_DIR = ROOT / ".run"
DEV_ENV = RUN_DIR / "dev.env"
PROVIDER_SIM_URL = f"http://{HOST}:{PROVIDER_SIM.http_port}"


@dataclass(frozen=True)
class DevSecrets:
    """Random per-run secrets. repr=False keeps them out of any accidental print."""

    provider_client_secret: str = field(repr=False)
    caller_keys: Mapping[str, str] = field(repr=False)
    page_token_secret: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    hotel_client_secret: str = field(default="", repr=False)
    hotel_password: str = field(default="", repr=False)

    @classmethod
    def generate(cls) -> DevSecrets:
        return cls(
            provider_client_secret=secrets.token_urlsafe(32),
            caller_keys={caller: secrets.token_urlsafe(32) for caller in DEV_CALLERS},
            page_token_secret=secrets.token_urlsafe(32),
            jwt_secret=secrets.token_urlsafe(48),
            hotel_client_secret=secrets.token_urlsafe(32),
            hotel_password=secrets.token_urlsafe(24),
        )


def dev_facts(dev: DevSecrets, redis_url: str, database_url: str, replicas: int) -> Facts:
    """This run's facts: the stand-in as the one upstream, every caller allowed it."""
    return Facts(
        redis_url=redis_url,
        key_prefix=DEV_KEY_PREFIX,
        database_url=database_url,
        upstreams=(
            Upstream(DEV_PROVIDER, PROVIDER_SIM_URL, DEV_CLIENT_ID, dev.provider_client_secret),
        ),
        callers={
            caller: (DEV_PROVIDER, DEV_HOTEL_PROVIDER)
            if caller in ("search", "cli", "booking")
            else (DEV_PROVIDER,)
            for caller in DEV_CALLERS
        },
        caller_keys=dev.caller_keys,
        page_token_secret=dev.page_token_secret,
        jwt=Jwt(dev.jwt_secret, DEV_JWT_ISSUER, DEV_JWT_AUDIENCE),
        addresses=grpc_addresses(STACK, replicas),
        jwks_url=f"http://{HOST}:{ACCOUNT.metrics_port}{JWKS_PATH}",
        account_outbox_rpc=True,
        hotel_supplier=HotelSupplier(
            DEV_HOTEL_PROVIDER,
            PROVIDER_SIM_URL,
            DEV_HOTEL_CLIENT_ID,
            dev.hotel_client_secret,
            DEV_HOTEL_USER,
            dev.hotel_password,
        ),
    )


@dataclass(frozen=True)
class ProcessSpec:
    """One OS process to run."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)  # added to this process's own environment
    ready_port: int | None
    grpc_port: int | None = None
    metrics_port: int | None = None


def expand(services: tuple[ServiceSpec, ...], replicas: int, facts: Facts) -> list[ProcessSpec]:
    """Turn the stack's services into one ProcessSpec per replica."""
    processes = []
    for service in services:
        count = replicas if service.replicated else 1
        for i in range(count):
            name = f"{service.name}-{i + 1}" if service.replicated else service.name
            args: tuple[str, ...] = service.args
            grpc_port = metrics_port = None
            if service.grpc_port is not None:
                grpc_port = service.grpc_port + i
                if service.metrics_port is not None:
                    metrics_port = service.metrics_port + i
                env = service.replica_env(
                    facts, name, grpc_port=grpc_port, metrics_port=metrics_port
                )
            else:
                env = service.env(facts)
                if service.http_port is not None:
                    args = ("--host", HOST, "--port", str(service.http_port), *args)
            processes.append(
                ProcessSpec(
                    name=name,
                    argv=(sys.executable, "-m", service.module, *args),
                    env=env,
                    ready_port=grpc_port if grpc_port is not None else service.http_port,
                    grpc_port=grpc_port,
                    metrics_port=metrics_port,
                )
            )
    return processes


def validate(processes: list[ProcessSpec]) -> list[str]:
    """Problems with the expanded table: duplicate names or ports, missing modules."""
    problems = []
    names = [p.name for p in processes]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"duplicate process name {name}")
    ports = [
        port
        for p in processes
        for port in {p.ready_port, p.grpc_port, p.metrics_port}
        if port is not None
    ]
    for port in sorted({p for p in ports if ports.count(p) > 1}):
        problems.append(f"port {port} is used by more than one process")
    for module in sorted({p.argv[2] for p in processes}):
        if importlib.util.find_spec(module) is None:
            problems.append(f"module {module} not found (python -m {module})")
    return problems


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((HOST, port)) == 0


def write_dev_env(facts: Facts) -> None:
    RUN_DIR.mkdir(exist_ok=True)
    jwt = facts.jwt
    assert jwt is not None
    lines = [
        "# Written by scripts/run_stack.py for the running dev stack; new secrets every run.",
        "# Use it with: source .run/dev.env",
        f"export TOKEN_SERVICE_ADDRESSES={','.join(facts.addresses.get('token', ()))}",
        "export TOKEN_CALLER_ID=cli",
        f"export TOKEN_CALLER_KEY={shlex.quote(facts.caller_keys['cli'])}",
        f"export PROVIDER_SIM_URL={PROVIDER_SIM_URL}",
        f"export SEARCH_SERVICE_ADDRESSES={','.join(facts.addresses.get('search', ()))}",
        f"export BOOKING_SERVICE_ADDRESSES={','.join(facts.addresses.get('booking', ()))}",
        f"export ACCOUNT_SERVICE_ADDRESSES={','.join(facts.addresses.get('account', ()))}",
        f"export TRACKING_SERVICE_ADDRESSES={','.join(facts.addresses.get('tracking', ()))}",
        # For `python -m booking_service.dev_token --user alice` (make dev-token).
        f"export BOOKING_JWT_SECRET={shlex.quote(jwt.secret)}",
        f"export BOOKING_JWT_ISSUER={jwt.issuer}",
        f"export BOOKING_JWT_AUDIENCE={jwt.audience}",
    ]
    fd = os.open(DEV_ENV, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # in case the file existed with wider permissions
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")


class Supervisor:
    def __init__(self, processes: list[ProcessSpec], grace: float, ready_timeout: float):
        self.processes = processes
        self.grace = grace
        self.ready_timeout = ready_timeout
        self.children: dict[str, asyncio.subprocess.Process] = {}
        self.width = max([len(p.name) for p in processes] + [len("stack")])
        self.stop_requested = asyncio.Event()
        self.signals = 0
        self.pumps: list[asyncio.Task[None]] = []

    def say(self, message: str) -> None:
        print(f"{'stack':<{self.width}} | {message}", flush=True)

    def on_signal(self) -> None:
        self.signals += 1
        if self.signals == 1:
            self.say("stopping (Ctrl-C again to kill at once)")
            self.stop_requested.set()
        else:
            self.kill_all(signal.SIGKILL)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal)
        try:
            return await self._run()
        finally:
            await self.stop_all()
            # Let the pumps print what the children wrote last; a grandchild that kept
            # the pipe open must not hang the exit.
            if self.pumps:
                _, late = await asyncio.wait(self.pumps, timeout=2)
                for pump in late:
                    pump.cancel()

    async def _run(self) -> int:
        for spec in self.processes:
            if self.stop_requested.is_set():
                return 0
            await self.start(spec)
        exited = {
            asyncio.create_task(proc.wait(), name=name) for name, proc in self.children.items()
        }
        stop = asyncio.create_task(self.stop_requested.wait())
        ready = asyncio.create_task(self.wait_ready())
        try:
            pending: set[asyncio.Task[object]] = {*exited, stop, ready}
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    return 0
                for task in done & exited:
                    self.say(f"{task.get_name()} exited unexpectedly with code {task.result()}")
                    return 1
                if ready in done and not ready.result():
                    return 1
        finally:
            for task in (*exited, stop, ready):
                task.cancel()

    async def start(self, spec: ProcessSpec) -> None:
        proc = await asyncio.create_subprocess_exec(
            *dying_with_parent(spec.argv),
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own process group: the terminal's Ctrl-C reaches only this supervisor,
            # which then stops the children in order.
            process_group=0,
            limit=1 << 20,
        )
        self.children[spec.name] = proc
        assert proc.stdout is not None
        self.pumps.append(asyncio.create_task(self.pump(spec.name, proc.stdout)))
        self.say(f"started {spec.name} (pid {proc.pid})")

    async def pump(self, name: str, stream: asyncio.StreamReader) -> None:
        prefix = f"{name:<{self.width}} | "
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # longer than the reader's limit; asyncio has dropped it
                print(prefix + "[line too long, not shown]", flush=True)
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\n")
            print(prefix + text, flush=True)

    async def wait_ready(self) -> bool:
        """Wait until every process accepts connections, then print the banner."""
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        for spec in self.processes:
            if spec.ready_port is None:
                continue
            while not await can_connect(spec.ready_port):
                if asyncio.get_running_loop().time() > deadline:
                    self.say(
                        f"{spec.name} did not accept connections on {HOST}:{spec.ready_port} "
                        f"within {self.ready_timeout:.0f}s"
                    )
                    return False
                await asyncio.sleep(0.2)
        self.banner()
        return True

    def banner(self) -> None:
        token = next((p for p in self.processes if p.name.startswith("token-")), None)
        lines = ["", "skyroute dev stack is up:"]
        for p in self.processes:
            if p.grpc_port is not None:
                where = f"grpc {HOST}:{p.grpc_port}"
            else:
                where = f"http://{HOST}:{p.ready_port}"
            if p.metrics_port is not None:
                where += f"   metrics http://{HOST}:{p.metrics_port}/metrics"
            lines.append(f"  {p.name:<{self.width}}  {where}")
        lines += [
            "",
            f"Caller credentials (new every run): source {DEV_ENV.relative_to(ROOT)}",
        ]
        if token is not None:
            addr = f"{HOST}:{token.grpc_port}"
            lines += [
                "Try:",
                f"  .venv/bin/grpcurl -plaintext {addr} list",
                '  .venv/bin/grpcurl -plaintext -H "x-skyroute-caller: cli" '
                '-H "x-skyroute-caller-key: $TOKEN_CALLER_KEY" '
                f'-d \'{{"provider":"{DEV_PROVIDER}"}}\' {addr} '
                "skyroute.token.v1.TokenService/GetTokenStatus",
            ]
        lines += ["Ctrl-C stops everything.", ""]
        for line in lines:
            self.say(line)

    def kill_all(self, sig: signal.Signals) -> None:
        for name, proc in reversed(self.children.items()):
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)  # the child's group: it and anything it spawned
                if sig == signal.SIGKILL:
                    self.say(f"killed {name}")

    async def stop_all(self) -> None:
        running = [p for p in self.children.values() if p.returncode is None]
        if not running:
            return
        self.kill_all(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), timeout=self.grace)
        except TimeoutError:
            self.say(f"children still running after {self.grace:.0f}s; killing them")
            self.kill_all(signal.SIGKILL)
            await asyncio.gather(*(p.wait() for p in running))
        for name, proc in self.children.items():
            self.say(f"{name} stopped (exit code {proc.returncode})")


async def can_connect(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout=1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the skyroute stack locally (make run).",
        epilog=f"Redis comes from REDIS_URL (default {DEV_REDIS_URL}); "
        "`make run` starts it if needed.",
    )
    parser.add_argument(
        "--replicas", type=int, default=3, help="replicas of each service (default 3)"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds between SIGTERM and SIGKILL when stopping (default 10)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for every port to accept connections (default 60)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only build and validate the process table, print it (no secrets), and exit",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.replicas <= 9:
        parser.error("--replicas must be between 1 and 9")
    return args


def clear_dev_keys(redis_url: str) -> None:
    """Deletes the previous run's keys (tokens the fresh stand-in never issued)."""
    try:
        import redis  # the project's venv has it; run_stack otherwise needs only stdlib

        from services.redis_client import sync_client
    except ImportError:
        return
    client = sync_client(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{DEV_KEY_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError as exc:
        print(f"run_stack: could not clear old dev keys ({type(exc).__name__})", file=sys.stderr)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    facts = dev_facts(
        DevSecrets.generate(),
        redis_url=os.environ.get("REDIS_URL", DEV_REDIS_URL),
        database_url=os.environ.get("DATABASE_URL", DEV_DATABASE_URL),
        replicas=args.replicas,
    )
    processes = expand(STACK, args.replicas, facts)
    problems = validate(processes)

    if args.check:
        for p in processes:
            ports = ", ".join(
                f"{kind} {port}"
                for kind, port in (
                    ("grpc", p.grpc_port),
                    ("metrics", p.metrics_port),
                    ("ready", p.ready_port),
                )
                if port is not None
            )
            print(f"{p.name}: python -m {' '.join(p.argv[2:])} [{ports}]")
            print(f"    env: {' '.join(sorted(p.env))}")  # names only, never values
        for problem in problems:
            print(f"problem: {problem}", file=sys.stderr)
        return 1 if problems else 0

    if problems:
        for problem in problems:
            print(f"run_stack: {problem}", file=sys.stderr)
        return 1
    wanted = {port for p in processes for port in (p.ready_port, p.metrics_port) if port}
    busy = [port for port in sorted(wanted) if port_in_use(port)]
    if busy:
        print(
            f"run_stack: ports already in use on {HOST}: {', '.join(map(str, busy))} "
            "(is another stack running?)",
            file=sys.stderr,
        )
        return 1

    assert facts.redis_url is not None
    clear_dev_keys(facts.redis_url)
    write_dev_env(facts)
    supervisor = Supervisor(processes, grace=args.grace, ready_timeout=args.ready_timeout)
    return asyncio.run(supervisor.run())


if __name__ == "__main__":
    sys.exit(main())
