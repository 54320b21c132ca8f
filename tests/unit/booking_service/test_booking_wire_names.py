"""Statuses in error text and metadata are spelled as the API's enum spells them."""

from __future__ import annotations

from booking_service.flows.wire import status_name
from booking_service.store.models import BookingStatus
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb


def test_every_status_a_client_can_see_has_its_api_name() -> None:
    shown = {status: status_name(status) for status in BookingStatus}
    assert shown == {
        BookingStatus.PENDING: "PENDING",  # internal: never reaches a client
        BookingStatus.HELD: "BOOKING_STATUS_HELD",
        BookingStatus.CONFIRMED: "BOOKING_STATUS_CONFIRMED",
        BookingStatus.CANCELLED: "BOOKING_STATUS_CANCELLED",
        BookingStatus.EXPIRED: "BOOKING_STATUS_EXPIRED",
    }
    api_names = set(pb.BookingStatus.keys()) - {"BOOKING_STATUS_UNSPECIFIED"}
    assert api_names == set(shown.values()) - {"PENDING"}
    assert status_name("CONFIRMED") == "BOOKING_STATUS_CONFIRMED"  # a plain string too
