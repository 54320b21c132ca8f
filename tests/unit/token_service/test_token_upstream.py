"""Token endpoint responses: _parse for each kind of answer, and TokenEndpoint
against a real in-process aiohttp server on port 0."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from token_service.settings import ProviderConfig
from token_service.upstream import (
    FetchedToken,
    TokenEndpoint,
    UpstreamInvalidGrant,
    UpstreamRejectedClient,
    UpstreamUnavailable,
    _parse,
)

SECRET = "client-secret-for-tests-6d1e"
ACCESS = "access-token-value-0a9b8c7d"

# ------------------------------------------------------------------------ _parse


def test_200_ok() -> None:
    fetched = _parse(
        200, {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 1799}, None
    )
    assert fetched == FetchedToken(ACCESS, "Bearer", 1_799_000)
    assert ACCESS not in repr(fetched)


def test_200_fractional_lifetime_and_default_type() -> None:
    assert _parse(200, {"access_token": ACCESS, "expires_in": 1.5}, None) == FetchedToken(
        ACCESS, "Bearer", 1500
    )


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 1799},
        {"access_token": "", "expires_in": 1799},
        {"access_token": ACCESS},
        {"access_token": ACCESS, "expires_in": "1799"},
        {"access_token": ACCESS, "expires_in": 0},
        {"access_token": ACCESS, "expires_in": -5},
        {"access_token": 42, "expires_in": 1799},
    ],
)
def test_200_malformed(body: dict) -> None:
    with pytest.raises(UpstreamUnavailable, match="malformed") as err:
        _parse(200, body, None)
    assert err.value.recoverable


@pytest.mark.parametrize("body", [None, "<html>", ["a"]])
def test_200_not_an_object(body: object) -> None:
    with pytest.raises(UpstreamUnavailable):
        _parse(200, body, None)


@pytest.mark.parametrize("error", ["invalid_client", "unauthorized_client"])
@pytest.mark.parametrize("status", [400, 401])
def test_rejected_client(status: int, error: str) -> None:
    body = {"error": error, "error_description": f"client secret {SECRET} is wrong"}
    with pytest.raises(UpstreamRejectedClient) as err:
        _parse(status, body, None)
    assert not err.value.recoverable
    assert error in err.value.message
    assert SECRET not in err.value.message and SECRET not in str(err.value)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_without_oauth_error(status: int) -> None:
    with pytest.raises(UpstreamRejectedClient, match=f"HTTP {status}"):
        _parse(status, None, None)


def test_429_with_retry_after() -> None:
    with pytest.raises(UpstreamUnavailable, match="429") as err:
        _parse(429, {"error": "rate_limited"}, 7.0)
    assert err.value.retry_after == 7.0
    assert err.value.recoverable


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_unavailable(status: int) -> None:
    with pytest.raises(UpstreamUnavailable, match=f"HTTP {status}") as err:
        _parse(status, {"error": "server_error"}, None)
    assert err.value.retry_after is None
    assert not isinstance(err.value, UpstreamRejectedClient)


def test_503_passes_retry_after() -> None:
    with pytest.raises(UpstreamUnavailable) as err:
        _parse(503, None, 2.5)
    assert err.value.retry_after == 2.5


# ------------------------------------------------------------------------ TokenEndpoint

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def endpoint_for() -> AsyncIterator[Callable[..., Awaitable[TokenEndpoint]]]:
    servers: list[TestServer] = []
    session = aiohttp.ClientSession()

    async def make(
        handler: Handler | None = None,
        *,
        url: str | None = None,
        timeout: float = 2.0,
        scope: str | None = None,
        **grant: str,
    ) -> TokenEndpoint:
        if url is None:
            app = web.Application()
            app.router.add_post("/token", handler)
            server = TestServer(app, host="127.0.0.1", port=0)
            await server.start_server()
            servers.append(server)
            url = str(server.make_url("/token"))
        provider = ProviderConfig("amadeus", url, "client-1", SECRET, scope, **grant)
        return TokenEndpoint(provider, session, timeout)

    yield make
    await session.close()
    for server in servers:
        await server.close()


async def test_fetch_success_sends_client_credentials(endpoint_for) -> None:
    seen: dict[str, str] = {}

    async def token(request: web.Request) -> web.Response:
        seen.update(await request.post())
        seen["accept"] = request.headers.get("Accept", "")
        return web.json_response(
            {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 1799}
        )

    endpoint = await endpoint_for(token, scope="flights")
    assert await endpoint.fetch() == FetchedToken(ACCESS, "Bearer", 1_799_000)
    assert seen == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": SECRET,
        "scope": "flights",
        "accept": "application/json",
    }


async def test_fetch_rejected_client(endpoint_for) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.json_response(
            {"error": "invalid_client", "error_description": f"bad secret {SECRET}"}, status=401
        )

    endpoint = await endpoint_for(token)
    with pytest.raises(UpstreamRejectedClient) as err:
        await endpoint.fetch()
    assert SECRET not in str(err.value)


async def test_fetch_429_reads_retry_after(endpoint_for) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.Response(status=429, text="slow down", headers={"Retry-After": "3"})

    endpoint = await endpoint_for(token)
    with pytest.raises(UpstreamUnavailable) as err:
        await endpoint.fetch()
    assert err.value.retry_after == 3.0


async def test_fetch_non_json_error_page(endpoint_for) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html")

    endpoint = await endpoint_for(token)
    with pytest.raises(UpstreamUnavailable, match="HTTP 502"):
        await endpoint.fetch()


async def test_fetch_timeout(endpoint_for) -> None:
    release = asyncio.Event()

    async def token(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    endpoint = await endpoint_for(token, timeout=0.2)
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            await endpoint.fetch()
    finally:
        release.set()
    assert asyncio.get_running_loop().time() - started < 1.5


async def test_fetch_connection_refused(endpoint_for) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = await endpoint_for(url=f"http://127.0.0.1:{port}/token")
    with pytest.raises(UpstreamUnavailable, match="unreachable") as err:
        await endpoint.fetch()
    assert SECRET not in str(err.value)


async def test_timeout_above_five_seconds_is_exact(endpoint_for) -> None:
    """aiohttp rounds timeouts above 5 s up to a whole second of the loop clock unless
    told not to: 5.5 s must fire at 5.5 s, not at 6-6.5 s."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, read nothing back, never reply

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = await endpoint_for(url=f"http://127.0.0.1:{port}/token", timeout=5.5)
    loop = asyncio.get_running_loop()
    # Start where rounding would hurt most: now + 5.5 s just past a whole second.
    await asyncio.sleep((0.6 - loop.time() % 1) % 1)
    started = loop.time()
    try:
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            await endpoint.fetch()
        elapsed = loop.time() - started
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert 5.4 <= elapsed < 5.5 + 0.45, elapsed


# ------------------------------------------------------------------------ chained grants

REFRESH = "refresh-token-value-3e4f5a6b"


def test_200_with_a_refresh_token_keeps_it_out_of_repr() -> None:
    fetched = _parse(
        200, {"access_token": ACCESS, "expires_in": 60, "refresh_token": REFRESH}, None, chain=True
    )
    assert fetched.refresh_token == REFRESH
    assert REFRESH not in repr(fetched) and ACCESS not in repr(fetched)


def test_invalid_grant_on_a_chain_is_a_broken_chain() -> None:
    with pytest.raises(UpstreamInvalidGrant) as caught:
        _parse(400, {"error": "invalid_grant", "error_description": REFRESH}, None, chain=True)
    assert REFRESH not in caught.value.message


def test_invalid_grant_on_a_login_is_rejected_credentials() -> None:
    with pytest.raises(UpstreamRejectedClient) as caught:
        _parse(400, {"error": "invalid_grant"}, None)
    assert not isinstance(caught.value, UpstreamInvalidGrant)


async def test_password_login_and_refresh_send_their_grants(endpoint_for) -> None:
    seen: list[dict[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        seen.append(dict(await request.post()))
        return web.json_response(
            {"access_token": ACCESS, "expires_in": 60, "refresh_token": REFRESH}
        )

    endpoint = await endpoint_for(token, grant="password", username="ops", password="pw-8d7c6b5a")
    assert (await endpoint.fetch()).refresh_token == REFRESH
    await endpoint.refresh(REFRESH)
    await endpoint.exchange_code("code-1", "https://ops.example/cb")
    assert seen == [
        {
            "grant_type": "password",
            "username": "ops",
            "password": "pw-8d7c6b5a",
            "client_id": "client-1",
            "client_secret": SECRET,
        },
        {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH,
            "client_id": "client-1",
            "client_secret": SECRET,
        },
        {
            "grant_type": "authorization_code",
            "code": "code-1",
            "redirect_uri": "https://ops.example/cb",
            "client_id": "client-1",
            "client_secret": SECRET,
        },
    ]


async def test_refresh_token_grant_has_no_grant_of_its_own(endpoint_for) -> None:
    endpoint = await endpoint_for(url="http://127.0.0.1:9/token", grant="refresh_token")
    with pytest.raises(UpstreamUnavailable):
        await endpoint.fetch()  # never without the shared chain (e.g. while degraded)
