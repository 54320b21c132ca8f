"""The fleet-wide part of a provider's status: the shared counters, who holds the
refresh lease, the shared backoff and a broken chain's flag.

The status page and the dashboard heartbeat (every 2 s on every replica) show it, so
reading it each time was most of an idle replica's Redis traffic. It is read in one
round trip, and only when it may have changed: an event for the provider arrived (a
new token, an invalidation, a released lease, a broken chain), this replica's token or
its own refresh outcome changed, the last read saw trouble (a lease held, a backoff, a
broken chain: read until it clears), or it is older than ``max_age`` (a backoff that
another replica opened publishes nothing; that replica's heartbeat shows it at once).
Otherwise the last read is served. ``fresh=True`` (GetTokenStatus) always reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from token_service.broker.local_copy import LocalCopy
from token_service.store import TokenStore

FLEET_MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True)
class FleetStatus:
    cluster: dict[str, int]
    holder: str | None  # the refresh lease's value ("<owner>|<fence>"), None when free
    backoff: tuple[str, int] | None  # (last error, remaining ms)
    reauth: str | None  # why the chain needs an operator (chained grants only)

    @property
    def quiet(self) -> bool:
        return self.holder is None and self.backoff is None and self.reauth is None


class FleetView:
    def __init__(
        self,
        store: TokenStore,
        local: LocalCopy,
        chained: bool,
        max_age: float = FLEET_MAX_AGE_SECONDS,
    ) -> None:
        self._store = store
        self._local = local
        self._chained = chained
        self._max_age = max_age
        self._last: FleetStatus | None = None
        self._read_at = -max_age
        self._seen: tuple[Any, ...] = ()
        self._changed = True

    def mark_changed(self) -> None:
        """An event for this provider: read the fleet's part at the next look."""
        self._changed = True

    def _local_state(self) -> tuple[Any, ...]:
        rec, c = self._local.record, self._local.counters
        return (
            rec.generation if rec else None,
            rec.invalid if rec else None,
            c.upstream_ok,
            c.upstream_failed,
            c.fenced_rejected,
            self._local.last_error,
            self._local.refreshing,
        )

    async def read(self, fresh: bool = False) -> FleetStatus:
        """The fleet's status, from Redis when it may have changed (RedisError if down)."""
        state = self._local_state()
        last = self._last
        if (
            not fresh
            and not self._changed
            and last is not None
            and last.quiet
            and state == self._seen
            and time.monotonic() - self._read_at < self._max_age
        ):
            return last
        self._changed = False  # an event from now on asks for the next read
        try:
            cluster, holder, backoff, reauth = await self._store.fleet_status(self._chained)
        except BaseException:
            self._changed = True
            raise
        self._last = FleetStatus(cluster, holder, backoff, reauth)
        self._read_at = time.monotonic()
        self._seen = state
        return self._last
