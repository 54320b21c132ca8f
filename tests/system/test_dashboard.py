"""The cluster dashboard in a real browser (Debian's chromium, headless, driven by
playwright): a stack of token (3), search (2) and booking (2) replicas as processes on
one Redis and PostgreSQL; the page served by one token replica lists every replica of
every service; the provider's tile turns red when its token endpoint is down and the
token invalidated (no valid token left), green again after recovery; no token value is
ever in the page. Screenshots: .run/artifacts/dashboard-red.png and dashboard.png.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.utils.booking_cluster import BookingCluster, provider_env
from tests.utils.processes import ROOT
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

CHROMIUM = "/usr/bin/chromium"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / ".run" / "artifacts"

async_api = pytest.importorskip("playwright.async_api")
pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="chromium missing (make test installs it as root)"
)


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(workdir, new_clients()).start()
        self.parts: list[TokenCluster | SearchCluster | BookingCluster] = []
        # Fast recovery once the token endpoint is back.
        self.tokens = TokenCluster(
            workdir,
            self.sim,
            redis_url,
            self.prefix,
            3,
            env={
                "TOKEN_BACKOFF_INITIAL_SECONDS": "0.2",
                "TOKEN_BACKOFF_MAX_SECONDS": "1",
                "UPSTREAM_TIMEOUT_SECONDS": "1",
            },
        ).start()
        self.parts.append(self.tokens)
        self.search = SearchCluster(
            workdir, database_url, redis_url, self.prefix, 2, self.tokens
        ).start()
        self.parts.append(self.search)
        self.booking = BookingCluster(
            workdir,
            database_url,
            replicas=2,
            env={
                "REDIS_URL": redis_url,
                "REDIS_KEY_PREFIX": self.prefix,
                **provider_env(self.tokens),
            },
        ).start()
        self.parts.append(self.booking)

    def replica_ids(self) -> list[str]:
        return (
            [r.replica_id for r in self.tokens.replicas]
            + [p.name for p in self.search.processes]
            + [p.name for p in self.booking.processes]
        )

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()
        self.sim.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with seeded_database() as url:
        stack = Stack(tmp_path_factory.mktemp("dashboard"), url, redis_url)
        try:
            yield stack
        finally:
            stack.stop()


async def _token_when_back(client: Any) -> Any:
    for _ in range(50):
        try:
            return await client.get_token("amadeus")
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("no token after the endpoint came back")


@pytest.mark.redis_backends
async def test_dashboard_shows_every_replica_and_the_token_state(stack: Stack) -> None:
    client = stack.tokens.client()
    first = await client.get_token("amadeus")
    replica = stack.tokens.replicas[1]
    url = f"http://127.0.0.1:{replica.metrics_port}/dashboard"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seen_tokens = {first.access_token}
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(url)
            # Every replica of every service, from the heartbeats (written every 2 s).
            await page.wait_for_function(
                "document.querySelectorAll('tr.replica').length >= 7", timeout=20_000
            )
            for rid in stack.replica_ids():
                assert await page.locator(f"tr.replica[data-replica='{rid}']").count() == 1
            for service in ("token", "search", "booking"):
                assert (
                    await page.locator(f"#service-{service} tr.replica").count()
                    == {"token": 3, "search": 2, "booking": 2}[service]
                )
            tile = page.locator("#provider-amadeus")
            await tile.wait_for(timeout=10_000)
            # Green once every token replica's heartbeat (every 2 s) holds the token.
            await page.wait_for_selector("#provider-amadeus[data-state='green']", timeout=15_000)
            assert "expires in" in await tile.inner_text()

            # Token endpoint down and the token invalidated: no valid token anywhere.
            stack.sim.token_endpoint(down=True)
            # The report answers once a replacement is fetched: here UNAVAILABLE.
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await client.report_invalid("amadeus", first.access_token)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            await page.wait_for_selector("#provider-amadeus[data-state='red']", timeout=30_000)
            assert "no valid token" in await tile.inner_text()
            await page.screenshot(path=str(ARTIFACTS / "dashboard-red.png"), full_page=True)

            # Back: the next caller's request fetches a new token (a replica may still
            # be in the shared backoff for a moment: ask again briefly).
            stack.sim.token_endpoint(down=False)
            latest = await _token_when_back(client)
            await page.wait_for_selector("#provider-amadeus[data-state='green']", timeout=30_000)
            seen_tokens.add(latest.access_token)
            assert latest.generation > first.generation
            await page.wait_for_function(
                f"document.querySelector('#provider-amadeus').innerText"
                f".includes('#{latest.generation}')",
                timeout=10_000,
            )
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            print(f"dashboard screenshots: {ARTIFACTS}/dashboard.png, dashboard-red.png")

            content = await page.content()
            data = await (await page.request.get(url.replace("/dashboard", "/cluster.json"))).text()
        finally:
            await browser.close()
            await client.close()
    seen_tokens |= {t["access_token"] for t in stack.sim.tokens()}
    for token in seen_tokens:
        assert token not in content and token not in data
    for secret in stack.tokens.secrets:
        assert secret not in content and secret not in data
