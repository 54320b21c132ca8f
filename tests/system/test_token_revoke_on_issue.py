"""A provider that revokes the previous token when it issues a new one: a single
duplicate fetch would break every other holder. Under load for five lifetimes,
callers never see a 401 and the provider rejects no token we still served."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from services.clients.token_client import UpstreamUnauthorized

TTL = 2.0
LIFETIMES = 5


async def test_revoke_on_issue_causes_no_401s(sim_factory, cluster_factory):
    sim = sim_factory(token_ttl=TTL)
    sim.config(revoke_on_issue=True)
    cluster = cluster_factory(
        sim,
        replicas=3,
        env={
            "TOKEN_REFRESH_MIN_MARGIN_SECONDS": "0.3",
            "TOKEN_MIN_HANDOUT_SECONDS": "0.3",
            "TOKEN_LOCK_TTL_SECONDS": "2",
            "UPSTREAM_TIMEOUT_SECONDS": "1.5",
            "PROVIDER_AMADEUS_REVOKES_PREVIOUS_TOKEN": "true",
        },
    )
    client = cluster.client()
    url = f"{sim.base_url}/v1/reference-data/airlines?airlineCodes=BA"
    errors: list[str] = []
    calls = 0
    async with aiohttp.ClientSession() as http:

        async def airline(token: str) -> dict:
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status == 401:
                    raise UpstreamUnauthorized()
                resp.raise_for_status()
                return await resp.json(content_type=None)

        async def loop(stop: float) -> None:
            nonlocal calls
            while time.monotonic() < stop:
                try:
                    body = await client.call_with_token("amadeus", airline)
                    assert body["data"][0]["iataCode"] == "BA"
                    calls += 1
                except Exception as exc:
                    errors.append(repr(exc)[:200])

        stop = time.monotonic() + TTL * LIFETIMES
        await asyncio.gather(*(loop(stop) for _ in range(30)))
    await client.close()

    assert errors == []
    assert calls > 100
    stats = sim.stats()
    issued = stats["tokens_issued"][cluster.client_ids["amadeus"]]
    assert LIFETIMES <= issued <= int(LIFETIMES / 0.75) + 1
    assert sum(stats["api_401"].values()) == 0
