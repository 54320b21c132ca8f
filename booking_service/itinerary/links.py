"""Itinerary links: download tokens from the token service for ``itinerary/<reference>``.

The token service keeps download tokens in Redis, so a link made through any booking
replica works through any other at once, with expiry, revocation and a use limit
(BOOKING_ITINERARY_LINK_TTL_SECONDS, BOOKING_ITINERARY_LINK_MAX_USES). The token is
the whole credential of GetItinerary (no JWT): the booking it opens is the one named
in the token's resource, never one the caller names. Tokens never appear in logs or
error messages.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import grpc

from booking_service.flows.wire import status_name
from booking_service.itinerary import document as itinerary
from booking_service.settings import ItineraryLinkSettings
from booking_service.store.models import REFERENCE_PATTERN, BookingStatus
from booking_service.store.repository import BookingRecord, BookingStore
from services.errors import (
    FailedPreconditionError,
    NotFoundError,
    PermissionDeniedError,
    UnavailableError,
    ValidationError,
)
from services.generated.skyroute.token.v1 import token_service_pb2 as tpb

log = logging.getLogger("skyroute.booking.links")

RESOURCE_PREFIX = "itinerary/"
MAX_TOKEN_CHARS = 512
_REFERENCE = re.compile(REFERENCE_PATTERN)
_R = tpb.ValidateDownloadTokenResponse
# Why a token is refused: (error class, reason, message).
_REFUSED = {
    _R.RESULT_UNKNOWN: (NotFoundError, "DOWNLOAD_TOKEN_NOT_FOUND", "no such itinerary link"),
    _R.RESULT_EXPIRED: (
        PermissionDeniedError,
        "DOWNLOAD_TOKEN_EXPIRED",
        "the itinerary link has expired; ask for a new one",
    ),
    _R.RESULT_REVOKED: (
        PermissionDeniedError,
        "DOWNLOAD_TOKEN_REVOKED",
        "the itinerary link was revoked",
    ),
    _R.RESULT_USED_UP: (
        PermissionDeniedError,
        "DOWNLOAD_TOKEN_USED_UP",
        "the itinerary link has been used as often as it may be",
    ),
}


class DownloadTokens(Protocol):
    """What this needs of services.clients.token_client.TokenClient."""

    async def issue_download_token(
        self, resource: str, ttl_seconds: float, max_uses: int = 0
    ) -> tpb.IssueDownloadTokenResponse: ...

    async def validate_download_token(
        self, token: str, resource: str = "", peek: bool = False
    ) -> tpb.ValidateDownloadTokenResponse: ...


@dataclass(frozen=True, slots=True)
class Link:
    download_token: str
    expires_at: datetime
    max_uses: int


@dataclass(frozen=True, slots=True)
class Itinerary:
    booking_reference: str
    json: str
    text: str
    remaining_uses: int


def resource_of(reference: str) -> str:
    return RESOURCE_PREFIX + reference


def reference_of(resource: str) -> str | None:
    if not resource.startswith(RESOURCE_PREFIX):
        return None
    reference = resource[len(RESOURCE_PREFIX) :]
    return reference if _REFERENCE.match(reference) else None


def _unavailable() -> UnavailableError:
    return UnavailableError(
        "itinerary links are unavailable just now (token service); retry",
        reason="TOKEN_SERVICE_UNAVAILABLE",
    )


class ItineraryLinks:
    def __init__(
        self,
        store: BookingStore,
        tokens: DownloadTokens | None,
        settings: ItineraryLinkSettings,
        clock: Callable[[], float] = time.time,
        details: Callable[[BookingRecord], Awaitable[BookingRecord]] | None = None,
    ) -> None:
        """``tokens`` None: no token service configured; links cannot be made.
        ``details``: adds a booking's hotel stay (flows/packages.py)."""
        self._details = details
        self._store = store
        self._tokens = tokens
        self._settings = settings
        self._clock = clock

    def _client(self) -> DownloadTokens:
        if self._tokens is None:
            raise FailedPreconditionError(
                "itinerary links are not enabled (no token service configured)",
                reason="ITINERARY_LINKS_DISABLED",
            )
        return self._tokens

    async def issue(self, booking: BookingRecord) -> Link:
        if booking.status != BookingStatus.CONFIRMED:
            raise FailedPreconditionError(
                f"booking {booking.reference} is {status_name(booking.status)}: only a "
                f"confirmed booking has an itinerary",
                reason="BOOKING_NOT_CONFIRMED",
                metadata={
                    "booking_reference": booking.reference,
                    "status": status_name(booking.status),
                },
            )
        client = self._client()
        try:
            issued = await client.issue_download_token(
                resource_of(booking.reference), self._settings.ttl_seconds, self._settings.max_uses
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "itinerary link not issued",
                extra={"booking_reference": booking.reference, "code": exc.code().name},
            )
            raise _unavailable() from None
        return Link(
            issued.download_token, issued.expire_time.ToDatetime(UTC), self._settings.max_uses
        )

    async def try_issue(self, booking: BookingRecord) -> Link | None:
        """A link, or None (logged) if none can be made now: for ConfirmBooking, whose
        confirmation stands either way."""
        if self._tokens is None or booking.status != BookingStatus.CONFIRMED:
            return None
        try:
            return await self.issue(booking)
        except UnavailableError:
            return None

    async def redeem(self, download_token: str) -> Itinerary:
        """The itinerary the token grants, counting one use of it."""
        if not download_token:
            raise ValidationError.field("download_token", "is required")
        if len(download_token) > MAX_TOKEN_CHARS:
            raise NotFoundError("no such itinerary link", reason="DOWNLOAD_TOKEN_NOT_FOUND")
        client = self._client()
        try:
            result = await client.validate_download_token(download_token)
        except grpc.aio.AioRpcError as exc:
            log.warning("itinerary link not checked", extra={"code": exc.code().name})
            raise _unavailable() from None
        if not result.valid:
            error, reason, message = _REFUSED.get(
                result.result, (NotFoundError, "DOWNLOAD_TOKEN_NOT_FOUND", "no such itinerary link")
            )
            raise error(message, reason=reason)
        reference = reference_of(result.resource)
        if reference is None:  # a download token for something else (e.g. an e-ticket)
            raise NotFoundError("no such itinerary link", reason="DOWNLOAD_TOKEN_NOT_FOUND")
        booking = await self._store.by_reference(reference)
        if booking is None:
            raise NotFoundError("no such itinerary link", reason="DOWNLOAD_TOKEN_NOT_FOUND")
        if booking.status != BookingStatus.CONFIRMED:
            raise FailedPreconditionError(
                f"booking {reference} is {status_name(booking.status)}: the itinerary is no "
                "longer valid",
                reason="BOOKING_NOT_CONFIRMED",
                metadata={"booking_reference": reference, "status": status_name(booking.status)},
            )
        if self._details is not None:
            booking = await self._details(booking)
        doc = itinerary.document(booking, datetime.fromtimestamp(self._clock(), UTC))
        return Itinerary(
            reference,
            json.dumps(doc, indent=2, ensure_ascii=False),
            itinerary.render_text(doc),
            result.remaining_uses,
        )
