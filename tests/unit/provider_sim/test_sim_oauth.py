"""The OAuth2 token endpoint and token info over HTTP."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.oauth import TOKEN_PATH
from provider_sim.state import SimState

INVALID_PARAMETERS = {"code": 38187, "title": "Invalid parameters"}


@pytest.mark.asyncio
async def test_issue_returns_amadeus_token_body(request_token) -> None:
    response = await request_token()
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    token = body.pop("access_token")
    assert isinstance(token, str)
    assert len(token) >= 28
    assert body == {
        "type": "amadeusOAuth2Token",
        "username": "sim@example.com",
        "application_name": "skyroute-sim",
        "client_id": "skyroute",
        "token_type": "Bearer",
        "expires_in": 60,
        "state": "approved",
        "scope": "",
    }


@pytest.mark.asyncio
async def test_each_call_issues_a_new_token(get_token) -> None:
    assert await get_token() != await get_token()


@pytest.mark.asyncio
async def test_fractional_ttl_rounds_in_body_but_not_inside(
    client: TestClient, sim_state: SimState, request_token
) -> None:
    sim_state.update_config(token_ttl=0.4)
    body = await (await request_token()).json()
    assert body["expires_in"] == 1  # never 0: a client would treat it as already expired
    issued = sim_state.tokens()[0]
    assert issued.expires_at - issued.issued_at == pytest.approx(0.4)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("skyroute", "wrong-secret"), ("nobody", "s3cret-for-tests-only")],
)
async def test_bad_credentials_are_invalid_client(
    client: TestClient, request_token, client_id: str, secret: str
) -> None:
    response = await request_token(client_id, secret)
    assert response.status == 401
    assert await response.json() == {
        "error": "invalid_client",
        "error_description": "Client credentials are invalid",
        **INVALID_PARAMETERS,
    }
    stats = await (await client.get("/_sim/stats")).json()
    expected_key = client_id if client_id == "skyroute" else "unknown"
    assert stats["token_requests_failed"] == {expected_key: 1}
    assert stats["tokens_issued"]["skyroute"] == 0


@pytest.mark.asyncio
async def test_wrong_grant_type_is_unsupported(request_token) -> None:
    response = await request_token(grant_type="password")
    assert response.status == 400
    assert await response.json() == {
        "error": "unsupported_grant_type",
        "error_description": (
            "Only client_credentials value is allowed for the body parameter grant_type"
        ),
        **INVALID_PARAMETERS,
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret"])
async def test_missing_field_is_invalid_request(client: TestClient, missing: str) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "skyroute",
        "client_secret": "s3cret-for-tests-only",
    }
    del form[missing]
    response = await client.post(TOKEN_PATH, data=form)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_request"
    assert missing in body["error_description"]
    assert body["code"] == 38187


@pytest.mark.asyncio
async def test_json_body_is_invalid_request(client: TestClient) -> None:
    response = await client.post(
        TOKEN_PATH,
        json={"grant_type": "client_credentials", "client_id": "skyroute"},
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


@pytest.mark.asyncio
async def test_token_info_reports_live_then_revoked(client: TestClient, get_token) -> None:
    token = await get_token()
    live = await (await client.get(f"{TOKEN_PATH}/{token}")).json()
    assert live["state"] == "approved"
    assert 0 < live["expires_in"] <= 60
    await client.post("/_sim/revoke", json={})
    revoked = await (await client.get(f"{TOKEN_PATH}/{token}")).json()
    assert (revoked["state"], revoked["expires_in"]) == ("revoked", 0)


@pytest.mark.asyncio
async def test_token_info_unknown_token_is_401(client: TestClient) -> None:
    response = await client.get(f"{TOKEN_PATH}/not-a-token")
    assert response.status == 401
    assert (await response.json())["code"] == 38190
