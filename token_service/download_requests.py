"""Request ids (AIP-155) that make issuing and revoking a download token safe to retry.

A caller sends one ``request_id`` per logical issue or revoke, unchanged with every
retry of it. The first call to reach Redis records, for ``REQUEST_TTL_MS``, a
fingerprint of the request's parameters and (for an issue) the token it hands out,
sealed (``token_service.sealing``): the token is never in Redis in clear. A retry with
the same parameters gets what the first call got; with others, INVALID_ARGUMENT naming
``request_id``. Ids are scoped per caller and per RPC, so two callers' ids never meet.

The record is its own key, found from the request id alone (all a retry has), as the
token's hash is found from the token alone: the two lie in unrelated Redis Cluster
slots. The token's hash is created only if it is absent, so whichever call gets there
first (the first, a retry through another replica, or the loser of two concurrent
retries) creates the one token, and nobody overwrites it. On one Redis (or through
Sentinel) a first call claims and creates in one script
(``download_tokens._CLAIM_AND_ISSUE``: one round trip, one ``WAIT``), so it cannot stop
between the two; on a Cluster they are two scripts. A retry claims, then creates if
absent: that also completes a claim whose caller stopped before creating (on a Cluster,
or a replica of a release that always ran two scripts)::

    first call      claim (new: candidate T, expiry E) + create T -----------> T
    concurrent try  claim (seen: sealed T, E) ---------> create T if absent -> T
    retry, later    claim (seen: sealed T, E) ---------> T exists: kept -----> T
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from services.errors import ValidationError

# How long a request id is remembered: far beyond a caller's retries of one request,
# and far below the time a token's hash outlives its expiry (KEEP_AFTER_EXPIRY_MS), so
# a retry never re-creates a token that was already deleted.
REQUEST_TTL_MS = 10 * 60 * 1000


class Kind(enum.Enum):
    ISSUE = "issue"
    REVOKE = "revoke"


class Claim(enum.IntEnum):
    """What the claim script answers (its first element)."""

    CONFLICT = 0  # the id was used with other parameters
    NEW = 1  # this call is the first: its candidate is the result
    SEEN = 2  # a retry: the recorded result


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    sealed: str
    expires_ms: int


# KEYS[1] request record; ARGV: parameters' fingerprint, sealed result ('' = none),
# token ttl ms (0 = none), record ttl ms. Answers {claim, sealed, expires ms}. Also run
# as a function inside download_tokens._CLAIM_AND_ISSUE (its KEYS and ARGV passed in).
CLAIM = """
local seen = redis.call('HMGET', KEYS[1], 'fingerprint', 'sealed', 'expires_ms')
if seen[1] then
  if seen[1] ~= ARGV[1] then return {0, '', 0} end
  -- Written again so that a WAIT after this script waits for a replica to hold it.
  redis.call('HSET', KEYS[1], 'fingerprint', seen[1])
  return {2, seen[2], tonumber(seen[3])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = 0
if tonumber(ARGV[3]) > 0 then expires = now + tonumber(ARGV[3]) end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'sealed', ARGV[2], 'expires_ms', expires)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, ARGV[2], expires}
"""


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class RequestId:
    """One caller's request id for one RPC, in the forms Redis sees: never the raw id
    (ids come from callers, who may forward them from users)."""

    kind: Kind
    scoped: str  # a digest of kind, caller and id: the record's key and revoked_by

    @classmethod
    def of(cls, kind: Kind, caller: str, request_id: str) -> RequestId:
        return cls(kind, _sha256(kind.value, caller, request_id))

    def key(self, prefix: str) -> str:
        return f"{prefix}:dl-request:{self.scoped}"

    @property
    def seal_context(self) -> str:
        # A sealed token copied to another request's record does not open.
        return f"download_request/{self.scoped}"


def issue_fingerprint(resource: str, ttl_ms: int, max_uses: int) -> str:
    return _sha256(Kind.ISSUE.value, resource, str(ttl_ms), str(max_uses))


def revoke_fingerprint(token_digest: str) -> str:
    return _sha256(Kind.REVOKE.value, token_digest)


def claimed(raw: list[object]) -> Claimed:
    """The claim script's answer; ValidationError naming request_id on a conflict."""
    claim = Claim(int(str(raw[0])))
    if claim == Claim.CONFLICT:
        raise ValidationError.field(
            "request_id", "was already used with different parameters; send a new one"
        )
    sealed = raw[1].decode() if isinstance(raw[1], bytes) else str(raw[1] or "")
    return Claimed(claim, sealed, int(str(raw[2])))
