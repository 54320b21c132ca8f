"""Enum values as the API spells them (``BOOKING_STATUS_HELD``, not ``HELD``) for error
text and ErrorInfo metadata: a client reads the same spelling there as in the
responses' enum fields and can pass it back (grpcurl's JSON, ``--status``)."""

from __future__ import annotations

from booking_service.store.models import BookingStatus
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb

_API_NAMES = frozenset(pb.BookingStatus.keys())


def status_name(status: BookingStatus | str) -> str:
    """``BOOKING_STATUS_<status>``; an internal status with no API value (PENDING,
    never shown to a client) as it is."""
    name = f"BOOKING_STATUS_{status}"
    return name if name in _API_NAMES else str(status)
