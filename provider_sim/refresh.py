"""Refresh tokens as rotating providers issue them (RFC 6749 §6, RFC 9700 §4.14). No aiohttp.

A *family* starts when a client first gets a refresh token (authorization code, password
login, or a control call standing in for "the user logged in once"). Every access and
refresh token issued from that chain belongs to the family.

With rotation on, a refresh token is single-use: refreshing with it issues a new access
token and a new refresh token (the *successor*) and retires it. Presenting a retired token
again is a *reuse* (RFC 9700 §4.14.2): the provider cannot tell the legitimate holder from
an attacker, so it revokes the whole family (every refresh token and, through the caller,
every access token of it) and answers ``invalid_grant``. Timeline, grace period G::

    t0        start_family            -> R1 active
    t1        refresh(R1)             -> R2 active; R1 retired at t1, successor R2
    t1+g, g<G refresh(R1)             -> grace: R2 again (the same successor), no revocation
    t1+g, g>=G refresh(R1)            -> reuse: family revoked, invalid_grant
    later     refresh(R2)             -> invalid_grant (family revoked)

Within the grace period the *same* successor is returned, not a new one (Okta's "grace
period for token rotation" accepts the previous token likewise): two holders racing with
one token end up holding one chain head, so the chain never forks and the loser's copy is
as good as the winner's. If the successor has itself been used already, the chain has
moved on and the old token is a reuse even within the grace period.

With rotation off the refresh token stays valid and is not returned again (RFC 6749 §6:
the client keeps the one it has). A refresh token expires ``refresh_ttl`` seconds after it
was issued (``None``: never); an expired, unknown, revoked or other client's token is
``invalid_grant`` without revoking anything.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

# Per-client counters, all listed (zero or not) in ``stats``.
COUNTERS: Final = (
    "families_started",
    "refresh_grants",
    "grace_reuses",
    "reuses_detected",
    "families_revoked",
    "invalid_grant",
    "code_grants",
    "codes_replayed",
    "password_grants",
)


@dataclasses.dataclass(frozen=True)
class GrantPolicy:
    """How one client's refresh tokens behave; changeable at run time per client."""

    refresh: bool = False  # may the client hold refresh tokens at all
    rotation: bool = True
    grace_s: float = 0.0
    refresh_ttl: float | None = None  # seconds from issue; None: never expires
    access_ttl: float | None = None  # None: the simulator-wide token_ttl

    def __post_init__(self) -> None:
        if not self.grace_s >= 0:
            raise ValueError("grace_s must be >= 0 seconds")
        for name in ("refresh_ttl", "access_ttl"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds or null")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class InvalidGrant(Exception):
    """The presented grant is unusable; the message is safe to send (holds no token).

    ``revoked_family`` names the family this answer revoked (a reuse), so the caller can
    revoke the family's access tokens too.
    """

    def __init__(self, description: str, revoked_family: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.revoked_family = revoked_family


class Outcome(enum.Enum):
    ROTATED = "rotated"  # a new refresh token was issued
    KEPT = "kept"  # rotation off: the presented token stays valid
    GRACE = "grace"  # a just-retired token within the grace period: the same successor


@dataclasses.dataclass
class RefreshToken:
    seq: int
    family: int
    client_id: str
    value: str
    issued_at: float
    expires_at: float | None
    retired_at: float | None = None
    successor: RefreshToken | None = dataclasses.field(default=None, repr=False)
    revoked: bool = False

    def public_view(self) -> dict[str, Any]:
        """Everything but the value, safe for stats and logs."""
        return {
            "seq": self.seq,
            "family": self.family,
            "client_id": self.client_id,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "retired_at": self.retired_at,
            "successor_seq": None if self.successor is None else self.successor.seq,
            "revoked": self.revoked,
        }


@dataclasses.dataclass(frozen=True)
class Refreshed:
    """A successful refresh: the family, and the refresh token to hand back (None: omit)."""

    family: int
    refresh_token: RefreshToken | None
    outcome: Outcome


class RefreshTokens:
    """Every refresh token and family issued since the last reset, with counters."""

    def __init__(self, clock: Callable[[], float], policies: Mapping[str, GrantPolicy]) -> None:
        self._clock = clock
        self.policies = dict(policies)
        self._by_value: dict[str, RefreshToken] = {}
        self._issued: list[RefreshToken] = []
        self._family_client: dict[int, str] = {}
        self._revoked_families: set[int] = set()
        self._counters: dict[str, Counter[str]] = {}

    def policy(self, client_id: str) -> GrantPolicy:
        return self.policies.get(client_id, GrantPolicy())

    def set_policy(self, client_id: str, **changes: Any) -> GrantPolicy:
        """Partial change; raises ValueError/TypeError on bad values."""
        policy = dataclasses.replace(self.policy(client_id), **changes)
        self.policies[client_id] = policy
        return policy

    def count(self, client_id: str, counter: str) -> None:
        self._counters.setdefault(client_id, Counter())[counter] += 1

    def start_family(self, client_id: str) -> RefreshToken:
        family = len(self._family_client) + 1
        self._family_client[family] = client_id
        self.count(client_id, "families_started")
        return self._issue(client_id, family)

    def refresh(self, client_id: str, value: str) -> Refreshed:
        """Use a refresh token; raises ``InvalidGrant`` (counted) when it is not usable.

        On a reuse the family's refresh tokens are revoked here; the caller revokes its
        access tokens (``InvalidGrant.revoked_family``).
        """
        try:
            refreshed = self._refresh(client_id, value)
        except InvalidGrant:
            self.count(client_id, "invalid_grant")
            raise
        self.count(client_id, "refresh_grants")
        return refreshed

    def _refresh(self, client_id: str, value: str) -> Refreshed:
        token = self._by_value.get(value)
        if token is None or token.client_id != client_id:
            # RFC 6749 §5.2: a token issued to another client is invalid_grant too.
            raise InvalidGrant("The refresh token is invalid")
        now = self._clock()
        policy = self.policy(client_id)
        if token.retired_at is not None:
            head = token.successor
            within_grace = now - token.retired_at < policy.grace_s
            if within_grace and head is not None and head.retired_at is None and not head.revoked:
                self.count(client_id, "grace_reuses")
                return Refreshed(token.family, head, Outcome.GRACE)
            self.count(client_id, "reuses_detected")
            self.revoke_family(token.family)
            raise InvalidGrant("The refresh token was already used", revoked_family=token.family)
        if token.revoked:
            raise InvalidGrant("The refresh token was revoked")
        if token.expires_at is not None and now >= token.expires_at:
            raise InvalidGrant("The refresh token is expired")
        if not policy.rotation:
            return Refreshed(token.family, None, Outcome.KEPT)
        successor = self._issue(client_id, token.family)
        token.retired_at, token.successor = now, successor
        return Refreshed(token.family, successor, Outcome.ROTATED)

    def revoke_family(self, family: int) -> bool:
        """Revoke every refresh token of a family; False if it was revoked already."""
        if family in self._revoked_families or family not in self._family_client:
            return False
        self._revoked_families.add(family)
        for token in self._issued:
            if token.family == family:
                token.revoked = True
        self.count(self._family_client[family], "families_revoked")
        return True

    def _issue(self, client_id: str, family: int) -> RefreshToken:
        now = self._clock()
        ttl = self.policy(client_id).refresh_ttl
        token = RefreshToken(
            seq=len(self._issued) + 1,
            family=family,
            client_id=client_id,
            value=secrets.token_urlsafe(32),
            issued_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
        self._by_value[token.value] = token
        self._issued.append(token)
        return token

    def tokens(self) -> list[RefreshToken]:
        return list(self._issued)

    def stats(self, known_clients: Iterable[str] = ()) -> dict[str, dict[str, int]]:
        """Per client: every counter, zero or not. Never contains token values."""
        clients = set(known_clients) | set(self._counters)
        return {
            client_id: {name: self._counters.get(client_id, Counter())[name] for name in COUNTERS}
            for client_id in sorted(clients)
        }
