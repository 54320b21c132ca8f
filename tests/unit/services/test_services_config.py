"""env_secret: from the variable or a *_FILE, refusing missing and placeholder values,
and never echoing the secret in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config import ConfigError, env_secret

SECRET = "s3cr3t-value-for-tests-9f2c"


def test_secret_from_variable() -> None:
    assert env_secret({"API_KEY": SECRET}, "API_KEY") == SECRET


def test_secret_from_file_is_stripped_and_wins_over_variable(tmp_path: Path) -> None:
    path = tmp_path / "api_key"
    path.write_text(SECRET + "\n")
    env = {"API_KEY_FILE": str(path), "API_KEY": "other-value-ignored"}
    assert env_secret(env, "API_KEY") == SECRET


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"API_KEY \(or API_KEY_FILE\) is required"):
        env_secret({}, "API_KEY")


def test_unreadable_file_names_the_variable_not_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-file"
    with pytest.raises(ConfigError) as err:
        env_secret({"API_KEY_FILE": str(missing)}, "API_KEY")
    assert "API_KEY_FILE" in str(err.value)


def test_empty_file_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "api_key"
    path.write_text("  \n")
    with pytest.raises(ConfigError, match="API_KEY"):
        env_secret({"API_KEY_FILE": str(path)}, "API_KEY")


@pytest.mark.parametrize(
    "placeholder",
    ["changeme", "CHANGEME", "change-me", "changethis", "password", "secret", " changeme "],
)
def test_placeholder_is_refused(placeholder: str) -> None:
    with pytest.raises(ConfigError, match="API_KEY is a placeholder"):
        env_secret({"API_KEY": placeholder}, "API_KEY")


def test_placeholder_in_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api_key"
    path.write_text("changeme\n")
    with pytest.raises(ConfigError, match="placeholder"):
        env_secret({"API_KEY_FILE": str(path)}, "API_KEY")


@pytest.mark.parametrize("value", ["changeme", "change-this-secret-123", "password"])
def test_error_never_contains_the_value(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        env_secret({"API_KEY": value}, "API_KEY")
    assert value.strip() not in str(err.value)
    assert value.strip() not in repr(err.value)
