"""SearchServiceSettings.from_env on plain dicts: defaults, provider switch, secrets
from files, placeholders refused, nothing secret in reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from search_service.hotels.offer_ids import STORE_MODES
from search_service.settings import SearchPolicy, SearchServiceSettings
from services.config import ConfigError, declared

SECRET = "page-token-secret-4f1d9a"
CALLER_KEY = "search-caller-key-77ab31"


def env(**overrides: str) -> dict[str, str]:
    base = {"PAGE_TOKEN_SECRET": SECRET}
    base.update(overrides)
    return base


def provider_env(**overrides: str) -> dict[str, str]:
    return env(
        PROVIDER_BASE_URL="http://127.0.0.1:8081",
        TOKEN_SERVICE_ADDRESSES="127.0.0.1:50051, 127.0.0.1:50052",
        TOKEN_CALLER_KEY=CALLER_KEY,
        **overrides,
    )


def test_defaults() -> None:
    s = SearchServiceSettings.from_env(env())
    assert s.server.service_name == "search"
    assert s.server.grpc_port == 50061
    assert s.page_token_secret == SECRET
    assert s.provider is None
    assert s.policy.cache_ttl_seconds == 60.0
    assert s.policy.min_connection_minutes == 45
    assert s.policy.max_layover_minutes == 360
    assert s.policy.price_guarantee_seconds == 900.0
    assert (s.policy.default_page_size, s.policy.max_page_size) == (20, 100)
    assert s.database.url.drivername == "postgresql+asyncpg"


def test_cache_ttl_and_partial_ttl() -> None:
    s = SearchServiceSettings.from_env(env(SEARCH_CACHE_TTL_SECONDS="2"))
    assert s.policy.cache_ttl_seconds == 2.0
    assert s.policy.partial_cache_ttl_seconds == 2.0  # never longer than the TTL
    with pytest.raises(ConfigError):
        SearchServiceSettings.from_env(env(SEARCH_CACHE_TTL_SECONDS="0"))


def test_provider_enabled_by_base_url() -> None:
    s = SearchServiceSettings.from_env(provider_env())
    assert s.provider is not None
    assert s.provider.name == "amadeus"
    assert s.provider.caller_id == "search"
    assert s.provider.token_service_addresses == ("127.0.0.1:50051", "127.0.0.1:50052")
    assert CALLER_KEY not in repr(s) and SECRET not in repr(s)


def test_provider_can_be_disabled() -> None:
    assert SearchServiceSettings.from_env(provider_env(PROVIDER_ENABLED="false")).provider is None


@pytest.mark.parametrize("missing", ["TOKEN_SERVICE_ADDRESSES", "TOKEN_CALLER_KEY"])
def test_enabled_provider_needs_token_service(missing: str) -> None:
    values = provider_env()
    del values[missing]
    with pytest.raises(ConfigError):
        SearchServiceSettings.from_env(values)


def test_enabled_provider_needs_a_url() -> None:
    with pytest.raises(ConfigError):
        SearchServiceSettings.from_env(env(PROVIDER_ENABLED="true"))


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text(SECRET + "\n")
    (tmp_path / "key").write_text(CALLER_KEY)
    values = provider_env(
        PAGE_TOKEN_SECRET_FILE=str(tmp_path / "secret"), TOKEN_CALLER_KEY_FILE=str(tmp_path / "key")
    )
    del values["PAGE_TOKEN_SECRET"], values["TOKEN_CALLER_KEY"]
    s = SearchServiceSettings.from_env(values)
    assert s.page_token_secret == SECRET
    assert s.provider is not None and s.provider.caller_key == CALLER_KEY


@pytest.mark.parametrize("value", ["", "changeme", "secret", "change-this-later"])
def test_placeholder_page_token_secret_refused(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        SearchServiceSettings.from_env(env(PAGE_TOKEN_SECRET=value))
    assert "PAGE_TOKEN_SECRET" in str(err.value)


def test_bad_connection_window_refused() -> None:
    with pytest.raises(ConfigError):
        SearchServiceSettings.from_env(env(SEARCH_MIN_CONNECTION_MINUTES="400"))


def test_hotel_offer_store_mode() -> None:
    assert SearchServiceSettings.from_env(env()).policy.hotel_offer_store == "batch"
    keys = SearchServiceSettings.from_env(env(SEARCH_HOTEL_OFFER_STORE="keys"))
    assert keys.policy.hotel_offer_store == "keys"
    with pytest.raises(ConfigError) as err:
        SearchServiceSettings.from_env(env(SEARCH_HOTEL_OFFER_STORE="hash"))
    assert "SEARCH_HOTEL_OFFER_STORE" in str(err.value)


def test_hotel_offer_store_modes_are_the_stores() -> None:
    [decl] = [d for f, d in declared(SearchPolicy) if f.name == "hotel_offer_store"]
    assert set(decl.choices) == set(STORE_MODES)
