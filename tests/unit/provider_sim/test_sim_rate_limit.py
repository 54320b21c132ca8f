"""The stand-in's API rate limit (provider_sim/rate_limit.py): off by default, N/s plus
a burst when set, 429 with Retry-After above it, and what it saw."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from provider_sim.reference import AIRLINES_PATH

from .conftest import GetToken


async def api_call(client: TestClient, token: str) -> int:
    response = await client.get(
        AIRLINES_PATH, params={"airlineCodes": "BA"}, headers={"Authorization": f"Bearer {token}"}
    )
    await response.read()
    return response.status


async def test_off_by_default_but_counting(client: TestClient, get_token: GetToken) -> None:
    token = await get_token()
    statuses = await asyncio.gather(*(api_call(client, token) for _ in range(30)))
    assert 429 not in statuses
    seen = await (await client.get("/_sim/rate-limit")).json()
    assert seen["per_second"] == 0
    assert seen["requests"] == 30 and seen["max_in_window"] == 30 and seen["api_429"] == 0


async def test_above_the_limit_is_429_with_retry_after(
    client: TestClient, get_token: GetToken
) -> None:
    token = await get_token()
    response = await client.post("/_sim/rate-limit", json={"per_second": 1, "burst": 5})
    assert response.status == 200
    statuses = [await api_call(client, token) for _ in range(8)]
    assert statuses[:5] == [200] * 5  # the burst (token requests are not counted)
    assert statuses[5:] == [429] * 3
    response = await client.get(AIRLINES_PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["errors"][0]["code"] == 38194
    seen = await (await client.get("/_sim/rate-limit")).json()
    assert seen["api_429"] == 4 and seen["requests"] == 9 and seen["max_in_window"] == 9


async def test_bad_settings_are_400(client: TestClient) -> None:
    for body in (
        {"per_second": -1},
        {"burst": 0},
        {"burst": 1.5},
        {"rate": 3},
        {"window_seconds": 0},
    ):
        response = await client.post("/_sim/rate-limit", json=body)
        assert response.status == 400, body
        assert "error" in await response.json()
