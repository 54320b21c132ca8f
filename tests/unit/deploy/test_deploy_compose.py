"""docker-compose.yml passes secrets as files (`secrets:`), never as environment values,
and scripts/compose_secrets.py (`make compose-secrets`) writes every file it mounts.
The services' own settings loaders are run on each container's environment, with the
generated files where Compose would mount them, so the two cannot drift apart.
(`make compose-check` runs `docker-compose config` on the file in CI.)
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from account_service.auth.keys import SigningKeys
from account_service.settings import AccountServiceSettings
from booking_service.settings import BookingServiceSettings
from provider_sim.settings import load_settings as load_sim_settings
from scripts.compose_secrets import (
    HOTEL_CLIENT_ID,
    HOTEL_USER,
    SECRETS,
    SIM_CLIENT_ID,
    write_secrets,
)
from search_service.settings import SearchServiceSettings
from services.db import DatabaseSettings
from token_service.settings import TokenServiceSettings

ROOT = Path(__file__).resolve().parents[3]
MOUNT = "/run/secrets/"
# Environment names that would carry a secret's value (their *_FILE form is fine).
SECRET_NAME = re.compile(r"(SECRET|_KEY|PASSWORD|DATABASE_URL|_CLIENTS|_USERS)$")

Compose = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Compose:
    loaded: Compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def environment(service: Compose) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict)
    return {k: str(v) for k, v in env.items()}


def test_every_mounted_secret_is_a_file_the_script_writes(compose: Compose) -> None:
    declared = compose["secrets"]
    assert set(declared) == set(SECRETS)
    for name, spec in declared.items():
        assert spec == {"file": f".run/secrets/{name}"}


def test_no_secret_is_passed_in_the_environment(compose: Compose) -> None:
    for name, service in compose["services"].items():
        env = environment(service)
        mounted = set(service.get("secrets", []))
        for key, value in env.items():
            assert "${" not in value, f"{name}: {key} is interpolated from the host"
            if key.endswith("_FILE") and value.startswith(MOUNT):
                assert value.removeprefix(MOUNT) in mounted, f"{name}: {key} not mounted"
            else:
                assert not SECRET_NAME.search(key), f"{name}: {key} is a plain secret"


def test_the_script_keeps_existing_files_and_hides_them_from_other_users(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    assert write_secrets(directory) == list(SECRETS)
    before = {p.name: p.read_text() for p in directory.iterdir()}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    # World-readable files (the containers' users differ from the host's owner).
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in directory.iterdir())
    password = before["postgres-password"].strip()
    assert before["database-url"].strip() == (
        f"postgresql://skyroute:{password}@postgres:5432/skyroute"
    )
    assert before["sim-clients"].strip() == (
        f"{SIM_CLIENT_ID}:{before['sim-client-secret'].strip()}"
    )
    assert before["sim-hotel-clients"].strip() == (
        f"{HOTEL_CLIENT_ID}:{before['hotel-client-secret'].strip()}"
    )
    assert before["sim-hotel-users"].strip() == f"{HOTEL_USER}:{before['hotel-password'].strip()}"
    assert len(set(before.values())) == len(before)

    (directory / "page-token-secret").unlink()
    assert write_secrets(directory) == ["page-token-secret"]
    after = {p.name: p.read_text() for p in directory.iterdir()}
    assert {k: v for k, v in after.items() if k != "page-token-secret"} == {
        k: v for k, v in before.items() if k != "page-token-secret"
    }


def test_each_container_loads_its_settings_from_the_mounted_files(
    compose: Compose, tmp_path: Path
) -> None:
    write_secrets(tmp_path)
    value = {name: (tmp_path / name).read_text().strip() for name in SECRETS}

    def env_of(service: str) -> dict[str, str]:
        return {
            k: v.replace(MOUNT, f"{tmp_path}/") if k.endswith("_FILE") else v
            for k, v in environment(compose["services"][service]).items()
        }

    token = TokenServiceSettings.from_env(env_of("token-1"))
    provider, hotel = token.providers
    assert (provider.name, provider.client_id) == ("amadeus", SIM_CLIENT_ID)
    assert provider.client_secret == value["sim-client-secret"]
    # The hotel supplier: the password grant with the same user the stand-in knows.
    assert (hotel.name, hotel.client_id, hotel.grant) == ("hotel", HOTEL_CLIENT_ID, "password")
    assert hotel.client_secret == value["hotel-client-secret"]
    assert (hotel.username, hotel.password) == (HOTEL_USER, value["hotel-password"])
    assert hotel.token_url == "http://provider-sim:8081/hotel/v1/auth/token"
    assert {c.caller_id: c.key for c in token.callers} == {
        "search": value["caller-search-key"],
        "booking": value["caller-booking-key"],
        "cli": value["caller-cli-key"],
    }
    search_caller = next(c for c in token.callers if c.caller_id == "search")
    assert "hotel" in search_caller.providers

    sim = load_sim_settings([], env_of("provider-sim"))
    assert sim.clients == {SIM_CLIENT_ID: value["sim-client-secret"]}
    assert sim.hotel_clients == {HOTEL_CLIENT_ID: value["hotel-client-secret"]}
    assert sim.hotel_users == {HOTEL_USER: value["hotel-password"]}

    search = SearchServiceSettings.from_env(env_of("search-1"))
    assert search.page_token_secret == value["page-token-secret"]
    assert value["postgres-password"] in search.database.url
    assert value["caller-search-key"] in repr(
        [getattr(p, "caller_key", None) for p in search.providers]
    )
    assert search.hotel_provider is not None
    assert search.hotel_provider.base_url == "http://provider-sim:8081"
    assert search.hotel_provider.caller_key == value["caller-search-key"]

    booking = BookingServiceSettings.from_env(env_of("booking-2"))
    assert booking.jwt.secret == value["booking-jwt-secret"]
    assert booking.tokens is not None
    assert booking.tokens.caller_key == value["caller-booking-key"]

    assert booking.jwt.jwks_url and booking.jwt.session_revocation
    account = AccountServiceSettings.from_env(env_of("account-1"))
    assert account.signing_keys == value["account-signing-keys"]
    SigningKeys(account.signing_keys, account.tokens.signing_key_id)  # a usable key

    for one_shot in ("migrate", "seed"):
        database = DatabaseSettings.from_env(env_of(one_shot))
        assert value["postgres-password"] in database.url
