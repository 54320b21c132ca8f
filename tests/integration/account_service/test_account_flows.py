"""Sign-up, links, login, refresh rotation and sessions through a real in-process
account server on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc
from tests.utils.account_cluster import new_email, outbox_token, sign_up

PASSWORD = "correct horse battery"


def details(exc: grpc.aio.AioRpcError) -> dict[str, Any]:
    out: dict[str, Any] = {"code": exc.code(), "message": exc.details()}
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        for kind, message in (
            ("info", error_details_pb2.ErrorInfo()),
            ("retry", error_details_pb2.RetryInfo()),
            ("bad", error_details_pb2.BadRequest()),
        ):
            if detail.Is(message.DESCRIPTOR):
                detail.Unpack(message)
                out[kind] = message
    return out


async def failure(call: Any) -> dict[str, Any]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details(caught.value)


async def test_register_verify_login_refresh(account: Any) -> None:
    email = new_email()
    tokens = await sign_up(account.stub, email, PASSWORD)
    assert tokens.access_token.count(".") == 2
    assert tokens.refresh_token and tokens.session_id
    assert tokens.access_expire_time.seconds < tokens.refresh_expire_time.seconds
    refreshed = (
        await account.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))
    ).tokens
    assert refreshed.session_id == tokens.session_id
    assert refreshed.refresh_token != tokens.refresh_token
    # The new refresh token works once more.
    again = (
        await account.stub.Refresh(pb.RefreshRequest(refresh_token=refreshed.refresh_token))
    ).tokens
    assert again.session_id == tokens.session_id


async def test_replayed_refresh_token_revokes_the_family(account: Any) -> None:
    tokens = await sign_up(account.stub, new_email(), PASSWORD)
    newer = (
        await account.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))
    ).tokens
    replay = await failure(
        account.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))
    )
    assert replay["code"] == grpc.StatusCode.UNAUTHENTICATED
    assert replay["info"].reason == "REFRESH_TOKEN_REUSED"
    # The newest token of the family is dead too, and so is the session's access token.
    later = await failure(
        account.stub.Refresh(pb.RefreshRequest(refresh_token=newer.refresh_token))
    )
    assert later["info"].reason in {"SESSION_REVOKED", "REFRESH_TOKEN_REUSED"}
    listed = await failure(
        account.stub.ListSessions(
            pb.ListSessionsRequest(), metadata=(("authorization", f"Bearer {newer.access_token}"),)
        )
    )
    assert listed["info"].reason == "SESSION_REVOKED"


async def test_no_enumeration_by_message(account: Any) -> None:
    email = new_email()
    await sign_up(account.stub, email, PASSWORD)
    wrong = await failure(account.stub.Login(pb.LoginRequest(email=email, password="nope-nope")))
    unknown = await failure(
        account.stub.Login(pb.LoginRequest(email=new_email(), password="nope-nope"))
    )
    assert wrong["code"] == unknown["code"] == grpc.StatusCode.UNAUTHENTICATED
    assert wrong["message"] == unknown["message"]
    assert wrong["info"].reason == unknown["info"].reason == "INVALID_CREDENTIALS"
    # Registering a taken address answers as for a free one; the owner is told by mail.
    await account.stub.Register(pb.RegisterRequest(email=email, password="another password"))
    reply = await account.stub.ListOutbox(pb.ListOutboxRequest(email=email))
    assert reply.messages[0].subject == "You already have an account"
    # The reset request answers the same whether or not the address is registered.
    await account.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=new_email()))
    await account.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))


async def test_unverified_account_cannot_log_in(account: Any) -> None:
    email = new_email()
    await account.stub.Register(pb.RegisterRequest(email=email, password=PASSWORD))
    unverified = await failure(account.stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
    assert unverified["code"] == grpc.StatusCode.FAILED_PRECONDITION
    assert unverified["info"].reason == "EMAIL_NOT_VERIFIED"
    token = await outbox_token(account.stub, email, "Verify")
    await account.stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    # Single use.
    used = await failure(account.stub.VerifyEmail(pb.VerifyEmailRequest(token=token)))
    assert used["info"].reason == "LINK_INVALID"
    await account.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.RegisterRequest(email="not-an-email", password=PASSWORD), "email"),
        (pb.RegisterRequest(email="a@example.com", password="short"), "password"),
        (pb.RegisterRequest(email="a@example.com", password="x" * 129), "password"),
        (pb.RegisterRequest(email="", password=PASSWORD), "email"),
    ],
)
async def test_bad_input_names_the_field(
    account: Any, request_: pb.RegisterRequest, field: str
) -> None:
    bad = await failure(account.stub.Register(request_))
    assert bad["code"] == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in bad["bad"].field_violations] == [field]
    assert PASSWORD not in bad["message"]


async def test_password_reset_is_single_use_and_signs_out(account: Any) -> None:
    email = new_email()
    tokens = await sign_up(account.stub, email, PASSWORD)
    await account.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    token = await outbox_token(account.stub, email, "Reset")
    # Two concurrent uses of one link: exactly one works.
    results = await asyncio.gather(
        *(
            account.stub.ResetPassword(
                pb.ResetPasswordRequest(token=token, new_password=f"new password {i}")
            )
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    old = await failure(account.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token)))
    assert old["info"].reason == "SESSION_REVOKED"
    wrong = await failure(account.stub.Login(pb.LoginRequest(email=email, password=PASSWORD)))
    assert wrong["info"].reason == "INVALID_CREDENTIALS"


async def test_sessions_list_revoke_and_logout_all(account: Any) -> None:
    email = new_email()
    first = await sign_up(account.stub, email, PASSWORD, device="laptop")
    # The user agent is the channel's (gRPC sets the header itself).
    async with grpc.aio.insecure_channel(
        account.address, options=[("grpc.primary_user_agent", "skyroute-test/1")]
    ) as channel:
        second = (
            await pb_grpc.AccountServiceStub(channel).Login(
                pb.LoginRequest(email=email, password=PASSWORD, device_name="phone")
            )
        ).tokens
    auth = (("authorization", f"Bearer {first.access_token}"),)
    sessions = (await account.stub.ListSessions(pb.ListSessionsRequest(), metadata=auth)).sessions
    assert {s.device_name for s in sessions} == {"laptop", "phone"}
    assert [s.current for s in sessions if s.device_name == "laptop"] == [True]
    assert all(s.ip_address == "127.0.0.1" for s in sessions)
    phone = next(s for s in sessions if s.device_name == "phone")
    assert "skyroute-test/1" in phone.user_agent
    await account.stub.RevokeSession(
        pb.RevokeSessionRequest(session_id=second.session_id), metadata=auth
    )
    gone = await failure(
        account.stub.Refresh(pb.RefreshRequest(refresh_token=second.refresh_token))
    )
    assert gone["info"].reason == "SESSION_REVOKED"
    # Another user's session is not found, and not revoked.
    other = await sign_up(account.stub, new_email(), PASSWORD)
    missing = await failure(
        account.stub.RevokeSession(
            pb.RevokeSessionRequest(session_id=other.session_id), metadata=auth
        )
    )
    assert missing["code"] == grpc.StatusCode.NOT_FOUND
    await account.stub.Refresh(pb.RefreshRequest(refresh_token=other.refresh_token))
    reply = await account.stub.LogoutAllDevices(pb.LogoutAllDevicesRequest(), metadata=auth)
    assert reply.revoked_sessions == 1
    after = await failure(account.stub.ListSessions(pb.ListSessionsRequest(), metadata=auth))
    assert after["code"] == grpc.StatusCode.UNAUTHENTICATED


async def test_login_throttled_per_account_with_retry_info(
    account_factory: Callable[..., Any],
) -> None:
    server: Any = await account_factory(
        ACCOUNT_LOGIN_PER_ACCOUNT_PER_MINUTE="1",
        ACCOUNT_LOGIN_PER_ADDRESS_PER_MINUTE="0",
        ACCOUNT_THROTTLE_BURST="3",
    )
    email = new_email()
    outcomes = []
    for _ in range(5):
        try:
            await server.stub.Login(pb.LoginRequest(email=email, password="wrong password"))
        except grpc.aio.AioRpcError as exc:
            outcomes.append(details(exc))
    assert [o["code"] for o in outcomes[:3]] == [grpc.StatusCode.UNAUTHENTICATED] * 3
    assert [o["code"] for o in outcomes[3:]] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    assert outcomes[3]["info"].metadata["limit"] == "account"
    assert outcomes[3]["retry"].retry_delay.seconds >= 50  # one attempt a minute
    # Another account from the same address is not held back.
    other = await failure(server.stub.Login(pb.LoginRequest(email=new_email(), password="x")))
    assert other["code"] == grpc.StatusCode.UNAUTHENTICATED


async def test_rehash_on_login_when_parameters_change(
    account_factory: Callable[..., Any], account_db_url: str
) -> None:
    first: Any = await account_factory()
    email = new_email()
    await sign_up(first.stub, email, PASSWORD)
    stronger: Any = await account_factory(ACCOUNT_ARGON2_TIME_COST="2")

    async def stored() -> str:
        conn = await asyncpg.connect(account_db_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return str(
                await conn.fetchval("SELECT password_hash FROM accounts WHERE email = $1", email)
            )
        finally:
            await conn.close()

    assert ",t=1," in await stored() and (await stored()).startswith("$argon2id$")
    await stronger.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    assert ",t=2," in await stored()
    # The rehashed password still works, on either server.
    await first.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))


async def test_outbox_rpc_off_by_default(account_factory: Callable[..., Any]) -> None:
    server: Any = await account_factory(ACCOUNT_DEV_OUTBOX_RPC="false")
    denied = await failure(server.stub.ListOutbox(pb.ListOutboxRequest(email=new_email())))
    assert denied["code"] == grpc.StatusCode.PERMISSION_DENIED


async def test_same_work_whether_or_not_the_email_is_registered(account: Any) -> None:
    """The timing does not tell: each answer costs exactly one argon2id computation,
    registered email or not (a dummy hash for the unknown one)."""
    hashes = account.app.metrics.hash_seconds

    def count() -> float:
        return next(
            s.value for m in hashes.collect() for s in m.samples if s.name.endswith("_count")
        )

    email = new_email()
    await sign_up(account.stub, email, PASSWORD)
    calls = [
        (account.stub.Login, pb.LoginRequest(email=email, password="wrong password")),
        (account.stub.Login, pb.LoginRequest(email=new_email(), password="wrong password")),
        (account.stub.Register, pb.RegisterRequest(email=email, password=PASSWORD)),
        (account.stub.Register, pb.RegisterRequest(email=new_email(), password=PASSWORD)),
    ]
    for method, request in calls:
        before = count()
        with contextlib.suppress(grpc.aio.AioRpcError):
            await method(request)
        assert count() - before == 1, request
