"""A Redis lease lock with an owner id, a TTL and a fencing number.

The value is ``owner|fence``; release is compare-and-delete, so a holder whose
lease expired cannot delete its successor's lock. The fencing number increases
with every acquisition and is checked again by the fenced token write.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

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


@dataclass(frozen=True)
class Lease:
    value: str
    fence: int


class LeaseLock:
    def __init__(self, redis: Redis, key: str, fence_key: str, owner: str) -> None:
        self._redis = redis
        self._key = key
        self._fence_key = fence_key
        self._owner = owner
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    @property
    def key(self) -> str:
        return self._key

    async def try_acquire(self, ttl_ms: int) -> tuple[Lease | None, int]:
        """Returns (lease, 0) or (None, remaining ttl ms of the current holder)."""
        fence, pttl = await self._acquire(keys=[self._key, self._fence_key],
                                          args=[self._owner, ttl_ms])
        if fence == 0:
            return None, max(int(pttl), 0)
        return Lease(f"{self._owner}|{fence}", int(fence)), 0

    async def release(self, lease: Lease) -> bool:
        return bool(await self._release(keys=[self._key], args=[lease.value]))

    async def holder(self) -> str | None:
        value = await self._redis.get(self._key)
        if not value:
            return None
        return value.decode() if isinstance(value, bytes) else value
