"""tests/utils/sim.py's grant helpers against the stand-in as a real process, flags included."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.utils.sim import Sim

pytestmark = pytest.mark.timeout(30)


def post_form(url: str, fields: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_refresh_and_hotel_through_the_helpers(tmp_path: Path) -> None:
    sim = Sim(
        tmp_path,
        {"app": "app-secret"},
        hotel_clients={"hotel": "hotel-secret"},
        hotel_users={"agent": "agent-pw"},
        extra_args=("--refresh-clients", "app", "--refresh-grace", "0"),
    ).start()
    try:
        app = {"client_id": "app", "client_secret": "app-secret"}
        first = sim.refresh_token("app")
        status, body = post_form(
            sim.token_url, {"grant_type": "refresh_token", "refresh_token": first, **app}
        )
        assert status == 200 and body["refresh_token"] != first
        assert (
            post_form(
                sim.token_url, {"grant_type": "refresh_token", "refresh_token": first, **app}
            )[1]["error"]
            == "invalid_grant"
        )
        code = sim.authorization_code("app")
        assert (
            post_form(sim.token_url, {"grant_type": "authorization_code", "code": code, **app})[0]
            == 200
        )
        stats = sim.refresh_stats("app")
        assert (stats["refresh_grants"], stats["reuses_detected"], stats["code_grants"]) == (
            1,
            1,
            1,
        )
        assert sim.grant_policy("app", grace_s=1.5)["grace_s"] == 1.5

        status, login = post_form(
            sim.hotel_token_url,
            {
                "grant_type": "password",
                "username": "agent",
                "password": "agent-pw",
                "client_id": "hotel",
                "client_secret": "hotel-secret",
            },
        )
        assert status == 200 and login["refresh_token"]
        assert sim.refresh_stats("hotel")["password_grants"] == 1
        assert len(sim.refresh_tokens()) == 4
    finally:
        sim.stop()
    logs = sim.process.log_text()
    assert "refresh" in logs  # the requests were logged ...
    assert first not in logs and "agent-pw" not in logs  # ... without tokens or passwords
