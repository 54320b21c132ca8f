"""What cancelling a booking gives back.

- A held booking was never charged: the refund is zero.
- A confirmed booking: each refundable segment refunds its price minus its change fee
  per passenger (infants included), never below zero; a non-refundable segment refunds
  nothing. The refund is the sum over the segments.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from booking_service.store.repository import SegmentRecord


def refund_if_confirmed(segments: Iterable[SegmentRecord], passengers: int) -> Decimal:
    refund = Decimal("0.00")
    for segment in segments:
        if segment.refundable:
            refund += max(Decimal("0.00"), segment.price - segment.change_fee * passengers)
    return refund
