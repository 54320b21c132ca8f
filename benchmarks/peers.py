"""The two designs the token service is compared with.

(c) per-call: every caller request fetches a new token from the provider (no cache).
(d) per-process: each process caches the token in memory behind its own lock and
    refreshes it ahead of expiry like the service does; N processes make N fetches per
    lifetime. The worker is ``python -m benchmarks.per_process_peer``.
"""

from __future__ import annotations

import aiohttp

from benchmarks.async_load import drive
from benchmarks.stats import PER_CALL, Point


def token_form(client_id: str, client_secret: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
    }


async def per_call_peer(
    token_url: str,
    client_id: str,
    client_secret: str,
    concurrency: int,
    seconds: float,
    warmup: float,
) -> Point:
    form = token_form(client_id, client_secret)
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch() -> bool:
            async with session.post(token_url, data=form) as response:
                body = await response.json(content_type=None)
                return response.status == 200 and bool(body.get("access_token"))

        return await drive(PER_CALL, fetch, concurrency, seconds, warmup)
