"""Accounts while Redis is down, as docs/architecture.md says ("Redis down: the check
fails open"): two account replicas and a booking replica on a private Redis that is
killed and restarted empty.

- during the outage: sign-in works (the throttle lets attempts through), booking keeps
  refusing a session revoked before the outage (its local copy) and accepts the others;
  a logout commits (the refresh token is dead at once) while its access token still
  works at booking: the documented, bounded cost;
- after Redis comes back (empty, as after a crash): the account service writes the
  recent revocations again, and booking refuses the session revoked during the outage
  within seconds, and still the one revoked before.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2 as booking_pb
from tests.utils.account_cluster import AccountCluster, account_facts, new_email, sign_up
from tests.utils.booking_cluster import BookingCluster, bearer
from tests.utils.db import temporary_database
from tests.utils.redis_server import PrivateRedis

PASSWORD = "outage horse battery"


def reason(exc: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return exc.code().name


async def test_revocation_fails_open_while_redis_is_down_and_catches_up(
    tmp_path: Path,
) -> None:
    server = PrivateRedis(tmp_path).start()
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    async with temporary_database() as url:
        accounts = AccountCluster(tmp_path, account_facts(url, server.url, prefix), replicas=2)
        booking: BookingCluster | None = None
        try:
            await asyncio.to_thread(accounts.start)
            booking = BookingCluster(
                tmp_path,
                url,
                replicas=1,
                env={
                    "BOOKING_JWKS_URL": accounts.jwks_url,
                    "BOOKING_SESSION_REVOCATION": "true",
                    "REDIS_URL": server.url,
                    "REDIS_KEY_PREFIX": prefix,
                },
            )
            await asyncio.to_thread(booking.start)
            await run(server, accounts, booking)
        finally:
            if booking is not None:
                await asyncio.to_thread(booking.stop)
            await asyncio.to_thread(accounts.stop)
            server.stop()


async def run(server: PrivateRedis, accounts: AccountCluster, booking: BookingCluster) -> None:
    account_channel, booking_channel = accounts.channel(), booking.channel()
    stub, booking_stub = accounts.stub(account_channel), booking.stub(booking_channel)

    async def booking_says(token: str) -> str:
        try:
            await booking_stub.ListBookings(
                booking_pb.ListBookingsRequest(), metadata=bearer(token), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            return reason(exc)
        return "OK"

    try:
        email = new_email()
        before = await sign_up(stub, email, PASSWORD, device="revoked before")
        during = (
            await stub.Login(pb.LoginRequest(email=email, password=PASSWORD, device_name="d2"))
        ).tokens
        await stub.RevokeSession(
            pb.RevokeSessionRequest(session_id=before.session_id),
            metadata=bearer(during.access_token),
        )
        await asyncio.sleep(1.0)
        assert await booking_says(before.access_token) == "SESSION_REVOKED"
        assert await booking_says(during.access_token) == "OK"

        server.kill()
        await asyncio.sleep(1.0)
        # Sign-in still works; the booking replica's copy still refuses what it knew.
        other = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
        assert await booking_says(other.tokens.access_token) == "OK"
        assert await booking_says(before.access_token) == "SESSION_REVOKED"
        # A logout during the outage: committed (refresh dead), not yet at booking.
        reply = await stub.LogoutAllDevices(
            pb.LogoutAllDevicesRequest(), metadata=bearer(during.access_token)
        )
        assert reply.revoked_sessions == 2
        with pytest.raises(grpc.aio.AioRpcError) as refresh:
            await stub.Refresh(pb.RefreshRequest(refresh_token=during.refresh_token))
        assert reason(refresh.value) == "SESSION_REVOKED"
        assert await booking_says(during.access_token) == "OK"  # fails open, bounded

        server.start()  # empty, as after a crash
        restarted = time.monotonic()
        for _ in range(200):
            if await booking_says(during.access_token) == "SESSION_REVOKED":
                break
            await asyncio.sleep(0.05)
        caught_up = time.monotonic() - restarted
        # Republished every 5 s, re-read every 0.5 s.
        assert caught_up < 8.0
        assert await booking_says(during.access_token) == "SESSION_REVOKED"
        assert await booking_says(other.tokens.access_token) == "SESSION_REVOKED"
        assert await booking_says(before.access_token) == "SESSION_REVOKED"
    finally:
        await account_channel.close()
        await booking_channel.close()
