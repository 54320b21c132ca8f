"""Account test helpers: the account service's environment (cheap argon2 parameters),
replicas as separate processes, and sign-up through the outbox."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import grpc

from services.clients.channels import open_channel
from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from services.stack import ACCOUNT, JWKS_PATH, Facts, Jwt
from tests.utils.booking_cluster import AUDIENCE, ISSUER, new_secret
from tests.utils.processes import ServiceProcess

SERVICE = "skyroute.account.v1.AccountService"
# Cheap hashes for tests (the parameters are still argon2id's; benchmarks use the
# defaults).
FAST_ARGON2 = {"ACCOUNT_ARGON2_TIME_COST": "1", "ACCOUNT_ARGON2_MEMORY_KIB": "1024"}
TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


def account_facts(database_url: str, redis_url: str, key_prefix: str) -> Facts:
    return Facts(
        redis_url=redis_url,
        key_prefix=key_prefix,
        database_url=database_url,
        jwt=Jwt(new_secret(), ISSUER, AUDIENCE),
        account_outbox_rpc=True,
    )


def account_env(facts: Facts, **extra: str) -> dict[str, str]:
    """One replica's environment on port 0 (the caller adds PORT_FILE and the like)."""
    return {
        **ACCOUNT.replica_env(facts, "account-test", grpc_port=0, metrics_port=0),
        **FAST_ARGON2,
        "SHUTDOWN_GRACE_SECONDS": "1",
        **extra,
    }


def new_email() -> str:
    return f"user-{secrets.token_hex(5)}@example.com"


def link_token(body: str) -> str:
    match = TOKEN_IN_LINK.search(body)
    assert match is not None, "no link in the message"
    return match.group(1)


async def outbox_token(stub: pb_grpc.AccountServiceStub, email: str, subject: str) -> str:
    """The token of the newest message to ``email`` whose subject starts with ``subject``."""
    reply = await stub.ListOutbox(pb.ListOutboxRequest(email=email), timeout=10)
    for message in reply.messages:
        if message.subject.startswith(subject):
            return link_token(message.body)
    raise AssertionError(f"no {subject!r} message for the address")


async def sign_up(
    stub: pb_grpc.AccountServiceStub, email: str, password: str, device: str = "laptop"
) -> pb.SessionTokens:
    """Register, verify through the outbox's link, log in."""
    await stub.Register(pb.RegisterRequest(email=email, password=password), timeout=10)
    token = await outbox_token(stub, email, "Verify")
    await stub.VerifyEmail(pb.VerifyEmailRequest(token=token), timeout=10)
    reply = await stub.Login(
        pb.LoginRequest(email=email, password=password, device_name=device), timeout=10
    )
    tokens: pb.SessionTokens = reply.tokens
    return tokens


class AccountCluster:
    def __init__(
        self, workdir: Path, facts: Facts, replicas: int = 3, env: Mapping[str, str] | None = None
    ) -> None:
        self.facts = facts
        self.processes = []
        for i in range(replicas):
            rid = f"account-{i + 1}-{secrets.token_hex(3)}"
            env_i = {
                **account_env(facts, **(env or {})),
                "REPLICA_ID": rid,
                "PORT_FILE": str(workdir / f"{rid}.port"),
            }
            self.processes.append(ServiceProcess(rid, ["-m", ACCOUNT.module], env_i, workdir))
        self.addresses: list[str] = []
        self.metrics_ports: list[int] = []

    def start(self) -> AccountCluster:
        for process in self.processes:
            process.start()
        ports = [p.wait_ready() for p in self.processes]
        self.addresses = [f"127.0.0.1:{p['grpc']}" for p in ports]
        self.metrics_ports = [p["metrics"] for p in ports]
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[0]}{JWKS_PATH}"

    def channel(self, addresses: list[str] | None = None) -> grpc.aio.Channel:
        return open_channel(addresses or self.addresses, SERVICE)

    @staticmethod
    def stub(channel: grpc.aio.Channel) -> pb_grpc.AccountServiceStub:
        return pb_grpc.AccountServiceStub(channel)
