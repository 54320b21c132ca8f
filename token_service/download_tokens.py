"""Short-lived download tokens kept in Redis, so any replica validates a token
issued by any other at once. Use counts, expiry and revocation are enforced by
Lua scripts, atomically. With a ``ReplicaAck`` (Sentinel), an issue, a counted use
and a revocation are answered only once a replica holds them, so a failover can
neither forget a link it handed out nor give a used-up one its use back. An issue or
a revocation with a request id is safe to retry (``token_service.download_requests``);
a fresh issue with one is one script (its claim and the token's hash) except on a
Redis Cluster, where the two keys lie in unrelated slots."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from services.errors import FailedPreconditionError, UnavailableError
from services.redis_client import NO_ACK, RedisClient, ReplicaAck
from token_service import download_requests as requests
from token_service.download_requests import Claim, RequestId
from token_service.sealing import Sealer, SealError
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

# An issue with a request id: the token's hash at the expiry its claim recorded,
# created only if absent (see download_requests). KEYS[1] token key; ARGV: resource,
# expires ms, max uses, keep-after-expiry ms. Answers 1 if created, 0 if kept. Also run
# as a function inside _CLAIM_AND_ISSUE (its KEYS and ARGV passed in).
_ISSUE_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  -- Written again so that a WAIT after this script waits for a replica to hold it.
  redis.call('HSET', KEYS[1], 'expires_ms', redis.call('HGET', KEYS[1], 'expires_ms'))
  return 0
end
redis.call('HSET', KEYS[1], 'resource', ARGV[1], 'max_uses', ARGV[3], 'uses', 0,
  'revoked', 0, 'expires_ms', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[4]))
return 1
"""

# A fresh issue with a request id in one round trip (one script, one WAIT): the claim
# (download_requests.CLAIM) and, when it is new, the token's hash (_ISSUE_ONCE) at the
# expiry the claim recorded, atomically, so no replica can die between the two. Both
# scripts run unchanged as functions (their KEYS and ARGV passed in): what this writes
# and answers is exactly what they would, one after the other. A seen or conflicting
# claim answers the claim alone and writes no token: the caller opens the recorded
# token and runs _ISSUE_ONCE itself. Two keys in unrelated slots: never on a Cluster
# (DownloadTokens.issue).
# KEYS[1] request record, KEYS[2] candidate token key; ARGV: CLAIM's four (fingerprint,
# sealed candidate, ttl ms, record ttl ms), then resource, max uses, keep-after-expiry
# ms. Answers CLAIM's {claim, sealed, expires ms}, and when new _ISSUE_ONCE's answer.
_CLAIM_AND_ISSUE = f"""
local function claim(KEYS, ARGV)
{requests.CLAIM}
end
local function issue_once(KEYS, ARGV)
{_ISSUE_ONCE}
end
local c = claim({{KEYS[1]}}, {{ARGV[1], ARGV[2], ARGV[3], ARGV[4]}})
if c[1] ~= 1 then return c end
return {{c[1], c[2], c[3], issue_once({{KEYS[2]}}, {{ARGV[5], c[3], ARGV[6], ARGV[7]}})}}
"""

# A counted use's attempt id (ValidateDownloadTokenRequest.attempt_id) and its answer
# are kept in the token's own hash (so in its slot, written in the same script as the
# use) for ATTEMPT_TTL_MS: a retry of that attempt gets the same answer and counts no
# second use. Only attempts that counted a use are kept, at most MAX_ATTEMPTS per
# token (expired ones pruned, else the oldest dropped), so a token of up to
# MAX_ATTEMPTS uses never loses a record it could need; an unlimited one may, and a
# retry then counts another use of a token that has no limit. A retry gets the
# attempt's answer even if the token was revoked or expired since: it is the answer
# to the attempt, which came first.
ATTEMPT_TTL_MS = 60_000  # well beyond a caller's deadline with its retries
MAX_ATTEMPTS = 32

# KEYS[1] token key; ARGV: consume (1/0), expected resource ('' = any), attempt id
# ('' = none), attempt ttl ms, max attempts
_VALIDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {2} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local field = ''
if ARGV[1] == '1' and ARGV[3] ~= '' then
  field = 'attempt:' .. ARGV[3]
  local seen = redis.call('HGET', KEYS[1], field)
  if seen then
    local till, left, asked = string.match(seen, '^(%d+)|(-?%d+)|(.*)$')
    if till and tonumber(till) > now and asked == ARGV[2] then
      -- A retry of an attempt that counted its use: its answer again. Written again
      -- so that a WAIT after this script waits for a replica to hold the use.
      redis.call('HSET', KEYS[1], field, seen)
      local r = redis.call('HMGET', KEYS[1], 'resource', 'expires_ms')
      return {1, r[1], tonumber(left), tonumber(r[2])}
    end
  end
end
local h = redis.call('HMGET', KEYS[1], 'resource', 'max_uses', 'uses', 'revoked', 'expires_ms')
local resource, max_uses, uses = h[1], tonumber(h[2]), tonumber(h[3])
local expires = tonumber(h[5])
if h[4] == '1' then return {4, resource, 0, expires} end
if now >= expires then return {3, resource, 0, expires} end
if ARGV[2] ~= '' and ARGV[2] ~= resource then return {6, '', 0, expires} end
if max_uses > 0 and uses >= max_uses then return {5, resource, 0, expires} end
if ARGV[1] == '1' then uses = redis.call('HINCRBY', KEYS[1], 'uses', 1) end
local remaining = -1
if max_uses > 0 then remaining = max_uses - uses end
if field ~= '' then
  local kept, oldest, oldest_till = 0, nil, nil
  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(name, 1, 8) == 'attempt:' then
      local till = tonumber(string.match(redis.call('HGET', KEYS[1], name), '^(%d+)'))
      if till == nil or till <= now then
        redis.call('HDEL', KEYS[1], name)
      else
        kept = kept + 1
        if oldest_till == nil or till < oldest_till then oldest, oldest_till = name, till end
      end
    end
  end
  if kept >= tonumber(ARGV[5]) then redis.call('HDEL', KEYS[1], oldest) end
  redis.call('HSET', KEYS[1], field,
    (now + tonumber(ARGV[4])) .. '|' .. remaining .. '|' .. ARGV[2])
end
return {1, resource, remaining, expires}
"""

# KEYS[1] token key; ARGV: the request id's digest ('' = none). The revocation that
# revoked a token leaves its request id in the hash: a retry of it answers 1 again
# (even once the token has expired since).
_REVOKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] ~= '' and redis.call('HGET', KEYS[1], 'revoked_by') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'revoked_by', ARGV[1])  -- again, for a WAIT after it
  return 1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(redis.call('HGET', KEYS[1], 'expires_ms')) <= now then return 0 end
if redis.call('HGET', KEYS[1], 'revoked') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'revoked', 1)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'revoked_by', ARGV[1]) end
return 1
"""


def unreadable_request() -> FailedPreconditionError:
    """A retried issue whose recorded token can no longer be opened. Names neither the
    token nor a key: only what the caller must do."""
    return FailedPreconditionError(
        "the download token issued for this request_id can no longer be returned "
        "(it was sealed with an encryption key since removed); "
        "send a new request_id to issue a new token",
        reason="REQUEST_UNREADABLE",
        metadata={"field": "request_id"},
    )


class DownloadTokens:
    def __init__(
        self, redis: RedisClient, prefix: str, sealer: Sealer, ack: ReplicaAck = NO_ACK
    ) -> None:
        self._redis = redis
        self._ack = ack
        self._sealer = sealer
        self._requests_prefix = prefix
        self._prefix = f"{prefix}:dl"
        self._issue = redis.register_script(_ISSUE)
        self._issue_once = redis.register_script(_ISSUE_ONCE)
        self._claim = redis.register_script(requests.CLAIM)
        self._claim_and_issue = redis.register_script(_CLAIM_AND_ISSUE)
        # A request's record and its token's hash lie in unrelated Cluster slots: their
        # keys are found from the request id alone (a retry) and from the token alone
        # (a use), and keep the names older replicas read. So on a Cluster a fresh
        # issue runs the claim and _ISSUE_ONCE as two scripts, as before.
        self._one_script_issue = not isinstance(redis, RedisCluster)
        self._validate = redis.register_script(_VALIDATE)
        self._revoke = redis.register_script(_REVOKE)

    def _key(self, token: str) -> str:
        # Only a digest is stored: a Redis dump does not leak usable links.
        return f"{self._prefix}:{digest(token)}"

    async def issue(
        self, resource: str, ttl_ms: int, max_uses: int, request: RequestId | None = None
    ) -> Issued:
        """``request``: the caller's request id; a retry of it gets the same token and
        expiry, a reuse with other parameters ValidationError (``download_requests``), a
        retry whose recorded token was sealed with a key no longer configured
        FailedPreconditionError (``unreadable_request``)."""
        token = secrets.token_urlsafe(32)
        if request is None:
            expires = await self._run(
                self._issue,
                self._ack,
                [self._key(token)],
                [resource, ttl_ms, max_uses, KEEP_AFTER_EXPIRY_MS],
            )
            return Issued(token, int(expires))
        fingerprint = requests.issue_fingerprint(resource, ttl_ms, max_uses)
        sealed = self._sealer.seal(token, request.seal_context)
        if self._one_script_issue:
            claim = requests.claimed(
                await self._run(
                    self._claim_and_issue,
                    self._ack,
                    [request.key(self._requests_prefix), self._key(token)],
                    [
                        fingerprint,
                        sealed,
                        ttl_ms,
                        requests.REQUEST_TTL_MS,
                        resource,
                        max_uses,
                        KEEP_AFTER_EXPIRY_MS,
                    ],
                )
            )
            if claim.claim is Claim.NEW:
                return Issued(token, claim.expires_ms)  # its hash written by the same script
        else:
            claim = await self._claim_request(request, [fingerprint, sealed, ttl_ms])
        if claim.claim is Claim.SEEN:
            try:
                token = self._sealer.open(claim.sealed, request.seal_context)
            except SealError:
                # Sealed with a key since removed from every replica (a rotation's
                # last step within REQUEST_TTL_MS of the first call). No retry will
                # ever open it: FAILED_PRECONDITION, not UNAVAILABLE, or the caller
                # retries in vain until the record expires. The record is kept, so
                # a reuse of the id with other parameters is still refused.
                raise unreadable_request() from None
        # A retry, whoever claimed: the one script wrote the token; two scripts (a
        # Cluster, an older replica) may have stopped before writing it, created now.
        # Or, on a Cluster, the first call.
        await self._run(
            self._issue_once,
            self._ack,
            [self._key(token)],
            [resource, claim.expires_ms, max_uses, KEEP_AFTER_EXPIRY_MS],
        )
        return Issued(token, claim.expires_ms)

    async def validate(
        self, token: str, resource: str = "", consume: bool = True, attempt: str = ""
    ) -> Validation:
        """``attempt``: the caller's id for this validation, the same on every retry of
        it; a retry of an attempt that counted a use gets its answer again, no second
        use (see ``ATTEMPT_TTL_MS``). Empty: every call counts."""
        # A peek writes nothing: no acknowledgement to wait for.
        raw = await self._run(
            self._validate,
            self._ack if consume else NO_ACK,
            [self._key(token)],
            ["1" if consume else "0", resource, attempt, ATTEMPT_TTL_MS, MAX_ATTEMPTS],
        )
        result = Result(int(raw[0]))
        if len(raw) == 1:
            return Validation(result)
        res = raw[1].decode() if isinstance(raw[1], bytes) else str(raw[1] or "")
        return Validation(result, res, int(raw[2]), int(raw[3]))

    async def revoke(self, token: str, request: RequestId | None = None) -> bool:
        """``request``: the caller's request id; a retry of the revocation that revoked
        the token answers True again; a reuse for another token ValidationError."""
        scoped = ""
        if request is not None:
            await self._claim_request(request, [requests.revoke_fingerprint(digest(token)), "", 0])
            scoped = request.scoped
        return bool(await self._run(self._revoke, self._ack, [self._key(token)], [scoped]))

    async def _claim_request(self, request: RequestId, args: list[Any]) -> requests.Claimed:
        key = request.key(self._requests_prefix)
        raw = await self._run(self._claim, self._ack, [key], [*args, requests.REQUEST_TTL_MS])
        return requests.claimed(raw)

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
