"""ConfirmBooking's early itinerary link (itinerary/links.py EarlyLink) against a token
client whose issue waits for the test: handed out only for a CONFIRMED booking; on any
other end (failure, the caller gone) it finishes in the background and its token is
revoked; an issue that fails gives no link; nothing outlives ``close``. (With the real
stack, the package's hotel order and the token service: tests/system/
test_booking_packages.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest

from booking_service.itinerary.links import ItineraryLinks
from booking_service.settings import ItineraryLinkSettings
from booking_service.store.repository import BookingRecord, BookingStore
from services.generated.skyroute.token.v1 import token_service_pb2 as tpb

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def booking(status: str = "HELD", reference: str = "ABC234") -> BookingRecord:
    return BookingRecord(
        id=1,
        reference=reference,
        user_id="user-1",
        request_id="req-1",
        request_hash="h",
        status=status,
        currency="EUR",
        total_price=Decimal("400.00"),
        contact_email="ann@example.com",
        contact_phone=None,
        hold_expires_at=NOW + timedelta(minutes=15),
        created_at=NOW,
        updated_at=NOW,
        confirmed_at=None,
        cancelled_at=None,
        expired_at=None,
        refund_amount=None,
        payment_reference=None,
        payment_token_hash=None,
        provider=None,
        provider_remark=None,
        provider_order_status=None,
        provider_order_id=None,
        provider_record_locator=None,
        provider_attempt_at=None,
    )


class Tokens:
    """A token service whose issue answers once ``release`` is set (or fails with
    ``failure``); records what was issued and revoked."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.failure: grpc.StatusCode | None = None
        self.issued: list[str] = []
        self.revoked: list[str] = []
        self.cancelled = 0

    async def issue_download_token(
        self, resource: str, ttl_seconds: float, max_uses: int = 0
    ) -> tpb.IssueDownloadTokenResponse:
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.failure is not None:
            raise grpc.aio.AioRpcError(
                self.failure, grpc.aio.Metadata(), grpc.aio.Metadata(), "down"
            )
        token = f"dl-{len(self.issued)}-{resource}"
        self.issued.append(token)
        response = tpb.IssueDownloadTokenResponse(download_token=token)
        response.expire_time.FromDatetime(NOW + timedelta(seconds=ttl_seconds))
        return response

    async def validate_download_token(
        self, token: str, resource: str = "", peek: bool = False
    ) -> tpb.ValidateDownloadTokenResponse:
        raise AssertionError("not used")

    async def revoke_download_token(self, token: str, request_id: str | None = None) -> bool:
        self.revoked.append(token)
        return True


def links(tokens: Tokens | None) -> ItineraryLinks:
    # The store is not used by issuing or revoking.
    return ItineraryLinks(BookingStore.__new__(BookingStore), tokens, ItineraryLinkSettings())


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_started_at_the_claim_taken_once_confirmed() -> None:
    tokens = Tokens()
    service = links(tokens)
    early = service.early()
    assert not early.started
    early.start(booking())
    early.start(booking())  # once only
    await settle()
    assert early.started and tokens.issued == []  # under way, not answered yet
    tokens.release.set()
    link = await early.take(booking("CONFIRMED"))
    assert link is not None and link.download_token == "dl-0-itinerary/ABC234"
    assert link.max_uses == 10 and link.expires_at == NOW + timedelta(hours=24)
    assert tokens.issued == [link.download_token] and tokens.revoked == []
    await service.close()


async def test_a_confirmation_that_failed_revokes_the_link_once_issued() -> None:
    tokens = Tokens()
    service = links(tokens)
    early = service.early()
    early.start(booking())
    await settle()
    early.discard()  # the package failed while the issue was in flight: not cut off
    await settle()
    assert tokens.cancelled == 0 and tokens.revoked == []
    tokens.release.set()
    await settle()
    assert tokens.revoked == tokens.issued == ["dl-0-itinerary/ABC234"]
    assert not service._background  # nothing left over
    await service.close()


async def test_a_booking_not_confirmed_gets_no_link() -> None:
    tokens = Tokens()
    tokens.release.set()
    service = links(tokens)
    for status in ("CANCELLED", "EXPIRED", "HELD"):
        early = service.early()
        early.start(booking())
        assert await early.take(booking(status)) is None
    await settle()
    assert len(tokens.issued) == 3 and sorted(tokens.revoked) == sorted(tokens.issued)
    # Not the booking the issue was started for: not handed out either.
    early = service.early()
    early.start(booking())
    assert await early.take(booking("CONFIRMED", reference="XYZ567")) is None
    await settle()
    assert len(tokens.revoked) == 4
    await service.close()


async def test_the_caller_gone_while_waiting_for_the_link_revokes_it() -> None:
    tokens = Tokens()
    service = links(tokens)
    early = service.early()
    early.start(booking())
    waiting = asyncio.ensure_future(early.take(booking("CONFIRMED")))
    await settle()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert tokens.cancelled == 0  # the issue carries on, shielded
    tokens.release.set()
    await settle()
    assert tokens.revoked == tokens.issued and len(tokens.issued) == 1
    await service.close()


async def test_a_failed_issue_gives_no_link_and_nothing_to_revoke() -> None:
    tokens = Tokens()
    tokens.failure = grpc.StatusCode.UNAVAILABLE
    tokens.release.set()
    service = links(tokens)
    early = service.early()
    early.start(booking())
    assert await early.take(booking("CONFIRMED")) is None
    failed = service.early()
    failed.start(booking())
    failed.discard()
    await settle()
    assert tokens.issued == tokens.revoked == [] and not service._background
    await service.close()


async def test_close_ends_issues_still_in_flight() -> None:
    tokens = Tokens()
    service = links(tokens)
    early = service.early()
    early.start(booking())
    await settle()  # waiting for the token service
    early.discard()
    left = set(service._background)
    assert len(left) == 2  # the issue and its revocation
    await service.close()
    assert all(task.done() for task in left) and not service._background
    assert tokens.cancelled == 1
    assert tokens.issued == tokens.revoked == []


async def test_without_a_token_service_nothing_starts() -> None:
    service = links(None)
    early = service.early()
    early.start(booking())
    assert early.started  # the confirmation's hook ran: no issue after it either
    assert await early.take(booking("CONFIRMED")) is None
    early.discard()
    assert not service._background


async def test_a_link_handed_out_is_not_revoked_by_a_later_discard() -> None:
    tokens = Tokens()
    tokens.release.set()
    service = links(tokens)
    early = service.early()
    early.start(booking())
    assert await early.take(booking("CONFIRMED")) is not None
    early.discard()  # e.g. the servicer's error path after the link was taken
    await settle()
    assert len(tokens.issued) == 1 and tokens.revoked == []
    await service.close()
