"""A destination by city code or name -> the supplier's city, remembered per replica.

Cities are reference data: a lookup is kept ``ttl_seconds`` (an unknown keyword for a
minute), and concurrent lookups of one keyword share one supplier call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from services.errors import ValidationError
from services.providers.hotels import City

FindCities = Callable[[str], Coroutine[Any, Any, list[City]]]
UNKNOWN_TTL_SECONDS = 60.0
MAX_ENTRIES = 1024


class DestinationResolver:
    def __init__(
        self,
        find: FindCities,
        ttl_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._find = find
        self._ttl = ttl_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, list[City]]] = {}
        self._inflight: dict[str, asyncio.Task[list[City]]] = {}

    async def by_code(self, code: str) -> City:
        city = next((c for c in await self._cities(code) if c.code == code), None)
        if city is None:
            raise ValidationError.field("destination.code", f"unknown city {code}")
        return city

    async def by_name(self, name: str) -> City:
        found = await self._cities(name.upper())
        exact = [c for c in found if c.name.upper() == name.upper()]
        if exact:
            found = exact
        if not found:
            raise ValidationError.field("destination.name", "no city of that name")
        if len(found) > 1:
            names = ", ".join(f"{c.name} ({c.code})" for c in found[:5])
            raise ValidationError.field(
                "destination.name", f"names several cities ({names}); give the city code"
            )
        return found[0]

    def current(self, keyword: str) -> list[City] | None:
        """The cities remembered for ``keyword`` while they are fresh (the same list
        object until the lookup is made again), else None."""
        known = self._known.get(keyword)
        if known is not None and known[0] > self._clock():
            return known[1]
        return None

    async def _cities(self, keyword: str) -> list[City]:
        now = self._clock()
        known = self._known.get(keyword)
        if known is not None and known[0] > now:
            return known[1]
        task = self._inflight.get(keyword)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._find(keyword))
            self._inflight[keyword] = task
            task.add_done_callback(lambda _t: self._inflight.pop(keyword, None))
        cities = await asyncio.shield(task)
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
        self._known[keyword] = (now + (self._ttl if cities else UNKNOWN_TTL_SECONDS), cities)
        return cities
