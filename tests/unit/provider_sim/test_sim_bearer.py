"""Bearer validation, injected API faults and API counters, through the airlines endpoint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.bearer import parse_bearer

AIRLINES = "/v1/reference-data/airlines?airlineCodes=BA"


async def call_api(
    client: TestClient, token: str | None, header: str | None = None
) -> tuple[int, Any]:
    headers: dict[str, str] = {}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.get(AIRLINES, headers=headers)
    return response.status, await response.json(content_type=None)


def single_error(body: Any) -> Any:
    assert len(body["errors"]) == 1
    return body["errors"][0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc-DEF_123.~+/=", "abc-DEF_123.~+/="),
        ("bearer tok", "tok"),
        ("Bearer  tok ", "tok"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer two words", None),
        (None, None),
    ],
)
def test_parse_bearer(header: str | None, expected: str | None) -> None:
    assert parse_bearer(header) == expected


@pytest.mark.asyncio
async def test_valid_token_is_served(client: TestClient, get_token) -> None:
    status, body = await call_api(client, await get_token())
    assert status == 200
    assert body["data"][0]["iataCode"] == "BA"


@pytest.mark.asyncio
@pytest.mark.parametrize("header", [None, "Bearer", "Token abc", "Basic dXNlcjpwYXNz"])
async def test_missing_or_malformed_header_is_38191(client: TestClient, header) -> None:
    status, body = await call_api(client, None, header=header)
    assert status == 401
    assert single_error(body) == {
        "status": 401,
        "code": 38191,
        "title": "Invalid HTTP header",
        "detail": "Missing or invalid format for mandatory Authorization header",
    }


@pytest.mark.asyncio
async def test_unknown_token_is_38190(client: TestClient) -> None:
    status, body = await call_api(client, "made-up-token")
    assert status == 401
    assert single_error(body) == {
        "status": 401,
        "code": 38190,
        "title": "Invalid access token",
        "detail": "The access token provided in the Authorization header is invalid",
    }


@pytest.mark.asyncio
async def test_expired_token_is_38192(client: TestClient, get_token) -> None:
    await client.post("/_sim/config", json={"token_ttl": 0.2})
    token = await get_token()
    assert (await call_api(client, token))[0] == 200
    await asyncio.sleep(0.25)
    status, body = await call_api(client, token)
    assert status == 401
    error = single_error(body)
    assert (error["code"], error["title"]) == (38192, "Access token expired")


@pytest.mark.asyncio
async def test_revoked_token_is_38193(client: TestClient, get_token) -> None:
    token = await get_token()
    revoke = await client.post("/_sim/revoke", json={"client_id": "skyroute"})
    assert await revoke.json() == {"revoked": 1}
    status, body = await call_api(client, token)
    assert status == 401
    error = single_error(body)
    assert (error["code"], error["title"]) == (38193, "Access token revoked")


@pytest.mark.asyncio
async def test_revoke_on_issue_revokes_previous_token(client: TestClient, get_token) -> None:
    await client.post("/_sim/config", json={"revoke_on_issue": True})
    first = await get_token()
    second = await get_token()
    assert single_error((await call_api(client, first))[1])["code"] == 38193
    assert (await call_api(client, second))[0] == 200


@pytest.mark.asyncio
async def test_revoke_on_issue_off_keeps_previous_token(client: TestClient, get_token) -> None:
    first = await get_token()
    await get_token()
    assert (await call_api(client, first))[0] == 200


@pytest.mark.asyncio
async def test_fail_api_429_then_recovers(client: TestClient, get_token) -> None:
    token = await get_token()
    await client.post("/_sim/fail-api", json={"count": 2, "status": 429})
    for _ in range(2):
        status, body = await call_api(client, token)
        assert status == 429
        assert body == {
            "errors": [
                {
                    "status": 429,
                    "code": 38194,
                    "title": "Too many requests",
                    "detail": "The network rate limit is exceeded, please try again later",
                }
            ]
        }
    assert (await call_api(client, token))[0] == 200
    assert (await (await client.get("/_sim/stats")).json())["api_429"] == 2


@pytest.mark.asyncio
async def test_fail_api_500_is_system_error(client: TestClient, get_token) -> None:
    token = await get_token()
    await client.post("/_sim/fail-api", json={"count": 1, "status": 500})
    status, body = await call_api(client, token)
    assert status == 500
    assert single_error(body) == {"status": 500, "code": 141, "title": "SYSTEM ERROR HAS OCCURRED"}


@pytest.mark.asyncio
async def test_unauthenticated_calls_do_not_consume_api_faults(
    client: TestClient, get_token
) -> None:
    await client.post("/_sim/fail-api", json={"count": 1, "status": 429})
    assert (await call_api(client, None))[0] == 401
    assert (await call_api(client, await get_token()))[0] == 429


@pytest.mark.asyncio
async def test_counters_per_token_and_per_401_code(client: TestClient, get_token) -> None:
    first, second = await get_token(), await get_token("other", "another-secret-value")
    for _ in range(3):
        await call_api(client, first)
    await call_api(client, second)
    await call_api(client, None)
    await call_api(client, "made-up-token")
    await client.post("/_sim/revoke", json={})
    await call_api(client, first)

    stats = await (await client.get("/_sim/stats")).json()
    assert stats["api_requests"] == 7
    assert stats["api_requests_per_token"] == {"1": 4, "2": 1}
    assert stats["api_401"] == {"38190": 1, "38191": 1, "38192": 0, "38193": 1}
    assert stats["tokens_issued"] == {"skyroute": 1, "other": 1}
    assert [entry["client_id"] for entry in stats["issued"]] == ["skyroute", "other"]
    assert {"seq", "issued_at", "expires_at"} <= set(stats["issued"][0])


@pytest.mark.asyncio
async def test_stats_never_contain_token_values(client: TestClient, get_token) -> None:
    for _ in range(3):
        await call_api(client, await get_token())
    listed = (await (await client.get("/_sim/tokens")).json())["tokens"]
    values = [entry["access_token"] for entry in listed]
    assert len(values) == 3
    stats_text = await (await client.get("/_sim/stats")).text()
    assert not any(value in stats_text for value in values)
    assert "s3cret-for-tests-only" not in stats_text
    assert json.loads(stats_text)["token_requests_total"] == 3
