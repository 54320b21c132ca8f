"""The shared token record in Redis and the scripts that change it.

Keys per provider share the hash tag ``{provider}`` so the scripts stay valid
on Redis Cluster. Every write takes its time from Redis (``TIME``), never from
a replica's clock.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from services.redis_client import NO_ACK, RedisClient, ReplicaAck
from token_service.lock import Lease, LeaseLock
from token_service.sealing import Sealer, SealError

log = logging.getLogger("skyroute.token.store")

# Generations (the fencing number of AccessToken.generation). The shared chain counts
# 1, 2, 3 ... in Redis. A replica cut off from Redis numbers its own tokens
# (ms << TAG_BITS) | tag: ms from its Redis-clock estimate and above anything it has
# seen, tag 1..MAX_TAG unique to the replica (drawn from Redis while it answered), so
# no other replica can produce that number and it is above every shared one. After an
# adoption the shared chain continues in that space on tag 0 (see the scripts).
TAG_BITS = 10
MAX_TAG = (1 << TAG_BITS) - 1
CLOCK_SPACE = 1 << 40  # generations at or above this are (ms << TAG_BITS) | tag


def degraded_generation(now_ms: int, last_generation: int, tag: int) -> int:
    """A generation no other replica can produce, above ``last_generation``."""
    ms = max(now_ms, (last_generation >> TAG_BITS) + 1)
    return (ms << TAG_BITS) | tag


def fallback_tag(owner: str) -> int:
    """A replica tag when Redis could not hand one out (start-up while it was down)."""
    return int.from_bytes(hashlib.sha256(owner.encode()).digest()[:4], "big") % MAX_TAG + 1


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    access_token: str
    token_type: str
    generation: int
    issued_ms: int
    expires_ms: int
    refresh_ms: int
    invalid: bool
    # Orders the writes of one record: every script that changes it adds 1, so an
    # invalidation (same generation) is newer than the write it invalidates. 0 for a
    # record read before versions existed, and for a degraded replica's own token.
    version: int = field(default=0, compare=False)

    def __repr__(self) -> str:
        return (
            f"TokenRecord(generation={self.generation}, version={self.version}, "
            f"expires_ms={self.expires_ms}, invalid={self.invalid})"
        )

    def newer_than(self, other: TokenRecord | None) -> bool:
        """Written after ``other``: a higher generation, or the same one changed since."""
        return other is None or (self.generation, self.version) > (
            other.generation,
            other.version,
        )

    def remaining_ms(self, now_ms: int) -> int:
        return self.expires_ms - now_ms

    def usable(self, now_ms: int, need_ms: int = 0) -> bool:
        """Valid and, if ``need_ms`` is asked, not past its refresh point."""
        if self.invalid or now_ms >= self.expires_ms:
            return False
        if need_ms <= 0:
            return True
        # Caller wants a margin: never more than the refresh margin, so that a
        # large min_validity waits for the scheduled refresh instead of forcing one.
        need = min(need_ms, self.expires_ms - self.refresh_ms)
        return self.expires_ms - now_ms >= need

    @property
    def lifetime_ms(self) -> int:
        return self.expires_ms - self.issued_ms

    def servable(self, now_ms: int, need_ms: int, floor_ms: int) -> bool:
        """Usable, and not within the hand-out floor of its expiry (a caller could not
        use it); the floor is capped at half the lifetime."""
        return self.usable(now_ms, need_ms) and self.expires_ms - now_ms >= min(
            floor_ms, self.lifetime_ms // 2
        )


# Token events: every script that changes the record publishes the record itself on
# the provider's channel, so a replica adopts it without a Redis command of its own:
#
#     t1:<generation>:<version>:<issued_ms>:<expires_ms>:<refresh_ms>:<invalid 0|1>:
#        <upstream_ok>:<chain_rotations>:<sealed access token>:<token type>
#
# The access token is the stored value, sealed with the key it is stored with (never
# in clear on the channel); the token type comes last, so it may hold anything. The
# two counters are the shared ones after a fenced write ('' for the other scripts):
# they are what that write changed in the fleet's status. The ``t1`` prefix versions
# the format: a replica that cannot parse an event (another format during a rolling
# update, ``released``, ``reauth``, a bare generation from before) re-reads Redis.
# ``_EVENT`` defines ``token_event(key, ok, rotations)``; the scripts that change the
# record are registered with it in front (``TokenStore.__init__``).
EVENT_FORMAT = "t1"
LEASED = "leased"  # a lease announcement (``TokenStore.announce_lease``)
_EVENT_FIELDS = 11
_EVENT = """
local function token_event(key, ok, rotations)
  local r = redis.call('HMGET', key, 'generation', 'version', 'issued_ms', 'expires_ms',
    'refresh_ms', 'invalid', 'access_token', 'token_type')
  for i = 1, 8 do if not r[i] then r[i] = '' end end
  return table.concat({'t1', r[1], r[2], r[3], r[4], r[5], r[6], ok or '', rotations or '',
    r[7], r[8]}, ':')
end
"""

# The access token and, for chained grants, the next refresh token in ONE write: once
# it returns, the old refresh token is never sent again. A chained holder whose lease
# lapsed may still write while the chain's write-ahead marker is its own fence (nobody
# has taken the chain since), so a slow holder does not lose the rotated refresh token.
# KEYS: token hash, lock, stats, events channel, chain hash, reauth flag
# ARGV: lease value, fence, expected generation, sealed token, type, digest, lifetime ms,
#       refresh-after ms, elapsed ms since the upstream request was sent, publish (1/0:
#       the caller publishes once a replica acknowledged the write), chained (1/0),
#       sealed next refresh token ('' = the chain has none now)
# Returns {new generation, 'ok', event} or {0, why}.
_FENCED_WRITE = """
local mine = ARGV[11] == '1' and redis.call('HGET', KEYS[5], 'sent') == ARGV[2]
if redis.call('GET', KEYS[2]) ~= ARGV[1] and not mine then
  redis.call('HINCRBY', KEYS[3], 'fenced_rejected', 1)
  return {0, 'lease lost'}
end
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
local last_fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
local fence = tonumber(ARGV[2])
if gen ~= tonumber(ARGV[3]) or fence <= last_fence then
  redis.call('HINCRBY', KEYS[3], 'fenced_rejected', 1)
  return {0, 'newer token present'}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local issued = now - tonumber(ARGV[9])
local newgen = gen + 1
if gen >= 1099511627776 then
  -- clock space (a degraded generation was adopted): next ms slot, tag 0, which no
  -- replica's degraded generation uses
  newgen = math.max(math.floor(gen / 1024) + 1, now) * 1024
end
redis.call('HSET', KEYS[1], 'access_token', ARGV[4], 'token_type', ARGV[5], 'digest', ARGV[6],
  'generation', newgen, 'fence', fence, 'issued_ms', issued,
  'expires_ms', issued + tonumber(ARGV[7]), 'refresh_ms', issued + tonumber(ARGV[8]),
  'invalid', 0)
redis.call('HINCRBY', KEYS[1], 'version', 1)
local ok = redis.call('HINCRBY', KEYS[3], 'upstream_ok', 1)
local rotations = ''
if ARGV[11] == '1' then
  if ARGV[12] ~= '' then redis.call('HSET', KEYS[5], 'rt', ARGV[12])
  else redis.call('HDEL', KEYS[5], 'rt') end
  redis.call('HDEL', KEYS[5], 'sent')
  rotations = redis.call('HINCRBY', KEYS[3], 'chain_rotations', 1)
  redis.call('DEL', KEYS[6])
end
local event = token_event(KEYS[1], ok, rotations)
if ARGV[10] == '1' then redis.call('PUBLISH', KEYS[4], event) end
return {newgen, 'ok', event}
"""

# Take the refresh-token chain for one request: under the lease, read the refresh token
# and leave the write-ahead marker "sent by fence F" in the same step. A marker already
# there names a holder that sent the token and never stored the answer (it died or
# lost its lease): the chain may be broken. The secret bootstrap refresh token is
# handed out only while no chain exists and only once (its digest is remembered).
# KEYS: chain hash, lock; ARGV: lease value, fence, digest of the secret ('' = none)
# Returns {ok, encoded refresh token or '', previous marker or '', 1 if the secret}
_TAKE_CHAIN = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0, '', '', 0} end
local rt = redis.call('HGET', KEYS[1], 'rt') or ''
local previous = redis.call('HGET', KEYS[1], 'sent') or ''
local seed = 0
if rt == '' and ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'seeded') ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'seeded', ARGV[3])
  seed = 1
end
redis.call('HSET', KEYS[1], 'sent', ARGV[2])
return {1, rt, previous, seed}
"""

# The chain is broken and nothing can mend it without an operator: drop the dead
# refresh token, raise the fleet-wide flag and wake every replica.
# KEYS: chain hash, reauth flag, stats, events; ARGV: reason
_BREAK_CHAIN = """
redis.call('HDEL', KEYS[1], 'rt', 'sent')
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'reauthorization_required', 1)
redis.call('PUBLISH', KEYS[4], 'reauth')
return 1
"""

# Adopt a token fetched while Redis was unreachable, unless a valid one exists. The
# adopted token keeps its (degraded) generation when that is above the stored one, so
# one number never names two tokens. A valid token present with a generation below
# the adopter's is renumbered above it (tag 0 of the next ms slot): generations
# callers have seen keep increasing.
# KEYS: token hash, lock, events; ARGV: lease value, fence, sealed token, type, digest,
#       issued ms, expires ms, refresh ms, generation of the adopted token, publish (1/0)
# Returns {generation adopted or 0, the generation announced or 0, its event or ''}.
_ADOPT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {0, 0, ''} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local exp = tonumber(redis.call('HGET', KEYS[1], 'expires_ms') or '0')
local invalid = redis.call('HGET', KEYS[1], 'invalid')
local gen = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
local floor = tonumber(ARGV[9])
if exp > now and invalid ~= '1' then
  if gen >= floor then return {0, 0, ''} end
  local renumbered = (math.floor(floor / 1024) + 1) * 1024
  redis.call('HSET', KEYS[1], 'generation', renumbered)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  local event = token_event(KEYS[1])
  if ARGV[10] == '1' then redis.call('PUBLISH', KEYS[3], event) end
  return {0, renumbered, event}
end
local newgen = math.max(gen + 1, floor)
redis.call('HSET', KEYS[1], 'access_token', ARGV[3], 'token_type', ARGV[4], 'digest', ARGV[5],
  'generation', newgen, 'fence', ARGV[2], 'issued_ms', ARGV[6], 'expires_ms', ARGV[7],
  'refresh_ms', ARGV[8], 'invalid', 0)
redis.call('HINCRBY', KEYS[1], 'version', 1)
local event = token_event(KEYS[1])
if ARGV[10] == '1' then redis.call('PUBLISH', KEYS[3], event) end
return {newgen, newgen, event}
"""

# KEYS: token hash, events; ARGV: digest of the rejected token
_INVALIDATE = """
if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'invalid') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'invalid', 1)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', KEYS[2], token_event(KEYS[1]))
return 1
"""

# Undo a rotation's suspension when no new token came. KEYS: token hash, events;
# ARGV: digest
_RESTORE = """
if redis.call('HGET', KEYS[1], 'digest') ~= ARGV[1] then return 0 end
if redis.call('HGET', KEYS[1], 'invalid') ~= '1' then return 0 end
redis.call('HSET', KEYS[1], 'invalid', 0)
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', KEYS[2], token_event(KEYS[1]))
return 1
"""

# KEYS: failures counter, backoff key, stats; ARGV: initial ms, max ms, random in [0,1),
#       error text, retry-after ms (0 if none)
_BACKOFF = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 3600000)
local cap = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) * 2 ^ (n - 1))
local delay = math.floor(cap / 2 + cap / 2 * tonumber(ARGV[3]))
delay = math.max(delay, tonumber(ARGV[5]), 1)
redis.call('SET', KEYS[2], ARGV[4], 'PX', delay)
redis.call('HINCRBY', KEYS[3], 'upstream_failed', 1)
return delay
"""


class TokenStore:
    """All Redis state of one provider's token. Credentials are sealed (encrypted) on
    the way in and opened on the way out, here only: ``_seal`` / ``_open``."""

    def __init__(
        self,
        redis: RedisClient,
        prefix: str,
        provider: str,
        owner: str,
        sealer: Sealer,
        ack: ReplicaAck = NO_ACK,
    ) -> None:
        """With ``ack``, a lease, a new token and an adoption count only once replicas
        hold them; the event announcing a token follows the acknowledgement, so no
        replica serves a token that a failover could still take back."""
        base = f"{prefix}:tok:{{{provider}}}"
        self.redis = redis
        self._ack = ack
        self.owner = owner
        self.provider = provider
        self._sealer = sealer
        self._unopened: bytes | None = None  # the last value that did not open (logged once)
        self.token_key = f"{base}:token"
        self.stats_key = f"{base}:stats"
        self.failures_key = f"{base}:failures"
        self.backoff_key = f"{base}:backoff"
        self.negative_key = f"{base}:negative"
        self.probe_key = f"{base}:probe"
        self.tags_key = f"{base}:tags"
        self.chain_key = f"{base}:chain"  # the refresh token and its write-ahead marker
        self.reauth_key = f"{base}:reauth"
        self.channel = f"{base}:events"
        self.lock = LeaseLock(redis, f"{base}:lock", f"{base}:fence", owner, ack)
        self._write = redis.register_script(_EVENT + _FENCED_WRITE)
        self._adopt = redis.register_script(_EVENT + _ADOPT)
        self._invalidate = redis.register_script(_EVENT + _INVALIDATE)
        self._restore = redis.register_script(_EVENT + _RESTORE)
        self._backoff = redis.register_script(_BACKOFF)
        self._take_chain = redis.register_script(_TAKE_CHAIN)
        self._break_chain = redis.register_script(_BREAK_CHAIN)

    async def read(self) -> TokenRecord | None:
        # The client does not decode responses: bytes keys and values.
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self.token_key))
        return parse_record(raw, self._open)

    def open_event(self, event: TokenEvent) -> TokenRecord | None:
        """The record an event carries, its token opened here (no Redis command); None
        if the token does not open (a key this replica lacks, or damaged): the caller
        re-reads Redis instead, as for an event without a record."""
        if not event.sealed_token:
            return None
        access_token = self._open("access_token", event.sealed_token.encode())
        if access_token is None:
            return None
        return TokenRecord(
            access_token=access_token,
            token_type=event.token_type,
            generation=event.generation,
            issued_ms=event.issued_ms,
            expires_ms=event.expires_ms,
            refresh_ms=event.refresh_ms,
            invalid=event.invalid,
            version=event.version,
        )

    def _seal(self, field: str, plaintext: str) -> str:
        """A credential as stored in ``field`` of this provider's hash."""
        return self._sealer.seal(plaintext, f"{self.provider}/{field}")

    def _open(self, field: str, sealed: bytes) -> str | None:
        """The credential stored in ``field``; None if it does not open (an unknown key
        id, tampered, or copied from elsewhere): the caller treats that as no token, so
        it is refreshed. Logged once per value, without the value."""
        try:
            return self._sealer.open(sealed.decode(errors="replace"), f"{self.provider}/{field}")
        except SealError as exc:
            if sealed != self._unopened:
                self._unopened = sealed
                log.warning(
                    "stored token does not decrypt; treating it as absent",
                    extra={"provider": self.provider, "field": field, "reason": str(exc)},
                )
            return None

    async def fenced_write(
        self,
        lease: Lease,
        expected_generation: int,
        token: str,
        token_type: str,
        lifetime_ms: int,
        refresh_after_ms: int,
        elapsed_ms: int,
        chained: bool = False,
        refresh_token: str | None = None,
    ) -> tuple[int, str]:
        """The new token (and, ``chained``, the next refresh token) in one script."""
        generation, why, *event = await self._ack.run(
            self.redis,
            self._write,
            [
                self.token_key,
                self.lock.key,
                self.stats_key,
                self.channel,
                self.chain_key,
                self.reauth_key,
            ],
            [
                lease.value,
                lease.fence,
                expected_generation,
                self._seal("access_token", token),
                token_type,
                digest(token),
                lifetime_ms,
                refresh_after_ms,
                elapsed_ms,
                self._publishes,
                1 if chained else 0,
                self._seal("refresh_token", refresh_token) if refresh_token else "",
            ],
        )
        await self._announce(event[0] if event else b"")
        return int(generation), why.decode() if isinstance(why, bytes) else str(why)

    @property
    def _publishes(self) -> int:
        """1 when the scripts publish their events themselves (no acknowledgement
        to wait for), else 0: ``_announce`` publishes after it."""
        return 0 if self._ack.replicas > 0 else 1

    async def _announce(self, event: bytes | str) -> None:
        """Publishes a script's event once its write was acknowledged (with ``ack``)."""
        if event and not self._publishes:
            await self.redis.publish(self.channel, event)

    async def take_chain(self, lease: Lease, seed: str | None) -> ChainLink | None:
        """The refresh token to send now (or the secret ``seed`` while no chain exists and
        it was never used), marking it sent by this lease's fence; None if the lease is
        lost."""
        ok, raw, previous, seeded = await self._take_chain(
            keys=[self.chain_key, self.lock.key],
            args=[lease.value, lease.fence, digest(seed) if seed else ""],
        )
        if not int(ok):
            return None
        token = seed if int(seeded) else (self._open("refresh_token", raw) if raw else None)
        marker = previous.decode() if isinstance(previous, bytes) else str(previous)
        return ChainLink(token, int(marker) if marker else 0)

    async def break_chain(self, reason: str) -> None:
        """No refresh token works and no bootstrap grant exists: REAUTHORIZATION_REQUIRED
        for the whole fleet until an operator installs a new grant."""
        await self._break_chain(
            keys=[self.chain_key, self.reauth_key, self.stats_key, self.channel], args=[reason]
        )

    async def reauthorization_required(self) -> str | None:
        value = await self.redis.get(self.reauth_key)
        if not value:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def count(self, name: str) -> None:
        await self.redis.hincrby(self.stats_key, name, 1)

    async def adopt(self, lease: Lease, record: TokenRecord) -> int:
        generation, _announced, event = await self._ack.run(
            self.redis,
            self._adopt,
            [self.token_key, self.lock.key, self.channel],
            [
                lease.value,
                lease.fence,
                self._seal("access_token", record.access_token),
                record.token_type,
                digest(record.access_token),
                record.issued_ms,
                record.expires_ms,
                record.refresh_ms,
                record.generation,
                self._publishes,
            ],
        )
        await self._announce(event)
        return int(generation)

    async def invalidate(self, token: str) -> bool:
        return bool(
            await self._invalidate(keys=[self.token_key, self.channel], args=[digest(token)])
        )

    async def restore(self, token: str) -> bool:
        return bool(await self._restore(keys=[self.token_key, self.channel], args=[digest(token)]))

    async def record_failure(
        self, error: str, initial_ms: int, max_ms: int, jitter: float, retry_after_ms: int
    ) -> int:
        """Counts a failed upstream request and opens a shared backoff window."""
        return int(
            await self._backoff(
                keys=[self.failures_key, self.backoff_key, self.stats_key],
                args=[initial_ms, max_ms, jitter, error, retry_after_ms],
            )
        )

    async def clear_failures(self) -> None:
        await self.redis.delete(self.failures_key, self.backoff_key)

    async def backoff(self) -> tuple[str, int] | None:
        """(last error, remaining ms) while refresh is backing off."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.backoff_key)
        pipe.pttl(self.backoff_key)
        error, pttl = await pipe.execute()
        if error is None or pttl <= 0:
            return None
        return error.decode(), int(pttl)

    async def replica_tag(self) -> int:
        """A tag in 1..MAX_TAG for this replica's degraded generations, unique among
        the last MAX_TAG replicas that asked."""
        return (int(await self.redis.incr(self.tags_key)) - 1) % MAX_TAG + 1

    async def take_probe(self, owner: str, interval_ms: int) -> bool:
        """Half-open: True for exactly one caller fleet-wide per ``interval_ms``, who may
        try the token endpoint ahead of the backoff window."""
        return bool(await self.redis.set(self.probe_key, owner, nx=True, px=max(interval_ms, 1)))

    async def set_negative(self, error: str, ttl_ms: int) -> None:
        await self.redis.set(self.negative_key, error, px=max(ttl_ms, 1))
        await self.redis.hincrby(self.stats_key, "upstream_failed", 1)

    async def negative(self) -> str | None:
        value = await self.redis.get(self.negative_key)
        if not value:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def announce_lease(self, rec: TokenRecord | None) -> None:
        """Tells the fleet that this replica holds the refresh lease to replace ``rec``
        (``leased:<generation>:<version>:<owner>``): the others, due too, wait for its
        write's event instead of trying the lease and looking at the backoff meanwhile.
        One command per refresh; a replica that does not know the message re-reads."""
        generation, version = (rec.generation, rec.version) if rec is not None else (0, 0)
        await self.redis.publish(self.channel, f"{LEASED}:{generation}:{version}:{self.owner}")

    async def publish_released(self) -> None:
        """Wakes waiters after a refresh attempt that wrote nothing."""
        await self.redis.publish(self.channel, b"released")

    async def stats(self) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(self.stats_key))
        return {k.decode(): int(v) for k, v in raw.items()}

    async def fleet_status(
        self, chained: bool
    ) -> tuple[dict[str, int], str | None, tuple[str, int] | None, str | None]:
        """In one round trip: the shared counters, the refresh lease's value (None when
        free), the backoff (last error, remaining ms) and, for chained grants, why the
        chain needs an operator."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.stats_key)
        pipe.get(self.lock.key)
        pipe.get(self.backoff_key)
        pipe.pttl(self.backoff_key)
        if chained:
            pipe.get(self.reauth_key)
        stats, holder, error, pttl, *reauth = await pipe.execute()
        backoff = None if error is None or pttl <= 0 else (_text(error), int(pttl))
        return (
            {k.decode(): int(v) for k, v in stats.items()},
            _text(holder) if holder else None,
            backoff,
            _text(reauth[0]) if reauth and reauth[0] else None,
        )


@dataclass(frozen=True)
class ChainLink:
    """The refresh token a holder may send, and the fence of a holder that sent the
    previous one without storing the answer (0: none; the chain is intact)."""

    refresh_token: str | None
    unacknowledged_fence: int

    def __repr__(self) -> str:  # never the token
        return (
            f"ChainLink(held={self.refresh_token is not None}, "
            f"unacknowledged_fence={self.unacknowledged_fence})"
        )


def parse_record(
    raw: dict[bytes, bytes], open_field: Callable[[str, bytes], str | None]
) -> TokenRecord | None:
    """The record in a token hash; ``open_field(field, stored)`` opens a sealed credential
    (None: it does not open, and the record reads as invalid, keeping its generation so
    the next fenced write replaces it)."""
    if not raw or b"access_token" not in raw:
        return None
    access_token = open_field("access_token", raw[b"access_token"])
    return TokenRecord(
        access_token=access_token or "",
        token_type=raw.get(b"token_type", b"Bearer").decode(),
        generation=int(raw[b"generation"]),
        issued_ms=int(raw[b"issued_ms"]),
        expires_ms=int(raw[b"expires_ms"]),
        refresh_ms=int(raw[b"refresh_ms"]),
        invalid=access_token is None or raw.get(b"invalid") == b"1",
        version=int(raw.get(b"version", b"0")),
    )


@dataclass(frozen=True)
class TokenEvent:
    """A token event as published (``EVENT_FORMAT``): the record, its access token still
    sealed, and for a fenced write the shared counters it changed."""

    generation: int
    version: int
    issued_ms: int
    expires_ms: int
    refresh_ms: int
    invalid: bool
    upstream_ok: int | None  # the shared counter after a fenced write, else None
    chain_rotations: int | None  # the same for a chained write (which clears reauth)
    sealed_token: str = field(repr=False)
    token_type: str = "Bearer"


def parse_event(payload: bytes | str) -> TokenEvent | None:
    """The record an event carries; None for an event without one (``released``,
    ``reauth``), another format (a newer or older replica's, during a rolling update)
    or anything damaged: the caller then re-reads Redis, as before events carried
    records."""
    text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
    parts = text.split(":", _EVENT_FIELDS - 1)
    if len(parts) != _EVENT_FIELDS or parts[0] != EVENT_FORMAT:
        return None
    _, gen, version, issued, expires, refresh, invalid, ok, rotations, sealed, kind = parts
    try:
        return TokenEvent(
            generation=int(gen),
            version=int(version),
            issued_ms=int(issued),
            expires_ms=int(expires),
            refresh_ms=int(refresh),
            invalid=_flag(invalid),
            upstream_ok=int(ok) if ok else None,
            chain_rotations=int(rotations) if rotations else None,
            sealed_token=sealed,
            token_type=kind or "Bearer",
        )
    except ValueError:
        return None


def parse_lease(payload: bytes | str) -> tuple[int, int] | None:
    """(generation, version) of the record a lease announcement's holder replaces;
    None if ``payload`` is not one."""
    text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
    kind, _, rest = text.partition(":")
    generation, _, rest = rest.partition(":")
    version, _, _owner = rest.partition(":")
    if kind != LEASED:
        return None
    try:
        return int(generation), int(version)
    except ValueError:
        return None


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"not a flag: {text[:8]!r}")
    return text == "1"


class RedisClock:
    """Redis server time as seen from this replica: local clock plus a measured offset."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._offset_ms = 0.0

    async def sync(self) -> None:
        before = time.time()
        seconds, micros = await self._redis.time()
        after = time.time()
        redis_ms = seconds * 1000 + micros / 1000
        self._offset_ms = redis_ms - (before + after) * 500

    def now_ms(self) -> int:
        return int(time.time() * 1000 + self._offset_ms)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
