"""Start-up settings and the port file."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider_sim.server import write_port_file
from provider_sim.settings import SettingsError, load_settings, parse_clients


def test_parse_clients_allows_colons_in_secret_and_whitespace() -> None:
    assert parse_clients(" a:x:y , b:z\n") == {"a": "x:y", "b": "z"}


@pytest.mark.parametrize(
    "raw", ["id-only", "id-without-secret:", ":topsecret-x", "dup:topsecret-1,dup:topsecret-2"]
)
def test_parse_clients_rejects_malformed_entries_without_echoing_secrets(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_clients(raw)
    assert "topsecret" not in str(caught.value)


def test_defaults_and_flags() -> None:
    settings = load_settings(
        ["--port", "0", "--port-file", "p", "--token-ttl", "2.5"], {"SIM_CLIENTS": "a:b"}
    )
    assert (settings.host, settings.port, settings.token_ttl) == ("127.0.0.1", 0, 2.5)
    assert settings.port_file == Path("p")
    assert dict(settings.clients) == {"a": "b"}
    assert "b" not in repr(settings).split("clients")[-1]
    assert load_settings([], {"SIM_CLIENTS": "a:b"}).token_ttl == 1799.0


@pytest.mark.parametrize("environ", [{}, {"SIM_CLIENTS": ""}, {"SIM_CLIENTS": " , "}])
def test_refuses_to_start_without_clients(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings([], environ)


def test_clients_from_file(tmp_path: Path) -> None:
    path = tmp_path / "clients"
    path.write_text("a:secret-a\nb:secret-b\n")
    settings = load_settings([], {"SIM_CLIENTS_FILE": str(path)})
    assert dict(settings.clients) == {"a": "secret-a", "b": "secret-b"}


def test_rejects_non_positive_ttl() -> None:
    with pytest.raises(SettingsError):
        load_settings(["--token-ttl", "0"], {"SIM_CLIENTS": "a:b"})


def test_port_file_is_written_whole_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "port"
    target.write_text("stale")
    write_port_file(target, 43210)
    assert target.read_text() == "43210"
    assert [p.name for p in tmp_path.iterdir()] == ["port"]


def test_refresh_flags_and_hotel_profile(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("agent:pw-secret\n")
    settings = load_settings(
        [
            "--refresh-clients",
            "a",
            "--refresh-ttl",
            "30",
            "--refresh-grace",
            "2",
            "--no-refresh-rotation",
        ],
        {"SIM_CLIENTS": "a:b,c:d", "SIM_HOTEL_CLIENTS": "h:hs", "SIM_HOTEL_USERS_FILE": str(users)},
    )
    assert dict(settings.hotel_clients) == {"h": "hs"}
    assert dict(settings.hotel_users) == {"agent": "pw-secret"}
    assert set(settings.grant_policies) == {"a", "h"}
    policy = settings.grant_policies["a"]
    assert (policy.refresh, policy.rotation, policy.grace_s, policy.refresh_ttl) == (
        True,
        False,
        2.0,
        30.0,
    )
    assert "pw-secret" not in repr(settings) and "hs" not in repr(settings).split("inventory")[-1]


def test_no_refresh_clients_by_default() -> None:
    settings = load_settings([], {"SIM_CLIENTS": "a:b"})
    assert dict(settings.grant_policies) == {}
    assert dict(settings.hotel_clients) == {}


@pytest.mark.parametrize(
    ("argv", "environ"),
    [
        (["--refresh-clients", "nobody"], {}),
        (["--refresh-grace", "-1"], {"SIM_HOTEL_CLIENTS": "h:x"}),
        ([], {"SIM_HOTEL_CLIENTS": "a:x"}),
        ([], {"SIM_HOTEL_USERS": "no-password"}),
    ],
)
def test_rejects_bad_refresh_settings(argv: list[str], environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(argv, {"SIM_CLIENTS": "a:b", **environ})
