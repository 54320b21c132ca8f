"""Settings read once from the environment, frozen, and passed down.

Secrets may come from ``NAME`` or from a file named by ``NAME_FILE`` (a mounted
Kubernetes secret); a missing or placeholder secret refuses to start.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "changethis", "secret", "password", "placeholder",
     "xxx", "todo", "example", "dummy"}
)


class ConfigError(Exception):
    """The environment does not describe a runnable service."""


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"{name} is required")
        return default
    return value


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean, got {raw!r}")


def env_secret(env: Mapping[str, str], name: str) -> str:
    """A secret from NAME or from the file NAME_FILE; never echoed in errors."""
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE cannot be read: {exc.strerror}") from None
    else:
        value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} (or {name}_FILE) is required")
    if value.lower() in PLACEHOLDER_SECRETS or value.lower().startswith("change"):
        raise ConfigError(f"{name} is a placeholder; set a real secret")
    return value


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str
    key_file: str
    # When set, clients must present a certificate signed by this CA (mTLS).
    client_ca_file: str | None = None


@dataclass(frozen=True)
class ServerSettings:
    service_name: str
    grpc_host: str
    grpc_port: int
    metrics_port: int  # 0 = ephemeral, -1 = disabled
    replica_id: str
    log_level: str
    shutdown_grace_seconds: float
    port_file: str | None
    tls: TlsSettings | None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, default_service: str, default_port: int
                 ) -> ServerSettings:
        tls = None
        if env.get("TLS_CERT_FILE"):
            tls = TlsSettings(
                cert_file=env_str(env, "TLS_CERT_FILE"),
                key_file=env_str(env, "TLS_KEY_FILE"),
                client_ca_file=env.get("TLS_CLIENT_CA_FILE") or None,
            )
        return cls(
            service_name=env_str(env, "SERVICE_NAME", default_service),
            grpc_host=env_str(env, "GRPC_HOST", "127.0.0.1"),
            grpc_port=env_int(env, "GRPC_PORT", default_port),
            metrics_port=env_int(env, "METRICS_PORT", -1),
            replica_id=env_str(env, "REPLICA_ID", f"{socket.gethostname()}-{os.getpid()}"),
            log_level=env_str(env, "LOG_LEVEL", "INFO").upper(),
            shutdown_grace_seconds=env_float(env, "SHUTDOWN_GRACE_SECONDS", 5.0),
            port_file=env.get("PORT_FILE") or None,
            tls=tls,
        )


@dataclass(frozen=True)
class RedisSettings:
    url: str
    key_prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RedisSettings:
        return cls(
            url=env_str(env, "REDIS_URL", "redis://127.0.0.1:6379/0"),
            key_prefix=env_str(env, "REDIS_KEY_PREFIX", "skyroute"),
        )
