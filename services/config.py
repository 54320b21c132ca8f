"""Settings read once from the environment, frozen, and passed down.

A setting is declared once, as a field of a frozen dataclass:

    hold_seconds: float = field(default=900.0, metadata=setting(
        "BOOKING_HOLD_SECONDS", "how long a hold keeps its seats", minimum=0.1))

``load(cls, env)`` reads every declared field by its type (str, int, float, bool,
``str | None``, ``tuple[str, ...]`` as a comma list); ``python -m services.config
--markdown`` prints the tables the docs carry (tests/unit/services/test_settings_docs.py
keeps them in step). A loader driven by dataclass fields rather than pydantic-settings:
no new dependency, and the frozen dataclasses the code already passes around stay what
they are.

Secrets may come from ``NAME`` or from a file named by ``NAME_FILE`` (a mounted
Kubernetes secret); a missing or placeholder secret refuses to start.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

# A provider or caller name: lowercase, digits and _, as in PROVIDER_<NAME>_* variables.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "password",
        "placeholder",
        "xxx",
        "todo",
        "example",
        "dummy",
    }
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


_SETTING = "skyroute.setting"
_PLACEHOLDER = re.compile(r"<[A-Z]+>")
T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, one line of doc and its bounds."""

    env: str
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False  # also read from <env>_FILE; never echoed
    choices: tuple[str, ...] = ()
    # How the docs show a default that is not a constant (e.g. "per service").
    default_doc: str | None = None


def setting(
    env: str,
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    secret: bool = False,
    choices: tuple[str, ...] = (),
    default_doc: str | None = None,
) -> dict[str, Setting]:
    """The metadata of a dataclass field read from ``env`` by ``load``."""
    return {_SETTING: Setting(env, doc, minimum, maximum, secret, choices, default_doc)}


def declared(cls: type) -> Iterator[tuple[Field[Any], Setting]]:
    """The fields of ``cls`` read from the environment, with their declarations."""
    for f in fields(cls):
        decl = f.metadata.get(_SETTING)
        if decl is not None:
            yield f, decl


def default_of(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def load(
    cls: type[T],
    env: Mapping[str, str],
    /,
    *,
    placeholder: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    **values: Any,
) -> T:
    """``cls`` from ``env``: every declared field not given in ``values``.

    ``placeholder`` fills a ``<NAME>`` (or ``<ID>``) placeholder in the variables (upper-cased);
    ``defaults`` replaces declared defaults by field name (e.g. a service's port).
    A declared field without a default is required.
    """
    hints = typing.get_type_hints(cls)
    kwargs = dict(values)
    for f, decl in declared(cls):
        if f.name in kwargs:
            continue
        var = decl.env if placeholder is None else _PLACEHOLDER.sub(placeholder.upper(), decl.env)
        default = (defaults or {}).get(f.name, MISSING)
        if default is MISSING:
            default = default_of(f)
        kwargs[f.name] = _read(env, var, hints[f.name], default, decl)
    return cls(**kwargs)


def read(
    cls: type,
    field_name: str,
    env: Mapping[str, str],
    /,
    *,
    placeholder: str | None = None,
    default: Any = MISSING,
) -> Any:
    """One declared field of ``cls`` from ``env`` (a value others depend on);
    ``default`` replaces the declared one."""
    f = next(f for f in fields(cls) if f.name == field_name)
    decl = f.metadata[_SETTING]
    var = decl.env if placeholder is None else _PLACEHOLDER.sub(placeholder.upper(), decl.env)
    if default is MISSING:
        default = default_of(f)
    return _read(env, var, typing.get_type_hints(cls)[field_name], default, decl)


def rows(items: Iterable[type | Setting]) -> Iterator[tuple[str, str]]:
    """(variable, "doc (default)") for every setting of ``items``: dataclasses with
    declared fields, or Setting constants of values parsed by hand."""
    for item in items:
        if isinstance(item, Setting):
            yield _row(item, MISSING)
        else:
            for f, decl in declared(item):
                yield _row(decl, default_of(f))


def _row(decl: Setting, default: Any) -> tuple[str, str]:
    name = f"`{decl.env}[_FILE]`" if decl.secret else f"`{decl.env}`"
    if decl.default_doc is not None:
        shown = decl.default_doc
    elif default is MISSING:
        shown = "required"
    elif isinstance(default, bool):
        shown = str(default).lower()
    elif default in (None, "", ()):
        shown = "none"
    elif isinstance(default, float):
        shown = f"{default:g}"
    else:
        shown = str(default)
    return name, f"{decl.doc} ({shown})"


def markdown(title: str, items: Iterable[type | Setting]) -> str:
    """A docs table of ``items``' settings (see scripts/settings_tables.py)."""
    lines = [f"| {title} | meaning (default) |", "| --- | --- |"]
    lines += [f"| {name} | {text} |" for name, text in rows(items)]
    return "\n".join(lines)


def _read(env: Mapping[str, str], var: str, kind: Any, default: Any, decl: Setting) -> Any:
    optional = type(None) in typing.get_args(kind)
    if decl.secret:  # required unless its type is optional
        if optional and not (env.get(var) or env.get(f"{var}_FILE")):
            return None if default is MISSING else default
        return env_secret(env, var)
    if optional:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
        if default is MISSING:
            default = None
    raw = env.get(var)
    if raw is None or raw == "":
        if default is MISSING:
            raise ConfigError(f"{var} is required")
        return default
    value: Any
    if kind is bool:
        value = env_bool(env, var, False)
    elif kind is int:
        value = env_int(env, var, 0)
    elif kind is float:
        value = env_float(env, var, 0.0, minimum=-float("inf"))
    elif typing.get_origin(kind) is tuple:
        value = tuple(a.strip() for a in raw.split(",") if a.strip())
    else:
        value = raw
    if kind is float and decl.minimum is None and value < 0.0:
        raise ConfigError(f"{var} must be >= 0.0")  # every duration: never negative
    if decl.minimum is not None and value < decl.minimum:
        raise ConfigError(f"{var} must be >= {decl.minimum}")
    if decl.maximum is not None and value > decl.maximum:
        raise ConfigError(f"{var} must be <= {decl.maximum:g}")
    if decl.choices and value not in decl.choices:
        raise ConfigError(f"{var} must be one of {', '.join(map(repr, decl.choices))}")
    return value


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str = field(
        metadata=setting(
            "TLS_CERT_FILE", "server certificate (PEM); setting it turns TLS on", default_doc="off"
        )
    )
    key_file: str = field(
        metadata=setting(
            "TLS_KEY_FILE",
            "the certificate's private key (PEM); required with TLS_CERT_FILE",
            default_doc="-",
        )
    )
    # When set, clients must present a certificate signed by this CA (mTLS).
    client_ca_file: str | None = field(
        default=None,
        metadata=setting(
            "TLS_CLIENT_CA_FILE", "CA of client certificates: with it, mTLS is required"
        ),
    )


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class ServerSettings:
    service_name: str = field(
        metadata=setting(
            "SERVICE_NAME", "the service's name in logs and metrics", default_doc="per service"
        )
    )
    grpc_port: int = field(
        metadata=setting("GRPC_PORT", "gRPC listen port (0 = any free)", default_doc="per service")
    )
    grpc_host: str = field(
        default="127.0.0.1", metadata=setting("GRPC_HOST", "gRPC listen address")
    )
    metrics_port: int = field(
        default=-1,
        metadata=setting("METRICS_PORT", "Prometheus `/metrics` port (0 = any free, -1 = off)"),
    )
    replica_id: str = field(
        default_factory=_replica_id,
        metadata=setting("REPLICA_ID", "lock owner id and log field", default_doc="hostname-pid"),
    )
    log_level: str = field(
        default="INFO", metadata=setting("LOG_LEVEL", "log level, e.g. DEBUG or WARNING")
    )
    shutdown_grace_seconds: float = field(
        default=5.0,
        metadata=setting(
            "SHUTDOWN_GRACE_SECONDS", "on SIGTERM, how long in-flight calls may finish"
        ),
    )
    port_file: str | None = field(
        default=None,
        metadata=setting(
            "PORT_FILE", "once listening, write the bound port here (tests, `make run`)"
        ),
    )
    tls: TlsSettings | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, default_service: str, default_port: int
    ) -> ServerSettings:
        tls = load(TlsSettings, env) if env.get("TLS_CERT_FILE") else None
        settings = load(
            cls, env, tls=tls, defaults={"service_name": default_service, "grpc_port": default_port}
        )
        return dataclasses.replace(settings, log_level=settings.log_level.upper())


SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"


def _host_ports(hosts: str, what: str) -> tuple[tuple[str, int], ...]:
    found = []
    for entry in filter(None, hosts.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"REDIS_URL: {what} {entry!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    if not found:
        raise ConfigError(f"REDIS_URL: no {what} host:port given")
    return tuple(found)


def _split_password(rest: str) -> tuple[str | None, str]:
    """(password or None, the rest after ``[user]:password@``)."""
    if "@" not in rest.split("/", 1)[0]:
        return None, rest
    userinfo, rest = rest.split("@", 1)
    return (userinfo.split(":", 1)[1] if ":" in userinfo else userinfo) or None, rest


@dataclass(frozen=True)
class SentinelTarget:
    """Where ``redis+sentinel://[:password@]host:port,host:port/master[/db]`` points."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None  # the Redis servers'; the sentinels are asked without one

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        password, rest = _split_password(url.split("://", 1)[1])
        hosts, _, path = rest.partition("/")
        master, _, db = path.strip("/").partition("/")
        sentinels = _host_ports(hosts, "sentinel")
        if not master:
            raise ConfigError("REDIS_URL: the master's name is missing (…/<master>/<db>)")
        if db and not db.isdigit():
            raise ConfigError("REDIS_URL: the database must be a number")
        return cls(sentinels, master, int(db or 0), password)


@dataclass(frozen=True)
class ClusterTarget:
    """Where ``redis+cluster://[:password@]host:port,host:port[/0]`` points: seed nodes
    of a Redis Cluster (the client learns the others and the slot map from them)."""

    nodes: tuple[tuple[str, int], ...]
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> ClusterTarget:
        password, rest = _split_password(url.split("://", 1)[1])
        hosts, _, db = rest.partition("/")
        if db.strip("/") not in ("", "0"):
            raise ConfigError("REDIS_URL: a Redis Cluster has only database 0")
        return cls(_host_ports(hosts, "cluster node"), password)


@dataclass(frozen=True)
class RedisSettings:
    url: str = field(
        default="redis://127.0.0.1:6379/0",
        metadata=setting(
            "REDIS_URL",
            "shared state: cache, locks, tokens; through Sentinel: "
            "`redis+sentinel://host:26379,host:26379/<master>/<db>`; a Redis Cluster: "
            "`redis+cluster://host:6379,host:6379` (seed nodes)",
        ),
    )
    key_prefix: str = field(
        default="skyroute",
        metadata=setting(
            "REDIS_KEY_PREFIX", "prefix of every Redis key (one per deployment or test run)"
        ),
    )
    wait_replicas: int | None = field(
        default=None,
        metadata=setting(
            "REDIS_WAIT_REPLICAS",
            "replicas that must acknowledge (WAIT) a lease, token or "
            "download-token write before it counts",
            minimum=0,
            default_doc="1 through Sentinel or on a Cluster, else 0",
        ),
    )
    wait_timeout_seconds: float = field(
        default=0.5,
        metadata=setting(
            "REDIS_WAIT_TIMEOUT_SECONDS",
            "how long such a write waits for the acknowledgement",
            minimum=0.001,
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RedisSettings:
        settings = load(cls, env)
        settings.sentinel()  # refuses to start on a malformed sentinel or cluster URL
        settings.cluster()
        return settings

    def sentinel(self) -> SentinelTarget | None:
        """The Sentinel setup named by ``url``; None for a plain ``redis://`` URL."""
        if not self.url.startswith(f"{SENTINEL_SCHEME}://"):
            return None
        return SentinelTarget.parse(self.url)

    def cluster(self) -> ClusterTarget | None:
        """The Redis Cluster named by ``url``; None unless it is ``redis+cluster://``."""
        if not self.url.startswith(f"{CLUSTER_SCHEME}://"):
            return None
        return ClusterTarget.parse(self.url)

    @property
    def acks(self) -> int:
        """Replicas whose acknowledgement a write that matters waits for."""
        if self.wait_replicas is not None:
            return self.wait_replicas
        replicated = (f"{SENTINEL_SCHEME}://", f"{CLUSTER_SCHEME}://")
        return 1 if self.url.startswith(replicated) else 0
