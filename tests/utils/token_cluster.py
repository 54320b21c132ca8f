"""Token-service replicas as separate processes sharing one Redis."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import grpc

from services.clients.token_client import CALLER_HEADER, CALLER_KEY_HEADER, TokenClient
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from services.stack import TOKEN, Facts, Upstream
from tests.utils.processes import ServiceProcess
from tests.utils.sim import Sim
from token_service.sealing import sealer_from

# Callers configured in every test cluster: caller id -> allowed providers.
CALLERS = {"search": ["amadeus", "other"], "booking": ["amadeus"], "limited": ["other"]}


# Fields every log line has; the digest shows the others.
_COMMON_FIELDS = {"timestamp", "severity", "logger", "message", "service", "replica"}


def _digest_line(line: str) -> tuple[str, str] | None:
    """(timestamp, "time replica LEVEL message k=v ...") for a JSON log line of our
    own loggers; None for anything else."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not str(entry.get("logger", "")).startswith("skyroute"):
        return None
    stamp = str(entry.get("timestamp", ""))
    fields = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _COMMON_FIELDS)
    text = (
        f"{stamp[11:23]} {entry.get('replica', '?')} {entry.get('severity', '?')} "
        f"{entry.get('message', '')} {fields}"
    )
    return stamp, text.rstrip()


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
    def __init__(
        self,
        workdir: Path,
        sim: Sim,
        redis_url: str,
        prefix: str,
        replicas: int,
        env: dict[str, str] | None = None,
        replica_env: Sequence[Mapping[str, str]] = (),
    ) -> None:
        """``env`` is every replica's tuning; ``replica_env[i]`` is replica i's own (e.g.
        its encryption keys during a key rotation)."""
        self.sim = sim
        self.redis_url = redis_url
        self.prefix = prefix
        self.keys = {caller: secrets.token_urlsafe(24) for caller in CALLERS}
        (amadeus_id, amadeus_secret), (other_id, other_secret) = list(sim.clients.items())[:2]
        self.client_ids = {"amadeus": amadeus_id, "other": other_id}
        self.secrets = [amadeus_secret, other_secret, *self.keys.values()]
        # What the token cluster knows; `facts` adds where it listens, for its clients.
        self.base_facts = Facts(
            redis_url=redis_url,
            key_prefix=prefix,
            upstreams=(
                Upstream("amadeus", sim.base_url, amadeus_id, amadeus_secret),
                Upstream("other", sim.base_url, other_id, other_secret),
            ),
            callers={caller: tuple(providers) for caller, providers in CALLERS.items()},
            caller_keys=self.keys,
        )
        # The keys sealing tokens in Redis (the stack's, or each replica's own).
        self.secrets += [
            entry.split(":", 1)[1]
            for keys in (
                self.base_facts.token_encryption_keys,
                *(e.get("TOKEN_ENCRYPTION_KEYS", "") for e in replica_env),
            )
            for entry in keys.split(",")
            if ":" in entry
        ]
        tuning = {"SHUTDOWN_GRACE_SECONDS": "1", "LOG_LEVEL": "DEBUG", **(env or {})}
        self.replicas = []
        for i in range(replicas):
            rid = f"token-{i + 1}-{secrets.token_hex(3)}"
            env_i = {
                **TOKEN.replica_env(self.base_facts, rid, grpc_port=0, metrics_port=0),
                **tuning,
                **(replica_env[i] if i < len(replica_env) else {}),
                "REPLICA_ID": rid,
                "PORT_FILE": str(workdir / f"{rid}.port"),
            }
            self.replicas.append(
                Replica(rid, ServiceProcess(rid, ["-m", TOKEN.module], env_i, workdir))
            )

    def start(self) -> TokenCluster:
        for replica in self.replicas:
            replica.start()
        for replica in self.replicas:
            replica.wait_ready()
        return self

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.replicas]

    @property
    def facts(self) -> Facts:
        """The stack's facts as far as the started cluster knows them: Redis, the
        upstreams ("amadeus" first), the callers and their keys, its addresses."""
        return replace(self.base_facts, addresses={TOKEN.name: tuple(self.addresses)})

    def client(
        self, caller: str = "search", replicas: list[Replica] | None = None, timeout: float = 10.0
    ) -> TokenClient:
        addresses = [r.address for r in (replicas or self.replicas)]
        return TokenClient(addresses, caller, self.keys[caller], timeout=timeout)

    def metadata(self, caller: str = "search") -> tuple[tuple[str, str], ...]:
        return ((CALLER_HEADER, caller), (CALLER_KEY_HEADER, self.keys[caller]))

    def stub(self, replica: Replica) -> tuple[grpc.aio.Channel, pb_grpc.TokenServiceStub]:
        channel = grpc.aio.insecure_channel(replica.address)
        return channel, pb_grpc.TokenServiceStub(channel)

    def replica(self, replica_id: str) -> Replica:
        return next(r for r in self.replicas if r.replica_id == replica_id)

    def open_stored(self, stored: bytes, provider: str = "amadeus") -> str:
        """A token as stored in Redis (sealed), opened with the cluster's keys."""
        return sealer_from(self.base_facts.token_encryption_keys).open(
            stored.decode(), f"{provider}/access_token"
        )

    def stop(self) -> None:
        for replica in self.replicas:
            replica.process.stop()

    def logs(self) -> str:
        return "\n".join(r.process.log_text() for r in self.replicas)

    def log_digest(self, lines: int = 40) -> str:
        """The replicas' own log lines (not gRPC's debug chatter), merged in time order,
        one short line each: what a failed test prints to tell what the replicas did."""
        entries: list[tuple[str, str]] = []
        for replica in self.replicas:
            for line in replica.process.log_text().splitlines():
                entry = _digest_line(line)
                if entry is not None:
                    entries.append(entry)
        entries.sort(key=lambda e: e[0])
        return "\n".join(text for _, text in entries[-lines:])

    def assert_no_secrets_in_logs(self) -> None:
        """No issued token, client secret or caller key in any replica's or the sim's log."""
        text = self.logs() + self.sim.process.log_text()
        values = [t["access_token"] for t in self.sim.tokens()] + self.secrets
        leaked = [v[:4] + "..." for v in values if v and v in text]
        assert not leaked, f"secret or token values found in logs: {leaked}"
        # Tracebacks must not carry them either (nothing to find is the point).
        assert not re.search(r"Bearer [A-Za-z0-9_\-]{20,}", text)
