"""Which providers a service uses, and each one's settings.

Two ways to configure, read by search and booking alike:

- A list (``SEARCH_PROVIDERS`` / ``BOOKING_PROVIDERS=amadeus,other``): each name's
  settings are ``PROVIDER_<NAME>_<SETTING>`` (``PROVIDER_OTHER_BASE_URL``,
  ``PROVIDER_OTHER_KIND``, ``PROVIDER_OTHER_TIMEOUT_SECONDS`` ...), falling back to the
  shared ``PROVIDER_<SETTING>`` and then the default; the base URL is the provider's
  own (no fallback).
- No list: the single provider of ``PROVIDER_NAME`` / ``PROVIDER_BASE_URL`` /
  ``PROVIDER_ENABLED`` (enabled by default when the base URL is set), as before.

A service's settings read one provider through ``ProviderEnv``: the environment as
that provider sees it, so the same parsing code serves both ways.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from services.config import ConfigError, Setting, read, setting
from services.providers.base import PROVIDER_NAME
from services.providers.registry import KINDS

PREFIX = "PROVIDER_"
DEFAULT_NAME = "amadeus"
DEFAULT_KIND = "amadeus"
# Never taken from the shared PROVIDER_<SETTING> in list mode.
_OWN = {"BASE_URL", "NAME", "ENABLED"}


def provider_list(var: str) -> Setting:
    """The declaration of a service's provider list (SEARCH_PROVIDERS, BOOKING_PROVIDERS)."""
    return Setting(
        var,
        "comma list of provider names; each one's settings are "
        "`PROVIDER_<NAME>_<SETTING>`, falling back to `PROVIDER_<SETTING>`",
        default_doc="the single provider of PROVIDER_NAME",
    )


@dataclass(frozen=True)
class ProviderBasics:
    """What every provider of search and booking has (read through ``ProviderEnv``)."""

    name: str = field(
        default=DEFAULT_NAME,
        metadata=setting("PROVIDER_NAME", "the single provider's name (without a provider list)"),
    )
    base_url: str = field(
        default="",
        metadata=setting(
            "PROVIDER_BASE_URL",
            "the provider's API (http(s)); setting it enables the provider "
            "(in a list: `PROVIDER_<NAME>_BASE_URL`, required)",
            default_doc="none",
        ),
    )
    enabled: bool = field(
        default=False,
        metadata=setting(
            "PROVIDER_ENABLED",
            "`false` turns the provider off",
            default_doc="true when PROVIDER_BASE_URL is set",
        ),
    )
    kind: str = field(
        default=DEFAULT_KIND,
        metadata=setting(
            "PROVIDER_KIND",
            "the adapter (services/providers/registry.py); `PROVIDER_<NAME>_KIND` first",
        ),
    )


def provider_enabled(env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether the provider is on, and its base URL (stripped; may be empty)."""
    base_url = read(ProviderBasics, "base_url", env).strip()
    enabled = (
        read(ProviderBasics, "enabled", env) if env.get("PROVIDER_ENABLED") else bool(base_url)
    )
    return enabled, base_url


class ProviderEnv(Mapping[str, str]):
    """``env`` with ``PROVIDER_<SETTING>`` answered by ``PROVIDER_<NAME>_<SETTING>`` when
    set; ``PROVIDER_NAME`` is the name, ``PROVIDER_ENABLED`` true."""

    def __init__(self, env: Mapping[str, str], name: str) -> None:
        self._env = env
        self._own = f"{PREFIX}{name.upper()}_"
        self._fixed = {f"{PREFIX}NAME": name, f"{PREFIX}ENABLED": "true"}

    def __getitem__(self, key: str) -> str:
        if key in self._fixed:
            return self._fixed[key]
        if key.startswith(PREFIX):
            setting = key[len(PREFIX) :]
            own = self._own + setting
            if own in self._env:
                return self._env[own]
            if setting in _OWN:
                raise KeyError(key)
        return self._env[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._fixed
        yield from (k for k in self._env if k not in self._fixed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def provider_envs(env: Mapping[str, str], list_var: str) -> list[Mapping[str, str]]:
    """One environment view per configured provider (see the module's docstring); the
    legacy single provider is ``env`` itself. Empty when no provider is configured."""
    raw = env.get(list_var)
    if raw is None or not raw.strip():
        return [env]
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if not PROVIDER_NAME.match(name):
            raise ConfigError(f"{list_var}: {name!r} is not a valid name (lowercase, digits, _)")
    if len(set(names)) != len(names):
        raise ConfigError(f"{list_var} names a provider twice")
    return [ProviderEnv(env, name) for name in names]


def provider_name(env: Mapping[str, str]) -> str:
    name: str = read(ProviderBasics, "name", env)
    if not PROVIDER_NAME.match(name):
        raise ConfigError(f"PROVIDER_NAME {name!r} is not a valid name (lowercase, digits, _)")
    return name


def provider_kind(env: Mapping[str, str], name: str) -> str:
    """PROVIDER_<NAME>_KIND (then PROVIDER_KIND), by default amadeus."""
    own = f"{PREFIX}{name.upper()}_KIND"
    kind = (env.get(own) or read(ProviderBasics, "kind", env)).strip()
    if kind not in KINDS:
        raise ConfigError(
            f"{own}: unknown provider kind {kind!r} (known: {', '.join(sorted(KINDS))})"
        )
    return kind
