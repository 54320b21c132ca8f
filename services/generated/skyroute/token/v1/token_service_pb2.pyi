import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccessToken(_message.Message):
    __slots__ = ("access_token", "token_type", "expire_time", "generation", "provider")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    token_type: str
    expire_time: _timestamp_pb2.Timestamp
    generation: int
    provider: str
    def __init__(self, access_token: _Optional[str] = ..., token_type: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., provider: _Optional[str] = ...) -> None: ...

class GetTokenRequest(_message.Message):
    __slots__ = ("provider", "min_validity")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MIN_VALIDITY_FIELD_NUMBER: _ClassVar[int]
    provider: str
    min_validity: _duration_pb2.Duration
    def __init__(self, provider: _Optional[str] = ..., min_validity: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetTokenResponse(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: AccessToken
    def __init__(self, token: _Optional[_Union[AccessToken, _Mapping]] = ...) -> None: ...

class ReportInvalidTokenRequest(_message.Message):
    __slots__ = ("provider", "access_token")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    provider: str
    access_token: str
    def __init__(self, provider: _Optional[str] = ..., access_token: _Optional[str] = ...) -> None: ...

class ReportInvalidTokenResponse(_message.Message):
    __slots__ = ("token", "invalidated")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    INVALIDATED_FIELD_NUMBER: _ClassVar[int]
    token: AccessToken
    invalidated: bool
    def __init__(self, token: _Optional[_Union[AccessToken, _Mapping]] = ..., invalidated: _Optional[bool] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, providers: _Optional[_Iterable[str]] = ...) -> None: ...

class GetTokenStatusRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class GetTokenStatusResponse(_message.Message):
    __slots__ = ("provider", "has_valid_token", "generation", "token_age", "time_to_expiry", "refresh_time", "degraded", "refresh_locked", "refreshing", "cache_hits", "cache_misses", "waits", "upstream_requests_ok", "upstream_requests_failed", "lock_contended", "fenced_writes_rejected", "cluster_upstream_requests_ok", "cluster_upstream_requests_failed", "last_error", "backoff_until", "grant", "reauthorization_required", "cluster_chain_rotations", "cluster_chain_recoveries")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    HAS_VALID_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_AGE_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TIME_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    REFRESH_LOCKED_FIELD_NUMBER: _ClassVar[int]
    REFRESHING_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    WAITS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_REQUESTS_OK_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_REQUESTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    LOCK_CONTENDED_FIELD_NUMBER: _ClassVar[int]
    FENCED_WRITES_REJECTED_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UPSTREAM_REQUESTS_OK_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_UPSTREAM_REQUESTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_UNTIL_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    REAUTHORIZATION_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CHAIN_ROTATIONS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CHAIN_RECOVERIES_FIELD_NUMBER: _ClassVar[int]
    provider: str
    has_valid_token: bool
    generation: int
    token_age: _duration_pb2.Duration
    time_to_expiry: _duration_pb2.Duration
    refresh_time: _timestamp_pb2.Timestamp
    degraded: bool
    refresh_locked: bool
    refreshing: bool
    cache_hits: int
    cache_misses: int
    waits: int
    upstream_requests_ok: int
    upstream_requests_failed: int
    lock_contended: int
    fenced_writes_rejected: int
    cluster_upstream_requests_ok: int
    cluster_upstream_requests_failed: int
    last_error: str
    backoff_until: _timestamp_pb2.Timestamp
    grant: str
    reauthorization_required: bool
    cluster_chain_rotations: int
    cluster_chain_recoveries: int
    def __init__(self, provider: _Optional[str] = ..., has_valid_token: _Optional[bool] = ..., generation: _Optional[int] = ..., token_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_to_expiry: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., refresh_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., degraded: _Optional[bool] = ..., refresh_locked: _Optional[bool] = ..., refreshing: _Optional[bool] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., waits: _Optional[int] = ..., upstream_requests_ok: _Optional[int] = ..., upstream_requests_failed: _Optional[int] = ..., lock_contended: _Optional[int] = ..., fenced_writes_rejected: _Optional[int] = ..., cluster_upstream_requests_ok: _Optional[int] = ..., cluster_upstream_requests_failed: _Optional[int] = ..., last_error: _Optional[str] = ..., backoff_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grant: _Optional[str] = ..., reauthorization_required: _Optional[bool] = ..., cluster_chain_rotations: _Optional[int] = ..., cluster_chain_recoveries: _Optional[int] = ...) -> None: ...

class WatchTokenRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class WatchTokenResponse(_message.Message):
    __slots__ = ("token", "heartbeat_interval")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    token: AccessToken
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, token: _Optional[_Union[AccessToken, _Mapping]] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class InstallGrantRequest(_message.Message):
    __slots__ = ("provider", "authorization_code", "refresh_token")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_CODE_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    provider: str
    authorization_code: AuthorizationCode
    refresh_token: str
    def __init__(self, provider: _Optional[str] = ..., authorization_code: _Optional[_Union[AuthorizationCode, _Mapping]] = ..., refresh_token: _Optional[str] = ...) -> None: ...

class AuthorizationCode(_message.Message):
    __slots__ = ("code", "redirect_uri")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REDIRECT_URI_FIELD_NUMBER: _ClassVar[int]
    code: str
    redirect_uri: str
    def __init__(self, code: _Optional[str] = ..., redirect_uri: _Optional[str] = ...) -> None: ...

class InstallGrantResponse(_message.Message):
    __slots__ = ("generation", "expire_time")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    generation: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, generation: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IssueDownloadTokenRequest(_message.Message):
    __slots__ = ("resource", "ttl", "max_uses", "request_id")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    resource: str
    ttl: _duration_pb2.Duration
    max_uses: int
    request_id: str
    def __init__(self, resource: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., max_uses: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class IssueDownloadTokenResponse(_message.Message):
    __slots__ = ("download_token", "expire_time")
    DOWNLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    download_token: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, download_token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ValidateDownloadTokenRequest(_message.Message):
    __slots__ = ("download_token", "resource", "peek", "attempt_id")
    DOWNLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    PEEK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_ID_FIELD_NUMBER: _ClassVar[int]
    download_token: str
    resource: str
    peek: bool
    attempt_id: str
    def __init__(self, download_token: _Optional[str] = ..., resource: _Optional[str] = ..., peek: _Optional[bool] = ..., attempt_id: _Optional[str] = ...) -> None: ...

class ValidateDownloadTokenResponse(_message.Message):
    __slots__ = ("result", "valid", "resource", "remaining_uses", "expire_time")
    class Result(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESULT_UNSPECIFIED: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_VALID: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_UNKNOWN: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_EXPIRED: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_REVOKED: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_USED_UP: _ClassVar[ValidateDownloadTokenResponse.Result]
        RESULT_WRONG_RESOURCE: _ClassVar[ValidateDownloadTokenResponse.Result]
    RESULT_UNSPECIFIED: ValidateDownloadTokenResponse.Result
    RESULT_VALID: ValidateDownloadTokenResponse.Result
    RESULT_UNKNOWN: ValidateDownloadTokenResponse.Result
    RESULT_EXPIRED: ValidateDownloadTokenResponse.Result
    RESULT_REVOKED: ValidateDownloadTokenResponse.Result
    RESULT_USED_UP: ValidateDownloadTokenResponse.Result
    RESULT_WRONG_RESOURCE: ValidateDownloadTokenResponse.Result
    RESULT_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    REMAINING_USES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    result: ValidateDownloadTokenResponse.Result
    valid: bool
    resource: str
    remaining_uses: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, result: _Optional[_Union[ValidateDownloadTokenResponse.Result, str]] = ..., valid: _Optional[bool] = ..., resource: _Optional[str] = ..., remaining_uses: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeDownloadTokenRequest(_message.Message):
    __slots__ = ("download_token", "request_id")
    DOWNLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    download_token: str
    request_id: str
    def __init__(self, download_token: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RevokeDownloadTokenResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: bool
    def __init__(self, revoked: _Optional[bool] = ...) -> None: ...
