"""The event loop every service process runs on.

uvloop (a drop-in asyncio loop on libuv; grpc.aio, asyncpg, redis-py and aiohttp all
run on it) when it is installed, which the pinned requirements do; asyncio's own loop
otherwise, or when ``SKYROUTE_EVENT_LOOP=asyncio`` asks for it (to rule the loop out
when chasing a problem). Benchmarks run their baselines and load generators on the
same loop as the services, so ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "SKYROUTE_EVENT_LOOP"


def loop_name() -> str:
    """ "uvloop" or "asyncio": the loop ``run`` uses in this environment."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the chosen loop."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
