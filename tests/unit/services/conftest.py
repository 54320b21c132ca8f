"""A probe server with the real interceptor (tests/utils/probe.py), with and without
caller authentication, and the interceptor's log lines."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.utils.probe import Running, captured_log, key_auth, start


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    server, r = await start()
    yield r
    await r.channel.close()
    await server.stop(0)


@pytest.fixture
async def authed() -> AsyncIterator[Running]:
    server, r = await start(key_auth)
    yield r
    await r.channel.close()
    await server.stop(0)


@pytest.fixture
def rpc_log() -> Iterator[list[dict]]:
    with captured_log() as lines:
        yield lines
