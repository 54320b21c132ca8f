"""New alerts to every replica's WatchAlerts streams, within a second.

The replica that stores a run publishes its new alerts' ids on one Redis channel
(``<prefix>:tracking:alerts``) after the commit; every replica has one subscriber that
hands each id to the streams of that alert's user, which read the alert from
PostgreSQL (the source of truth: a message only says where to look). A stream also
looks in PostgreSQL itself every ``poll_seconds`` for alerts it may have missed (Redis
down, a message lost while reconnecting), and never sends one alert twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from services.redis_client import RedisClient, subscriber
from tracking_service.store import AlertRow, TrackingStore

log = logging.getLogger("skyroute.tracking.watch")

POLL_SECONDS = 2.0
# Alerts announced per message (one PUBLISH each: no pipeline, which a Redis Cluster
# would have to route without a key).
PUBLISH_CHUNK = 200


def channel(prefix: str) -> str:
    return f"{prefix}:tracking:alerts"


class AlertHub:
    def __init__(self, redis: RedisClient | None, prefix: str, store: TrackingStore) -> None:
        self._redis = redis
        self._channel = channel(prefix)
        self._store = store
        self._queues: dict[str, set[asyncio.Queue[int]]] = defaultdict(set)

    async def publish(self, alerts: Sequence[AlertRow]) -> None:
        if self._redis is None or not alerts:
            return
        try:
            for start in range(0, len(alerts), PUBLISH_CHUNK):
                chunk = alerts[start : start + PUBLISH_CHUNK]
                body = {"alerts": [{"id": a.id, "user": a.user_id} for a in chunk]}
                await self._redis.publish(self._channel, json.dumps(body))
        except (RedisError, OSError) as exc:  # the streams' own polls find them
            log.warning("cannot publish alerts", extra={"error": type(exc).__name__})

    async def run(self) -> None:
        """Subscribes and fans messages out to this replica's streams; until cancelled."""
        if self._redis is None:
            return
        while True:
            pubsub: PubSub | None = None
            try:
                # On a Redis Cluster: one connection to a node hears every PUBLISH.
                pubsub = await subscriber(self._redis)
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._deliver(message.get("data"))
            except (RedisError, OSError) as exc:
                log.warning("alert subscription lost", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()

    def _deliver(self, data: object) -> None:
        try:
            body = json.loads(data if isinstance(data, str | bytes) else b"")
            announced = [(str(a["user"]), int(a["id"])) for a in body["alerts"]]
        except (ValueError, KeyError, TypeError):
            return
        for user, alert_id in announced:
            for queue in self._queues.get(user, ()):
                queue.put_nowait(alert_id)

    async def watch(self, user: str, after_id: int | None) -> AsyncIterator[AlertRow]:
        """The user's alerts from now on (and those after ``after_id`` first), each once."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._queues[user].add(queue)
        try:
            floor = await self._store.last_alert_id(user) if after_id is None else after_id
            seen: set[int] = set()
            pending = await self._store.alerts_after(user, floor)
            while True:
                for alert in pending:
                    if alert.id not in seen:
                        seen.add(alert.id)
                        yield alert
                ids: list[int] = []
                with contextlib.suppress(TimeoutError):
                    ids.append(await asyncio.wait_for(queue.get(), POLL_SECONDS))
                    while not queue.empty():
                        ids.append(queue.get_nowait())
                if not ids and seen:
                    # Quiet for a poll interval: whatever was committed before is read.
                    floor = max(floor, max(seen))
                    seen = {i for i in seen if i > floor}
                # A message names alerts to read; a quiet interval means a poll.
                pending = await self._store.alerts_after(user, floor, ids or None)
        finally:
            self._queues[user].discard(queue)
            if not self._queues[user]:
                del self._queues[user]
