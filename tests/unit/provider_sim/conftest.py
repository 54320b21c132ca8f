"""Fixtures for provider_sim tests: a fresh state and a real in-process HTTP server each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from provider_sim.app import create_app
from provider_sim.oauth import TOKEN_PATH
from provider_sim.state import SimConfig, SimState

CLIENT_ID = "skyroute"
CLIENT_SECRET = "s3cret-for-tests-only"
OTHER_ID = "other"
OTHER_SECRET = "another-secret-value"

RequestToken = Callable[..., Awaitable[ClientResponse]]
GetToken = Callable[..., Awaitable[str]]


@pytest.fixture
def sim_state() -> SimState:
    return SimState({CLIENT_ID: CLIENT_SECRET, OTHER_ID: OTHER_SECRET}, SimConfig(token_ttl=60))


@pytest_asyncio.fixture
async def client(sim_state: SimState) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(sim_state), host="127.0.0.1")) as test_client:
        yield test_client


@pytest.fixture
def request_token(client: TestClient) -> RequestToken:
    """POST a client-credentials form; defaults are the valid test client."""

    async def post(
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        grant_type: str = "client_credentials",
    ) -> ClientResponse:
        form = {"grant_type": grant_type, "client_id": client_id, "client_secret": client_secret}
        return await client.post(TOKEN_PATH, data=form)

    return post


@pytest.fixture
def get_token(request_token: RequestToken) -> GetToken:
    """Issue a token and return its value, asserting the issue succeeded."""

    async def issue(client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> str:
        response = await request_token(client_id, client_secret)
        assert response.status == 200, await response.text()
        return str((await response.json())["access_token"])

    return issue
