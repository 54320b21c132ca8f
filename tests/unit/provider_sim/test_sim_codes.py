"""grant_type=authorization_code: one-time, short-lived codes that start a family."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.codes import CODE_TTL_S
from provider_sim.oauth import TOKEN_PATH
from provider_sim.state import SimConfig, SimState
from tests.unit.provider_sim.conftest import CLIENT_ID, CLIENT_SECRET, OTHER_ID, OTHER_SECRET
from tests.unit.provider_sim.test_sim_refresh import Clock, api_status, counters, refresh


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim_state(clock: Clock) -> SimState:
    return SimState(
        {CLIENT_ID: CLIENT_SECRET, OTHER_ID: OTHER_SECRET}, SimConfig(token_ttl=60), clock=clock
    )


async def new_code(client: TestClient, **extra: Any) -> str:
    for client_id in (CLIENT_ID, OTHER_ID):
        await client.post("/_sim/grant-policy", json={"client_id": client_id, "refresh": True})
    response = await client.post("/_sim/authorization-code", json={"client_id": CLIENT_ID, **extra})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["expires_in"] == CODE_TTL_S
    return str(body["code"])


async def exchange(
    client: TestClient,
    code: str,
    client_id: str = CLIENT_ID,
    secret: str = CLIENT_SECRET,
    **extra: str,
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": secret,
        **extra,
    }
    response = await client.post(TOKEN_PATH, data=form)
    return response.status, dict(await response.json())


@pytest.mark.asyncio
async def test_code_exchange_starts_a_family(client: TestClient) -> None:
    status, body = await exchange(client, await new_code(client))
    assert status == 200, body
    assert await api_status(client, body["access_token"]) == 200
    assert (await refresh(client, body["refresh_token"]))[0] == 200
    stats = await counters(client)
    assert (stats["code_grants"], stats["families_started"], stats["refresh_grants"]) == (1, 1, 1)


@pytest.mark.asyncio
async def test_code_is_single_use_and_a_replay_revokes_the_family(client: TestClient) -> None:
    code = await new_code(client)
    _, first = await exchange(client, code)
    status, body = await exchange(client, code)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await api_status(client, first["access_token"]) == 401
    assert (await refresh(client, first["refresh_token"]))[0] == 400
    assert (await counters(client))["codes_replayed"] == 1


@pytest.mark.asyncio
async def test_code_expires(client: TestClient, clock: Clock) -> None:
    code = await new_code(client)
    clock.now += CODE_TTL_S
    status, body = await exchange(client, code)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "expired" in body["error_description"]


@pytest.mark.asyncio
async def test_code_of_another_client_or_unknown_is_invalid_grant(client: TestClient) -> None:
    code = await new_code(client)
    assert (await exchange(client, code, OTHER_ID, OTHER_SECRET))[1]["error"] == "invalid_grant"
    assert (await exchange(client, "made-up"))[1]["error"] == "invalid_grant"
    assert (await exchange(client, code))[0] == 200  # the failed attempts did not consume it


@pytest.mark.asyncio
async def test_redirect_uri_must_match(client: TestClient) -> None:
    code = await new_code(client, redirect_uri="https://app.example/cb")
    assert (await exchange(client, code))[1]["error"] == "invalid_grant"
    assert (await exchange(client, code, redirect_uri="https://evil.example/cb"))[0] == 400
    assert (await exchange(client, code, redirect_uri="https://app.example/cb"))[0] == 200


@pytest.mark.asyncio
async def test_code_needs_a_refresh_client(client: TestClient) -> None:
    response = await client.post("/_sim/authorization-code", json={"client_id": CLIENT_ID})
    assert response.status == 400
    status, body = await exchange(client, "any")
    assert (status, body["error"]) == (400, "unauthorized_client")


@pytest.mark.asyncio
async def test_missing_code_is_invalid_request(client: TestClient) -> None:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    response = await client.post(TOKEN_PATH, data=form)
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_request")
    assert "code" in body["error_description"]
