"""The entry points `make migrate` and `make seed` call, as real processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from inventory_seed.seed import cli as seed_cli
from tests.utils.db import temporary_database

ROOT = Path(__file__).resolve().parents[3]


def run(module: str, *args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_migrate_then_seed_from_the_command_line() -> None:
    async with temporary_database(migrated=False) as url:
        # The plain postgresql:// form that psql and scripts/ensure_services.sh use.
        plain = url.replace("postgresql+asyncpg://", "postgresql://")
        migrated = run("migrations", database_url=plain)
        assert migrated.returncode == 0, migrated.stderr
        assert re.search(r"at revision \w+ \(was None\)", migrated.stderr), migrated.stderr
        assert "skyroute:skyroute@" not in migrated.stderr  # password masked

        seeded = run(
            "inventory_seed",
            "--scale",
            "tiny",
            "--days",
            "1",
            "--start-date",
            "2030-03-01",
            database_url=plain,
        )
        assert seeded.returncode == 0, seeded.stderr
        assert "20 airports, 8 airlines" in seeded.stderr
        assert "seed: copy" in seeded.stderr  # progress lines

        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                first = (
                    await conn.execute(
                        text("SELECT min(departure_at AT TIME ZONE 'UTC') FROM flights")
                    )
                ).scalar_one()
                flights = (await conn.execute(text("SELECT count(*) FROM flights"))).scalar_one()
        finally:
            await engine.dispose()
        assert first.date().isoformat() in ("2030-02-28", "2030-03-01")  # local date 03-01
        assert 50 <= flights <= 150


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scale", "huge"], "--scale"),
        (["--start-date", "tomorrow"], "YYYY-MM-DD"),
        (["--days", "0"], "--days"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        seed_cli(args)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def _unreachable_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://app:s3cret-pw@127.0.0.1:{port}/nowhere"


def test_unreachable_database_fails_clearly() -> None:
    result = run("migrations", "--wait", "0.3", database_url=_unreachable_url())
    assert result.returncode == 1
    assert "did not answer within 0.3s" in result.stderr and "s3cret-pw" not in result.stderr


def test_seed_waits_for_the_database_then_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", _unreachable_url())
    assert seed_cli(["--wait", "0.3", "--scale", "tiny", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "did not answer within 0.3s" in err and "s3cret-pw" not in err
