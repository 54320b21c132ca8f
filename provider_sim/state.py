"""In-memory state of the simulated provider: clients, tokens, counters, faults, config.

Plain Python with an injectable clock so that token expiry, revocation and fault
injection can be unit-tested without a server or real sleeps. The HTTP layer only
translates between requests and these methods.

Everything lives in one process and one event loop, so no locking is needed. Issued tokens
are kept until ``reset()``: the simulator serves tests and local runs, not months of
traffic.

The flight inventory (``inventory``, immutable, from the seed) is built once; the market
on top of it (seats sold, price shift, orders, order faults) is replaced by ``reset()``.
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from provider_sim.codes import AuthorizationCodes
from provider_sim.hotels.inventory import hotel_inventory_for_seed
from provider_sim.hotels.market import HotelMarket
from provider_sim.inventory import DEFAULT_SEED, inventory_for_seed
from provider_sim.market import Market
from provider_sim.refresh import GrantPolicy, RefreshTokens

# Statuses a test may ask the token or API endpoints to fail with.
FAULT_STATUSES = frozenset({429, 500, 502, 503, 504})
_FLIGHT_COUNTERS = ("offers_searched", "pricing_requests", "orders_created", "orders_cancelled")


class TokenStatus(enum.Enum):
    """Outcome of looking up a bearer token; the HTTP layer maps it to Amadeus codes."""

    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Behaviour knobs that tests may change at run time through ``/_sim/config``."""

    token_ttl: float = 1799.0
    token_latency_ms: int = 0
    api_latency_ms: int = 0
    revoke_on_issue: bool = False

    def __post_init__(self) -> None:
        if not self.token_ttl > 0:
            raise ValueError("token_ttl must be a positive number of seconds")
        if self.token_latency_ms < 0 or self.api_latency_ms < 0:
            raise ValueError("latencies must be >= 0 milliseconds")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class IssuedToken:
    """One access token. ``seq`` identifies it in stats without exposing its value."""

    seq: int
    client_id: str
    access_token: str
    issued_at: float
    expires_at: float
    revoked: bool = False
    family: int | None = None  # the refresh-token family it was issued from, if any

    def is_live(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at

    def public_view(self) -> dict[str, Any]:
        """Everything about the token except its value, safe for stats and logs."""
        return {
            "seq": self.seq,
            "client_id": self.client_id,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
            "family": self.family,
        }


@dataclasses.dataclass
class _Fault:
    """A pending injected failure: the next ``remaining`` calls fail with ``status``."""

    remaining: int = 0
    status: int = 500

    def take(self) -> int | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        return self.status


def _check_fault_status(status: int) -> None:
    if status not in FAULT_STATUSES:
        allowed = ", ".join(str(s) for s in sorted(FAULT_STATUSES))
        raise ValueError(f"status must be one of {allowed}")


def _check_secret(known: Mapping[str, str], name: str, secret: str) -> bool:
    expected = known.get(name)
    if expected is None:
        return False  # names are not secret; only the secret check must be timing-safe
    return hmac.compare_digest(expected.encode(), secret.encode())


class SimState:
    """Clients, issued tokens, counters, injected faults and current config."""

    def __init__(
        self,
        clients: Mapping[str, str],
        default_config: SimConfig | None = None,
        clock: Callable[[], float] = time.time,
        inventory_seed: int = DEFAULT_SEED,
        grant_policies: Mapping[str, GrantPolicy] | None = None,
        hotel_clients: Mapping[str, str] | None = None,
        hotel_users: Mapping[str, str] | None = None,
    ) -> None:
        if not clients:
            raise ValueError("at least one client is required")
        self._clients = dict(clients)
        # The hotel supplier profile (see ``hotel``): its own clients and users.
        self._hotel_clients = dict(hotel_clients or {})
        self._hotel_users = dict(hotel_users or {})
        if set(self._clients) & set(self._hotel_clients):
            raise ValueError("a hotel client id must differ from every Amadeus client id")
        self._default_config = default_config or SimConfig()
        self._clock = clock
        # Hotel clients log in with refresh tokens by default; Amadeus ones do not.
        hotel_default = GrantPolicy(refresh=True)
        self._default_policies = {c: hotel_default for c in self._hotel_clients}
        self._default_policies.update(grant_policies or {})
        self.inventory = inventory_for_seed(inventory_seed)
        self.hotel_inventory = hotel_inventory_for_seed(inventory_seed)
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------

    def reset(self) -> None:
        """Forget tokens, counters and faults; restore the start-up config."""
        self.config = self._default_config
        self._tokens: dict[str, IssuedToken] = {}
        self._issued: list[IssuedToken] = []
        self._tokens_issued: Counter[str] = Counter({c: 0 for c in self._clients})
        self._token_requests_failed: Counter[str] = Counter()
        self._token_requests_total = 0
        self._api_requests = 0
        self._api_requests_per_token: Counter[int] = Counter()
        self._api_401: Counter[int] = Counter()
        self._api_429 = 0
        self._token_fault = _Fault()
        self._token_down_status: int | None = None
        self._api_fault = _Fault()
        self.market = Market(self.inventory, self._clock)
        self.hotels = HotelMarket(self.hotel_inventory, self._clock)
        self._flight_calls: Counter[str] = Counter()
        self.refresh_tokens = RefreshTokens(self._clock, self._default_policies)
        self.codes = AuthorizationCodes(self._clock)

    def update_config(self, **changes: Any) -> SimConfig:
        """Apply a partial config change; raises ValueError/TypeError on bad input."""
        self.config = dataclasses.replace(self.config, **changes)
        return self.config

    # -- clients and tokens ------------------------------------------------------------

    def is_known_client(self, client_id: str) -> bool:
        return client_id in self._clients

    def grant_clients(self) -> list[str]:
        """Every client a grant policy may name."""
        return sorted(self._clients.keys() | self._hotel_clients.keys())

    def check_client(self, client_id: str, client_secret: str) -> bool:
        """Constant-time secret check, so timing does not reveal a secret's prefix."""
        return _check_secret(self._clients, client_id, client_secret)

    def check_hotel_client(self, client_id: str, client_secret: str) -> bool:
        return _check_secret(self._hotel_clients, client_id, client_secret)

    def check_hotel_user(self, username: str, password: str) -> bool:
        return _check_secret(self._hotel_users, username, password)

    def issue_token(self, client_id: str, family: int | None = None) -> IssuedToken:
        """Issue a fresh token; in revoke-on-issue mode older ones of the client die.

        Its lifetime is the client's ``access_ttl`` when its grant policy sets one, else
        ``token_ttl``; ``family`` ties it to a refresh-token family (see ``refresh``).
        """
        if self.config.revoke_on_issue:
            self.revoke(client_id)
        now = self._clock()
        ttl = self.refresh_tokens.policy(client_id).access_ttl or self.config.token_ttl
        token = IssuedToken(
            seq=len(self._issued) + 1,
            client_id=client_id,
            access_token=secrets.token_urlsafe(32),
            issued_at=now,
            expires_at=now + ttl,
            family=family,
        )
        self._tokens[token.access_token] = token
        self._issued.append(token)
        self._tokens_issued[client_id] += 1
        return token

    def lookup(self, access_token: str) -> tuple[TokenStatus, IssuedToken | None]:
        """Classify a presented token. Revocation wins over expiry: it was explicit."""
        token = self._tokens.get(access_token)
        if token is None:
            return TokenStatus.UNKNOWN, None
        if token.revoked:
            return TokenStatus.REVOKED, token
        if self._clock() >= token.expires_at:
            return TokenStatus.EXPIRED, token
        return TokenStatus.VALID, token

    def remaining_seconds(self, token: IssuedToken) -> float:
        return max(0.0, token.expires_at - self._clock())

    def revoke(self, client_id: str | None = None) -> int:
        """Revoke live tokens of one client (or all clients); returns how many."""
        now = self._clock()
        revoked = 0
        for token in self._issued:
            if (client_id is None or token.client_id == client_id) and token.is_live(now):
                token.revoked = True
                revoked += 1
        return revoked

    def revoke_family(self, family: int) -> int:
        """Revoke a refresh-token family: its refresh tokens and live access tokens."""
        self.refresh_tokens.revoke_family(family)
        now = self._clock()
        revoked = 0
        for token in self._issued:
            if token.family == family and token.is_live(now):
                token.revoked = True
                revoked += 1
        return revoked

    # -- injected faults ---------------------------------------------------------------

    def fail_next_token_requests(self, count: int, status: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        _check_fault_status(status)
        self._token_fault = _Fault(count, status)

    def set_token_endpoint_down(self, status: int | None) -> None:
        """``None`` brings the endpoint back; otherwise every token request fails."""
        if status is not None:
            _check_fault_status(status)
        self._token_down_status = status

    def fail_next_api_requests(self, count: int, status: int) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        _check_fault_status(status)
        self._api_fault = _Fault(count, status)

    def take_token_fault(self) -> int | None:
        """Status the current token request must fail with, if any (consumes one)."""
        if self._token_down_status is not None:
            return self._token_down_status
        return self._token_fault.take()

    def take_api_fault(self) -> int | None:
        return self._api_fault.take()

    def faults_view(self) -> dict[str, Any]:
        return {
            "token_endpoint_down_status": self._token_down_status,
            "token_failures_remaining": self._token_fault.remaining,
            "token_failure_status": self._token_fault.status,
            "api_failures_remaining": self._api_fault.remaining,
            "api_failure_status": self._api_fault.status,
        }

    # -- counters ----------------------------------------------------------------------

    def record_token_request(self, failed_for: str | None) -> None:
        """Count a token request; ``failed_for`` is the stats key when it failed."""
        self._token_requests_total += 1
        if failed_for is not None:
            self._token_requests_failed[failed_for] += 1

    def failure_key(self, client_id: str | None) -> str:
        """Stats key for a failed token request; unknown ids collapse to one bucket so
        arbitrary input cannot grow the stats without bound."""
        if client_id is not None and self.is_known_client(client_id):
            return client_id
        return "unknown"

    def record_api_request(self, token: IssuedToken | None) -> None:
        self._api_requests += 1
        if token is not None:
            self._api_requests_per_token[token.seq] += 1

    def record_api_401(self, code: int) -> None:
        self._api_401[code] += 1

    def record_api_429(self) -> None:
        self._api_429 += 1

    def record_flight_call(self, counter: str) -> None:
        """One of ``offers_searched``, ``pricing_requests``, ``orders_created``,
        ``orders_cancelled``."""
        if counter not in _FLIGHT_COUNTERS:
            raise ValueError(f"unknown counter {counter}")
        self._flight_calls[counter] += 1

    # -- time --------------------------------------------------------------------------

    def today(self) -> date:
        """Today's UTC date by the state's clock (offers' lastTicketingDate counts from it;
        whether a search date is past is decided at the origin airport, see ``shopping``)."""
        return datetime.fromtimestamp(self._clock(), UTC).date()

    # -- views -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for tests. Never contains token values or secrets."""
        return {
            "tokens_issued": dict(self._tokens_issued),
            "token_requests_failed": dict(self._token_requests_failed),
            "token_requests_total": self._token_requests_total,
            "issued": [token.public_view() for token in self._issued],
            "api_requests": self._api_requests,
            "api_requests_per_token": {
                str(seq): n for seq, n in sorted(self._api_requests_per_token.items())
            },
            "api_401": {str(code): n for code, n in sorted(self._api_401.items())},
            "api_429": self._api_429,
            **{name: self._flight_calls[name] for name in _FLIGHT_COUNTERS},
            "orders_live": len(self.market.orders()),
        }

    def tokens(self) -> list[IssuedToken]:
        return list(self._issued)
