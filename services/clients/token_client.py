"""The token client every service uses to reach the token service.

It talks to all token replicas over one round-robin channel, puts a deadline
and the request id on every call, and can keep a provider's token in memory
from the ``WatchToken`` stream (bounded staleness: a copy older than two
heartbeats is not trusted). ``call_with_token`` reports a token the upstream
rejected with 401 and retries once with the new one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf import duration_pb2

from services.clients.channels import open_channel
from services.context import REQUEST_ID_HEADER, current_request_id, new_request_id
from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from services.tasks import cancel_and_wait

log = logging.getLogger("skyroute.token_client")

T = TypeVar("T")
SERVICE = "skyroute.token.v1.TokenService"
CALLER_HEADER = "x-skyroute-caller"
CALLER_KEY_HEADER = "x-skyroute-caller-key"
# Do not hand out a watched token this close to its expiry; ask the service.
EXPIRY_SAFETY_SECONDS = 1.0


class UpstreamUnauthorized(Exception):
    """Raised by an upstream call when the provider answered 401 for our token."""


@dataclass
class _Watched:
    token: pb.AccessToken
    received: float  # monotonic
    stale_after: float  # seconds


class TokenClient:
    def __init__(
        self,
        addresses: Sequence[str],
        caller_id: str,
        caller_key: str,
        *,
        timeout: float = 5.0,
        tls_ca_file: str | None = None,
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        self._channel = open_channel(
            addresses,
            SERVICE,
            tls_ca_file=tls_ca_file,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_server_name=tls_server_name,
        )
        self._stub = pb_grpc.TokenServiceStub(self._channel)
        self._caller = ((CALLER_HEADER, caller_id), (CALLER_KEY_HEADER, caller_key))
        self._timeout = timeout
        self._watched: dict[str, _Watched] = {}
        self._watch_tasks: dict[str, asyncio.Task[None]] = {}

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (*self._caller, (REQUEST_ID_HEADER, current_request_id() or new_request_id()))

    async def get_token(self, provider: str, min_validity: float | None = None) -> pb.AccessToken:
        request = pb.GetTokenRequest(provider=provider)
        if min_validity is not None:
            request.min_validity.CopyFrom(
                duration_pb2.Duration(
                    seconds=int(min_validity), nanos=int((min_validity % 1) * 1e9)
                )
            )
        response: pb.GetTokenResponse = await self._stub.GetToken(
            request, timeout=self._timeout, metadata=self._metadata()
        )
        return response.token

    async def report_invalid(
        self, provider: str, access_token: str
    ) -> pb.ReportInvalidTokenResponse:
        response: pb.ReportInvalidTokenResponse = await self._stub.ReportInvalidToken(
            pb.ReportInvalidTokenRequest(provider=provider, access_token=access_token),
            timeout=self._timeout,
            metadata=self._metadata(),
        )
        return response

    async def status(self, provider: str) -> pb.GetTokenStatusResponse:
        response: pb.GetTokenStatusResponse = await self._stub.GetTokenStatus(
            pb.GetTokenStatusRequest(provider=provider),
            timeout=self._timeout,
            metadata=self._metadata(),
        )
        return response

    async def list_providers(self) -> list[str]:
        """The providers this caller may use, sorted."""
        response: pb.ListProvidersResponse = await self._stub.ListProviders(
            pb.ListProvidersRequest(), timeout=self._timeout, metadata=self._metadata()
        )
        return list(response.providers)

    async def install_grant(
        self,
        provider: str,
        *,
        code: str | None = None,
        redirect_uri: str | None = None,
        refresh_token: str | None = None,
    ) -> pb.InstallGrantResponse:
        """Operator RPC (admin callers only): a new refresh-token chain for ``provider``
        from an authorization ``code`` or a ``refresh_token``."""
        if code:
            request = pb.InstallGrantRequest(
                provider=provider,
                authorization_code=(
                    pb.AuthorizationCode(code=code, redirect_uri=redirect_uri or "")
                ),
            )
        else:
            request = pb.InstallGrantRequest(provider=provider, refresh_token=refresh_token or "")
        response: pb.InstallGrantResponse = await self._stub.InstallGrant(
            request, timeout=self._timeout, metadata=self._metadata()
        )
        return response

    async def issue_download_token(
        self, resource: str, ttl_seconds: float, max_uses: int = 0, request_id: str | None = None
    ) -> pb.IssueDownloadTokenResponse:
        """``request_id`` (a UUID): pass the same one to retry an issue whose answer was
        lost and get the same token. By default a new one per call, so the channel's
        retries on UNAVAILABLE (which resend this message) make no second token."""
        request = pb.IssueDownloadTokenRequest(
            resource=resource, max_uses=max_uses, request_id=request_id or str(uuid.uuid4())
        )
        request.ttl.FromMilliseconds(int(ttl_seconds * 1000))
        response: pb.IssueDownloadTokenResponse = await self._stub.IssueDownloadToken(
            request, timeout=self._timeout, metadata=self._metadata()
        )
        return response

    async def validate_download_token(
        self, token: str, resource: str = "", peek: bool = False
    ) -> pb.ValidateDownloadTokenResponse:
        request = pb.ValidateDownloadTokenRequest(
            download_token=token, resource=resource, peek=peek
        )
        if not peek:
            # One id per validation: the channel's retries on UNAVAILABLE resend this
            # message, so a retry of an attempt whose use was counted (its answer lost)
            # gets that answer instead of USED_UP. Not the request id: callers may
            # forward that from users.
            request.attempt_id = secrets.token_urlsafe(16)
        response: pb.ValidateDownloadTokenResponse = await self._stub.ValidateDownloadToken(
            request,
            timeout=self._timeout,
            metadata=self._metadata(),
        )
        return response

    async def revoke_download_token(self, token: str, request_id: str | None = None) -> bool:
        """``request_id`` (a UUID), as for ``issue_download_token``: a retry of the
        revocation that revoked the token answers True again."""
        response: pb.RevokeDownloadTokenResponse = await self._stub.RevokeDownloadToken(
            pb.RevokeDownloadTokenRequest(
                download_token=token, request_id=request_id or str(uuid.uuid4())
            ),
            timeout=self._timeout,
            metadata=self._metadata(),
        )
        return response.revoked

    # --------------------------------------------------------------- in-memory token

    def watch(self, provider: str) -> None:
        """Keep ``provider``'s token in memory from the WatchToken stream."""
        if provider not in self._watch_tasks:
            self._watch_tasks[provider] = asyncio.get_running_loop().create_task(
                self._watch_loop(provider)
            )

    async def _watch_loop(self, provider: str) -> None:
        delay = 0.1
        while True:
            try:
                stream = self._stub.WatchToken(
                    pb.WatchTokenRequest(provider=provider), metadata=self._metadata()
                )
                async for item in stream:
                    heartbeat = item.heartbeat_interval.ToTimedelta().total_seconds() or 10.0
                    self._watched[provider] = _Watched(item.token, time.monotonic(), 2 * heartbeat)
                    delay = 0.1
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.info(
                    "token watch interrupted; retrying",
                    extra={"provider": provider, "code": exc.code().name},
                )
            self._watched.pop(provider, None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def token(self, provider: str) -> str:
        """The provider's access token: the watched copy when fresh, else one RPC."""
        watched = self._watched.get(provider)
        if watched is not None:
            fresh = time.monotonic() - watched.received <= watched.stale_after
            remaining = watched.token.expire_time.ToMicroseconds() / 1e6 - time.time()
            if fresh and remaining > EXPIRY_SAFETY_SECONDS:
                return watched.token.access_token
        return (await self.get_token(provider)).access_token

    async def call_with_token(self, provider: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Runs ``call(token)``; on UpstreamUnauthorized reports the token and retries once."""
        token = await self.token(provider)
        try:
            return await call(token)
        except UpstreamUnauthorized:
            response = await self.report_invalid(provider, token)
            fresh = response.token
            watched = self._watched.get(provider)
            if watched is not None and watched.token.generation < fresh.generation:
                self._watched[provider] = _Watched(fresh, time.monotonic(), watched.stale_after)
            return await call(fresh.access_token)

    async def close(self) -> None:
        await cancel_and_wait(self._watch_tasks.values())
        await self._channel.close()
