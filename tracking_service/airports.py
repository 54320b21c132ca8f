"""Which airports exist, for flight trackers at create: the airports table, the list
search validates SearchFlights against (one source of truth). Known codes are
remembered for a while (airports are reference data, and a burst of creates then
asks the database nothing); an unknown code is looked up again every time, so an
airport added to the inventory is accepted at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

Lookup = Callable[[Sequence[str]], Awaitable[set[str]]]


class KnownAirports:
    def __init__(
        self,
        lookup: Lookup,
        ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_seconds
        self._clock = clock
        self._until: dict[str, float] = {}  # code -> known until (monotonic)

    async def unknown(self, codes: Sequence[str]) -> set[str]:
        """Those of ``codes`` that are not airports."""
        now = self._clock()
        missing = sorted({c for c in codes if self._until.get(c, 0.0) <= now})
        if missing:
            for code in await self._lookup(missing):
                self._until[code] = now + self._ttl
        return {c for c in codes if self._until.get(c, 0.0) <= now}
