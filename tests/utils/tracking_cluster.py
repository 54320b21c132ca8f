"""Tracking-service replicas as separate processes sharing one Redis and PostgreSQL,
pricing through a search cluster; JWTs for their users."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

import grpc

from services.clients.channels import open_channel
from services.generated.skyroute.tracking.v1 import tracking_service_pb2_grpc as pb_grpc
from services.stack import TRACKING, Facts, Jwt
from tests.utils.booking_cluster import AUDIENCE, ISSUER, bearer, new_secret, token_for
from tests.utils.processes import ServiceProcess

SERVICE = "skyroute.tracking.v1.TrackingService"


class TrackingCluster:
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        redis_url: str,
        prefix: str,
        search_addresses: list[str],
        replicas: int = 3,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.secret = new_secret()
        facts = Facts(
            database_url=database_url,
            redis_url=redis_url,
            key_prefix=prefix,
            jwt=Jwt(self.secret, ISSUER, AUDIENCE),
            addresses={"search": tuple(search_addresses)},
        )
        tuning = {
            "SHUTDOWN_GRACE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            "TRACKING_MIN_FREQUENCY_SECONDS": "1",
            **(env or {}),
        }
        self.processes: list[ServiceProcess] = []
        for i in range(replicas):
            rid = f"tracking-{i + 1}-{secrets.token_hex(3)}"
            env_i = {
                **TRACKING.replica_env(facts, rid, grpc_port=0),
                **tuning,
                "REPLICA_ID": rid,
                "PORT_FILE": str(workdir / f"{rid}.port"),
            }
            self.processes.append(ServiceProcess(rid, ["-m", TRACKING.module], env_i, workdir))
        self.addresses: list[str] = []

    @property
    def replica_ids(self) -> list[str]:
        return [p.name for p in self.processes]

    def start(self) -> TrackingCluster:
        for process in self.processes:
            process.start()
        self.addresses = [f"127.0.0.1:{p.wait_ready(timeout=30)['grpc']}" for p in self.processes]
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)

    def auth(self, user: str) -> tuple[tuple[str, str], ...]:
        return bearer(token_for(user, self.secret))

    def channel(self, addresses: list[str] | None = None) -> grpc.aio.Channel:
        return open_channel(addresses or self.addresses, SERVICE)

    def stub(self, channel: grpc.aio.Channel) -> pb_grpc.TrackingServiceStub:
        return pb_grpc.TrackingServiceStub(channel)
