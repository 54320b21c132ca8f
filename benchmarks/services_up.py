"""The processes under test: the provider stand-in and token-service replicas."""

from __future__ import annotations

import json
import secrets
import urllib.request
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.procs import Child, ProcessGroup

PROVIDER = "amadeus"
CALLER = "bench"
GET_TOKEN = "/skyroute.token.v1.TokenService/GetToken"


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


class ProviderSim:
    """``python -m provider_sim`` with one client per subject, so each is counted apart."""

    def __init__(self, group: ProcessGroup, client_ids: list[str], token_ttl: float) -> None:
        self.clients = {cid: secrets.token_urlsafe(24) for cid in client_ids}
        self.token_ttl = token_ttl
        self._child = group.python(
            "provider-sim",
            ["-m", "provider_sim", "--host", "127.0.0.1", "--port", "0", "--port-file",
             "{port_file}", "--token-ttl", str(token_ttl), "--log-level", "WARNING"],
            {"SIM_CLIENTS": ",".join(f"{k}:{v}" for k, v in self.clients.items())})
        self.base_url = f"http://127.0.0.1:{self._child.wait_ready()['http']}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/v1/security/oauth2/token"

    def stats(self) -> dict[str, Any]:
        return _get_json(f"{self.base_url}/_sim/stats")  # type: ignore[no-any-return]

    def issued(self, client_id: str) -> int:
        return int(self.stats()["tokens_issued"].get(client_id, 0))

    def issue_times(self, client_id: str, start: float, end: float) -> list[float]:
        """Epoch seconds at which tokens of ``client_id`` were issued within [start, end]."""
        return sorted(t["issued_at"] for t in self.stats()["issued"]
                      if t["client_id"] == client_id and start <= t["issued_at"] <= end)


@dataclass
class Replica:
    child: Child
    address: str
    metrics_port: int


class TokenCluster:
    """``replicas`` token-service processes sharing one Redis key prefix."""

    def __init__(self, group: ProcessGroup, sim: ProviderSim, client_id: str, redis_url: str,
                 prefix: str, replicas: int) -> None:
        self.caller_key = secrets.token_urlsafe(24)
        self._group = group
        env = {
            "SERVICE_NAME": "token",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": "0",
            "METRICS_PORT": "0",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "TOKEN_PROVIDERS": PROVIDER,
            "PROVIDER_AMADEUS_TOKEN_URL": sim.token_url,
            "PROVIDER_AMADEUS_CLIENT_ID": client_id,
            "PROVIDER_AMADEUS_CLIENT_SECRET": sim.clients[client_id],
            "TOKEN_CALLERS": json.dumps({CALLER: [PROVIDER]}),
            f"CALLER_{CALLER.upper()}_KEY": self.caller_key,
            # The default 5 s margin would pin refreshes of a 5 s token at half its life;
            # 10 % keeps the production ratio (refresh at 75-85 % of the lifetime).
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS": str(sim.token_ttl * 0.1),
            # The margin is never below the hand-out floor: lower that with it.
            "TOKEN_MIN_HANDOUT_SECONDS": str(sim.token_ttl * 0.1),
            "SHUTDOWN_GRACE_SECONDS": "1",
            "LOG_LEVEL": "INFO",
        }
        children = [group.python(f"token-{prefix[-6:]}-{i + 1}", ["-m", "token_service"],
                                 {**env, "REPLICA_ID": f"token-{i + 1}"})
                    for i in range(replicas)]
        self.replicas = []
        for child in children:
            ports = child.wait_ready()
            self.replicas.append(Replica(child, f"127.0.0.1:{ports['grpc']}",
                                         int(ports["metrics"])))

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.replicas]

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-skyroute-caller", CALLER), ("x-skyroute-caller-key", self.caller_key))

    def handled(self) -> dict[str, float]:
        """``grpc_server_handled_total`` for GetToken by status code, summed over replicas."""
        totals: dict[str, float] = {}
        for replica in self.replicas:
            url = f"http://127.0.0.1:{replica.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (sample.name == "grpc_server_handled_total"
                            and sample.labels.get("method") == GET_TOKEN):
                        code = sample.labels["code"]
                        totals[code] = totals.get(code, 0.0) + sample.value
        return totals

    def stop(self) -> None:
        for replica in self.replicas:
            self._group.stop(replica.child)
