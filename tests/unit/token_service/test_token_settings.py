"""TokenServiceSettings.from_env on plain dicts: providers, callers, policy checks,
and secrets kept out of errors and reprs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.config import ConfigError
from token_service.settings import CallerConfig, ProviderConfig, TokenServiceSettings

AMADEUS_SECRET = "amadeus-client-secret-7f3e"
OTHER_SECRET = "other-client-secret-1b9d"
SEARCH_KEY = "search-caller-key-5c2a"
BOOKING_KEY = "booking-caller-key-8e4f"
# base64 of 32 bytes: "token-settings-test-key-32-bytes"
ENCRYPTION_KEYS = "k1:dG9rZW4tc2V0dGluZ3MtdGVzdC1rZXktMzItYnl0ZXM="


def base_env(**overrides: str) -> dict[str, str]:
    env = {
        "TOKEN_PROVIDERS": "amadeus, other",
        "PROVIDER_AMADEUS_TOKEN_URL": "https://test.api.amadeus.com/v1/security/oauth2/token",
        "PROVIDER_AMADEUS_CLIENT_ID": "amadeus-client",
        "PROVIDER_AMADEUS_CLIENT_SECRET": AMADEUS_SECRET,
        "PROVIDER_AMADEUS_SCOPE": "flights",
        "PROVIDER_OTHER_TOKEN_URL": "http://127.0.0.1:8081/token",
        "PROVIDER_OTHER_CLIENT_ID": "other-client",
        "PROVIDER_OTHER_CLIENT_SECRET": OTHER_SECRET,
        "TOKEN_CALLERS": json.dumps({"search": ["amadeus", "other"], "booking": ["amadeus"]}),
        "CALLER_SEARCH_KEY": SEARCH_KEY,
        "CALLER_BOOKING_KEY": BOOKING_KEY,
        "TOKEN_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
    }
    env.update(overrides)
    return env


def test_providers_and_callers() -> None:
    settings = TokenServiceSettings.from_env(base_env())
    amadeus, other = settings.providers
    assert amadeus == ProviderConfig(
        "amadeus",
        base_env()["PROVIDER_AMADEUS_TOKEN_URL"],
        "amadeus-client",
        AMADEUS_SECRET,
        "flights",
    )
    assert (other.name, other.client_secret, other.scope) == ("other", OTHER_SECRET, None)
    callers = {c.caller_id: c for c in settings.callers}
    assert callers["search"] == CallerConfig("search", SEARCH_KEY, frozenset({"amadeus", "other"}))
    assert callers["booking"].providers == frozenset({"amadeus"})
    assert settings.server.service_name == "token"
    assert settings.server.grpc_port == 50051
    assert settings.policy.refresh_min_fraction == 0.75


def test_secrets_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "client_secret"
    secret_file.write_text(AMADEUS_SECRET + "\n")
    env = base_env(PROVIDER_AMADEUS_CLIENT_SECRET_FILE=str(secret_file))
    del env["PROVIDER_AMADEUS_CLIENT_SECRET"]
    assert TokenServiceSettings.from_env(env).providers[0].client_secret == AMADEUS_SECRET


def test_policy_from_env() -> None:
    settings = TokenServiceSettings.from_env(
        base_env(
            TOKEN_REFRESH_MIN_FRACTION="0.5",
            TOKEN_REFRESH_MAX_FRACTION="0.6",
            TOKEN_LOCK_TTL_SECONDS="3",
            TOKEN_BACKOFF_MAX_SECONDS="12",
        )
    )
    policy = settings.policy
    assert (policy.refresh_min_fraction, policy.refresh_max_fraction) == (0.5, 0.6)
    assert (policy.lock_ttl_seconds, policy.backoff_max_seconds) == (3.0, 12.0)


def test_lease_and_wait_defaults() -> None:
    # A short renewed lease, and a wait cap longer than a takeover (lease + fetch).
    policy = TokenServiceSettings.from_env(base_env()).policy
    assert (policy.lock_ttl_seconds, policy.wait_max_seconds) == (3.0, 30.0)
    assert policy.wait_max_seconds > policy.lock_ttl_seconds + policy.upstream_timeout_seconds


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"TOKEN_WAIT_MAX_SECONDS": "12"}, 12.0),
        ({"TOKEN_WAIT_TIMEOUT_SECONDS": "7"}, 7.0),  # the deprecated name still works
        ({"TOKEN_WAIT_MAX_SECONDS": "12", "TOKEN_WAIT_TIMEOUT_SECONDS": "7"}, 12.0),
    ],
)
def test_wait_max_and_its_deprecated_name(overrides: dict[str, str], expected: float) -> None:
    assert TokenServiceSettings.from_env(base_env(**overrides)).policy.wait_max_seconds == (
        expected
    )


def test_hand_out_floor_and_probe_interval() -> None:
    policy = TokenServiceSettings.from_env(base_env()).policy
    assert (policy.min_handout_seconds, policy.probe_interval_seconds) == (2.0, 1.0)
    policy = TokenServiceSettings.from_env(
        base_env(TOKEN_MIN_HANDOUT_SECONDS="0.5", TOKEN_PROBE_INTERVAL_SECONDS="0.25")
    ).policy
    assert (policy.min_handout_seconds, policy.probe_interval_seconds) == (0.5, 0.25)
    for bad in ("30", "-1"):
        with pytest.raises(ConfigError, match="TOKEN_MIN_HANDOUT_SECONDS"):
            TokenServiceSettings.from_env(base_env(TOKEN_MIN_HANDOUT_SECONDS=bad))
    with pytest.raises(ConfigError, match="TOKEN_PROBE_INTERVAL_SECONDS"):
        TokenServiceSettings.from_env(base_env(TOKEN_PROBE_INTERVAL_SECONDS="0"))


def test_caller_naming_an_unknown_provider() -> None:
    env = base_env(TOKEN_CALLERS=json.dumps({"search": ["amadeus", "sabre"]}))
    with pytest.raises(ConfigError, match=r"TOKEN_CALLERS\[search\].*sabre"):
        TokenServiceSettings.from_env(env)


@pytest.mark.parametrize(
    "callers", ["", "not json", "[]", "{}", '{"search": "amadeus"}', '{"Search!": ["amadeus"]}']
)
def test_bad_callers_table(callers: str) -> None:
    with pytest.raises(ConfigError, match="TOKEN_CALLERS"):
        TokenServiceSettings.from_env(base_env(TOKEN_CALLERS=callers))


def test_missing_caller_key_names_the_variable() -> None:
    env = base_env()
    del env["CALLER_BOOKING_KEY"]
    with pytest.raises(ConfigError, match="CALLER_BOOKING_KEY"):
        TokenServiceSettings.from_env(env)


@pytest.mark.parametrize("variable", ["PROVIDER_AMADEUS_CLIENT_SECRET", "CALLER_SEARCH_KEY"])
def test_placeholder_secret_is_refused(variable: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable} is a placeholder") as err:
        TokenServiceSettings.from_env(base_env(**{variable: "changeme"}))
    assert "changeme" not in str(err.value)


@pytest.mark.parametrize(
    ("low", "high"),
    [("0", "0.8"), ("0.9", "0.8"), ("0.75", "1"), ("0.75", "1.5"), ("-0.1", "0.8"), ("x", "0.8")],
)
def test_bad_refresh_fractions(low: str, high: str) -> None:
    with pytest.raises(ConfigError, match="TOKEN_REFRESH_M"):
        TokenServiceSettings.from_env(
            base_env(TOKEN_REFRESH_MIN_FRACTION=low, TOKEN_REFRESH_MAX_FRACTION=high)
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"TOKEN_PROVIDERS": ""},
        {"TOKEN_PROVIDERS": "Amadeus"},
        {"PROVIDER_AMADEUS_TOKEN_URL": "ftp://example.com/token"},
        {"PROVIDER_AMADEUS_CLIENT_ID": ""},
        {"TOKEN_LOCK_TTL_SECONDS": "0"},
        {"TOKEN_WAIT_MAX_SECONDS": "0"},
        {"TOKEN_WAIT_MAX_SECONDS": "soon"},
    ],
)
def test_other_invalid_settings(overrides: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        TokenServiceSettings.from_env(base_env(**overrides))


def test_no_secret_in_any_error_message() -> None:
    # A broken setting after the secrets were read: the message names only the variable.
    with pytest.raises(ConfigError) as err:
        TokenServiceSettings.from_env(base_env(TOKEN_REFRESH_MIN_FRACTION="0.99"))
    for secret in (AMADEUS_SECRET, OTHER_SECRET, SEARCH_KEY, BOOKING_KEY):
        assert secret not in str(err.value)


def test_reprs_do_not_show_secrets() -> None:
    settings = TokenServiceSettings.from_env(base_env())
    text = " ".join(
        [
            repr(settings),
            str(settings),
            *map(repr, settings.providers),
            *map(repr, settings.callers),
        ]
    )
    for secret in (AMADEUS_SECRET, OTHER_SECRET, SEARCH_KEY, BOOKING_KEY):
        assert secret not in text
    assert "amadeus" in repr(settings.providers[0])
    assert "search" in repr(settings.callers[0])


# ------------------------------------------------------------------------ grants


def test_grant_defaults_to_client_credentials() -> None:
    provider = TokenServiceSettings.from_env(base_env()).providers[0]
    assert (provider.grant, provider.chained, provider.has_bootstrap) == (
        "client_credentials",
        False,
        False,
    )


def test_password_grant_needs_username_and_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PROVIDER_AMADEUS_USERNAME"):
        TokenServiceSettings.from_env(base_env(PROVIDER_AMADEUS_GRANT="password"))
    secret = tmp_path / "pw"
    secret.write_text("hotel-login-pw-4c3b\n")
    provider = TokenServiceSettings.from_env(
        base_env(
            PROVIDER_AMADEUS_GRANT="password",
            PROVIDER_AMADEUS_USERNAME="ops",
            PROVIDER_AMADEUS_PASSWORD_FILE=str(secret),
        )
    ).providers[0]
    assert (provider.password, provider.chained, provider.has_bootstrap) == (
        "hotel-login-pw-4c3b",
        True,
        True,
    )
    assert "hotel-login-pw-4c3b" not in repr(provider)


def test_refresh_token_grant_and_its_secret() -> None:
    provider = TokenServiceSettings.from_env(
        base_env(
            PROVIDER_AMADEUS_GRANT="refresh_token",
            PROVIDER_AMADEUS_REFRESH_TOKEN="first-refresh-9a8b",
        )
    ).providers[0]
    assert (provider.refresh_token, provider.chained, provider.has_bootstrap) == (
        "first-refresh-9a8b",
        True,
        False,
    )
    with pytest.raises(ConfigError, match="only read with"):
        TokenServiceSettings.from_env(base_env(PROVIDER_AMADEUS_REFRESH_TOKEN="first-refresh-9a8b"))


def test_unknown_grant_and_admin_callers() -> None:
    with pytest.raises(ConfigError, match="PROVIDER_AMADEUS_GRANT"):
        TokenServiceSettings.from_env(base_env(PROVIDER_AMADEUS_GRANT="implicit"))
    with pytest.raises(ConfigError, match="unknown callers"):
        TokenServiceSettings.from_env(base_env(TOKEN_ADMIN_CALLERS="ops"))
    assert TokenServiceSettings.from_env(base_env(TOKEN_ADMIN_CALLERS="booking")).admin_callers == {
        "booking"
    }
