"""gRPC servicer: validate, call the logic, convert to proto. Nothing else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import cast

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from services.context import caller_var
from services.errors import FieldViolation, NotFoundError, ValidationError, shown
from services.generated.skyroute.token.v1 import token_service_pb2 as pb
from services.generated.skyroute.token.v1 import token_service_pb2_grpc as pb_grpc
from token_service.auth import CallerAuth
from token_service.broker import ProviderBroker
from token_service.download_requests import Kind, RequestId
from token_service.download_tokens import MAX_TTL_MS, DownloadTokens, Result
from token_service.store import TokenRecord

MAX_RESOURCE_LEN = 256
MAX_TOKEN_LEN = 4096
# ValidateDownloadTokenRequest.attempt_id: what TokenClient sends is 22 characters.
MAX_ATTEMPT_ID_LEN = 64
_ATTEMPT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# IssueDownloadTokenRequest / RevokeDownloadTokenRequest.request_id (AIP-155): a UUID.
_REQUEST_ID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# A waiting caller is answered this long before its own deadline, so that it gets
# DEADLINE_EXCEEDED / TOKEN_REFRESH_TIMEOUT from us rather than a bare one from gRPC.
DEADLINE_MARGIN_SECONDS = 0.2


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def _duration(ms: int) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromMilliseconds(max(ms, 0))
    return d


def wait_budget(context: grpc.aio.ServicerContext) -> float | None:
    """How long this call may wait for a refresh: until shortly before the caller's
    deadline; None without a deadline (the broker then uses its maximum)."""
    remaining = context.time_remaining()
    return None if remaining is None else max(remaining - DEADLINE_MARGIN_SECONDS, 0.0)


# google.protobuf.Duration's valid range (duration.proto): about +-10,000 years.
MAX_DURATION_SECONDS = 315_576_000_000
MAX_DURATION_NANOS = 999_999_999


def duration_problem(d: duration_pb2.Duration) -> str | None:
    """Why ``d`` is not a valid google.protobuf.Duration, or None if it is."""
    if not -MAX_DURATION_SECONDS <= d.seconds <= MAX_DURATION_SECONDS:
        return f"seconds must be within +-{MAX_DURATION_SECONDS}"
    if not -MAX_DURATION_NANOS <= d.nanos <= MAX_DURATION_NANOS:
        return f"nanos must be within +-{MAX_DURATION_NANOS}"
    if (d.seconds < 0 < d.nanos) or (d.nanos < 0 < d.seconds):
        return "seconds and nanos must have the same sign"
    return None


def request_id_of(kind: Kind, request_id: str) -> RequestId | None:
    """The caller's request id, if it sent one; ValidationError if it is not a UUID."""
    if not request_id:
        return None
    if not _REQUEST_ID.match(request_id):
        raise ValidationError.field("request_id", "must be a UUID (e.g. from uuid4)")
    return RequestId.of(kind, caller_var.get() or "", request_id)


def to_access_token(provider: str, rec: TokenRecord) -> pb.AccessToken:
    return pb.AccessToken(
        access_token=rec.access_token,
        token_type=rec.token_type,
        expire_time=_timestamp(rec.expires_ms),
        generation=rec.generation,
        provider=provider,
    )


class TokenServicer(pb_grpc.TokenServiceServicer):
    def __init__(
        self,
        brokers: Mapping[str, ProviderBroker],
        auth: CallerAuth,
        downloads: DownloadTokens,
        heartbeat_seconds: float,
    ) -> None:
        self._brokers = brokers
        self._auth = auth
        self._downloads = downloads
        self._heartbeat = heartbeat_seconds
        self._responses: dict[str, tuple[TokenRecord, pb.GetTokenResponse]] = {}

    def _broker(self, provider: str) -> ProviderBroker:
        if not provider:
            raise ValidationError.field("provider", "is required")
        broker = self._brokers.get(provider)
        if broker is None:
            # Not a permissions problem: no such provider here, for any caller.
            raise NotFoundError(
                f"provider {shown(provider)!r} is not configured",
                reason="PROVIDER_NOT_FOUND",
                metadata={"provider": shown(provider)},
            )
        self._auth.authorize(caller_var.get(), provider)
        return broker

    async def GetToken(
        self, request: pb.GetTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTokenResponse:
        need_ms = 0
        if request.HasField("min_validity"):
            problem = duration_problem(request.min_validity)
            if problem is not None:
                raise ValidationError.field("min_validity", f"not a valid duration: {problem}")
            need_ms = request.min_validity.ToMilliseconds()
            if need_ms < 0:
                raise ValidationError.field("min_validity", "must not be negative")
        broker = self._broker(request.provider)
        rec = await broker.get_token(need_ms, wait_budget(context))
        # Every caller gets the same message for one token record: build it once.
        cached = self._responses.get(broker.name)
        if cached is None or cached[0] is not rec:
            cached = (rec, pb.GetTokenResponse(token=to_access_token(broker.name, rec)))
            self._responses[broker.name] = cached
        return cached[1]

    async def ReportInvalidToken(
        self, request: pb.ReportInvalidTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportInvalidTokenResponse:
        if not request.access_token:
            raise ValidationError.field("access_token", "is required")
        if len(request.access_token) > MAX_TOKEN_LEN:
            raise ValidationError.field("access_token", f"longer than {MAX_TOKEN_LEN} characters")
        broker = self._broker(request.provider)
        rec, invalidated = await broker.report_invalid(request.access_token, wait_budget(context))
        return pb.ReportInvalidTokenResponse(
            token=to_access_token(broker.name, rec), invalidated=invalidated
        )

    async def GetTokenStatus(
        self, request: pb.GetTokenStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTokenStatusResponse:
        broker = self._broker(request.provider)
        st = await broker.status(fresh=True)
        c = st.counters
        out = pb.GetTokenStatusResponse(
            provider=broker.name,
            degraded=st.degraded,
            refresh_locked=st.refresh_locked,
            refreshing=st.refreshing,
            cache_hits=c.hits,
            cache_misses=c.misses,
            waits=c.waits,
            upstream_requests_ok=c.upstream_ok,
            upstream_requests_failed=c.upstream_failed,
            lock_contended=c.lock_contended,
            fenced_writes_rejected=st.cluster.get("fenced_rejected", c.fenced_rejected),
            cluster_upstream_requests_ok=st.cluster.get("upstream_ok", 0),
            cluster_upstream_requests_failed=st.cluster.get("upstream_failed", 0),
            last_error=st.last_error,
            grant=st.grant,
            reauthorization_required=st.reauthorization_required,
            cluster_chain_rotations=st.cluster.get("chain_rotations", 0),
            cluster_chain_recoveries=st.cluster.get("chain_recoveries", 0),
        )
        rec = st.record
        if rec is not None:
            out.has_valid_token = rec.usable(st.now_ms)
            out.generation = rec.generation
            out.token_age.CopyFrom(_duration(st.now_ms - rec.issued_ms))
            out.time_to_expiry.CopyFrom(_duration(rec.expires_ms - st.now_ms))
            out.refresh_time.CopyFrom(_timestamp(rec.refresh_ms))
        if st.backoff_remaining_ms > 0:
            out.backoff_until.CopyFrom(_timestamp(st.now_ms + st.backoff_remaining_ms))
        return out

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProvidersResponse:
        allowed = self._auth.providers_of(caller_var.get())
        return pb.ListProvidersResponse(providers=sorted(allowed & self._brokers.keys()))

    async def WatchToken(
        self, request: pb.WatchTokenRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchTokenResponse]:
        broker = self._broker(request.provider)
        heartbeat = _duration(int(self._heartbeat * 1000))
        async for rec in broker.watch():
            yield pb.WatchTokenResponse(
                token=to_access_token(broker.name, rec), heartbeat_interval=heartbeat
            )

    async def InstallGrant(
        self, request: pb.InstallGrantRequest, context: grpc.aio.ServicerContext
    ) -> pb.InstallGrantResponse:
        self._auth.authorize_admin(caller_var.get())
        kind = request.WhichOneof("grant")
        code = request.authorization_code.code if kind == "authorization_code" else ""
        if kind is None:
            raise ValidationError.field("grant", "authorization_code or refresh_token is required")
        if kind == "authorization_code" and not code:
            raise ValidationError.field("authorization_code.code", "is required")
        if kind == "refresh_token" and not request.refresh_token:
            raise ValidationError.field("refresh_token", "is required")
        if (
            max(len(code), len(request.refresh_token), len(request.authorization_code.redirect_uri))
            > MAX_TOKEN_LEN
        ):
            raise ValidationError.field(kind, f"longer than {MAX_TOKEN_LEN} characters")
        if not request.provider:
            raise ValidationError.field("provider", "is required")
        broker = self._brokers.get(request.provider)
        if broker is None:
            raise NotFoundError(
                f"provider {shown(request.provider)!r} is not configured",
                reason="PROVIDER_NOT_FOUND",
                metadata={"provider": shown(request.provider)},
            )
        rec = await broker.install_grant(
            code or None,
            request.authorization_code.redirect_uri or None,
            request.refresh_token or None,
        )
        return pb.InstallGrantResponse(
            generation=rec.generation, expire_time=_timestamp(rec.expires_ms)
        )

    async def IssueDownloadToken(
        self, request: pb.IssueDownloadTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueDownloadTokenResponse:
        violations = []
        if not request.resource:
            violations.append(("resource", "is required"))
        elif len(request.resource) > MAX_RESOURCE_LEN:
            violations.append(("resource", f"longer than {MAX_RESOURCE_LEN} characters"))
        ttl_ms = request.ttl.ToMilliseconds() if request.HasField("ttl") else 0
        ttl_problem = duration_problem(request.ttl)
        if ttl_problem is not None:
            violations.append(("ttl", f"not a valid duration: {ttl_problem}"))
        elif not 1000 <= ttl_ms <= MAX_TTL_MS:
            violations.append(("ttl", "must be between 1 second and 7 days"))
        if request.max_uses < 0:
            violations.append(("max_uses", "must not be negative (0 means unlimited)"))
        if request.request_id and not _REQUEST_ID.match(request.request_id):
            violations.append(("request_id", "must be a UUID (e.g. from uuid4)"))
        if violations:
            raise ValidationError([FieldViolation(f, d) for f, d in violations])
        issued = await self._downloads.issue(
            request.resource,
            ttl_ms,
            request.max_uses,
            request_id_of(Kind.ISSUE, request.request_id),
        )
        return pb.IssueDownloadTokenResponse(
            download_token=issued.token, expire_time=_timestamp(issued.expires_ms)
        )

    async def ValidateDownloadToken(
        self, request: pb.ValidateDownloadTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.ValidateDownloadTokenResponse:
        if not request.download_token:
            raise ValidationError.field("download_token", "is required")
        attempt = request.attempt_id
        if len(attempt) > MAX_ATTEMPT_ID_LEN or not _ATTEMPT_ID_CHARS.issuperset(attempt):
            raise ValidationError.field(
                "attempt_id", f"at most {MAX_ATTEMPT_ID_LEN} characters from A-Z a-z 0-9 _ -"
            )
        if len(request.download_token) > MAX_TOKEN_LEN:
            return pb.ValidateDownloadTokenResponse(
                result=pb.ValidateDownloadTokenResponse.RESULT_UNKNOWN
            )
        v = await self._downloads.validate(
            request.download_token, request.resource, consume=not request.peek, attempt=attempt
        )
        out = pb.ValidateDownloadTokenResponse(
            result=cast(pb.ValidateDownloadTokenResponse.Result, int(v.result)),
            valid=v.result == Result.VALID,
            resource=v.resource,
            remaining_uses=v.remaining_uses,
        )
        if v.expires_ms:
            out.expire_time.CopyFrom(_timestamp(v.expires_ms))
        return out

    async def RevokeDownloadToken(
        self, request: pb.RevokeDownloadTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeDownloadTokenResponse:
        if not request.download_token:
            raise ValidationError.field("download_token", "is required")
        request_id = request_id_of(Kind.REVOKE, request.request_id)
        return pb.RevokeDownloadTokenResponse(
            revoked=await self._downloads.revoke(request.download_token, request_id)
        )
