"""Itinerary links: download tokens from the token service for ``itinerary/<reference>``.

The token service keeps download tokens in Redis, so a link made through any booking
replica works through any other at once, with expiry, revocation and a use limit
(BOOKING_ITINERARY_LINK_TTL_SECONDS, BOOKING_ITINERARY_LINK_MAX_USES). The token is
the whole credential of GetItinerary (no JWT): the booking it opens is the one named
in the token's resource, never one the caller names. Tokens never appear in logs or
error messages.

ConfirmBooking's link (``EarlyLink``): a package's confirmation waits for the hotel
supplier's order, so its link is issued while that runs rather than after it. The
confirmation starts the issue once the booking is known to be the caller's and claimed
for an authorised payment (flows/bookings.py, flows/packages.py: never for a wrong
user, a bad reference or a declined payment), and the link goes into the response only
if the booking ends CONFIRMED. Any other end (the package failed, any error, the caller
gone) hands the issue to the background, where it finishes (a token issued is not
known until its answer arrives, so it is not cut off) and its token is revoked,
best-effort and logged without the token; the caller's error is neither delayed nor
changed. The background tasks are kept here and cancelled and awaited by ``close``.
A flights-only booking is confirmed in one statement, with nothing to overlap: its link
is issued after it, as ever (``try_issue``).
"""

from __future__ import annotations

import asyncio
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
from services.tasks import cancel_and_wait

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

    async def revoke_download_token(self, token: str, request_id: str | None = None) -> bool: ...


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


class EarlyLink:
    """A ConfirmBooking's link, issued while the confirmation's remaining steps run (see
    the module docstring). ``start`` is the confirmation's hook once the booking is
    claimed; then exactly one of ``take`` (it ended CONFIRMED) or ``discard`` (any
    other end) follows."""

    def __init__(self, links: ItineraryLinks) -> None:
        self._links = links
        self._reference = ""
        self._task: asyncio.Task[Link | None] | None = None
        self.started = False

    def start(self, booking: BookingRecord) -> None:
        """Starts the issue for ``booking`` (once; later calls do nothing)."""
        if self.started:
            return
        self.started = True
        self._reference = booking.reference
        self._task = self._links._start(booking.reference)

    async def take(self, booking: BookingRecord) -> Link | None:
        """The link for the confirmed ``booking`` (None if it could not be issued, as
        ``try_issue``); if ``booking`` is not CONFIRMED, the issue is discarded."""
        task = self._task
        if task is None:
            return None
        if booking.status != BookingStatus.CONFIRMED or booking.reference != self._reference:
            self.discard()
            return None
        try:
            # Shielded: a caller gone now gets no link, and its token is revoked.
            link = await asyncio.shield(task)
        except asyncio.CancelledError:
            self.discard()
            raise
        self._task = None  # handed out: a later discard must not revoke it
        return link

    def discard(self) -> None:
        """The confirmation did not end CONFIRMED (or its caller is gone): the link is
        not handed out and its token is revoked in the background. Never blocks; does
        nothing once ``take`` has handed the link out."""
        task, self._task = self._task, None
        if task is not None:
            self._links._discard(self._reference, task)


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
        # Early issues handed over by a confirmation that did not end CONFIRMED, and the
        # revocations of their tokens (EarlyLink.discard); close() ends them.
        self._background: set[asyncio.Task[object]] = set()

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
        return await self._issue(booking.reference)

    async def _issue(self, reference: str) -> Link:
        """A link to ``reference`` whatever its status (the caller has checked)."""
        client = self._client()
        try:
            issued = await client.issue_download_token(
                resource_of(reference), self._settings.ttl_seconds, self._settings.max_uses
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "itinerary link not issued",
                extra={"booking_reference": reference, "code": exc.code().name},
            )
            raise _unavailable() from None
        return Link(
            issued.download_token, issued.expire_time.ToDatetime(UTC), self._settings.max_uses
        )

    async def _try_issue(self, reference: str) -> Link | None:
        try:
            return await self._issue(reference)
        except UnavailableError:
            return None

    def early(self) -> EarlyLink:
        """One ConfirmBooking's link, issued alongside its confirmation (``EarlyLink``)."""
        return EarlyLink(self)

    def _start(self, reference: str) -> asyncio.Task[Link | None] | None:
        if self._tokens is None:
            return None
        return asyncio.get_running_loop().create_task(self._try_issue(reference))

    def _discard(self, reference: str, issue: asyncio.Task[Link | None]) -> None:
        """The early issue of a confirmation that did not end CONFIRMED: left to finish
        in the background, then its token (never handed out) revoked."""
        self._keep(
            asyncio.get_running_loop().create_task(self._revoke_when_issued(reference, issue))
        )
        self._keep(issue)  # kept until done too, so close() ends it even if its
        # revocation task is cancelled before it first runs

    def _keep(self, task: asyncio.Task[object]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _revoke_when_issued(self, reference: str, issue: asyncio.Task[Link | None]) -> None:
        try:
            link = await issue
        except Exception:  # not issued: nothing to revoke (logged where it failed)
            return
        if link is None or self._tokens is None:
            return
        extra = {"booking_reference": reference}
        try:
            await self._tokens.revoke_download_token(link.download_token)
        except Exception as exc:  # nobody awaits this task: every failure ends here
            # Harmless if it stays: never handed out, and it opens only a confirmed booking.
            code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
            log.warning("unused itinerary link not revoked", extra={**extra, "code": code})
            return
        log.info("unused itinerary link revoked", extra=extra)

    async def close(self) -> None:
        """Ends the background issues and revocations (at shutdown)."""
        while self._background:  # again for any a confirmation ending meanwhile adds
            # Taken out here: their done callbacks run only later, and a loop on tasks
            # already done would never yield to let them.
            tasks = list(self._background)
            self._background.difference_update(tasks)
            await cancel_and_wait(tasks)

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
