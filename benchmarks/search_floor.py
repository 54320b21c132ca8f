"""The search floor: the statements the search service runs for the same cases, sent
straight through asyncpg (one connection per worker, prepared statements cached as the
service's driver caches them), rows fetched and nothing else done. A ``proc_load``
scenario; config: ``dsn``, ``texts`` (SQL), ``calls`` ((text index, arguments) per case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from benchmarks.proc_load import OK


class SqlFloor:
    def __init__(self, config: Mapping[str, Any], index: int, processes: int) -> None:
        self._dsn = config["dsn"]
        self._texts: list[str] = config["texts"]
        self._calls: list[tuple[int, list[Any]]] = config["calls"][index::processes]
        self._first_worker = 0
        self._next = 0
        self._rows = 0
        self._queries = 0
        self._conns: list[asyncpg.Connection] = []

    async def start(self, workers: range) -> None:
        self._first_worker = workers.start
        self._conns = [await asyncpg.connect(self._dsn, timeout=10) for _ in workers]

    async def call(self, worker: int) -> str:
        # Cases are used in order and, if the run outlasts them, again (PostgreSQL
        # keeps no result cache, so a repeat costs the same).
        text, args = self._calls[self._next % len(self._calls)]
        self._next += 1
        rows = await self._conns[worker - self._first_worker].fetch(self._texts[text], *args)
        self._rows += len(rows)
        self._queries += 1
        return OK

    def stats(self) -> dict[str, float]:
        return {
            "rows": self._rows,
            "queries": self._queries,
            "repeated": max(0, self._next - len(self._calls)),
        }

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()


def sql_floor(config: Mapping[str, Any], index: int, processes: int) -> SqlFloor:
    return SqlFloor(config, index, processes)
