"""Rotating refresh tokens over HTTP: rotation, reuse detection, grace, lifetimes, policy."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.oauth import TOKEN_PATH
from provider_sim.state import SimConfig, SimState
from tests.unit.provider_sim.conftest import CLIENT_ID, CLIENT_SECRET, OTHER_ID, OTHER_SECRET


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim_state(clock: Clock) -> SimState:
    return SimState(
        {CLIENT_ID: CLIENT_SECRET, OTHER_ID: OTHER_SECRET}, SimConfig(token_ttl=60), clock=clock
    )


async def configure(client: TestClient, **policy: Any) -> dict[str, Any]:
    response = await client.post(
        "/_sim/grant-policy", json={"client_id": CLIENT_ID, "refresh": True, **policy}
    )
    assert response.status == 200, await response.text()
    return dict(await response.json())


async def bootstrap(client: TestClient, client_id: str = CLIENT_ID) -> str:
    response = await client.post("/_sim/refresh-token", json={"client_id": client_id})
    assert response.status == 200, await response.text()
    return str((await response.json())["refresh_token"])


async def refresh(
    client: TestClient, token: str, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": client_id,
        "client_secret": secret,
    }
    response = await client.post(TOKEN_PATH, data=form)
    return response.status, dict(await response.json())


async def counters(client: TestClient, client_id: str = CLIENT_ID) -> dict[str, int]:
    body = await (await client.get("/_sim/refresh-stats")).json()
    return dict(body["clients"][client_id])


async def api_status(client: TestClient, access_token: str) -> int:
    response = await client.get(
        "/v1/reference-data/airlines?airlineCodes=LH",
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return response.status


@pytest.mark.asyncio
async def test_refresh_rotates_and_returns_access_and_refresh_token(client: TestClient) -> None:
    await configure(client)
    first = await bootstrap(client)
    status, body = await refresh(client, first)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 60
    assert body["refresh_token"] not in (first, body["access_token"])
    assert await api_status(client, body["access_token"]) == 200
    status, again = await refresh(client, body["refresh_token"])
    assert status == 200
    assert again["refresh_token"] != body["refresh_token"]
    assert (await counters(client))["refresh_grants"] == 2


@pytest.mark.asyncio
async def test_reuse_revokes_the_whole_family_and_is_counted(client: TestClient) -> None:
    await configure(client)
    first = await bootstrap(client)
    _, one = await refresh(client, first)
    _, two = await refresh(client, one["refresh_token"])
    status, body = await refresh(client, first)  # retired two rotations ago: a reuse
    assert status == 400
    assert body["error"] == "invalid_grant"
    assert first not in str(body)
    # Every access token and the live refresh token of the family are dead now.
    assert await api_status(client, one["access_token"]) == 401
    assert await api_status(client, two["access_token"]) == 401
    status, body = await refresh(client, two["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await counters(client) == {
        "families_started": 1,
        "refresh_grants": 2,
        "grace_reuses": 0,
        "reuses_detected": 1,
        "families_revoked": 1,
        "invalid_grant": 2,
        "code_grants": 0,
        "codes_replayed": 0,
        "password_grants": 0,
    }


@pytest.mark.asyncio
async def test_reuse_leaves_other_families_alone(client: TestClient) -> None:
    await configure(client)
    first, other = await bootstrap(client), await bootstrap(client)
    _, other_body = await refresh(client, other)
    await refresh(client, first)
    assert (await refresh(client, first))[0] == 400
    assert await api_status(client, other_body["access_token"]) == 200
    assert (await refresh(client, other_body["refresh_token"]))[0] == 200


@pytest.mark.asyncio
async def test_grace_period_returns_the_same_successor(client: TestClient, clock: Clock) -> None:
    await configure(client, grace_s=5)
    first = await bootstrap(client)
    _, one = await refresh(client, first)
    clock.now += 4
    status, again = await refresh(client, first)
    assert status == 200
    assert again["refresh_token"] == one["refresh_token"]
    assert again["access_token"] != one["access_token"]
    assert await api_status(client, one["access_token"]) == 200
    stats = await counters(client)
    assert (stats["grace_reuses"], stats["reuses_detected"]) == (1, 0)
    clock.now += 1.5  # past the grace period: now it is a reuse
    assert (await refresh(client, first))[0] == 400
    assert (await counters(client))["reuses_detected"] == 1


@pytest.mark.asyncio
async def test_grace_does_not_cover_a_chain_that_moved_on(client: TestClient) -> None:
    await configure(client, grace_s=60)
    first = await bootstrap(client)
    _, one = await refresh(client, first)
    await refresh(client, one["refresh_token"])
    status, body = await refresh(client, first)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert (await counters(client))["reuses_detected"] == 1


@pytest.mark.asyncio
async def test_expired_refresh_token_is_invalid_grant_without_revoking(
    client: TestClient, clock: Clock
) -> None:
    await configure(client, refresh_ttl=100)
    first = await bootstrap(client)
    _, one = await refresh(client, first)
    clock.now += 50
    assert (await refresh(client, one["refresh_token"]))[0] == 200  # the new one got 100 s
    clock.now += 101
    stale = await bootstrap(client)
    clock.now += 100
    status, body = await refresh(client, stale)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "expired" in body["error_description"]
    stats = await counters(client)
    assert (stats["reuses_detected"], stats["families_revoked"]) == (0, 0)


@pytest.mark.asyncio
async def test_rotation_off_keeps_the_refresh_token(client: TestClient) -> None:
    await configure(client, rotation=False)
    first = await bootstrap(client)
    for _ in range(3):
        status, body = await refresh(client, first)
        assert status == 200
        assert "refresh_token" not in body  # RFC 6749 §6: the client keeps the one it has
    assert (await counters(client))["reuses_detected"] == 0


@pytest.mark.asyncio
async def test_access_ttl_per_client(client: TestClient, clock: Clock) -> None:
    await configure(client, access_ttl=2)
    _, body = await refresh(client, await bootstrap(client))
    assert body["expires_in"] == 2
    clock.now += 2.5
    assert await api_status(client, body["access_token"]) == 401


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["unknown", "other-client"])
async def test_unknown_or_foreign_token_is_invalid_grant(client: TestClient, case: str) -> None:
    await configure(client)
    await client.post("/_sim/grant-policy", json={"client_id": OTHER_ID, "refresh": True})
    token = "no-such-token" if case == "unknown" else await bootstrap(client)
    status, body = await refresh(client, token, OTHER_ID, OTHER_SECRET)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert (await counters(client, OTHER_ID))["invalid_grant"] == 1


@pytest.mark.asyncio
async def test_client_not_configured_is_unauthorized_client(client: TestClient) -> None:
    status, body = await refresh(client, "whatever")
    assert (status, body["error"]) == (400, "unauthorized_client")
    response = await client.post("/_sim/refresh-token", json={"client_id": CLIENT_ID})
    assert response.status == 400


@pytest.mark.asyncio
async def test_bad_secret_is_invalid_client_before_the_token_is_looked_at(
    client: TestClient,
) -> None:
    await configure(client)
    first = await bootstrap(client)
    status, body = await refresh(client, first, secret="wrong")
    assert (status, body["error"]) == (401, "invalid_client")
    assert (await refresh(client, first))[0] == 200  # not consumed by the failed attempt


@pytest.mark.asyncio
async def test_missing_refresh_token_is_invalid_request(client: TestClient) -> None:
    await configure(client)
    form = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    response = await client.post(TOKEN_PATH, data=form)
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_request")
    assert "refresh_token" in body["error_description"]


@pytest.mark.asyncio
async def test_control_revoke_family_and_listing(client: TestClient) -> None:
    await configure(client)
    _, body = await refresh(client, await bootstrap(client))
    assert await (await client.post("/_sim/revoke-family", json={"family": 1})).json() == {
        "revoked": 1
    }
    assert await api_status(client, body["access_token"]) == 401
    stats = await (await client.get("/_sim/refresh-stats")).json()
    assert body["refresh_token"] not in str(stats)
    assert [t["revoked"] for t in stats["refresh_tokens"]] == [True, True]
    listed = (await (await client.get("/_sim/refresh-tokens")).json())["refresh_tokens"]
    assert listed[1]["refresh_token"] == body["refresh_token"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "payload",
    [
        {"client_id": "nobody", "refresh": True},
        {"client_id": CLIENT_ID, "grace_s": -1},
        {"client_id": CLIENT_ID, "refresh_ttl": 0},
        {"client_id": CLIENT_ID, "rotation": "yes"},
        {"client_id": CLIENT_ID, "grace": 1},
        {"refresh": True},
    ],
)
async def test_bad_policy_is_400(client: TestClient, payload: dict[str, Any]) -> None:
    response = await client.post("/_sim/grant-policy", json=payload)
    assert response.status == 400
    assert (await response.json())["error"]


@pytest.mark.asyncio
async def test_reset_restores_policies_and_forgets_refresh_tokens(client: TestClient) -> None:
    await configure(client, grace_s=3)
    first = await bootstrap(client)
    await client.post("/_sim/reset")
    policies = (await (await client.get("/_sim/grant-policy")).json())["clients"]
    assert policies[CLIENT_ID]["refresh"] is False
    await configure(client)
    assert (await refresh(client, first))[1]["error"] == "invalid_grant"
