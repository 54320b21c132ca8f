"""Start-up settings: command line plus environment, read once into a frozen object.

Clients come from ``SIM_CLIENTS`` (``id:secret,id2:secret2``) or, so secrets need not sit
in the environment, from the file named by ``SIM_CLIENTS_FILE`` (same format; commas or
newlines between entries). The simulator refuses to start without at least one client.
The flight inventory's seed comes from ``--inventory-seed``, else ``SIM_INVENTORY_SEED``,
else 7.

The hotel supplier profile (``hotel``) is optional: its clients come from
``SIM_HOTEL_CLIENTS`` / ``SIM_HOTEL_CLIENTS_FILE`` and its users (username:password) from
``SIM_HOTEL_USERS`` / ``SIM_HOTEL_USERS_FILE``, same format. ``--refresh-clients a,b``
configures those Amadeus clients for refresh tokens; ``--refresh-ttl``,
``--refresh-grace`` and ``--no-refresh-rotation`` set the start-up refresh-token policy of
those clients and of every hotel client (changeable at run time, ``grant_control``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from provider_sim.inventory import DEFAULT_SEED as DEFAULT_INVENTORY_SEED
from provider_sim.refresh import GrantPolicy

DEFAULT_TOKEN_TTL: Final = 1799.0  # what Amadeus issues: 30 minutes minus a second


class SettingsError(ValueError):
    """Configuration the simulator cannot start with."""


@dataclasses.dataclass(frozen=True)
class SimSettings:
    host: str
    port: int
    port_file: Path | None
    token_ttl: float
    log_level: str
    # repr=False: settings may be logged or shown in a traceback; secrets must not be.
    clients: Mapping[str, str] = dataclasses.field(repr=False)
    inventory_seed: int = DEFAULT_INVENTORY_SEED
    hotel_clients: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    hotel_users: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    grant_policies: Mapping[str, GrantPolicy] = dataclasses.field(default_factory=dict)


def load_settings(argv: Sequence[str], environ: Mapping[str, str]) -> SimSettings:
    args = _parser().parse_args(argv)
    if not args.token_ttl > 0:
        raise SettingsError("--token-ttl must be a positive number of seconds")
    if not 0 <= args.port <= 65535:
        raise SettingsError("--port must be between 0 and 65535")
    clients = _read_clients(environ)
    hotel_clients = _read_optional(environ, "SIM_HOTEL_CLIENTS")
    if set(clients) & set(hotel_clients):
        raise SettingsError("a hotel client id must differ from every Amadeus client id")
    return SimSettings(
        host=args.host,
        port=args.port,
        port_file=args.port_file,
        token_ttl=args.token_ttl,
        log_level=args.log_level,
        clients=types.MappingProxyType(clients),
        inventory_seed=_inventory_seed(args.inventory_seed, environ),
        hotel_clients=types.MappingProxyType(hotel_clients),
        hotel_users=types.MappingProxyType(_read_optional(environ, "SIM_HOTEL_USERS")),
        grant_policies=types.MappingProxyType(_grant_policies(args, clients, hotel_clients)),
    )


def _grant_policies(
    args: argparse.Namespace, clients: Mapping[str, str], hotel_clients: Mapping[str, str]
) -> dict[str, GrantPolicy]:
    refresh_clients = [c.strip() for c in (args.refresh_clients or "").split(",") if c.strip()]
    for client_id in refresh_clients:
        if client_id not in clients:
            raise SettingsError(f"--refresh-clients names unknown client {client_id!r}")
    try:
        policy = GrantPolicy(
            refresh=True,
            rotation=args.refresh_rotation,
            grace_s=args.refresh_grace,
            refresh_ttl=args.refresh_ttl,
        )
    except ValueError as exc:
        raise SettingsError(f"refresh-token policy: {exc}") from None
    return {client_id: policy for client_id in [*refresh_clients, *hotel_clients]}


def _read_optional(environ: Mapping[str, str], name: str) -> dict[str, str]:
    """``name`` or the file named by ``name_FILE``; empty when neither is set."""
    raw = environ.get(name, "")
    path = environ.get(f"{name}_FILE")
    if not raw.strip() and path:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot read {name}_FILE: {exc.strerror}") from None
    try:
        return parse_clients(raw)
    except SettingsError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _inventory_seed(flag: int | None, environ: Mapping[str, str]) -> int:
    if flag is not None:
        return flag
    raw = environ.get("SIM_INVENTORY_SEED", "").strip()
    if not raw:
        return DEFAULT_INVENTORY_SEED
    try:
        return int(raw)
    except ValueError:
        raise SettingsError("SIM_INVENTORY_SEED must be an integer") from None


def parse_clients(raw: str) -> dict[str, str]:
    """``id:secret`` entries separated by commas or newlines; the secret may contain ':'."""
    clients: dict[str, str] = {}
    for entry in raw.replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        client_id, sep, secret = entry.partition(":")
        if not sep or not client_id or not secret:
            # Name the position, not the entry: the entry may hold a secret.
            raise SettingsError(
                f"client entry #{len(clients) + 1} must look like client_id:client_secret"
            )
        if client_id in clients:
            raise SettingsError(f"client {client_id!r} is listed twice")
        clients[client_id] = secret
    return clients


def _read_clients(environ: Mapping[str, str]) -> dict[str, str]:
    raw = environ.get("SIM_CLIENTS", "")
    path = environ.get("SIM_CLIENTS_FILE")
    if not raw.strip() and path:
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot read SIM_CLIENTS_FILE: {exc.strerror}") from None
    clients = parse_clients(raw)
    if not clients:
        raise SettingsError(
            "no clients configured: set SIM_CLIENTS=client_id:client_secret[,...] "
            "or SIM_CLIENTS_FILE"
        )
    return clients


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provider_sim",
        description="Local stand-in for the Amadeus Self-Service API.",
        epilog="Clients: SIM_CLIENTS=client_id:client_secret[,...] or SIM_CLIENTS_FILE=path.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8081, help="port to bind; 0 = any free")
    parser.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="once listening, write the bound port here (atomically)",
    )
    parser.add_argument(
        "--token-ttl",
        type=float,
        default=DEFAULT_TOKEN_TTL,
        help="token lifetime in seconds; may be fractional (default: %(default)s)",
    )
    parser.add_argument(
        "--inventory-seed",
        type=int,
        default=None,
        help="seed of the flight inventory (default: $SIM_INVENTORY_SEED or "
        f"{DEFAULT_INVENTORY_SEED})",
    )
    parser.add_argument(
        "--refresh-clients",
        default=None,
        help="comma-separated Amadeus client ids that may use refresh tokens",
    )
    parser.add_argument(
        "--refresh-ttl",
        type=float,
        default=None,
        help="refresh-token lifetime in seconds (default: never expires)",
    )
    parser.add_argument(
        "--refresh-grace",
        type=float,
        default=0.0,
        help="seconds a just-rotated refresh token may be reused (default: %(default)s)",
    )
    parser.add_argument(
        "--no-refresh-rotation",
        dest="refresh_rotation",
        action="store_false",
        help="refresh tokens stay valid when used (default: single-use, rotating)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser
