"""Exact aiohttp timeouts.

aiohttp rounds a timeout longer than ``ceil_threshold`` (5 s by default) up to the
next whole second of the event loop's clock: a 5.5 s timeout fires after 6-6.5 s,
and on every replica at the same fraction of a second. Every outbound HTTP call
takes its timeout from here, so a configured timeout is the timeout.
"""

from __future__ import annotations

import math

import aiohttp


def exact_timeout(total_seconds: float) -> aiohttp.ClientTimeout:
    """A total timeout that fires ``total_seconds`` after the request starts, unrounded."""
    return aiohttp.ClientTimeout(total=total_seconds, ceil_threshold=math.inf)
