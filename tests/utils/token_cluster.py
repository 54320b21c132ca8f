"""Token-service replicas as separate processes sharing one Redis."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import grpc

from services.clients.token_client import CALLER_HEADER, CALLER_KEY_HEADER, TokenClient
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from tests.utils.processes import ServiceProcess
from tests.utils.sim import Sim

# Callers configured in every test cluster: caller id -> allowed providers.
CALLERS = {"search": ["amadeus", "other"], "booking": ["amadeus"], "limited": ["other"]}


class Replica:
    def __init__(self, replica_id: str, process: ServiceProcess) -> None:
        self.replica_id = replica_id
        self.process = process
        self.address = ""
        self.metrics_port = 0

    def start(self) -> None:
        self.process.start()

    def wait_ready(self) -> None:
        ports = self.process.wait_ready()
        self.address = f"127.0.0.1:{ports['grpc']}"
        self.metrics_port = ports.get("metrics") or 0


class TokenCluster:
    def __init__(self, workdir: Path, sim: Sim, redis_url: str, prefix: str, replicas: int,
                 env: dict[str, str] | None = None) -> None:
        self.sim = sim
        self.redis_url = redis_url
        self.prefix = prefix
        self.keys = {caller: secrets.token_urlsafe(24) for caller in CALLERS}
        (amadeus_id, amadeus_secret), (other_id, other_secret) = list(sim.clients.items())[:2]
        self.client_ids = {"amadeus": amadeus_id, "other": other_id}
        self.secrets = [amadeus_secret, other_secret, *self.keys.values()]
        base_env = {
            "SERVICE_NAME": "token",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": "0",
            "METRICS_PORT": "0",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "TOKEN_PROVIDERS": "amadeus,other",
            "PROVIDER_AMADEUS_TOKEN_URL": sim.token_url,
            "PROVIDER_AMADEUS_CLIENT_ID": amadeus_id,
            "PROVIDER_AMADEUS_CLIENT_SECRET": amadeus_secret,
            "PROVIDER_OTHER_TOKEN_URL": sim.token_url,
            "PROVIDER_OTHER_CLIENT_ID": other_id,
            "PROVIDER_OTHER_CLIENT_SECRET": other_secret,
            "TOKEN_CALLERS": json.dumps(CALLERS),
            "SHUTDOWN_GRACE_SECONDS": "1",
            "LOG_LEVEL": "DEBUG",
            **{f"CALLER_{c.upper()}_KEY": k for c, k in self.keys.items()},
            **(env or {}),
        }
        self.replicas = []
        for i in range(replicas):
            rid = f"token-{i + 1}-{secrets.token_hex(3)}"
            env_i = {**base_env, "REPLICA_ID": rid,
                     "PORT_FILE": str(workdir / f"{rid}.port")}
            self.replicas.append(Replica(rid, ServiceProcess(rid, ["-m", "token_service"],
                                                             env_i, workdir)))

    def start(self) -> TokenCluster:
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            replica.wait_ready()
        return self

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.replicas]

    def client(self, caller: str = "search", replicas: list[Replica] | None = None,
               timeout: float = 10.0) -> TokenClient:
        addresses = [r.address for r in (replicas or self.replicas)]
        return TokenClient(addresses, caller, self.keys[caller], timeout=timeout)

    def metadata(self, caller: str = "search") -> tuple[tuple[str, str], ...]:
        return ((CALLER_HEADER, caller), (CALLER_KEY_HEADER, self.keys[caller]))

    def stub(self, replica: Replica) -> tuple[grpc.aio.Channel, pb_grpc.TokenServiceStub]:
        channel = grpc.aio.insecure_channel(replica.address)
        return channel, pb_grpc.TokenServiceStub(channel)

    def replica(self, replica_id: str) -> Replica:
        return next(r for r in self.replicas if r.replica_id == replica_id)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.process.stop()

    def logs(self) -> str:
        return "\n".join(r.process.log_text() for r in self.replicas)

    def assert_no_secrets_in_logs(self) -> None:
        """No issued token, client secret or caller key in any replica's or the sim's log."""
        text = self.logs() + self.sim.process.log_text()
        values = [t["access_token"] for t in self.sim.tokens()] + self.secrets
        leaked = [v[:4] + "..." for v in values if v and v in text]
        assert not leaked, f"secret or token values found in logs: {leaked}"
        # Tracebacks must not carry them either (nothing to find is the point).
        assert not re.search(r"Bearer [A-Za-z0-9_\-]{20,}", text)
