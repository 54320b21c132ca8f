"""The provider stand-in as a process, and its control interface."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path
from typing import Any

from services.stack import PROVIDER_SIM, sim_clients_env
from tests.utils.processes import ServiceProcess


class Sim:
    def __init__(
        self,
        workdir: Path,
        clients: dict[str, str],
        token_ttl: float = 1799,
        hotel_clients: dict[str, str] | None = None,
        hotel_users: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``hotel_*`` configure the hotel supplier profile; ``extra_args`` e.g.
        ``("--refresh-clients", "id", "--refresh-grace", "1")``."""
        self.clients = clients
        env = sim_clients_env(clients)
        for name, entries in (
            ("SIM_HOTEL_CLIENTS", hotel_clients),
            ("SIM_HOTEL_USERS", hotel_users),
        ):
            if entries:
                env[name] = ",".join(f"{k}:{v}" for k, v in entries.items())
        self.process = ServiceProcess(
            "provider-sim",
            [
                "-m",
                PROVIDER_SIM.module,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--port-file",
                str(workdir / "provider-sim.port"),
                "--token-ttl",
                str(token_ttl),
                *extra_args,
            ],
            env,
            workdir,
        )
        self.base_url = ""

    def start(self) -> Sim:
        self.process.start()
        port = self.process.wait_ready()["http"]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/v1/security/oauth2/token"

    @property
    def hotel_token_url(self) -> str:
        return f"{self.base_url}/hotel/v1/auth/token"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sim/stats"))

    def tokens(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/_sim/tokens")["tokens"])

    def issued(self, client_id: str) -> int:
        return int(self.stats()["tokens_issued"].get(client_id, 0))

    def config(self, **changes: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/_sim/config", changes))

    def fail_token(self, count: int, status: int = 500) -> None:
        self._call("POST", "/_sim/fail-token", {"count": count, "status": status})

    def token_endpoint(self, down: bool, status: int = 503) -> None:
        self._call("POST", "/_sim/token-endpoint", {"down": down, "status": status})

    def revoke(self, client_id: str | None = None) -> int:
        body = {"client_id": client_id} if client_id else {}
        return int(self._call("POST", "/_sim/revoke", body)["revoked"])

    # -- refresh-token grants (provider_sim.grant_control) --------------------------------

    def grant_policy(self, client_id: str, **policy: Any) -> dict[str, Any]:
        """Set a client's refresh-token policy (refresh, rotation, grace_s, refresh_ttl,
        access_ttl); returns the whole policy."""
        return dict(self._call("POST", "/_sim/grant-policy", {"client_id": client_id, **policy}))

    def refresh_token(self, client_id: str) -> str:
        """A new family's first refresh token, as if the user had logged in once."""
        return str(
            self._call("POST", "/_sim/refresh-token", {"client_id": client_id})["refresh_token"]
        )

    def authorization_code(self, client_id: str, redirect_uri: str | None = None) -> str:
        """A one-time code to exchange with grant_type=authorization_code (60 s)."""
        body: dict[str, Any] = {"client_id": client_id}
        if redirect_uri is not None:
            body["redirect_uri"] = redirect_uri
        return str(self._call("POST", "/_sim/authorization-code", body)["code"])

    def refresh_stats(self, client_id: str) -> dict[str, int]:
        """families_started, refresh_grants, grace_reuses, reuses_detected,
        families_revoked, invalid_grant, code_grants, codes_replayed, password_grants for one
        client."""
        return dict(self._call("GET", "/_sim/refresh-stats")["clients"][client_id])

    def refresh_tokens(self) -> list[dict[str, Any]]:
        """Every refresh token issued, with its value (for no-leak assertions)."""
        return list(self._call("GET", "/_sim/refresh-tokens")["refresh_tokens"])

    def revoke_family(self, family: int) -> int:
        return int(self._call("POST", "/_sim/revoke-family", {"family": family})["revoked"])

    # -- the hotel supplier (provider_sim/hotels) -----------------------------------------

    def hotel_stats(self) -> dict[str, int]:
        return dict(self._call("GET", "/_sim/hotel-stats"))

    def hotel_price_change(self, percent: float) -> None:
        self._call("POST", "/_sim/hotel-price-change", {"percent": percent})

    def hotel_sold_out(self, hotel_id: str, room_type: str, check_in: str, check_out: str) -> None:
        body = {
            "hotelId": hotel_id,
            "roomType": room_type,
            "checkInDate": check_in,
            "checkOutDate": check_out,
        }
        self._call("POST", "/_sim/hotel-sold-out", body)

    def fail_api(self, count: int, status: int = 503) -> None:
        self._call("POST", "/_sim/fail-api", {"count": count, "status": status})

    def stop(self) -> None:
        self.process.stop()


def new_clients() -> dict[str, str]:
    return {"skyroute-test": secrets.token_urlsafe(24), "skyroute-other": secrets.token_urlsafe(24)}
