"""The hotel supplier profile: password login and rotating refresh tokens on its own path."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.hotel import HOTEL_TOKEN_PATH
from provider_sim.state import SimConfig, SimState
from tests.unit.provider_sim.conftest import CLIENT_ID, CLIENT_SECRET
from tests.unit.provider_sim.test_sim_refresh import api_status

HOTEL_ID = "hotel-app"
HOTEL_SECRET = "hotel-secret-for-tests"
USER, PASSWORD = "agent@example.com", "p4ssword-for-tests"


@pytest.fixture
def sim_state() -> SimState:
    return SimState(
        {CLIENT_ID: CLIENT_SECRET},
        SimConfig(token_ttl=60),
        hotel_clients={HOTEL_ID: HOTEL_SECRET},
        hotel_users={USER: PASSWORD},
    )


async def post(client: TestClient, basic: bool = False, **fields: str) -> tuple[int, Any]:
    headers = {}
    if basic:
        pair = base64.b64encode(f"{HOTEL_ID}:{HOTEL_SECRET}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    else:
        fields = {"client_id": HOTEL_ID, "client_secret": HOTEL_SECRET, **fields}
    response = await client.post(HOTEL_TOKEN_PATH, data=fields, headers=headers)
    return response.status, await response.json()


async def login(client: TestClient, **extra: Any) -> tuple[int, Any]:
    return await post(client, grant_type="password", username=USER, password=PASSWORD, **extra)


async def hotel_counters(client: TestClient) -> dict[str, int]:
    return dict((await (await client.get("/_sim/refresh-stats")).json())["clients"][HOTEL_ID])


@pytest.mark.asyncio
@pytest.mark.parametrize("basic", [False, True])
async def test_password_login_returns_access_and_refresh_token(
    client: TestClient, basic: bool
) -> None:
    status, body = await login(client, basic=basic)
    assert status == 200, body
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 60)
    assert await api_status(client, body["access_token"]) == 200
    assert (await hotel_counters(client))["password_grants"] == 1


@pytest.mark.asyncio
async def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient) -> None:
    _, first = await login(client)
    status, second = await post(
        client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    status, body = await post(
        client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await api_status(client, second["access_token"]) == 401
    counters = await hotel_counters(client)
    assert (counters["refresh_grants"], counters["reuses_detected"]) == (1, 1)


@pytest.mark.asyncio
async def test_wrong_password_is_invalid_grant(client: TestClient) -> None:
    status, body = await post(client, grant_type="password", username=USER, password="nope")
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "nope" not in str(body)
    assert (await hotel_counters(client))["invalid_grant"] == 1


@pytest.mark.asyncio
async def test_amadeus_credentials_do_not_open_the_hotel(client: TestClient) -> None:
    response = await client.post(
        HOTEL_TOKEN_PATH,
        data={
            "grant_type": "password",
            "username": USER,
            "password": PASSWORD,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert "Basic" in response.headers["WWW-Authenticate"]


@pytest.mark.asyncio
async def test_hotel_credentials_do_not_open_amadeus(client: TestClient) -> None:
    response = await client.post(
        "/v1/security/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": HOTEL_ID,
            "client_secret": HOTEL_SECRET,
        },
    )
    assert response.status == 401


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fields", "error", "named"),
    [
        ({"grant_type": "password", "username": USER}, "invalid_request", "password"),
        ({"username": USER, "password": PASSWORD}, "invalid_request", "grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type", "grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request", "refresh_token"),
    ],
)
async def test_malformed_requests(
    client: TestClient, fields: dict[str, str], error: str, named: str
) -> None:
    status, body = await post(client, **fields)
    assert (status, body["error"]) == (400, error)
    assert named in body["error_description"]


@pytest.mark.asyncio
async def test_hotel_and_amadeus_token_counters_are_apart(client: TestClient) -> None:
    await login(client)
    stats = await (await client.get("/_sim/stats")).json()
    assert stats["token_requests_total"] == 0
    assert (await hotel_counters(client))["families_started"] == 1


def test_hotel_client_ids_must_differ_from_amadeus_ones() -> None:
    with pytest.raises(ValueError):
        SimState({CLIENT_ID: CLIENT_SECRET}, hotel_clients={CLIENT_ID: "x"})
