"""A booking's itinerary document: JSON for programs, plain text for printing.

What a traveller needs at the airport and the hotel, and nothing more: booking
reference and the provider's record locator, passengers with their ticket numbers, the
flights with local departure and arrival times, the hotel stay, and the totals. Travel
document numbers are masked (the document is reached through a link that may be
forwarded); no payment reference. A hotel stay alone has no flights and no tickets: its
guests show their names (and a document only if they gave one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from booking_service.store.repository import BookingRecord, PassengerRecord, SegmentRecord

VERSION = 1
DOCUMENT_TYPE = "skyroute.itinerary"
TEXT_WIDTH = 72
_CABINS = {
    "ECONOMY": "Economy",
    "PREMIUM_ECONOMY": "Premium economy",
    "BUSINESS": "Business",
    "FIRST": "First",
}
_PASSENGER_TYPES = {"ADULT": "Adult", "CHILD": "Child", "INFANT": "Infant"}
_DOCUMENT_TYPES = {"PASSPORT": "Passport", "NATIONAL_ID": "National ID"}


def _money(value: Any) -> str:
    return f"{value:.2f}"


def _mask(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def _local(stored: str | None, moment: datetime) -> str:
    """The stored local time; UTC for rows that have none."""
    return stored or moment.astimezone(UTC).isoformat()


def _segment(s: SegmentRecord) -> dict[str, Any]:
    leg = s.leg
    return {
        "flight": leg.flight_designator,
        "origin": leg.origin,
        "destination": leg.destination,
        "departure_local_time": _local(leg.departure_local_time, leg.departure_at),
        "arrival_local_time": _local(leg.arrival_local_time, leg.arrival_at),
        "departure_time_utc": leg.departure_at.astimezone(UTC).isoformat(),
        "arrival_time_utc": leg.arrival_at.astimezone(UTC).isoformat(),
        "cabin": s.cabin,
        "seats": s.seats,
    }


def _document(p: PassengerRecord) -> dict[str, Any] | None:
    if p.document_number is None:
        return None
    return {
        "type": p.document_type,
        "number": _mask(p.document_number),
        "issuing_country": p.document_country,
    }


def document(booking: BookingRecord, generated_at: datetime) -> dict[str, Any]:
    """The itinerary of a booking (segments and passengers loaded) as plain JSON data."""
    return {
        "type": DOCUMENT_TYPE,
        "version": VERSION,
        "booking_reference": booking.reference,
        "status": booking.status,
        "provider": booking.provider,
        "provider_record_locator": booking.provider_record_locator,
        "confirmed_at": booking.confirmed_at.isoformat() if booking.confirmed_at else None,
        "generated_at": generated_at.isoformat(),
        "contact": {"email": booking.contact_email, "phone": booking.contact_phone},
        "passengers": [
            {
                "given_name": p.given_name,
                "family_name": p.family_name,
                "type": p.passenger_type,
                "ticket_number": p.ticket_number,
                "document": _document(p),
            }
            for p in booking.passengers
        ],
        "segments": [_segment(s) for s in booking.segments],
        "totals": {
            "currency": booking.currency,
            "total": _money(booking.total_price),
            "per_segment": [_money(s.price) for s in booking.segments],
        },
        "hotel": _hotel(booking),
    }


def _hotel(booking: BookingRecord) -> dict[str, Any] | None:
    stay = booking.hotel
    if stay is None:
        return None
    return {
        "hotel_id": stay.hotel_id,
        "name": stay.hotel_name,
        "city_code": stay.city_code,
        "room_type": stay.room_type,
        "room_description": stay.room_description,
        "board_type": stay.board_type,
        "check_in_date": stay.check_in.isoformat(),
        "check_out_date": stay.check_out.isoformat(),
        "rooms": stay.rooms,
        "confirmation_number": stay.confirmation_number,
        "price": _money(stay.price),
        "refundable": stay.refundable,
        "cancellation_deadline": (
            stay.cancellation_deadline.isoformat() if stay.cancellation_deadline else None
        ),
    }


def _when(iso: str) -> str:
    """``Tue 01 Dec 2026 08:30 (UTC+00:00)`` from an ISO time with offset."""
    moment = datetime.fromisoformat(iso)
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else "+00:00"
    return f"{moment.strftime('%a %d %b %Y %H:%M')} (UTC{offset})"


def render_text(doc: dict[str, Any]) -> str:
    """The document as printable plain text (ASCII rules, fixed width)."""
    rule = "=" * TEXT_WIDTH
    lines = [
        rule,
        "SKYROUTE ITINERARY".center(TEXT_WIDTH).rstrip(),
        rule,
        f"Booking reference:  {doc['booking_reference']}",
        f"Status:             {doc['status']}",
    ]
    if doc.get("provider_record_locator"):
        lines.append(f"Airline reference:  {doc['provider_record_locator']}")
    flights = bool(doc["segments"])
    lines += ["", "PASSENGERS" if flights else "GUESTS"]
    for i, p in enumerate(doc["passengers"], 1):
        kind = _PASSENGER_TYPES.get(p["type"], p["type"])
        lines.append(f"  {i}. {p['family_name'].upper()}/{p['given_name'].upper()} ({kind})")
        details = [f"Ticket {p['ticket_number'] or 'not ticketed'}"] if flights else []
        if p["document"]:
            document_type = _DOCUMENT_TYPES.get(p["document"]["type"], p["document"]["type"])
            details.append(f"{document_type} {p['document']['number']}")
        if details:
            lines.append("     " + "   ".join(details))
    if flights:
        lines += ["", "FLIGHTS"]
    for i, s in enumerate(doc["segments"], 1):
        cabin = _CABINS.get(s["cabin"], s["cabin"])
        lines.append(f"  {i}. {s['flight']}  {s['origin']} -> {s['destination']}  {cabin}")
        lines.append(f"     Departs  {s['origin']}  {_when(s['departure_local_time'])}")
        lines.append(f"     Arrives  {s['destination']}  {_when(s['arrival_local_time'])}")
    hotel = doc.get("hotel")
    if hotel:
        lines += ["", "HOTEL"]
        lines.append(f"  {hotel['name']} ({hotel['city_code']})  {hotel['rooms']} room(s)")
        lines.append(
            f"     {hotel['check_in_date']} -> {hotel['check_out_date']}  {hotel['board_type']}"
        )
        lines.append(f"     Confirmation {hotel['confirmation_number'] or 'pending'}")
    totals = doc["totals"]
    lines += ["", f"TOTAL  {totals['currency']} {totals['total']}", ""]
    if flights:
        lines.append("Times are local at each airport.")
    lines.append(rule)
    return "\n".join(lines) + "\n"
