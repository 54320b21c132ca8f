"""The token benchmark's processes under test: the provider stand-in and token-service
replicas."""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any

import redis

from benchmarks.procs import Child, ProcessGroup
from benchmarks.service_clusters import ServiceCluster
from services.stack import PROVIDER_SIM, TOKEN, Facts, Upstream, sim_clients_env

PROVIDER = "amadeus"
CALLER = "bench"
GET_TOKEN = "/skyroute.token.v1.TokenService/GetToken"


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class ProviderSim:
    """``python -m provider_sim`` with one client per subject, so each is counted apart."""

    def __init__(self, group: ProcessGroup, client_ids: list[str], token_ttl: float) -> None:
        self.clients = {cid: secrets.token_urlsafe(24) for cid in client_ids}
        self.token_ttl = token_ttl
        self._child = group.python(
            "provider-sim",
            [
                "-m",
                PROVIDER_SIM.module,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--port-file",
                "{port_file}",
                "--token-ttl",
                str(token_ttl),
                "--log-level",
                "WARNING",
            ],
            sim_clients_env(self.clients),
        )
        self.base_url = f"http://127.0.0.1:{self._child.wait_ready()['http']}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/v1/security/oauth2/token"

    def stats(self) -> dict[str, Any]:
        return _get_json(f"{self.base_url}/_sim/stats")  # type: ignore[no-any-return]

    def issued(self, client_id: str) -> int:
        return int(self.stats()["tokens_issued"].get(client_id, 0))

    def rotating_refresh_token(self, client_id: str, access_ttl: float) -> str:
        """Makes ``client_id`` a refresh-token client (single-use rotating refresh tokens,
        reuse detection, no grace period, access tokens of ``access_ttl`` s) and returns the
        first refresh token of a new family, as if its user had logged in once."""
        _post_json(
            f"{self.base_url}/_sim/grant-policy",
            {
                "client_id": client_id,
                "refresh": True,
                "rotation": True,
                "grace_s": 0,
                "access_ttl": access_ttl,
            },
        )
        body = _post_json(f"{self.base_url}/_sim/refresh-token", {"client_id": client_id})
        return str(body["refresh_token"])

    def refresh_stats(self, client_id: str) -> dict[str, int]:
        """The stand-in's refresh-token counters of one client (refresh_grants,
        reuses_detected, invalid_grant, families_started, families_revoked, ...)."""
        clients = _get_json(f"{self.base_url}/_sim/refresh-stats")["clients"]
        return {k: int(v) for k, v in clients.get(client_id, {}).items()}

    def issue_times(self, client_id: str, start: float, end: float) -> list[float]:
        """Epoch seconds at which tokens of ``client_id`` were issued within [start, end]."""
        return sorted(
            t["issued_at"]
            for t in self.stats()["issued"]
            if t["client_id"] == client_id and start <= t["issued_at"] <= end
        )


class TokenCluster(ServiceCluster):
    """``replicas`` token-service processes sharing one Redis key prefix, holding a token
    of the stand-in's client ``client_id`` for the one caller, "bench"."""

    def __init__(
        self,
        group: ProcessGroup,
        sim: ProviderSim,
        client_id: str,
        redis_url: str,
        prefix: str,
        replicas: int,
        grant_env: dict[str, str] | None = None,
    ) -> None:
        """``grant_env``: the provider's grant settings (``PROVIDER_<NAME>_GRANT`` ...);
        client credentials when None."""
        self.caller_key = secrets.token_urlsafe(24)
        self._redis_url = redis_url
        self._prefix = prefix
        facts = Facts(
            redis_url=redis_url,
            key_prefix=prefix,
            upstreams=(Upstream(PROVIDER, sim.base_url, client_id, sim.clients[client_id]),),
            callers={CALLER: (PROVIDER,)},
            caller_keys={CALLER: self.caller_key},
        )
        super().__init__(
            group,
            TOKEN,
            facts,
            replicas,
            env={
                # The default 5 s margin would pin refreshes of a 5 s token at half its life;
                # 10 % keeps the production ratio (refresh at 75-85 % of the lifetime).
                "TOKEN_REFRESH_MIN_MARGIN_SECONDS": str(sim.token_ttl * 0.1),
                # The margin is never below the hand-out floor: lower that with it.
                "TOKEN_MIN_HANDOUT_SECONDS": str(sim.token_ttl * 0.1),
                **(grant_env or {}),
            },
            name=f"token-{prefix[-6:]}",
        )

    @property
    def replicas(self) -> list[Child]:
        return self.children

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-skyroute-caller", CALLER), ("x-skyroute-caller-key", self.caller_key))

    def handled(self, method: str = GET_TOKEN) -> dict[str, float]:
        """``grpc_server_handled_total`` for GetToken by status code, summed over replicas."""
        return super().handled(method)

    def chain_rotations(self) -> int:
        """Refresh-chain rotations the replicas stored (one per generation refreshed with
        the refresh token), from the provider's shared stats in Redis."""
        client = redis.Redis.from_url(self._redis_url)
        try:
            value = client.hget(f"{self._prefix}:tok:{{{PROVIDER}}}:stats", "chain_rotations")
        finally:
            client.close()
        return int(value or 0)
