"""gRPC servicer: convert, call the account logic, convert back.

Every method is public to the interceptor (no authenticator: sign-up and login have no
token yet); the session methods check the access token themselves
(``AccessTokens.verify_metadata``) and that its session is still active."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2

from account_service.auth.access import AccessClaims, AccessTokens
from account_service.flows.accounts import Accounts, Device, Tokens
from services.errors import PermissionDeniedError
from services.generated.skyroute.account.v1 import account_service_pb2 as pb
from services.generated.skyroute.account.v1 import account_service_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["AccountService"].full_name


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def client_address(context: grpc.aio.ServicerContext, trust_forwarded_for: bool) -> str:
    """The caller's IP address: the gRPC peer (``ipv4:1.2.3.4:5678``,
    ``ipv6:[::1]:5678``), or the first ``x-forwarded-for`` hop behind a trusted proxy."""
    if trust_forwarded_for:
        forwarded = _metadata(context).get("x-forwarded-for", "").split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rpartition("]")[0].lstrip("[") or rest
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    return peer[:100] or "unknown"


def timestamp(moment: datetime | float) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    if isinstance(moment, datetime):
        out.FromDatetime(moment.astimezone(UTC))
    else:
        out.FromSeconds(int(moment))
    return out


def tokens_pb(tokens: Tokens) -> pb.SessionTokens:
    return pb.SessionTokens(
        access_token=tokens.access_token,
        access_expire_time=timestamp(tokens.access_expires),
        refresh_token=tokens.refresh_token,
        refresh_expire_time=timestamp(tokens.refresh_expires),
        session_id=str(tokens.session_id),
    )


class AccountServicer(pb_grpc.AccountServiceServicer):
    def __init__(
        self,
        accounts: Accounts,
        access: AccessTokens,
        *,
        trust_forwarded_for: bool = False,
        outbox_rpc: bool = False,
    ) -> None:
        self._accounts = accounts
        self._access = access
        self._trust_forwarded_for = trust_forwarded_for
        self._outbox_rpc = outbox_rpc

    def _address(self, context: grpc.aio.ServicerContext) -> str:
        return client_address(context, self._trust_forwarded_for)

    async def _caller(self, context: grpc.aio.ServicerContext) -> AccessClaims:
        metadata: Mapping[str, str] = _metadata(context)
        return await self._accounts.authenticate(self._access.verify_metadata(metadata))

    async def Register(
        self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterResponse:
        await self._accounts.register(request.email, request.password, self._address(context))
        return pb.RegisterResponse()

    async def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyEmailResponse:
        await self._accounts.verify_email(request.token)
        return pb.VerifyEmailResponse()

    async def Login(
        self, request: pb.LoginRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginResponse:
        device = Device(
            request.device_name,
            _metadata(context).get("user-agent", ""),
            self._address(context),
        )
        tokens = await self._accounts.login(request.email, request.password, device)
        return pb.LoginResponse(tokens=tokens_pb(tokens))

    async def Refresh(
        self, request: pb.RefreshRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshResponse:
        return pb.RefreshResponse(
            tokens=tokens_pb(await self._accounts.refresh(request.refresh_token))
        )

    async def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestPasswordResetResponse:
        await self._accounts.request_reset(request.email, self._address(context))
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResetPasswordResponse:
        await self._accounts.reset_password(request.token, request.new_password)
        return pb.ResetPasswordResponse()

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        caller = await self._caller(context)
        sessions = await self._accounts.list_sessions(caller)
        return pb.ListSessionsResponse(
            sessions=[
                pb.Session(
                    session_id=str(s.id),
                    device_name=s.device_name,
                    user_agent=s.user_agent,
                    ip_address=s.ip_address,
                    create_time=timestamp(s.created_at),
                    last_used_time=timestamp(s.last_used_at),
                    current=s.id == caller.session_id,
                )
                for s in sessions
            ]
        )

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSessionResponse:
        caller = await self._caller(context)
        await self._accounts.revoke_session(caller, request.session_id)
        return pb.RevokeSessionResponse()

    async def LogoutAllDevices(
        self, request: pb.LogoutAllDevicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.LogoutAllDevicesResponse:
        caller = await self._caller(context)
        return pb.LogoutAllDevicesResponse(revoked_sessions=await self._accounts.logout_all(caller))

    async def ListOutbox(
        self, request: pb.ListOutboxRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOutboxResponse:
        if not self._outbox_rpc:
            raise PermissionDeniedError(
                "the outbox is readable only in development (ACCOUNT_DEV_OUTBOX_RPC)",
                reason="OUTBOX_DISABLED",
            )
        rows = await self._accounts.outbox(request.email)
        return pb.ListOutboxResponse(
            messages=[
                pb.OutboxMessage(recipient=r, subject=s, body=b, create_time=timestamp(created))
                for r, s, b, created in rows
            ]
        )
