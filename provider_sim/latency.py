"""Simulated latency. ``asyncio.sleep`` so a slow response never blocks other requests."""

from __future__ import annotations

import asyncio


async def sleep_ms(milliseconds: int) -> None:
    if milliseconds > 0:
        await asyncio.sleep(milliseconds / 1000)
