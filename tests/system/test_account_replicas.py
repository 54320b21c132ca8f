"""Accounts across replicas: three account-service processes and three booking
processes sharing one throwaway PostgreSQL database and one Redis key space, booking
trusting the account service's JWKS and checking revoked sessions.

- 100 concurrent refreshes of one refresh token spread over the three account
  replicas: exactly one succeeds;
- a stale refresh token replayed revokes its family, and booking refuses the family's
  newest access token;
- logout everywhere while clients call booking through every replica: every replica
  refuses within a second, and accepts nothing after its first refusal;
- login throttling holds across replicas (one budget in Redis);
- no password, hash, refresh token or link token in any replica's log.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2 as booking_pb
from tests.conftest import REDIS_URL
from tests.utils.account_cluster import (
    AccountCluster,
    account_facts,
    new_email,
    outbox_token,
    sign_up,
)
from tests.utils.booking_cluster import BookingCluster, bearer
from tests.utils.db import temporary_database_sync
from tests.utils.processes import ROOT
from tests.utils.redis_keys import delete_matching

PASSWORD = "replicated horse battery"
# Generous per-address limits: every test's users come from 127.0.0.1.
CLUSTER_ENV = {
    "ACCOUNT_LOGIN_PER_ADDRESS_PER_MINUTE": "100000",
    "ACCOUNT_REGISTER_PER_ADDRESS_PER_MINUTE": "100000",
    "ACCOUNT_REGISTER_PER_ACCOUNT_PER_MINUTE": "100000",
    "ACCOUNT_LOGIN_PER_ACCOUNT_PER_MINUTE": "10",
    "ACCOUNT_THROTTLE_BURST": "5",
    "LOG_LEVEL": "DEBUG",
}


@dataclass
class Stack:
    accounts: AccountCluster
    bookings: BookingCluster
    database_url: str
    key_prefix: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("accounts")
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    with temporary_database_sync() as url:
        facts = account_facts(url, REDIS_URL, prefix)
        accounts = AccountCluster(workdir, facts, replicas=3, env=CLUSTER_ENV)
        bookings: BookingCluster | None = None
        try:
            accounts.start()
            bookings = BookingCluster(
                workdir,
                url,
                replicas=3,
                env={
                    "BOOKING_JWKS_URL": accounts.jwks_url,
                    "BOOKING_SESSION_REVOCATION": "true",
                    "REDIS_URL": REDIS_URL,
                    "REDIS_KEY_PREFIX": prefix,
                    "DB_POOL_SIZE": "3",
                },
            )
            bookings.start()
            yield Stack(accounts, bookings, url, prefix)
        finally:
            if bookings is not None:
                bookings.stop()
            accounts.stop()
            delete_matching(REDIS_URL, f"{prefix}:*")


@pytest.fixture
async def account_stubs(stack: Stack) -> AsyncIterator[list[object]]:
    """One stub per account replica (callers choose the replica)."""
    channels = [stack.accounts.channel([a]) for a in stack.accounts.addresses]
    yield [AccountCluster.stub(c) for c in channels]
    for channel in channels:
        await channel.close()


@pytest.fixture
async def booking_stubs(stack: Stack) -> AsyncIterator[list[object]]:
    channels = [stack.bookings.channel([a]) for a in stack.bookings.addresses]
    yield [stack.bookings.stub(c) for c in channels]
    for channel in channels:
        await channel.close()


def reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def list_bookings(stub: object, access_token: str) -> str:
    """ "OK", or the refusal's reason."""
    try:
        await stub.ListBookings(  # type: ignore[attr-defined]
            booking_pb.ListBookingsRequest(), metadata=bearer(access_token), timeout=5
        )
    except grpc.aio.AioRpcError as exc:
        return reason(exc) or exc.code().name
    return "OK"


async def test_100_concurrent_refreshes_across_replicas_exactly_one_wins(
    stack: Stack, account_stubs: list[object]
) -> None:
    tokens = await sign_up(account_stubs[0], new_email(), PASSWORD)  # type: ignore[arg-type]
    request = pb.RefreshRequest(refresh_token=tokens.refresh_token)
    start = asyncio.Event()

    async def refresh(i: int) -> str:
        await start.wait()
        try:
            await account_stubs[i % 3].Refresh(request, timeout=30)  # type: ignore[attr-defined]
        except grpc.aio.AioRpcError as exc:
            return reason(exc)
        return "OK"

    calls = [asyncio.ensure_future(refresh(i)) for i in range(100)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*calls)
    assert outcomes.count("OK") == 1, sorted(set(outcomes))
    assert set(outcomes) == {"OK", "REFRESH_TOKEN_REUSED"}
    conn = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        minted = await conn.fetchval(
            "SELECT count(*) FROM account_refresh_tokens WHERE session_id = $1",
            __import__("uuid").UUID(tokens.session_id),
        )
    finally:
        await conn.close()
    assert minted == 2  # the first token and the one winner's


async def test_stale_refresh_token_replayed_revokes_the_family_everywhere(
    stack: Stack, account_stubs: list[object], booking_stubs: list[object]
) -> None:
    first = await sign_up(account_stubs[0], new_email(), PASSWORD)  # type: ignore[arg-type]
    second = (
        await account_stubs[1].Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))  # type: ignore[attr-defined]
    ).tokens
    third = (
        await account_stubs[2].Refresh(pb.RefreshRequest(refresh_token=second.refresh_token))  # type: ignore[attr-defined]
    ).tokens
    assert [await list_bookings(s, third.access_token) for s in booking_stubs] == ["OK"] * 3
    with pytest.raises(grpc.aio.AioRpcError) as replay:
        await account_stubs[0].Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))  # type: ignore[attr-defined]
    assert reason(replay.value) == "REFRESH_TOKEN_REUSED"
    with pytest.raises(grpc.aio.AioRpcError) as newest:
        await account_stubs[1].Refresh(pb.RefreshRequest(refresh_token=third.refresh_token))  # type: ignore[attr-defined]
    assert reason(newest.value) == "SESSION_REVOKED"
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        seen = [await list_bookings(s, third.access_token) for s in booking_stubs]
        if seen == ["SESSION_REVOKED"] * 3:
            break
        await asyncio.sleep(0.02)
    assert seen == ["SESSION_REVOKED"] * 3


async def test_logout_all_while_clients_call_booking_rejected_everywhere_within_1s(
    stack: Stack, account_stubs: list[object], booking_stubs: list[object]
) -> None:
    email = new_email()
    laptop = await sign_up(account_stubs[0], email, PASSWORD, device="laptop")
    phone = (
        await account_stubs[1].Login(  # type: ignore[attr-defined]
            pb.LoginRequest(email=email, password=PASSWORD, device_name="phone")
        )
    ).tokens
    other_user = await sign_up(account_stubs[2], new_email(), PASSWORD)
    stop = asyncio.Event()
    # (replica, token name) -> [(time the call started, outcome)]
    seen: dict[tuple[int, str], list[tuple[float, str]]] = {}

    async def hammer(replica: int, name: str, token: str) -> None:
        calls = seen.setdefault((replica, name), [])
        while not stop.is_set():
            started = time.monotonic()
            calls.append((started, await list_bookings(booking_stubs[replica], token)))

    tokens = {"laptop": laptop.access_token, "phone": phone.access_token}
    tokens["other"] = other_user.access_token
    workers = [
        asyncio.ensure_future(hammer(r, name, token))
        for r in range(3)
        for name, token in tokens.items()
    ]
    # Every caller is under way (connected, its token verified once) before the logout.
    for _ in range(400):  # 20 s at most
        if len(seen) == len(workers) and min(len(c) for c in seen.values()) >= 3:
            break
        await asyncio.sleep(0.05)
    before = {k: sorted({o for _, o in calls}) for k, calls in seen.items()}
    assert len(before) == len(workers) and all(v == ["OK"] for v in before.values()), before
    logout_at = time.monotonic()
    reply = await account_stubs[2].LogoutAllDevices(  # type: ignore[attr-defined]
        pb.LogoutAllDevicesRequest(), metadata=bearer(laptop.access_token)
    )
    logout_done = time.monotonic()
    assert reply.revoked_sessions == 2
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*workers)
    lags: list[float] = []
    for (replica, name), calls in seen.items():
        if name == "other":  # another user's session is untouched
            assert {o for _, o in calls} == {"OK"}, (replica, name)
            continue
        refused = [t for t, o in calls if o == "SESSION_REVOKED"]
        assert refused, (replica, name)
        # No call that started more than a second after the logout returned was
        # accepted (a call's start is what counts: on a busy machine one call may take
        # a while).
        accepted = [t - logout_done for t, o in calls if o == "OK" and t > logout_done]
        assert max(accepted, default=0.0) <= 1.0, (
            replica,
            name,
            accepted[-3:],
            f"logout took {logout_done - logout_at:.3f} s",
        )
        lags.append(max(accepted, default=0.0))
        # Nothing accepted once refused.
        assert all(o == "SESSION_REVOKED" for t, o in calls if t >= refused[0])
    print(
        f"logout-all: {logout_done - logout_at:.3f} s; last accepted call started "
        f"{max(lags):.3f} s after it returned"
    )


async def test_login_throttle_is_shared_by_the_replicas(
    stack: Stack, account_stubs: list[object]
) -> None:
    email = new_email()
    outcomes = []
    for i in range(15):
        try:
            await account_stubs[i % 3].Login(  # type: ignore[attr-defined]
                pb.LoginRequest(email=email, password="not the password")
            )
        except grpc.aio.AioRpcError as exc:
            outcomes.append(exc.code())
    # Burst 5 at 10 a minute for the whole fleet, not 5 per replica.
    allowed = outcomes.count(grpc.StatusCode.UNAUTHENTICATED)
    assert 5 <= allowed <= 6
    assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 15 - allowed


def test_jwks_served_by_every_replica_with_cache_headers(stack: Stack) -> None:
    bodies = []
    for port in stack.accounts.metrics_ports:
        url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "max-age=" in response.headers["Cache-Control"]
            bodies.append(json.loads(response.read()))
    assert bodies[0] == bodies[1] == bodies[2]
    (key,) = bodies[0]["keys"]
    assert key["alg"] == "ES256" and key["kty"] == "EC" and "d" not in key


async def test_no_secret_in_any_log(stack: Stack, account_stubs: list[object]) -> None:
    email = new_email()
    tokens = await sign_up(account_stubs[0], email, PASSWORD)  # type: ignore[arg-type]
    newer = (
        await account_stubs[1].Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))  # type: ignore[attr-defined]
    ).tokens
    with pytest.raises(grpc.aio.AioRpcError):  # a replay: logged as a warning
        await account_stubs[2].Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))  # type: ignore[attr-defined]
    with pytest.raises(grpc.aio.AioRpcError):
        await account_stubs[0].Login(pb.LoginRequest(email=email, password="wrong " + PASSWORD))  # type: ignore[attr-defined]
    await account_stubs[1].RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))  # type: ignore[attr-defined]
    reset = await outbox_token(account_stubs[1], email, "Reset")  # type: ignore[arg-type]
    new_password = "brand new " + PASSWORD
    await account_stubs[2].ResetPassword(  # type: ignore[attr-defined]
        pb.ResetPasswordRequest(token=reset, new_password=new_password)
    )
    conn = await asyncpg.connect(stack.database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE email = $1", email)
    finally:
        await conn.close()
    logs = stack.accounts.logs() + stack.bookings.logs()
    assert "rpc failed" in logs or "refresh token reused" in logs  # the logs were written
    secrets_used = {
        "password": PASSWORD,
        "new password": new_password,
        "hash": stored,
        "hash digest": stored.rsplit("$", 1)[-1],
        "refresh token": tokens.refresh_token,
        "newer refresh token": newer.refresh_token,
        "access token": tokens.access_token,
        "reset token": reset,
    }
    leaked = [name for name, value in secrets_used.items() if value in logs]
    assert leaked == []


async def test_demo_through_the_command_line(stack: Stack, tmp_path: Path) -> None:
    """The README's demo: `account register / verify / login`, then booking commands
    without --user act as the signed-in user; `account logout --all` ends it, and a copy
    of the old session file no longer works at booking."""
    session_file = tmp_path / "session.json"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ACCOUNT_SERVICE_ADDRESSES": ",".join(stack.accounts.addresses),
        "BOOKING_SERVICE_ADDRESSES": ",".join(stack.bookings.addresses),
        "SKYROUTE_SESSION_FILE": str(session_file),
    }
    email = new_email()

    async def cli(*argv: str, stdin: str = "", expect: int = 0) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "skyroute_cli",
            *argv,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
        assert proc.returncode == expect, (argv, out, err)
        return out.decode() + err.decode()

    await cli("account", "register", "--email", email, "--password-stdin", stdin=PASSWORD)
    await cli("account", "verify", "--email", email)
    await cli("account", "login", "--email", email, "--password-stdin", stdin=PASSWORD)
    await cli("booking", "list")
    old_session = session_file.read_text()
    assert "SESSION_REVOKED" not in await cli("account", "logout", "--all")
    assert "account login" in await cli("booking", "list", expect=2)
    session_file.write_text(old_session)  # a stolen copy
    await asyncio.sleep(1.0)
    assert "SESSION_REVOKED" in await cli("booking", "list", expect=1)
