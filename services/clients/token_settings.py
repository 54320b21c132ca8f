"""How a service reaches the token service: read once here, used by search and booking
to build their ``TokenClient`` (services/clients/token_client.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.config import ConfigError, load, read, setting


@dataclass(frozen=True)
class TokenClientSettings:
    addresses: tuple[str, ...] = field(
        default=(),
        metadata=setting(
            "TOKEN_SERVICE_ADDRESSES",
            "the token service: comma list of host:port (IP list or "
            "one DNS name); needed for provider calls and itinerary links",
            default_doc="none",
        ),
    )
    caller_id: str = field(
        default="",
        metadata=setting(
            "TOKEN_CALLER_ID",
            "this service's caller id at the token service",
            default_doc="the service's name",
        ),
    )
    caller_key: str = field(
        default="",
        repr=False,
        metadata=setting(
            "TOKEN_CALLER_KEY",
            "this caller's key (`CALLER_<ID>_KEY` of the token service)",
            secret=True,
            default_doc="required with TOKEN_SERVICE_ADDRESSES",
        ),
    )
    timeout_seconds: float = field(
        default=3.0,
        metadata=setting(
            "TOKEN_SERVICE_TIMEOUT_SECONDS",
            "deadline of booking's token-service calls (search's token client uses 5 s)",
            minimum=0.1,
        ),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, caller_id: str) -> TokenClientSettings | None:
        """None unless TOKEN_SERVICE_ADDRESSES is set; ``caller_id`` is the default id."""
        addresses = read(cls, "addresses", env)
        if not addresses:
            return None
        return load(cls, env, addresses=addresses, defaults={"caller_id": caller_id})

    @classmethod
    def required(cls, env: Mapping[str, str], *, caller_id: str) -> TokenClientSettings:
        """The settings, or a ConfigError naming TOKEN_SERVICE_ADDRESSES."""
        if not env.get("TOKEN_SERVICE_ADDRESSES"):
            raise ConfigError("TOKEN_SERVICE_ADDRESSES is required")
        settings = cls.from_env(env, caller_id=caller_id)
        if settings is None:
            raise ConfigError("TOKEN_SERVICE_ADDRESSES must list at least one address")
        return settings
