"""Search results in Redis, computed once per key across all replicas.

A miss takes a short Redis lock for the key (``SET NX PX`` with an owner token, in a
script that first looks for the result again; compare-and-delete release); the owner
computes and stores the result, everyone else
(on any replica) waits for the result key instead of computing it again. Inside one
process, concurrent misses of a key also share one future, so a burst of identical
searches costs one Redis round trip and one computation. If the owner dies, its lock
expires and a waiter takes over.

A hit sends the whole result from Redis, and a hotel search's is large (every hotel with
its offers): receiving and copying it was most of a cached hotel search's work. So every
result is stored with a tag (``<key>:tag``: the computing owner's token and the result's
length, written by the same script, with the same expiry), and a replica keeps the last
results it saw with their tags (of a result too small to be worth it, only that it was
small: its next look is a plain GET). A look sends the tag of the result held for the
key, and Redis answers "unchanged" (the tag and the length still match, in one script)
instead of the bytes. So the answer is still exactly what Redis holds at that moment, as
with a GET: results stay shared and consistent across replicas, only their transfer is
saved. Results are written only by ``_STORE`` (a result found without a tag is sent in
full).

A held result may also be trusted without asking, for ``trust_seconds``
(``SEARCH_CACHE_LOCAL_STALENESS_SECONDS``, as the token service trusts its copy of a
token) after Redis last vouched for it, and never past the expiry Redis reported for it;
then results of every size are held (the look is made at most once per window, so what
it costs no longer matters). A result is stored only after a miss, under the key's lock,
so before it expires it is replaced only if it is removed early (evicted, deleted by
hand, lost in a failover) or if a computation outlived its lock and another replica
took over (both results then computed within the TTL). Only then is a replica's copy
served while Redis holds another result or none, for at most ``trust_seconds``. With 0,
every search asks Redis.

Freshness: a result expires ``ttl`` after its computation *started* (the database
read), so no change of price or seats stays hidden for longer than the TTL. When
Redis is unavailable, searches are computed directly (per-process single flight).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import NoScriptError, RedisError

from services.redis_client import RedisClient

log = logging.getLogger("skyroute.search.cache")

# Takes the lock for a key unless its result is there: the result (a string), 1 if the
# lock is now ours, 0 if another owner holds it. One step, so a result stored (and its
# lock released) just after our last look cannot be computed a second time.
_CLAIM = """
local value = redis.call('get', KEYS[1])
if value then return value end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

# Looks for a result: {its remaining ms} if it is still the one tagged ARGV[1] (the one
# the caller holds; a tag ends with its result's length), else {result, its tag or "",
# its remaining ms}, or 0 if there is none (a tag left without its result, the result
# evicted, is dropped: it must not vouch for another; nor does one whose length is not
# the result's).
_LOOK = """
local held = ARGV[1]
if held ~= '' and redis.call('get', KEYS[2]) == held then
  local remaining = redis.call('pttl', KEYS[1])
  if remaining ~= -2
      and redis.call('strlen', KEYS[1]) == tonumber(string.match(held, '(%d+)$')) then
    return {remaining}
  end
end
local value = redis.call('get', KEYS[1])
if not value then
  redis.call('del', KEYS[2])
  return 0
end
local tag = redis.call('get', KEYS[2])
if not tag or tonumber(string.match(tag, '(%d+)$')) ~= #value then tag = '' end
return {value, tag, redis.call('pttl', KEYS[1])}
"""

# Stores a result and its tag, with one expiry (a script: no other command in between,
# and the clock stands still while it runs, so both expire at the same moment).
_STORE = """
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# Deletes the lock only if we still own it.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# The computation: returns (value, ttl_seconds); ttl 0 means do not cache.
Compute = Callable[[], Awaitable[tuple[bytes, float]]]

POLL_INITIAL_SECONDS = 0.005
POLL_MAX_SECONDS = 0.05
# Results held per replica with their tags (the hot ones: a popular search's).
HELD_RESULTS = 64
# Without a trust window, a smaller result is looked at with a plain GET: receiving it
# costs less than the script's extra work (a flight search's result is usually smaller,
# a hotel one's larger).
HOLD_MIN_BYTES = 16 * 1024


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.lookups = Counter(
            "skyroute_search_cache_lookups_total",
            "Search cache lookups: hit (found in Redis), miss (computed here), coalesced "
            "(waited for a computation already running here or on another replica), "
            "bypass (Redis unavailable)",
            ["result"],
            registry=registry,
        )
        self.errors = Counter(
            "skyroute_search_cache_errors_total",
            "Redis errors in the search cache",
            registry=registry,
        )
        self.trusted = Counter(
            "skyroute_search_cache_trusted_hits_total",
            "Hits (counted as such in lookups too) answered from this replica's copy of "
            "the result without a Redis command: Redis vouched for it within "
            "SEARCH_CACHE_LOCAL_STALENESS_SECONDS",
            registry=registry,
        )

    def lookup_counts(self) -> dict[str, int]:
        """This replica's lookups by result (the cluster dashboard's hit rate)."""
        return {
            s.labels["result"]: int(s.value)
            for m in self.lookups.collect()
            for s in m.samples
            if s.name.endswith("_total")
        }


class _Held(NamedTuple):
    """A result this replica holds: its tag (b"" for a small one, looked at with a GET;
    its bytes are not kept), and until when (monotonic) it is trusted without asking."""

    tag: bytes
    value: bytes
    trusted_until: float


_SMALL = _Held(b"", b"", -math.inf)


class ResultCache:
    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        metrics: CacheMetrics,
        *,
        lock_seconds: float = 5.0,
        trust_seconds: float = 0.0,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:search:results:"
        self._metrics = metrics
        self._lock_ms = int(lock_seconds * 1000)
        self._trust = trust_seconds
        self._hold_min_bytes = 0 if trust_seconds > 0 else HOLD_MIN_BYTES
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._look_script = redis.register_script(_LOOK)
        self._store = redis.register_script(_STORE)
        # Key -> the results last seen, to be answered "unchanged" (or trusted).
        self._held: collections.OrderedDict[str, _Held] = collections.OrderedDict()
        self._inflight: dict[str, asyncio.Task[bytes]] = {}
        # The lookups counter's children, each resolved on its first use (not before:
        # the exposition shows only results that happened, as it always has).
        self._lookups: dict[str, Counter] = {}

    def key(self, digest: str) -> str:
        # The hash tag keeps the result and its lock (``<key>:lock``, both in the claim
        # script) in one Redis Cluster slot.
        return f"{self._prefix}{{{digest}}}"

    async def get_or_compute(self, digest: str, compute: Compute) -> bytes:
        key = self.key(digest)
        held = self._held.get(key)
        if held is not None and time.monotonic() < held.trusted_until:
            self._held.move_to_end(key)
            self._count("hit")
            self._metrics.trusted.inc()
            return held.value
        task = self._inflight.get(digest)
        if task is not None:
            self._count("coalesced")
        else:
            # A task of its own: a caller that goes away (a cancelled RPC) does not
            # cancel the computation the others are waiting for.
            task = asyncio.get_running_loop().create_task(self._fetch(key, compute))
            self._inflight[digest] = task
            task.add_done_callback(lambda done: self._finished(digest, done))
        return await asyncio.shield(task)

    def _count(self, result: str) -> None:
        child = self._lookups.get(result)
        if child is None:
            child = self._lookups[result] = self._metrics.lookups.labels(result)
        child.inc()

    def _finished(self, digest: str, task: asyncio.Task[bytes]) -> None:
        if self._inflight.get(digest) is task:
            del self._inflight[digest]
        if not task.cancelled():
            task.exception()  # retrieved, even if every caller went away

    def _trusted_until(self, asked_at: float, remaining_ms: int) -> float:
        """Until when a result Redis vouched for (asked at ``asked_at``, monotonic, with
        ``remaining_ms`` left before it expires there; negative: no expiry) is trusted."""
        if self._trust <= 0:
            return -math.inf
        until = asked_at + self._trust
        if remaining_ms >= 0:
            until = min(until, asked_at + remaining_ms / 1000)
        return until

    def _hold(self, key: str, tag: bytes, value: bytes, trusted_until: float) -> None:
        # A small result: the next look is a GET.
        held = _Held(tag, value, trusted_until) if len(value) >= self._hold_min_bytes else _SMALL
        self._held[key] = held
        self._held.move_to_end(key)
        if len(self._held) > HELD_RESULTS:
            self._held.popitem(last=False)

    async def _look(self, key: str) -> bytes | None:
        """The result Redis holds for ``key`` (None: none), sent only if it is not the
        one held here already."""
        held = self._held.get(key)
        if held is not None and not held.tag:
            return await self._get(key)
        tag = held.tag if held is not None else b""
        asked_at = time.monotonic()
        try:
            # EVALSHA directly: the Script wrapper's own coroutine and argument copies
            # are a measurable part of a hit; it is only needed to load the script.
            answer = await self._redis.execute_command(
                "EVALSHA", self._look_script.sha, 2, key, key + ":tag", tag
            )
        except NoScriptError:
            answer = await self._look_script(keys=[key, key + ":tag"], args=[tag])
        if not isinstance(answer, list):
            self._held.pop(key, None)
            return None
        if len(answer) == 1 and held is not None:  # unchanged
            self._hold(key, held.tag, held.value, self._trusted_until(asked_at, answer[0]))
            return held.value
        value, new_tag = _as_bytes(answer[0]), _as_bytes(answer[1])
        if new_tag:
            self._hold(key, new_tag, value, self._trusted_until(asked_at, answer[2]))
        else:
            self._held.pop(key, None)
        return value

    async def _get(self, key: str) -> bytes | None:
        """``_look`` for a key whose last result was small: the result, by GET."""
        cached = await self._redis.get(key)
        if cached is None:
            self._held.pop(key, None)
            return None
        value = _as_bytes(cached)
        if len(value) >= self._hold_min_bytes:
            self._held.pop(key, None)  # grown: the next look learns its tag
        else:
            self._held.move_to_end(key)
        return value

    async def _fetch(self, key: str, compute: Compute) -> bytes:
        try:
            cached = await self._look(key)
        except RedisError as exc:
            return await self._bypass(compute, exc)
        if cached is not None:
            self._count("hit")
            return cached
        # A miss: only now the lock's key and owner token (a hit, the common case, needs
        # neither, and the token costs a system call).
        lock_key = key + ":lock"
        owner = secrets.token_hex(8)
        delay = POLL_INITIAL_SECONDS
        try:
            while True:
                claimed = await self._claim(keys=[key, lock_key], args=[owner, self._lock_ms])
                if isinstance(claimed, bytes | str):  # stored meanwhile (by another owner)
                    self._count("coalesced")
                    return _as_bytes(claimed)
                if claimed == 1:
                    break
                # Another replica computes this key: wait for its result. If its lock
                # goes away without a result (it failed or died), take over.
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_SECONDS)
        except RedisError as exc:
            return await self._bypass(compute, exc)
        self._count("miss")
        return await self._compute_and_store(key, lock_key, owner, compute)

    async def _compute_and_store(
        self, key: str, lock_key: str, owner: str, compute: Compute
    ) -> bytes:
        started = time.monotonic()
        try:
            value, ttl = await compute()
            # Expire ttl after the data was read, not after it was written.
            stored_at = time.monotonic()
            remaining_ms = int((ttl - (stored_at - started)) * 1000)
            if remaining_ms > 0:
                # The owner's token is unique to this computation; with the length
                # (last: _LOOK reads it) it tells this result from any other stored
                # under the key.
                tag = f"{owner}:{len(value)}".encode()
                try:
                    await self._store(keys=[key, key + ":tag"], args=[value, tag, remaining_ms])
                    self._hold(key, tag, value, self._trusted_until(stored_at, remaining_ms))
                except RedisError as exc:
                    self._metrics.errors.inc()
                    log.warning("cannot store search result", extra={"error": str(exc)})
            return value
        finally:
            await self._release_lock(lock_key, owner)

    async def _release_lock(self, lock_key: str, owner: str) -> None:
        try:
            await self._release(keys=[lock_key], args=[owner])
        except RedisError:
            self._metrics.errors.inc()  # the lock expires on its own

    async def _bypass(self, compute: Compute, exc: Exception) -> bytes:
        self._metrics.errors.inc()
        self._count("bypass")
        log.warning("search cache unavailable; computing directly", extra={"error": str(exc)})
        value, _ttl = await compute()
        return value
