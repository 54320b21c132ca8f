"""The /_sim/ control interface: config, injected token faults, latency, reset, validation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

SYSTEM_ERROR = {"errors": [{"status": 500, "code": 141, "title": "SYSTEM ERROR HAS OCCURRED"}]}


async def stats(client: TestClient) -> Any:
    return await (await client.get("/_sim/stats")).json()


@pytest.mark.asyncio
async def test_health(client: TestClient) -> None:
    response = await client.get("/_sim/health")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


@pytest.mark.asyncio
async def test_config_update_returns_full_config(client: TestClient) -> None:
    response = await client.post("/_sim/config", json={"token_ttl": 2.0, "api_latency_ms": 5})
    assert response.status == 200
    assert await response.json() == {
        "token_ttl": 2.0,
        "token_latency_ms": 0,
        "api_latency_ms": 5,
        "revoke_on_issue": False,
    }
    assert (await (await client.get("/_sim/config")).json())["token_ttl"] == 2.0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/_sim/config", "not json"),
        ("/_sim/config", "[1, 2]"),
        ("/_sim/config", '{"token_tll": 2}'),
        ("/_sim/config", '{"token_ttl": 0}'),
        ("/_sim/config", '{"token_ttl": "2"}'),
        ("/_sim/config", '{"token_ttl": Infinity}'),
        ("/_sim/config", '{"token_latency_ms": -1}'),
        ("/_sim/config", '{"token_latency_ms": 1.5}'),
        ("/_sim/config", '{"revoke_on_issue": 1}'),
        ("/_sim/fail-token", '{"status": 500}'),
        ("/_sim/fail-token", '{"count": true}'),
        ("/_sim/fail-token", '{"count": 1, "status": 200}'),
        ("/_sim/fail-api", '{"count": -1}'),
        ("/_sim/token-endpoint", "{}"),
        ("/_sim/token-endpoint", '{"down": true, "status": 418}'),
        ("/_sim/revoke", '{"client_id": 7}'),
        ("/_sim/fail-token", ""),
    ],
)
async def test_invalid_control_input_is_400_with_message(
    client: TestClient, path: str, payload: str
) -> None:
    before = await (await client.get("/_sim/config")).json()
    response = await client.post(path, data=payload, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]
    assert await (await client.get("/_sim/config")).json() == before


@pytest.mark.asyncio
async def test_fail_token_n_times_then_success(client: TestClient, request_token) -> None:
    await client.post("/_sim/fail-token", json={"count": 2, "status": 500})
    for _ in range(2):
        response = await request_token()
        assert response.status == 500
        assert await response.json() == SYSTEM_ERROR
    assert (await request_token()).status == 200
    counters = await stats(client)
    assert counters["tokens_issued"]["skyroute"] == 1
    assert counters["token_requests_failed"] == {"skyroute": 2}
    assert counters["token_requests_total"] == 3


@pytest.mark.asyncio
async def test_fail_token_429_is_rate_limit_body(client: TestClient, request_token) -> None:
    await client.post("/_sim/fail-token", json={"count": 1, "status": 429})
    response = await request_token()
    assert response.status == 429
    assert (await response.json())["errors"][0]["code"] == 38194


@pytest.mark.asyncio
async def test_token_endpoint_down_then_up(client: TestClient, request_token) -> None:
    await client.post("/_sim/token-endpoint", json={"down": True, "status": 503})
    for _ in range(3):
        response = await request_token()
        assert response.status == 503
        assert (await response.json())["errors"][0]["code"] == 141
    await client.post("/_sim/token-endpoint", json={"down": False})
    assert (await request_token()).status == 200
    assert (await stats(client))["token_requests_failed"] == {"skyroute": 3}


@pytest.mark.asyncio
async def test_token_latency_delays_without_blocking_others(
    client: TestClient, request_token
) -> None:
    # The margins are wide so that a busy machine cannot fail the test.
    await client.post("/_sim/config", json={"token_latency_ms": 2000})
    started = time.monotonic()
    pending = asyncio.create_task(request_token())
    await asyncio.sleep(0.05)
    await stats(client)  # served while the token request is still sleeping
    assert time.monotonic() - started < 1.5
    assert not pending.done()
    assert (await pending).status == 200
    assert time.monotonic() - started >= 2.0


@pytest.mark.asyncio
async def test_api_latency_delays(client: TestClient, get_token) -> None:
    token = await get_token()
    await client.post("/_sim/config", json={"api_latency_ms": 200})
    started = time.monotonic()
    response = await client.get(
        "/v1/reference-data/airlines?airlineCodes=LH",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200
    assert time.monotonic() - started >= 0.2


@pytest.mark.asyncio
async def test_revoke_all_clients(client: TestClient, get_token) -> None:
    await get_token()
    await get_token("other", "another-secret-value")
    assert await (await client.post("/_sim/revoke")).json() == {"revoked": 2}
    assert await (await client.post("/_sim/revoke", json={})).json() == {"revoked": 0}
    listed = (await (await client.get("/_sim/tokens")).json())["tokens"]
    assert [entry["revoked"] for entry in listed] == [True, True]


@pytest.mark.asyncio
async def test_reset_clears_tokens_counters_faults_and_config(
    client: TestClient, get_token, request_token
) -> None:
    token = await get_token()
    await client.post("/_sim/config", json={"token_ttl": 5, "revoke_on_issue": True})
    await client.post("/_sim/fail-token", json={"count": 5})
    await client.post("/_sim/fail-api", json={"count": 5})
    reset = await client.post("/_sim/reset")
    assert (await reset.json())["token_ttl"] == 60  # the ttl the state was created with
    assert (await client.get("/_sim/tokens")).status == 200
    assert (await (await client.get("/_sim/tokens")).json())["tokens"] == []
    counters = await stats(client)
    assert counters["token_requests_total"] == 0
    assert counters["issued"] == []
    assert (await request_token()).status == 200
    old = await client.get(
        "/v1/reference-data/airlines?airlineCodes=BA", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await old.json(content_type=None))["errors"][0]["code"] == 38190


@pytest.mark.asyncio
async def test_unknown_api_path_is_amadeus_404(client: TestClient) -> None:
    response = await client.get("/v2/does-not-exist")
    assert response.status == 404
    assert (await response.json(content_type=None))["errors"][0]["code"] == 38196
