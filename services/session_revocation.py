"""Revoked login sessions, known to every replica of every service within a second
without a read per request.

The account service owns the truth (``account_sessions.revoked_at`` in PostgreSQL). Each
revocation is also written to Redis, in one sorted set ``<prefix>:session-revoked``
(member: the session id, score: until when it matters, ms: the revocation plus the
longest life of an access token minted for it), and announced on the channel
``<prefix>:session-revoked:events``. A verifier (``RevocationCache``) keeps a local copy
of the set: pushed by the channel within milliseconds, and re-read whole every
``resync_seconds`` (a message lost while a connection was down is picked up then). The
check on a call is a dict lookup, the token broker's read path (token_service/broker/
local_copy.py) in small: a local copy confirmed against Redis with bounded staleness.

Timeline (resync 0.5 s)::

    t=0      LogoutAllDevices commits revoked_at, ZADD + PUBLISH
    t=0.002  every subscribed replica has the session ids       -> calls rejected
    t=0.5    a replica whose subscription was down re-reads the set -> rejected too

Redis down: the verifier keeps the set it last read and goes on accepting every
other token (it fails open), because a Redis outage must not log every user out
nor stop every booking. What is lost is bounded: a session revoked during the outage
keeps its access tokens (at most ``ACCOUNT_ACCESS_TTL_SECONDS``) until Redis answers
again; its refresh token is dead at once (PostgreSQL), and the account service writes
the recent revocations to Redis again every few seconds (``republish``) so they reach
every replica as soon as Redis is back. Redis keeps only the revocations younger than
an access token's life, so the set stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from services.config import setting
from services.redis_client import RedisClient, subscriber
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.session_revocation")


@dataclass(frozen=True)
class RevocationSettings:
    resync_seconds: float = field(
        default=0.5,
        metadata=setting(
            "SESSION_REVOCATION_RESYNC_SECONDS",
            "how often a verifier re-reads the revoked sessions from Redis (the bound on "
            "staleness when a pub/sub message is lost)",
            minimum=0.05,
            maximum=1.0,
        ),
    )


def revoked_key(prefix: str) -> str:
    return f"{prefix}:session-revoked"


def events_channel(prefix: str) -> str:
    return f"{prefix}:session-revoked:events"


class RevocationPublisher:
    """The account service's side: writes revocations to Redis and announces them."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._key = revoked_key(prefix)
        self._channel = events_channel(prefix)

    async def publish(
        self, sessions: Iterable[str], until_ms: int, *, announce: bool = True
    ) -> bool:
        """Records ``sessions`` as revoked until ``until_ms`` (epoch ms). False when
        Redis did not take it (the caller's truth is elsewhere; ``republish`` later)."""
        ids = sorted(set(sessions))
        if not ids:
            return True
        try:
            # GT: adds new members; a later revocation of a session only extends it.
            # Separate commands, not a MULTI: a Redis Cluster routes each by its own key
            # (PUBLISH reaches every node), and the prune needs no atomicity.
            await self._redis.zadd(self._key, dict.fromkeys(ids, until_ms), gt=True)
            await self._redis.zremrangebyscore(self._key, "-inf", int(time.time() * 1000))
            if announce:
                await self._redis.publish(
                    self._channel, json.dumps({"sessions": ids, "until_ms": until_ms})
                )
        except RedisError as exc:
            log.warning(
                "session revocation not written to Redis",
                extra={"sessions": len(ids), "error": type(exc).__name__},
            )
            return False
        return True


class RevocationCache:
    """A verifier's local copy of the revoked sessions (see the module's docstring)."""

    def __init__(self, redis: RedisClient, prefix: str, settings: RevocationSettings) -> None:
        self._redis = redis
        self._key = revoked_key(prefix)
        self._channel = events_channel(prefix)
        self._settings = settings
        self._revoked: dict[str, float] = {}  # session id -> until (epoch seconds)
        self.synced_at = -math.inf  # last full read (monotonic)
        self.pushed = 0  # revocations received on the channel
        self.last_error = ""
        self._tasks: list[asyncio.Task[None]] = []

    def is_revoked(self, session_id: str) -> bool:
        until = self._revoked.get(session_id)
        return until is not None and until > time.time()

    @property
    def staleness_seconds(self) -> float:
        return time.monotonic() - self.synced_at

    def add(self, sessions: Iterable[str], until: float) -> None:
        for sid in sessions:
            self._revoked[sid] = max(until, self._revoked.get(sid, 0.0))

    async def sync(self) -> None:
        """Reads the whole set (the revocations that still matter)."""
        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        rows = await self._redis.zrangebyscore(self._key, now_ms, "+inf", withscores=True)
        fresh = {
            (m.decode() if isinstance(m, bytes) else str(m)): float(score) / 1000
            for m, score in cast(list[tuple[bytes, float]], rows)
        }
        # A revocation is never undone: merge (one pushed while the read was in flight
        # stays), and forget only what no longer matters.
        now = time.time()
        merged = {sid: until for sid, until in self._revoked.items() if until > now}
        for sid, until in fresh.items():
            merged[sid] = max(until, merged.get(sid, 0.0))
        self._revoked = merged
        self.synced_at = started
        self.last_error = ""

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._resync())]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

    async def _resync(self) -> None:
        while True:
            try:
                await self.sync()
            except RedisError as exc:
                self.last_error = type(exc).__name__
                log.warning(
                    "revoked sessions not readable; keeping the last copy",
                    extra={"error": self.last_error},
                )
            await asyncio.sleep(self._settings.resync_seconds)

    async def _listen(self) -> None:
        while True:
            pubsub: PubSub | None = None
            try:
                # On a Redis Cluster: one connection to a node hears every PUBLISH.
                pubsub = await subscriber(self._redis)
                await pubsub.subscribe(self._channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._on_message(message.get("data"))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.last_error = type(exc).__name__
                await asyncio.sleep(0.2)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()

    def _on_message(self, data: object) -> None:
        try:
            event = json.loads(data if isinstance(data, bytes | str) else b"")
            sessions = [str(s) for s in event["sessions"]]
            until = float(event["until_ms"]) / 1000
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable session revocation event")
            return
        self.add(sessions, until)
        self.pushed += len(sessions)

    def status(self) -> dict[str, object]:
        return {
            "revoked_sessions": sum(1 for u in self._revoked.values() if u > time.time()),
            "staleness_seconds": round(self.staleness_seconds, 3)
            if math.isfinite(self.staleness_seconds)
            else "never synced",
            "pushed": self.pushed,
            "redis": self.last_error or "ok",
        }
