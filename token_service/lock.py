"""A Redis lease lock with an owner id, a TTL and a fencing number.

The value is ``owner|fence``; release is compare-and-delete, so a holder whose
lease expired cannot delete its successor's lock. The fencing number increases
with every acquisition and is checked again by the fenced token write.

The lease is short and kept alive by its holder while the critical section runs
(the watchdog of Redisson's lock, etcd's lease keep-alive), so a dead holder is
replaced within one lease, however long its work may take::

    t=0      acquire, PX ttl              holder works (fetch, drain, write)
    t=ttl/3  renew: PEXPIRE ttl if the value is still ours
    ...      (every ttl/3 while the block runs)
    end      stop renewing, compare-and-delete
    crash    no more renewals: the lease ends at most ttl after the last one
    pause    past the lease: the renewal and the fenced write are both refused

With ``ack`` (Sentinel), an acquisition counts only once a replica holds the new
fence (``WAIT``): a failover cannot hand the same fence to a second holder, so the
counter never goes backwards for anyone who acted on it. An unacknowledged lease is
released and ``NotReplicated`` raised (the caller treats it as Redis trouble).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import RedisError

from services.redis_client import NO_ACK, NotReplicated, RedisClient, ReplicaAck
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.token.lock")

# KEYS[1] lock, KEYS[2] fence counter; ARGV[1] owner, ARGV[2] ttl ms.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('PTTL', KEYS[1])}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return {fence, 0}
"""

# KEYS[1] lock; ARGV[1] the exact value we set.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock; ARGV[1] the exact value we set, ARGV[2] ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class Lease:
    value: str
    fence: int


class LeaseLock:
    def __init__(
        self, redis: RedisClient, key: str, fence_key: str, owner: str, ack: ReplicaAck = NO_ACK
    ) -> None:
        self._redis = redis
        self._ack = ack
        self._key = key
        self._fence_key = fence_key
        self._owner = owner
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    @property
    def key(self) -> str:
        return self._key

    async def try_acquire(self, ttl_ms: int) -> tuple[Lease | None, int]:
        """Returns (lease, 0) or (None, remaining ttl ms of the current holder)."""
        try:
            fence, pttl = await self._ack.run(
                self._redis, self._acquire, [self._key, self._fence_key], [self._owner, ttl_ms]
            )
        except NotReplicated as exc:
            fence = int(exc.result[0])
            if fence != 0:  # ours on the primary only: give it back, do not act on it
                with contextlib.suppress(RedisError):
                    await self.release(Lease(f"{self._owner}|{fence}", fence))
                raise
            fence, pttl = exc.result  # not acquired: nothing of ours to lose
        if fence == 0:
            return None, max(int(pttl), 0)
        return Lease(f"{self._owner}|{fence}", int(fence)), 0

    async def release(self, lease: Lease) -> bool:
        return bool(await self._release(keys=[self._key], args=[lease.value]))

    async def renew(self, lease: Lease, ttl_ms: int) -> bool:
        """Sets our lease to end ``ttl_ms`` from now; False once it is no longer ours."""
        return bool(await self._renew(keys=[self._key], args=[lease.value, ttl_ms]))

    @contextlib.asynccontextmanager
    async def kept_alive(self, lease: Lease, ttl_ms: int) -> AsyncIterator[None]:
        """Renews ``lease`` every third of ``ttl_ms`` while the block runs.

        A refused renewal (the lease was lost, e.g. after a pause) ends the renewals;
        a Redis error is retried at the next tick. Either way the block goes on and
        its fenced write decides."""
        if ttl_ms <= 0:
            raise ValueError("ttl_ms must be positive")
        done = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._do_keep_alive(lease, ttl_ms, done))
        try:
            yield
        finally:
            # The renewals end with the block, before the caller releases the lease. A
            # cancellation that lands in a renewal can be swallowed by redis-py (the
            # renewal returns as usual): ``done`` ends the loop after it all the same,
            # and ``cancel_and_wait`` cancels again. Otherwise that loop would renew
            # the lease for ever, and the holder would wait here for ever.
            done.set()
            await cancel_and_wait([task])

    async def _do_keep_alive(self, lease: Lease, ttl_ms: int, done: asyncio.Event) -> None:
        failing = False
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            if done.is_set():
                return
            try:
                renewed = await self.renew(lease, ttl_ms)
            except RedisError as exc:
                # Retried at the next tick: the renewal is fenced, so a retry after a
                # blip is safe, and a lease that outlives the blip is kept.
                if not failing:
                    log.warning(
                        "lease renewal failed; retrying",
                        extra={"lock": self._key, "fence": lease.fence, "error": str(exc)},
                    )
                failing = True
                continue
            if not renewed:
                log.warning(
                    "lease renewal refused: the lease was lost",
                    extra={"lock": self._key, "fence": lease.fence},
                )
                return
            if failing:
                log.info("lease renewal recovered", extra={"lock": self._key, "fence": lease.fence})
                failing = False

    async def holder(self) -> str | None:
        value = await self._redis.get(self._key)
        if not value:
            return None
        return value.decode() if isinstance(value, bytes) else value
