"""Concurrent GetToken callers for system tests."""

from __future__ import annotations

import asyncio
import time


async def hammer(
    client, provider: str, seconds: float, callers: int, until: asyncio.Event | None = None
):
    """``callers`` concurrent loops of GetToken; returns (calls, errors, tokens seen).

    The loops run for ``seconds``, or, when ``until`` is given, until it is set
    (``seconds`` is then only a safety cap), so a test can keep the load on
    until the event it waits for has happened however slow the machine is.
    """
    stop = time.monotonic() + seconds
    seen: dict[int, str] = {}
    errors: list[str] = []
    calls = 0

    async def loop() -> None:
        nonlocal calls
        while time.monotonic() < stop and not (until is not None and until.is_set()):
            asked_at = time.time()
            try:
                token = await client.get_token(provider)
            except Exception as exc:  # counted, asserted on below
                errors.append(repr(exc)[:200])
                continue
            calls += 1
            previous = seen.setdefault(token.generation, token.access_token)
            assert previous == token.access_token, "two tokens with one generation"
            # The served token had not expired when it was asked for (measuring on
            # receipt would count transport delay on a loaded machine).
            assert token.expire_time.ToMicroseconds() / 1e6 > asked_at

    await asyncio.gather(*(loop() for _ in range(callers)))
    return calls, errors, seen
