"""``python -m skyroute_cli account ...`` as a user runs it, against an in-process
account server: register, verify through the dev outbox, log in (tokens in a 0600
file), list sessions, refresh on its own, sign out everywhere."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from tests.utils.account_cluster import new_email
from tests.utils.processes import ROOT

PASSWORD = "a terminal password"


async def cli(
    env: Mapping[str, str], *argv: str, stdin: str = "", expect: int = 0
) -> tuple[str, str]:
    # A subprocess the event loop waits for: the in-process server keeps answering.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "skyroute_cli",
        *argv,
        cwd=ROOT,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode == expect, (argv, out, err)
    text = out.decode() + err.decode()
    assert PASSWORD not in text
    return out.decode(), err.decode()


async def test_register_verify_login_sessions_refresh_logout(account: Any, tmp_path: Path) -> None:
    session_file = tmp_path / "session.json"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ACCOUNT_SERVICE_ADDRESSES": account.address,
        "SKYROUTE_SESSION_FILE": str(session_file),
    }
    email = new_email()
    await cli(env, "account", "register", "--email", email, "--password-stdin", stdin=PASSWORD)
    await cli(env, "account", "verify", "--email", email)
    out, _ = await cli(
        env,
        "account",
        "login",
        "--email",
        email,
        "--device",
        "terminal",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert "Signed in" in out
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    first = json.loads(session_file.read_text())
    assert first["refresh_token"] not in out

    out, _ = await cli(env, "account", "sessions")
    assert "terminal" in out and first["session_id"] in out
    assert json.loads(session_file.read_text()) == first  # still fresh: no refresh

    # Expiring soon: the next command refreshes first and keeps the rotated tokens.
    session_file.write_text(json.dumps({**first, "access_expires": 0}))
    out, _ = await cli(env, "account", "sessions", "--json")
    assert json.loads(out)["sessions"][0]["device_name"] == "terminal"
    second = json.loads(session_file.read_text())
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600

    out, _ = await cli(env, "account", "logout", "--all")
    assert "1 sessions" in out
    assert not session_file.exists()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await account.stub.Refresh(pb.RefreshRequest(refresh_token=second["refresh_token"]))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _, err = await cli(env, "account", "sessions", expect=2)
    assert "not signed in" in err


async def test_wrong_password_exits_1_with_the_reason(account: Any, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ACCOUNT_SERVICE_ADDRESSES": account.address,
        "SKYROUTE_SESSION_FILE": str(tmp_path / "s.json"),
    }
    login = ("account", "login", "--email", new_email(), "--password-stdin")
    _, err = await cli(env, "--json", *login, stdin=PASSWORD, expect=1)
    assert json.loads(err)["error"]["code"] == "UNAUTHENTICATED"
    _, err = await cli(env, *login, stdin=PASSWORD, expect=1)
    assert "email or password is incorrect" in err
    assert not (tmp_path / "s.json").exists()
