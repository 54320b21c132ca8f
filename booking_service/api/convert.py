"""Protobuf <-> domain: requests into ``*Input`` values, ``Booking`` rows into messages,
``Decimal`` <-> ``Money`` (exact: units + nanos, never float)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf import timestamp_pb2

from booking_service.flows.validation import (
    ContactInput,
    CreateBookingInput,
    DocumentInput,
    PassengerInput,
)
from booking_service.itinerary.links import Itinerary, Link
from booking_service.pricing.checker import Amount
from booking_service.store.models import (
    BookingStatus,
    DocumentType,
    PackageState,
    PassengerType,
)
from booking_service.store.repository import BookingRecord, PassengerRecord
from services.errors import ValidationError
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.common.v1 import money_pb2

NANOS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANO = Decimal("0.000000001")

STATUS_TO_PB = {
    BookingStatus.HELD: pb.BOOKING_STATUS_HELD,
    BookingStatus.CONFIRMED: pb.BOOKING_STATUS_CONFIRMED,
    BookingStatus.CANCELLED: pb.BOOKING_STATUS_CANCELLED,
    BookingStatus.EXPIRED: pb.BOOKING_STATUS_EXPIRED,
}
STATUS_BY_NUMBER: dict[int, BookingStatus] = {int(v): k for k, v in STATUS_TO_PB.items()}
PASSENGER_TYPE_TO_PB = {
    PassengerType.ADULT: pb.PASSENGER_TYPE_ADULT,
    PassengerType.CHILD: pb.PASSENGER_TYPE_CHILD,
    PassengerType.INFANT: pb.PASSENGER_TYPE_INFANT,
}
DOCUMENT_TYPE_TO_PB = {
    DocumentType.PASSPORT: pb.DOCUMENT_TYPE_PASSPORT,
    DocumentType.NATIONAL_ID: pb.DOCUMENT_TYPE_NATIONAL_ID,
}
DOCUMENT_TYPE_BY_NUMBER: dict[int, DocumentType] = {
    int(v): k for k, v in DOCUMENT_TYPE_TO_PB.items()
}
CABIN_TO_PB: dict[str, pb.Cabin] = {
    "ECONOMY": pb.CABIN_ECONOMY,
    "PREMIUM_ECONOMY": pb.CABIN_PREMIUM_ECONOMY,
    "BUSINESS": pb.CABIN_BUSINESS,
    "FIRST": pb.CABIN_FIRST,
}


def to_money(value: Decimal, currency: str) -> money_pb2.Money:
    exact = value.quantize(_NANO)
    units = int(exact)  # towards zero, so nanos has the sign of units
    nanos = int((exact - units) * NANOS)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def money_is_valid(value: money_pb2.Money) -> bool:
    if not -NANOS < value.nanos < NANOS:
        return False
    return not (value.units > 0 > value.nanos or value.units < 0 < value.nanos)


def from_money(value: money_pb2.Money, field: str) -> Amount:
    if not money_is_valid(value):
        raise ValidationError.field(
            field, "nanos must be within +-999,999,999 and have the sign of units"
        )
    return Amount(Decimal(value.units) + Decimal(value.nanos).scaleb(-9), value.currency_code)


def timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    """What ``Timestamp.FromDatetime`` gives (a naive time is UTC), in a fraction of
    its time: a booking carries up to a dozen of them."""
    if moment is None:
        return None
    delta = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000
    )


def create_input(request: pb.CreateBookingRequest) -> CreateBookingInput:
    passengers = []
    for p in request.passengers:
        document = None
        if p.HasField("document"):
            d = p.document
            if d.type == pb.DOCUMENT_TYPE_UNSPECIFIED:
                doc_type = ""
            else:
                known = DOCUMENT_TYPE_BY_NUMBER.get(int(d.type))
                doc_type = known.value if known else f"#{int(d.type)}"
            document = DocumentInput(doc_type, d.number, d.issuing_country, d.expire_date)
        passengers.append(PassengerInput(p.given_name, p.family_name, p.birth_date, document))
    contact = None
    if request.HasField("contact"):
        contact = ContactInput(request.contact.email, request.contact.phone)
    max_total = None
    if request.HasField("max_total_price"):
        max_total = from_money(request.max_total_price, "max_total_price")
    return CreateBookingInput(
        offer_ids=tuple(request.offer_ids),
        passengers=tuple(passengers),
        contact=contact,
        request_id=request.request_id,
        max_total=max_total,
        hotel_offer_id=request.hotel_offer_id,
    )


def status_filter(value: int) -> BookingStatus | None:
    if value == pb.BOOKING_STATUS_UNSPECIFIED:
        return None
    status = STATUS_BY_NUMBER.get(value)
    if status is None:
        raise ValidationError.field("status", "is not a known booking status")
    return status


def booking_pb(booking: BookingRecord) -> pb.Booking:
    currency = booking.currency
    offers: dict[int, pb.BookedOffer] = {}
    totals: dict[int, Decimal] = {}
    for s in booking.segments:
        offer = offers.setdefault(s.offer_index, pb.BookedOffer(offer_id=s.offer_id))
        totals[s.offer_index] = totals.get(s.offer_index, Decimal(0)) + s.price
        offer.segments.append(
            pb.BookedSegment(
                fare_id=s.fare_id or 0,
                flight_designator=s.leg.flight_designator,
                origin=s.leg.origin,
                destination=s.leg.destination,
                departure_time=timestamp(s.leg.departure_at),
                arrival_time=timestamp(s.leg.arrival_at),
                cabin=CABIN_TO_PB.get(s.cabin, pb.CABIN_UNSPECIFIED),
                seats=s.seats,
                price=to_money(s.price, currency),
                refundable=s.refundable,
                change_fee=to_money(s.change_fee, currency),
                departure_local_time=s.leg.departure_local_time or "",
                arrival_local_time=s.leg.arrival_local_time or "",
            )
        )
    for index, offer in offers.items():
        offer.total_price.CopyFrom(to_money(totals[index], currency))
    message = pb.Booking(
        booking_reference=booking.reference,
        status=STATUS_TO_PB[BookingStatus(booking.status)],
        offers=[offers[i] for i in sorted(offers)],
        passengers=[passenger_pb(p) for p in booking.passengers],
        contact=pb.Contact(email=booking.contact_email, phone=booking.contact_phone or ""),
        total_price=to_money(booking.total_price, currency),
        hold_expire_time=timestamp(booking.hold_expires_at),
        create_time=timestamp(booking.created_at),
        update_time=timestamp(booking.updated_at),
        confirm_time=timestamp(booking.confirmed_at),
        cancel_time=timestamp(booking.cancelled_at),
        payment_reference=booking.payment_reference or "",
        request_id=booking.request_id,
        provider=booking.provider or "",
        provider_record_locator=booking.provider_record_locator or "",
    )
    if booking.refund_amount is not None:
        message.refund_amount.CopyFrom(to_money(booking.refund_amount, currency))
    _add_stay(message, booking)
    return message


def passenger_pb(p: PassengerRecord) -> pb.Passenger:
    """A passenger; ``document`` unset for a hotel guest who gave none."""
    message = pb.Passenger(
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date.isoformat(),
        type=PASSENGER_TYPE_TO_PB[PassengerType(p.passenger_type)],
        ticket_number=p.ticket_number or "",
    )
    if p.document_type is not None:
        message.document.CopyFrom(
            pb.TravelDocument(
                type=DOCUMENT_TYPE_TO_PB[DocumentType(p.document_type)],
                number=p.document_number or "",
                issuing_country=p.document_country or "",
                expire_date=p.document_expire_date.isoformat() if p.document_expire_date else "",
            )
        )
    return message


PACKAGE_STATE_TO_PB = {
    PackageState.HELD: pb.PACKAGE_STATE_HELD,
    PackageState.CONFIRMING: pb.PACKAGE_STATE_CONFIRMING,
    PackageState.COMPENSATING: pb.PACKAGE_STATE_COMPENSATING,
    PackageState.CONFIRMED: pb.PACKAGE_STATE_CONFIRMED,
    PackageState.FAILED: pb.PACKAGE_STATE_FAILED,
}


def _add_stay(message: pb.Booking, booking: BookingRecord) -> None:
    """The hotel stay, kind, package state and per-item refunds."""
    stay, currency = booking.hotel, booking.currency
    if stay is None:
        message.kind = pb.BOOKING_KIND_FLIGHT
        if booking.refund_amount is not None:
            message.item_refunds.append(
                pb.ItemRefund(item="flights", amount=to_money(booking.refund_amount, currency))
            )
        return
    message.kind = pb.BOOKING_KIND_PACKAGE if booking.segments else pb.BOOKING_KIND_HOTEL
    booked = pb.BookedHotelStay(
        offer_id=stay.offer_id,
        provider=stay.provider,
        hotel_id=stay.hotel_id,
        hotel_name=stay.hotel_name,
        city_code=stay.city_code,
        room_type=stay.room_type,
        room_description=stay.room_description,
        board_type=stay.board_type,
        check_in_date=stay.check_in.isoformat(),
        check_out_date=stay.check_out.isoformat(),
        rooms=stay.rooms,
        price=to_money(stay.price, currency),
        refundable=stay.refundable,
        cancellation_deadline=timestamp(stay.cancellation_deadline),
        confirmation_number=stay.confirmation_number or "",
    )
    message.hotel_stays.append(booked)
    if booking.package is not None:
        message.package_state = PACKAGE_STATE_TO_PB[PackageState(booking.package.state)]
        if booking.package.state == PackageState.FAILED:
            message.failure_reason = booking.package.failure_reason or ""
    if booking.refund_amount is not None:
        hotel = stay.refund_amount or Decimal(0)
        if booking.segments:
            message.item_refunds.append(
                pb.ItemRefund(
                    item="flights", amount=to_money(booking.refund_amount - hotel, currency)
                )
            )
        message.item_refunds.append(pb.ItemRefund(item="hotel", amount=to_money(hotel, currency)))


def link_pb(link: Link) -> pb.ItineraryLink:
    return pb.ItineraryLink(
        download_token=link.download_token,
        expire_time=timestamp(link.expires_at),
        max_uses=link.max_uses,
    )


def itinerary_pb(found: Itinerary) -> pb.GetItineraryResponse:
    return pb.GetItineraryResponse(
        booking_reference=found.booking_reference,
        itinerary_json=found.json,
        itinerary_text=found.text,
        remaining_uses=found.remaining_uses,
    )
