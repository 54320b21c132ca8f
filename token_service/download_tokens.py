"""Short-lived download tokens kept in Redis, so any replica validates a token
issued by any other at once. Use counts, expiry and revocation are enforced by
Lua scripts, atomically. With a ``ReplicaAck`` (Sentinel), an issue, a counted use
and a revocation are answered only once a replica holds them, so a failover can
neither forget a link it handed out nor give a used-up one its use back."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from services.errors import UnavailableError
from services.redis_client import NO_ACK, RedisClient, ReplicaAck
from token_service.store import digest

MAX_TTL_MS = 7 * 24 * 3600 * 1000
# Expired tokens are kept this long so a late click says EXPIRED, not UNKNOWN.
KEEP_AFTER_EXPIRY_MS = 24 * 3600 * 1000


class Result(enum.IntEnum):
    # Values match ValidateDownloadTokenResponse.Result.
    VALID = 1
    UNKNOWN = 2
    EXPIRED = 3
    REVOKED = 4
    USED_UP = 5
    WRONG_RESOURCE = 6


@dataclass(frozen=True)
class Issued:
    token: str
    expires_ms: int


@dataclass(frozen=True)
class Validation:
    result: Result
    resource: str = ""
    remaining_uses: int = 0
    expires_ms: int = 0


# KEYS[1] token key; ARGV: resource, ttl ms, max uses, keep-after-expiry ms
_ISSUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'resource', ARGV[1], 'max_uses', ARGV[3], 'uses', 0,
  'revoked', 0, 'expires_ms', expires)
redis.call('PEXPIREAT', KEYS[1], expires + tonumber(ARGV[4]))
return expires
"""

# KEYS[1] token key; ARGV: consume (1/0), expected resource ('' = any)
_VALIDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {2} end
local h = redis.call('HMGET', KEYS[1], 'resource', 'max_uses', 'uses', 'revoked', 'expires_ms')
local resource, max_uses, uses = h[1], tonumber(h[2]), tonumber(h[3])
local expires = tonumber(h[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if h[4] == '1' then return {4, resource, 0, expires} end
if now >= expires then return {3, resource, 0, expires} end
if ARGV[2] ~= '' and ARGV[2] ~= resource then return {6, '', 0, expires} end
if max_uses > 0 and uses >= max_uses then return {5, resource, 0, expires} end
if ARGV[1] == '1' then uses = redis.call('HINCRBY', KEYS[1], 'uses', 1) end
local remaining = -1
if max_uses > 0 then remaining = max_uses - uses end
return {1, resource, remaining, expires}
"""

# KEYS[1] token key
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) <= now then return 0 end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'revoked', 1)
return 1
"""


class DownloadTokens:
    def __init__(self, redis: RedisClient, prefix: str, ack: ReplicaAck = NO_ACK) -> None:
        self._redis = redis
        self._ack = ack
        self._prefix = f"{prefix}:dl"
        self._issue = redis.register_script(_ISSUE)
        self._validate = redis.register_script(_VALIDATE)
        self._revoke = redis.register_script(_REVOKE)

    def _key(self, token: str) -> str:
        # Only a digest is stored: a Redis dump does not leak usable links.
        return f"{self._prefix}:{digest(token)}"

    async def issue(self, resource: str, ttl_ms: int, max_uses: int) -> Issued:
        token = secrets.token_urlsafe(32)
        expires = await self._run(
            self._issue,
            self._ack,
            [self._key(token)],
            [resource, ttl_ms, max_uses, KEEP_AFTER_EXPIRY_MS],
        )
        return Issued(token, int(expires))

    async def validate(self, token: str, resource: str = "", consume: bool = True) -> Validation:
        # A peek writes nothing: no acknowledgement to wait for.
        raw = await self._run(
            self._validate,
            self._ack if consume else NO_ACK,
            [self._key(token)],
            ["1" if consume else "0", resource],
        )
        result = Result(int(raw[0]))
        if len(raw) == 1:
            return Validation(result)
        res = raw[1].decode() if isinstance(raw[1], bytes) else str(raw[1] or "")
        return Validation(result, res, int(raw[2]), int(raw[3]))

    async def revoke(self, token: str) -> bool:
        return bool(await self._run(self._revoke, self._ack, [self._key(token)], []))

    async def _run(
        self, script: AsyncScript, ack: ReplicaAck, keys: list[str], args: list[Any]
    ) -> Any:
        try:
            return await ack.run(self._redis, script, keys, args)
        except (RedisError, OSError, EOFError, TimeoutError) as exc:
            # Fails closed: an unacknowledged use may or may not survive a failover.
            # OSError / EOFError / TimeoutError: a connection cut mid-reply (a killed
            # primary) can surface from the client unwrapped.
            raise UnavailableError(
                f"download tokens are unavailable: {type(exc).__name__}", reason="REDIS_UNAVAILABLE"
            ) from None
