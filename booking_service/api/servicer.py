"""gRPC servicer: convert, call the booking logic, convert back. Nothing else (but
ConfirmBooking's itinerary link, issued alongside a package's confirmation: links.py).

The caller's user id is the JWT subject the interceptor's authenticator put in
``caller_var`` (auth.py); every RPC requires it except GetItinerary, whose download
token is its credential (``PUBLIC_METHODS``).
"""

from __future__ import annotations

import grpc

from booking_service.api import convert
from booking_service.flows.bookings import Bookings
from booking_service.itinerary.links import ItineraryLinks
from services.context import caller_var
from services.errors import UnauthenticatedError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["BookingService"].full_name
# Methods that take no JWT (auth.PublicMethods).
PUBLIC_METHODS = (f"/{SERVICE}/GetItinerary",)


def _user() -> str:
    user = caller_var.get()
    if not user:  # the authenticator always sets it; refuse rather than guess
        raise UnauthenticatedError("no authenticated user", reason="TOKEN_MISSING")
    return user


class BookingServicer(pb_grpc.BookingServiceServicer):
    def __init__(self, bookings: Bookings, links: ItineraryLinks) -> None:
        self._bookings = bookings
        self._links = links

    async def CreateBooking(
        self, request: pb.CreateBookingRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateBookingResponse:
        user = _user()
        booking = await self._bookings.create(user, convert.create_input(request))
        return pb.CreateBookingResponse(booking=convert.booking_pb(booking))

    async def ConfirmBooking(
        self, request: pb.ConfirmBookingRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmBookingResponse:
        # A package's link is issued while its hotel order is placed: started by the
        # confirmation once the booking is claimed for the caller's payment, taken only
        # if it ends CONFIRMED, revoked in the background otherwise (itinerary/links.py).
        early = self._links.early()
        try:
            booking = await self._bookings.confirm(
                _user(), request.booking_reference, request.payment_token, early.start
            )
            response = pb.ConfirmBookingResponse(booking=convert.booking_pb(booking))
            if early.started:
                link = await early.take(booking)
            else:
                link = await self._links.try_issue(booking)
        except BaseException:  # any error, or the caller gone: no link handed out
            early.discard()
            raise
        if link is not None:
            response.itinerary_link.CopyFrom(convert.link_pb(link))
        return response

    async def GetBooking(
        self, request: pb.GetBookingRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetBookingResponse:
        booking = await self._bookings.get(_user(), request.booking_reference)
        return pb.GetBookingResponse(booking=convert.booking_pb(booking))

    async def ListBookings(
        self, request: pb.ListBookingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListBookingsResponse:
        user = _user()
        page = await self._bookings.list(
            user, request.page_size, request.page_token, convert.status_filter(request.status)
        )
        return pb.ListBookingsResponse(
            bookings=[convert.booking_pb(b) for b in page.bookings],
            next_page_token=page.next_page_token,
        )

    async def CancelBooking(
        self, request: pb.CancelBookingRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelBookingResponse:
        booking = await self._bookings.cancel(_user(), request.booking_reference)
        return pb.CancelBookingResponse(booking=convert.booking_pb(booking))

    async def IssueItineraryLink(
        self, request: pb.IssueItineraryLinkRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueItineraryLinkResponse:
        booking = await self._bookings.get(_user(), request.booking_reference)
        link = await self._links.issue(booking)
        return pb.IssueItineraryLinkResponse(itinerary_link=convert.link_pb(link))

    async def GetItinerary(
        self, request: pb.GetItineraryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetItineraryResponse:
        return convert.itinerary_pb(await self._links.redeem(request.download_token))
