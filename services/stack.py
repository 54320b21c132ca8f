"""The skyroute stack, described once: its services, their replicas and ports, and the
environment each replica gets, derived from a few shared facts.

`make run` (scripts/run_stack.py), the system tests' clusters (tests/utils/*_cluster.py)
and the benchmarks (benchmarks/services_up.py, benchmarks/service_clusters.py) all start
their processes from here. A launcher says what it knows (a ``Facts``: Redis, the
database, the upstreams and their client credentials, caller keys, the JWT, where the
other services listen) and adds only its own tuning (log level, grace period, ...).
docker-compose.yml and deploy/k8s write the same variables out for their platforms.

Nothing here is a secret; the facts may hold some, and their reprs never show them.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
# Where an Amadeus-shaped upstream (and the stand-in) issues client-credentials tokens.
TOKEN_PATH = "/v1/security/oauth2/token"
# Where the hotel supplier (and the stand-in's hotel profile) logs in: password grant.
HOTEL_TOKEN_PATH = "/hotel/v1/auth/token"


@dataclass(frozen=True)
class Upstream:
    """An upstream provider and the token service's client credentials for it."""

    name: str  # lowercase: PROVIDER_<NAME>_* in the token service, PROVIDER_NAME elsewhere
    base_url: str  # http://host:port of its API
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"


@dataclass(frozen=True)
class HotelSupplier:
    """The hotel supplier (search's SEARCH_HOTEL_PROVIDER) and the token service's
    password login at it (rotating refresh tokens follow)."""

    name: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{HOTEL_TOKEN_PATH}"


@dataclass(frozen=True)
class Jwt:
    """How the booking service checks its users' JWTs (HS256)."""

    secret: str = field(repr=False)
    issuer: str
    audience: str


def new_account_signing_keys(kid: str = "dev-1") -> str:
    """A fresh ACCOUNT_SIGNING_KEYS value: one P-256 key (PKCS#8 DER, base64), id ``kid``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return f"{kid}:{base64.b64encode(der).decode()}"


def new_token_encryption_keys() -> str:
    """A fresh TOKEN_ENCRYPTION_KEYS value: one 256-bit key, id ``dev``."""
    return f"dev:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@dataclass(frozen=True)
class Facts:
    """What the environments derive from; a launcher leaves out what it does not run
    (no upstream: search runs without the provider; no Redis: nothing gets REDIS_URL)."""

    redis_url: str | None = None
    key_prefix: str | None = None
    database_url: str | None = None
    # The token service holds a token for each; search and booking call the first.
    upstreams: tuple[Upstream, ...] = ()
    # Callers of the token service -> the providers each may ask for.
    callers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    caller_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    page_token_secret: str | None = field(default=None, repr=False)
    jwt: Jwt | None = None
    # The token service's keys sealing tokens in Redis (kid:base64key,...). New for each
    # Facts, so every replica started from one Facts shares them.
    token_encryption_keys: str = field(default_factory=new_token_encryption_keys, repr=False)
    # Service name -> "host:port" of each replica's gRPC endpoint.
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The account service's ES256 keys (kid:base64,...), new for each Facts.
    account_signing_keys: str = field(default_factory=new_account_signing_keys, repr=False)
    # Where booking reads the account service's JWKS (and then checks sessions
    # against the revocations in Redis); None: booking trusts only the HS256 secret.
    jwks_url: str | None = None
    # The account service serves its outbox over gRPC (development: the CLI's links).
    account_outbox_rpc: bool = False
    # The hotel supplier, if any: a token-service provider and search's hotel supplier.
    hotel_supplier: HotelSupplier | None = None


# -- the pieces of an environment ------------------------------------------------------


def redis_env(facts: Facts) -> dict[str, str]:
    if facts.redis_url is None:
        return {}
    env = {"REDIS_URL": facts.redis_url}
    if facts.key_prefix is not None:
        env["REDIS_KEY_PREFIX"] = facts.key_prefix
    return env


def database_env(facts: Facts) -> dict[str, str]:
    return {} if facts.database_url is None else {"DATABASE_URL": facts.database_url}


def token_client_env(facts: Facts, caller: str) -> dict[str, str]:
    """A client of the token service calling as ``caller`` (empty without one)."""
    addresses = facts.addresses.get("token")
    if not addresses:
        return {}
    return {
        "TOKEN_SERVICE_ADDRESSES": ",".join(addresses),
        "TOKEN_CALLER_ID": caller,
        "TOKEN_CALLER_KEY": facts.caller_keys[caller],
    }


def upstream_env(facts: Facts) -> dict[str, str]:
    """The upstream search and booking call (the first one)."""
    if not facts.upstreams:
        return {}
    upstream = facts.upstreams[0]
    return {"PROVIDER_NAME": upstream.name, "PROVIDER_BASE_URL": upstream.base_url}


def jwt_env(jwt: Jwt) -> dict[str, str]:
    return {
        "BOOKING_JWT_ISSUER": jwt.issuer,
        "BOOKING_JWT_AUDIENCE": jwt.audience,
        "BOOKING_JWT_SECRET": jwt.secret,
    }


def sim_clients_env(clients: Mapping[str, str]) -> dict[str, str]:
    """The provider stand-in's known clients: client id -> secret."""
    return {"SIM_CLIENTS": ",".join(f"{cid}:{secret}" for cid, secret in clients.items())}


# -- each service's environment --------------------------------------------------------


def provider_sim_env(facts: Facts) -> dict[str, str]:
    env = sim_clients_env({u.client_id: u.client_secret for u in facts.upstreams})
    hotel = facts.hotel_supplier
    if hotel is not None:
        env["SIM_HOTEL_CLIENTS"] = f"{hotel.client_id}:{hotel.client_secret}"
        env["SIM_HOTEL_USERS"] = f"{hotel.username}:{hotel.password}"
    return env


def token_service_env(facts: Facts) -> dict[str, str]:
    env = {**redis_env(facts), "TOKEN_PROVIDERS": ",".join(u.name for u in facts.upstreams)}
    for upstream in facts.upstreams:
        name = upstream.name.upper()
        env[f"PROVIDER_{name}_TOKEN_URL"] = upstream.token_url
        env[f"PROVIDER_{name}_CLIENT_ID"] = upstream.client_id
        env[f"PROVIDER_{name}_CLIENT_SECRET"] = upstream.client_secret
    hotel = facts.hotel_supplier
    if hotel is not None:
        name = hotel.name.upper()
        env["TOKEN_PROVIDERS"] += f",{hotel.name}"
        env[f"PROVIDER_{name}_TOKEN_URL"] = hotel.token_url
        env[f"PROVIDER_{name}_CLIENT_ID"] = hotel.client_id
        env[f"PROVIDER_{name}_CLIENT_SECRET"] = hotel.client_secret
        env[f"PROVIDER_{name}_GRANT"] = "password"
        env[f"PROVIDER_{name}_USERNAME"] = hotel.username
        env[f"PROVIDER_{name}_PASSWORD"] = hotel.password
    env["TOKEN_CALLERS"] = json.dumps(
        {c: list(p) for c, p in facts.callers.items()}, separators=(",", ":")
    )
    env.update({f"CALLER_{c.upper()}_KEY": key for c, key in facts.caller_keys.items()})
    env["TOKEN_ENCRYPTION_KEYS"] = facts.token_encryption_keys
    return env


def search_service_env(facts: Facts) -> dict[str, str]:
    env = {**database_env(facts), **redis_env(facts)}
    if facts.page_token_secret is not None:
        env["PAGE_TOKEN_SECRET"] = facts.page_token_secret
    provider = token_client_env(facts, "search")
    if facts.upstreams and provider:
        env.update(PROVIDER_ENABLED="true", **upstream_env(facts), **provider)
    else:
        env["PROVIDER_ENABLED"] = "false"
    if facts.hotel_supplier is not None and provider:
        hotel = facts.hotel_supplier
        env.update(provider)
        env["SEARCH_HOTEL_PROVIDER"] = hotel.name
        env[f"PROVIDER_{hotel.name.upper()}_BASE_URL"] = hotel.base_url
    return env


def account_service_env(facts: Facts) -> dict[str, str]:
    env = {
        **database_env(facts),
        **redis_env(facts),
        "ACCOUNT_SIGNING_KEYS": facts.account_signing_keys,
    }
    if facts.jwt is not None:
        env.update(ACCOUNT_JWT_ISSUER=facts.jwt.issuer, ACCOUNT_JWT_AUDIENCE=facts.jwt.audience)
    if facts.account_outbox_rpc:
        env["ACCOUNT_DEV_OUTBOX_RPC"] = "true"
    return env


def booking_service_env(facts: Facts) -> dict[str, str]:
    env = {**database_env(facts), **redis_env(facts)}
    if facts.jwt is not None:
        env.update(jwt_env(facts.jwt))
    if facts.jwks_url is not None:
        env.update(BOOKING_JWKS_URL=facts.jwks_url, BOOKING_SESSION_REVOCATION="true")
    if facts.addresses.get("search"):
        env["SEARCH_SERVICE_ADDRESSES"] = ",".join(facts.addresses["search"])
    tokens = token_client_env(facts, "booking")
    if tokens:
        env.update(**upstream_env(facts), **tokens)
    hotel = facts.hotel_supplier
    if hotel is not None and tokens and facts.addresses.get("search"):
        # Hotel stays and packages (booking_service/flows/packages.py).
        env["BOOKING_HOTEL_PROVIDER"] = hotel.name
        env[f"PROVIDER_{hotel.name.upper()}_BASE_URL"] = hotel.base_url
    return env


def tracking_service_env(facts: Facts) -> dict[str, str]:
    env = {**database_env(facts), **redis_env(facts)}
    if facts.jwt is not None:
        env.update(jwt_env(facts.jwt))
    if facts.jwks_url is not None:  # the same users as booking: the account service's
        env.update(BOOKING_JWKS_URL=facts.jwks_url, BOOKING_SESSION_REVOCATION="true")
    if facts.addresses.get("search"):
        env["SEARCH_SERVICE_ADDRESSES"] = ",".join(facts.addresses["search"])
    return env


# -- the services ----------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the stack. The ports are `make run`'s: replica i of a replicated
    service listens on base + i. Tests and benchmarks ask for port 0 instead."""

    name: str  # SERVICE_NAME; replica ids are <name>-<i>
    module: str  # run as `python -m <module> <args>`
    env: Callable[[Facts], dict[str, str]]
    args: tuple[str, ...] = ()
    replicated: bool = True
    grpc_port: int | None = None
    metrics_port: int | None = None
    http_port: int | None = None  # a plain HTTP service (the stand-in)

    def replica_env(
        self,
        facts: Facts,
        replica_id: str,
        *,
        grpc_port: int,
        metrics_port: int | None = None,
        host: str = HOST,
    ) -> dict[str, str]:
        """The environment of one gRPC replica (METRICS_PORT unset: no metrics)."""
        env = {
            **self.env(facts),
            "SERVICE_NAME": self.name,
            "REPLICA_ID": replica_id,
            "GRPC_HOST": host,
            "GRPC_PORT": str(grpc_port),
        }
        if metrics_port is not None:
            env["METRICS_PORT"] = str(metrics_port)
        return env


PROVIDER_SIM = ServiceSpec(
    name="provider-sim",
    module="provider_sim",
    env=provider_sim_env,
    replicated=False,
    http_port=8081,
)
TOKEN = ServiceSpec(
    name="token", module="token_service", env=token_service_env, grpc_port=50051, metrics_port=9461
)
SEARCH = ServiceSpec(
    name="search",
    module="search_service",
    env=search_service_env,
    grpc_port=50061,
    metrics_port=9471,
)
ACCOUNT = ServiceSpec(
    name="account",
    module="account_service",
    env=account_service_env,
    grpc_port=50081,
    metrics_port=9491,
)
BOOKING = ServiceSpec(
    name="booking",
    module="booking_service",
    env=booking_service_env,
    grpc_port=50071,
    metrics_port=9481,
)

TRACKING = ServiceSpec(
    name="tracking",
    module="tracking_service",
    env=tracking_service_env,
    grpc_port=50091,
    metrics_port=9501,
)

# In start order (stopped in reverse): each one's environment may name those before it.
STACK: tuple[ServiceSpec, ...] = (PROVIDER_SIM, TOKEN, SEARCH, ACCOUNT, BOOKING, TRACKING)
# Where the account service serves its JWKS (on its HTTP status port).
JWKS_PATH = "/.well-known/jwks.json"


def grpc_addresses(
    services: tuple[ServiceSpec, ...], replicas: int, host: str = HOST
) -> dict[str, tuple[str, ...]]:
    """Where each gRPC service's replicas listen on `make run`'s ports."""
    return {
        s.name: tuple(f"{host}:{s.grpc_port + i}" for i in range(replicas if s.replicated else 1))
        for s in services
        if s.grpc_port is not None
    }


def read_port_file(path: Path) -> dict[str, int] | None:
    """The ports a process started on port 0 wrote to its port file (PORT_FILE): a
    service's {"grpc": ..., "metrics": ...}, the stand-in's HTTP port as {"http": port};
    None until it is there."""
    try:
        ports = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not yet, or half written
        return None
    if isinstance(ports, int):
        return {"http": ports}
    return ports if isinstance(ports, dict) else None


# -- the facts of `make run` (its secrets are new every run) --------------------------

DEV_REDIS_URL = "redis://127.0.0.1:6379/0"
DEV_DATABASE_URL = "postgresql://skyroute:skyroute@127.0.0.1:5432/skyroute"
# The dev stack's own Redis key space, cleared at start (the stand-in starts afresh).
DEV_KEY_PREFIX = "skyroute-dev"
DEV_PROVIDER = "amadeus"
DEV_CLIENT_ID = "skyroute-dev"
DEV_HOTEL_PROVIDER = "hotel"
DEV_HOTEL_CLIENT_ID = "skyroute-hotel-dev"
DEV_HOTEL_USER = "skyroute-ops"
DEV_CALLERS = ("search", "booking", "cli")  # callers of the token service, each with a key
DEV_JWT_ISSUER = "skyroute-dev"
DEV_JWT_AUDIENCE = "skyroute"
