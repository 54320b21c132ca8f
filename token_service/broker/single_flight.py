"""One coroutine at a time; concurrent callers share its result."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


class SingleFlight:
    """Runs one coroutine at a time; concurrent callers share its result."""

    def __init__(self) -> None:
        self._task: asyncio.Task[object] | None = None

    async def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(factory())
        # Shielded: one caller's cancellation (deadline) must not cancel the others' work.
        return cast(T, await asyncio.shield(self._task))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
