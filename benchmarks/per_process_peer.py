"""Peer (d) worker: one process with its own in-memory token cache and lock.

``python -m benchmarks.per_process_peer --token-url URL --client-id ID --callers K``
(secret in ``PEER_CLIENT_SECRET``). ``K`` tasks ask the cache for a token every
millisecond or so. The cache refreshes at a random 75-85 % of the token's lifetime (the
token service's default policy), the first caller to see it due fetching under the lock
while the others wait. Writes ``{"fetches": 1}`` to ``PORT_FILE`` once it holds its first
token; on SIGTERM prints ``{"calls": n, "fetches": n}`` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import time

import aiohttp

from benchmarks.peers import token_form
from benchmarks.procs import write_port_file
from services import event_loop

REFRESH_FRACTION = (0.75, 0.85)


class ProcessTokenCache:
    def __init__(self, session: aiohttp.ClientSession, url: str, form: dict[str, str]) -> None:
        self._session = session
        self._url = url
        self._form = form
        self._lock = asyncio.Lock()
        self._token = ""
        self._refresh_at = 0.0
        self.fetches = 0

    async def get(self) -> str:
        if time.monotonic() < self._refresh_at:
            return self._token
        async with self._lock:
            if time.monotonic() >= self._refresh_at:  # nobody refreshed while we waited
                await self._fetch()
            return self._token

    async def _fetch(self) -> None:
        sent = time.monotonic()
        async with self._session.post(self._url, data=self._form) as response:
            response.raise_for_status()
            body = await response.json(content_type=None)
        self.fetches += 1
        self._token = body["access_token"]
        self._refresh_at = sent + float(body["expires_in"]) * random.uniform(*REFRESH_FRACTION)


async def run(url: str, form: dict[str, str], callers: int, port_file: str | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    calls = 0
    async with aiohttp.ClientSession() as session:
        cache = ProcessTokenCache(session, url, form)
        await cache.get()
        if port_file:
            write_port_file(port_file, {"fetches": cache.fetches})

        async def caller() -> None:
            nonlocal calls
            while not stop.is_set():
                if await cache.get():
                    calls += 1
                await asyncio.sleep(0.001)

        tasks = [asyncio.create_task(caller()) for _ in range(callers)]
        await stop.wait()
        await asyncio.gather(*tasks)
    print(json.dumps({"calls": calls, "fetches": cache.fetches}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.per_process_peer")
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--callers", type=int, default=4)
    args = parser.parse_args()
    form = token_form(args.client_id, os.environ["PEER_CLIENT_SECRET"])
    event_loop.run(run(args.token_url, form, args.callers, os.environ.get("PORT_FILE")))


if __name__ == "__main__":
    main()
