"""The fleet-wide part of a provider's status: the shared counters, who holds the
refresh lease, the shared backoff and a broken chain's flag.

The status page and the dashboard heartbeat (every 2 s on every replica) show it, so
reading it each time was most of an idle replica's Redis traffic. It is read in one
round trip, and only when it may have changed: an event for the provider arrived that
does not say what changed (a released lease, a broken chain, one this replica could
not adopt), this replica's token or its own refresh outcome changed other than by such
an event, the last read saw trouble (a lease held, a backoff, a broken chain: read
until it clears), or it is older than ``max_age`` (a backoff that another replica
opened publishes nothing; that replica's heartbeat shows it at once). A token event
this replica adopted says what it changed (``announced``): the token, and for a fenced
write the shared counters it bumped; with 12 replicas, one refresh no longer costs 12
reads of this section. Otherwise the last read is served. ``fresh=True``
(GetTokenStatus) always reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
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

    def announced(self, upstream_ok: int | None, chain_rotations: int | None) -> None:
        """A token event adopted into the local copy: what it changed in the fleet's part
        is known without a read. A fenced write's event carries the shared counters it
        bumped (None otherwise); the new token itself is not a reason to read again.
        The lease its writer still holds and the backoff it clears show only when the
        last read was not quiet, and then the next look reads anyway."""
        last = self._last
        if last is None:
            return
        cluster = dict(last.cluster)
        for name, value in (("upstream_ok", upstream_ok), ("chain_rotations", chain_rotations)):
            if value is not None:
                cluster[name] = max(cluster.get(name, 0), value)
        self._last = replace(last, cluster=cluster)
        state = self._local_state()
        if state[2:] == self._seen[2:]:  # only the token moved, as the event said
            self._seen = state

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
