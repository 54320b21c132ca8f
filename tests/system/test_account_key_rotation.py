"""Signing-key rotation without downtime, while clients call: two account replicas
(processes) are restarted one at a time through the three steps of
docs/operations.md (publish k2 beside k1; sign with k2; retire k1) while clients keep
refreshing their tokens and calling a booking replica that trusts the JWKS. No call
fails; afterwards tokens carry k2, and a k1 token is refused once k1 is retired."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import jwt
import pytest

from services.clients.channels import open_channel
from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from services.generated.skyroute.booking.v1 import booking_service_pb2 as booking_pb
from services.stack import ACCOUNT, JWKS_PATH, new_account_signing_keys
from tests.conftest import REDIS_URL
from tests.utils.account_cluster import SERVICE, account_env, account_facts, new_email, sign_up
from tests.utils.booking_cluster import BookingCluster, bearer
from tests.utils.db import temporary_database_sync
from tests.utils.processes import ServiceProcess
from tests.utils.redis_server import free_port

PASSWORD = "rotating horse battery"
K1 = new_account_signing_keys("k1")
K2 = new_account_signing_keys("k2")


class Replica:
    """One account replica on fixed ports, restartable with other keys."""

    def __init__(self, workdir: Path, base_env: dict[str, str], index: int) -> None:
        self.workdir = workdir
        self.base_env = base_env
        self.name = f"account-rot-{index}-{secrets.token_hex(3)}"
        self.grpc_port = free_port()
        self.metrics_port = free_port()
        self.process: ServiceProcess | None = None

    def start(self, keys: str, signing_kid: str) -> None:
        env = {
            **self.base_env,
            "REPLICA_ID": self.name,
            "GRPC_PORT": str(self.grpc_port),
            "METRICS_PORT": str(self.metrics_port),
            "PORT_FILE": str(self.workdir / f"{self.name}.port"),
            "ACCOUNT_SIGNING_KEYS": keys,
            "ACCOUNT_SIGNING_KEY_ID": signing_kid,
        }
        self.process = ServiceProcess(self.name, ["-m", ACCOUNT.module], env, self.workdir)
        self.process.start().wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with temporary_database_sync() as url:
        yield url


async def test_rotation_while_clients_call(
    database_url: str, tmp_path: Path, key_prefix: str
) -> None:
    facts = account_facts(database_url, REDIS_URL, key_prefix)
    base = account_env(
        facts,
        ACCOUNT_LOGIN_PER_ADDRESS_PER_MINUTE="0",
        ACCOUNT_REGISTER_PER_ADDRESS_PER_MINUTE="0",
        ACCOUNT_REGISTER_PER_ACCOUNT_PER_MINUTE="0",
    )
    replicas = [Replica(tmp_path, base, i) for i in range(2)]
    booking: BookingCluster | None = None
    try:
        for replica in replicas:
            replica.start(K1, "k1")
        booking = BookingCluster(
            tmp_path,
            database_url,
            replicas=1,
            env={
                "BOOKING_JWKS_URL": f"http://127.0.0.1:{replicas[0].metrics_port}{JWKS_PATH}",
                "BOOKING_JWKS_REFRESH_SECONDS": "1",
                "BOOKING_SESSION_REVOCATION": "true",
                "REDIS_URL": REDIS_URL,
                "REDIS_KEY_PREFIX": key_prefix,
            },
        ).start()
        await run_rotation(replicas, booking)
    finally:
        if booking is not None:
            booking.stop()
        for replica in replicas:
            replica.stop()


async def run_rotation(replicas: list[Replica], booking: BookingCluster) -> None:
    accounts = open_channel([f"127.0.0.1:{r.grpc_port}" for r in replicas], SERVICE)
    bookings = booking.channel()
    stub = pb_grpc.AccountServiceStub(accounts)
    booking_stub = booking.stub(bookings)
    try:
        users = [await sign_up(stub, new_email(), PASSWORD) for _ in range(3)]
        old_k1_token = users[0].access_token
        assert jwt.get_unverified_header(old_k1_token)["kid"] == "k1"
        failures: list[str] = []
        calls = [0]
        stop = asyncio.Event()
        latest: dict[int, str] = {}

        async def client(i: int, tokens: pb.SessionTokens) -> None:
            refresh = tokens.refresh_token
            while not stop.is_set():
                try:
                    reply = await stub.Refresh(pb.RefreshRequest(refresh_token=refresh), timeout=10)
                    refresh = reply.tokens.refresh_token
                    latest[i] = reply.tokens.access_token
                    await booking_stub.ListBookings(
                        booking_pb.ListBookingsRequest(),
                        metadata=bearer(reply.tokens.access_token),
                        timeout=10,
                    )
                    calls[0] += 1
                except grpc.aio.AioRpcError as exc:
                    failures.append(f"{exc.code().name}: {exc.details()}")
                    return
                await asyncio.sleep(0.05)

        workers = [asyncio.ensure_future(client(i, t)) for i, t in enumerate(users)]
        steps = [(f"{K1},{K2}", "k1"), (f"{K1},{K2}", "k2"), (K2, "k2")]
        for keys, kid in steps:
            for replica in replicas:  # a rolling restart
                replica.stop()
                replica.start(keys, kid)
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.5)  # booking re-reads the JWKS every second
            assert not failures, failures
        stop.set()
        await asyncio.gather(*workers)
        assert not failures, failures
        assert calls[0] > 20
        assert {jwt.get_unverified_header(t)["kid"] for t in latest.values()} == {"k2"}
        # k1 is retired: a token it signed (still within its lifetime) is refused.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await booking_stub.ListBookings(
                booking_pb.ListBookingsRequest(), metadata=bearer(old_k1_token), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await accounts.close()
        await bookings.close()
