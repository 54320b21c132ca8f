"""``booking`` commands: hold, confirm, read, list and cancel bookings, and open an
itinerary link (BookingService).

Every command except ``itinerary`` acts as a user: ``--user NAME`` mints a development
JWT in-process, as ``python -m booking_service.dev_token`` does, from BOOKING_JWT_* in
the environment; ``--jwt TOKEN`` or SKYROUTE_USER_JWT give one. The JWT is sent as
``authorization: Bearer`` metadata and never printed. Output is a summary for people
by default; ``--json`` prints the response as protobuf JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.clients.channels import open_channel
from services.config import ConfigError
from services.context import current_request_id, new_request_id
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from skyroute_cli.common import (
    PROG,
    CallOptions,
    UsageError,
    add_common_options,
    addresses_from_env,
    columns,
    emit,
    enum_label,
    local_date,
    money_arg,
    money_text,
    timeout_of,
    timestamp_text,
)
from skyroute_cli.search import segment_text

SERVICE = "skyroute.booking.v1.BookingService"
ENV_ADDRESSES = "BOOKING_SERVICE_ADDRESSES"
ENV_JWT = "SKYROUTE_USER_JWT"
# Creating a booking may place an order at the upstream provider, which can be slow.
DEFAULT_TIMEOUT = 30.0
DEV_JWT_TTL_SECONDS = 900
PASSENGER_TYPES = {
    "ADULT": pb.PASSENGER_TYPE_ADULT,
    "CHILD": pb.PASSENGER_TYPE_CHILD,
    "INFANT": pb.PASSENGER_TYPE_INFANT,
}
DOCUMENT_TYPES = {
    "PASSPORT": pb.DOCUMENT_TYPE_PASSPORT,
    "NATIONAL_ID": pb.DOCUMENT_TYPE_NATIONAL_ID,
}
STATUSES = {
    "held": pb.BOOKING_STATUS_HELD,
    "confirmed": pb.BOOKING_STATUS_CONFIRMED,
    "cancelled": pb.BOOKING_STATUS_CANCELLED,
    "expired": pb.BOOKING_STATUS_EXPIRED,
}
PASSENGER_FORMAT = "'First Last,YYYY-MM-DD[,ADULT|CHILD|INFANT][,PASSPORT:NUMBER:CC:YYYY-MM-DD]'"


# ------------------------------------------------------------------------ passengers


@dataclass(frozen=True)
class PassengerSpec:
    passenger: pb.Passenger
    # What the user expects; the service derives the type from the date of birth, and
    # the CLI only points out a difference.
    expected_type: int | None


def _document(text: str) -> pb.TravelDocument:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(
            f"document {text!r} must be TYPE:NUMBER:COUNTRY:EXPIRY, "
            "e.g. PASSPORT:X1234567:GB:2030-01-01"
        )
    kind, number, country, expiry = parts
    doc_type = DOCUMENT_TYPES.get(kind.upper().replace("-", "_"))
    if doc_type is None:
        raise argparse.ArgumentTypeError(
            f"document type {kind!r} must be one of {', '.join(DOCUMENT_TYPES)}"
        )
    return pb.TravelDocument(
        type=doc_type, number=number, issuing_country=country, expire_date=expiry
    )


def passenger_arg(text: str) -> PassengerSpec:
    """``First Last,1990-01-31[,ADULT|CHILD|INFANT][,PASSPORT:X1234567:GB:2030-01-01]``;
    ``Last/First`` names a family name with spaces. Only the shape is checked here:
    the service validates the values (and names each problem)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) < 2 or not parts[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {PASSENGER_FORMAT}")
    name, birth_date, *rest = parts
    if "/" in name:
        family, _, given = name.partition("/")
    else:
        given, _, family = name.rpartition(" ")
    if not given.strip() or not family.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the given and the family name, as 'First Last' or 'Last/First'"
        )
    passenger = pb.Passenger(
        given_name=given.strip(), family_name=family.strip(), birth_date=birth_date
    )
    expected: int | None = None
    for part in rest:
        if part.upper() in PASSENGER_TYPES and expected is None:
            expected = PASSENGER_TYPES[part.upper()]
        elif ":" in part and not passenger.HasField("document"):
            try:
                passenger.document.CopyFrom(_document(part))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
        else:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {part!r} is neither a passenger type (ADULT, CHILD, INFANT) nor "
                "a document (TYPE:NUMBER:COUNTRY:EXPIRY), or repeats one"
            )
    return PassengerSpec(passenger, expected)


# ------------------------------------------------------------------------ formatting


def _mask(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def _label(enum: Any, value: int, prefix: str) -> str:
    return enum_label(enum.Name(value), prefix) if value in enum.values() else str(value)


def status_text(booking: pb.Booking) -> str:
    return _label(pb.BookingStatus, booking.status, "BOOKING_STATUS_")


def booked_segment_text(s: pb.BookedSegment) -> str:
    day = local_date(s.departure_local_time)
    return f"{s.departure_local_time[:10]} " + segment_text(
        s.flight_designator,
        s.origin,
        s.departure_local_time,
        s.destination,
        s.arrival_local_time,
        day,
    )


def booking_lines(b: pb.Booking) -> list[str]:
    head = f"booking {b.booking_reference}  {status_text(b)}  {money_text(b.total_price)}"
    if b.status == pb.BOOKING_STATUS_HELD:
        head += f"  held until {timestamp_text(b.hold_expire_time)}"
    lines = [head]
    segments = [
        [
            booked_segment_text(s),
            _label(pb.Cabin, s.cabin, "CABIN_").lower().replace("_", "-"),
            f"{s.seats} seat{'s' if s.seats != 1 else ''}",
            money_text(s.price),
            "refundable" if s.refundable else "non-refundable",
        ]
        for offer in b.offers
        for s in offer.segments
    ]
    lines += ["  " + row for row in columns(segments)]
    for stay in b.hotel_stays:
        lines.append(
            f"  hotel {stay.hotel_name} ({stay.city_code}) {stay.check_in_date}→"
            f"{stay.check_out_date}  {stay.rooms} room(s) {stay.room_type} "
            f"{stay.board_type.lower().replace('_', '-')}  {money_text(stay.price)}  "
            + ("refundable" if stay.refundable else "non-refundable")
            + (f"  confirmation {stay.confirmation_number}" if stay.confirmation_number else "")
        )
    if b.package_state == pb.PACKAGE_STATE_FAILED:
        lines.append(f"  not confirmed: {b.failure_reason} (nothing booked)")
    people = [
        [
            f"{p.given_name} {p.family_name}",
            _label(pb.PassengerType, p.type, "PASSENGER_TYPE_"),
            f"born {p.birth_date}",
            f"{_label(pb.DocumentType, p.document.type, 'DOCUMENT_TYPE_')} "
            f"{_mask(p.document.number)}",
            f"ticket {p.ticket_number}" if p.ticket_number else "",
        ]
        for p in b.passengers
    ]
    lines += ["  " + row for row in columns(people)]
    lines.append(f"  contact {b.contact.email} {b.contact.phone}".rstrip())
    if b.provider:
        lines.append(f"  provider {b.provider}, record locator {b.provider_record_locator}")
    if b.payment_reference:
        lines.append(f"  payment {b.payment_reference}")
    if b.status == pb.BOOKING_STATUS_CANCELLED:
        lines.append(f"  refund {money_text(b.refund_amount)}")
        if len(b.item_refunds) > 1:
            lines.append(
                "  refund by item: "
                + ", ".join(f"{r.item} {money_text(r.amount)}" for r in b.item_refunds)
            )
    lines.append(f"  request id {b.request_id}")
    return lines


def print_booking(booking: pb.Booking) -> None:
    for line in booking_lines(booking):
        print(line)


def print_link(link: pb.ItineraryLink) -> None:
    uses = {0: "until it expires", 1: "single use"}.get(link.max_uses, f"{link.max_uses} uses")
    print(
        f"itinerary link (expires {timestamp_text(link.expire_time)}, {uses}; "
        "no sign-in needed, treat it as a secret):"
    )
    print(f"    {PROG} booking itinerary {link.download_token}")


def route_text(b: pb.Booking) -> str:
    return " | ".join(
        f"{o.segments[0].origin}→{o.segments[-1].destination}" for o in b.offers if o.segments
    )


def first_departure(b: pb.Booking) -> str:
    for offer in b.offers:
        for segment in offer.segments:
            departure: str = segment.departure_local_time
            return departure[:10]
    return ""


# ------------------------------------------------------------------------ commands


def warn_on_types(specs: list[PassengerSpec], booking: pb.Booking) -> None:
    for i, (spec, held) in enumerate(zip(specs, booking.passengers, strict=False)):
        if spec.expected_type is not None and held.type and held.type != spec.expected_type:
            got = _label(pb.PassengerType, held.type, "PASSENGER_TYPE_")
            wanted = _label(pb.PassengerType, spec.expected_type, "PASSENGER_TYPE_")
            print(
                f"note: passenger {i + 1} ({held.given_name} {held.family_name}) travels "
                f"as {got}, not {wanted}: the type follows from the date of birth",
                file=sys.stderr,
            )


async def booking_create(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    if not args.offers and not args.hotel_offer:
        raise UsageError("give at least one --offer or a --hotel-offer")
    request = pb.CreateBookingRequest(
        offer_ids=args.offers,
        hotel_offer_id=args.hotel_offer,
        passengers=[p.passenger for p in args.passengers],
        contact=pb.Contact(email=args.email, phone=args.phone or ""),
        # The idempotency key: a retry with the same one returns the same booking.
        request_id=args.request_id or call.request_id,
    )
    if args.max_total is not None:
        request.max_total_price.CopyFrom(args.max_total)
    response = await stub.CreateBooking(request, **call.kwargs)
    warn_on_types(args.passengers, response.booking)
    if args.json:
        emit(response)
        return
    print_booking(response.booking)
    print(
        f"confirm with: {PROG} booking confirm {response.booking.booking_reference} "
        "--payment-token tok_visa"
    )


async def booking_confirm(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.ConfirmBooking(
        pb.ConfirmBookingRequest(
            booking_reference=args.reference, payment_token=args.payment_token
        ),
        **call.kwargs,
    )
    if args.json:
        emit(response)
        return
    print_booking(response.booking)
    if response.HasField("itinerary_link"):
        print_link(response.itinerary_link)
    else:
        print(
            f"no itinerary link yet; ask for one: {PROG} booking link "
            f"{response.booking.booking_reference}"
        )


async def booking_get(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.GetBooking(
        pb.GetBookingRequest(booking_reference=args.reference), **call.kwargs
    )
    if args.json:
        emit(response)
    else:
        print_booking(response.booking)


async def booking_list(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    request = pb.ListBookingsRequest(
        page_size=args.page_size,
        page_token=args.page_token,
        status=STATUSES[args.status] if args.status else pb.BOOKING_STATUS_UNSPECIFIED,
    )
    response = await stub.ListBookings(request, **call.kwargs)
    if args.json:
        emit(response)
        return
    rows = [
        [
            b.booking_reference,
            status_text(b),
            money_text(b.total_price),
            route_text(b),
            first_departure(b),
            f"created {timestamp_text(b.create_time)}",
        ]
        for b in response.bookings
    ]
    for line in columns(rows):
        print(line)
    if not rows:
        print("no bookings")
    if response.next_page_token:
        print(f"next page: --page-token {response.next_page_token}")


async def booking_cancel(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=args.reference), **call.kwargs
    )
    if args.json:
        emit(response)
    else:
        print_booking(response.booking)


async def booking_link(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.IssueItineraryLink(
        pb.IssueItineraryLinkRequest(booking_reference=args.reference), **call.kwargs
    )
    if args.json:
        emit(response)
    else:
        print_link(response.itinerary_link)


async def booking_itinerary(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.GetItinerary(
        pb.GetItineraryRequest(download_token=args.download_token), **call.kwargs
    )
    if args.json:
        emit(response)
        return
    if args.text:
        print(response.itinerary_text.rstrip("\n"))
        return
    try:
        itinerary: Any = json.loads(response.itinerary_json)
    except ValueError:  # show it as it came
        itinerary = response.itinerary_json
    emit(
        {
            "booking_reference": response.booking_reference,
            "remaining_uses": response.remaining_uses,
            "itinerary": itinerary,
        }
    )


# ------------------------------------------------------------------------ running


def user_jwt(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    if args.jwt:
        return str(args.jwt)
    if args.user:
        # Imported here: only --user needs the booking service's settings and PyJWT.
        from booking_service.dev_token import mint
        from booking_service.settings import JwtSettings

        try:
            return mint(JwtSettings.from_env(env), args.user, DEV_JWT_TTL_SECONDS)
        except (ConfigError, ValueError) as exc:
            raise UsageError(f"--user: {exc} (source .run/dev.env after make run)") from None
    token = env.get(ENV_JWT, "").strip()
    if token:
        return token
    raise UsageError(
        f"this command acts as a user: give --user NAME (a development JWT "
        f"from BOOKING_JWT_*), --jwt TOKEN, or set {ENV_JWT}"
    )


def read_download_token(args: argparse.Namespace) -> None:
    if getattr(args, "download_token", None) == "-":
        args.download_token = sys.stdin.readline().strip()
        if not args.download_token:
            raise UsageError("expected the download token on stdin")


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    read_download_token(args)
    metadata: tuple[tuple[str, str], ...] = ()
    if args.needs_user:
        if args.user is not None and not args.user.strip():
            raise UsageError("--user must not be empty")
        metadata = (("authorization", f"Bearer {user_jwt(args, env)}"),)
    addresses = addresses_from_env(env, ENV_ADDRESSES)
    call = CallOptions(
        timeout_of(args, DEFAULT_TIMEOUT), current_request_id() or new_request_id(), metadata
    )
    channel = open_channel(addresses, SERVICE)
    try:
        await args.handler(pb_grpc.BookingServiceStub(channel), call, args)
    finally:
        await channel.close()


# ------------------------------------------------------------------------ arguments


def add_parsers(groups: Any) -> None:
    booking = groups.add_parser(
        "booking",
        help="hold, confirm, list and cancel bookings (booking service)",
        description=f"Bookings of one user. Reads {ENV_ADDRESSES}; the user comes from "
        f"--user NAME (needs BOOKING_JWT_*), --jwt TOKEN or {ENV_JWT}.",
    )
    commands = booking.add_subparsers(dest="command", required=True)

    made: list[tuple[argparse.ArgumentParser, bool]] = []

    def command(
        name: str,
        handler: Any,
        help_text: str,
        description: str = "",
        user: bool = True,
        **kwargs: Any,
    ) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=description or help_text, **kwargs
        )
        cmd.set_defaults(run=run, handler=handler, needs_user=user)
        made.append((cmd, user))
        return cmd

    def reference(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument(
            "reference", metavar="REF", type=str.upper, help="booking reference, e.g. ABC234"
        )

    create = command(
        "create",
        booking_create,
        "hold seats on one or more offers",
        "Hold seats on one or more offers (outbound and return) for the passengers; the\n"
        "booking stays HELD until confirmed or its hold expires.\n\n"
        "A passenger SPEC is\n"
        "  'First Last,YYYY-MM-DD[,ADULT|CHILD|INFANT][,DOCUMENT]'\n"
        "with DOCUMENT as TYPE:NUMBER:COUNTRY:EXPIRY (TYPE PASSPORT or NATIONAL_ID), e.g.\n"
        "  --passenger 'Alice Smith,1990-01-31,PASSPORT:X1234567:GB:2030-01-01'\n"
        "'Last/First' gives a family name with spaces. The service derives the type from\n"
        "the date of birth; a type given here is only compared with it. The service\n"
        "checks the values and names each problem (e.g. passengers[0].document).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--offer",
        dest="offers",
        action="append",
        default=[],
        metavar="OFFER_ID",
        help="flight offer id from search (repeat for several)",
    )
    create.add_argument(
        "--hotel-offer",
        metavar="HOTEL_OFFER_ID",
        default="",
        help="hotel offer id from `hotels search` / `hotels price`: a hotel stay; with "
        "--offer, a package (flights and hotel, confirmed all or none)",
    )
    create.add_argument(
        "--passenger",
        dest="passengers",
        action="append",
        required=True,
        type=passenger_arg,
        metavar="SPEC",
        help="a passenger, see above (repeat for each, 1 to 9)",
    )
    create.add_argument("--email", required=True, help="contact email")
    create.add_argument("--phone", help="contact phone, E.164, e.g. +442071234567")
    create.add_argument(
        "--request-id",
        metavar="ID",
        help="idempotency key; retry with the same one (default: random)",
    )
    create.add_argument(
        "--max-total",
        type=money_arg,
        metavar="AMOUNT",
        help="accept a changed price up to this total, e.g. 900.00 (USD)",
    )
    confirm = command(
        "confirm", booking_confirm, "pay and ticket a held booking; prints the itinerary link"
    )
    reference(confirm)
    confirm.add_argument(
        "--payment-token",
        required=True,
        metavar="TOKEN",
        help="simulated payment method: e.g. tok_visa (tok_declined fails)",
    )
    reference(command("get", booking_get, "show a booking"))
    listing = command("list", booking_list, "the user's bookings, newest first")
    listing.add_argument("--status", choices=list(STATUSES), help="only bookings in this state")
    listing.add_argument(
        "--page-size", type=int, default=0, metavar="N", help="default 20, at most 100"
    )
    listing.add_argument(
        "--page-token", default="", metavar="TOKEN", help="next page, from the previous output"
    )
    reference(
        command("cancel", booking_cancel, "cancel a held or confirmed booking (shows the refund)")
    )
    reference(command("link", booking_link, "a new itinerary link for a confirmed booking"))
    itinerary = command(
        "itinerary",
        booking_itinerary,
        "open an itinerary link (no user needed)",
        "Open an itinerary link: the download token is the credential, and each call "
        "counts as one use. Prints the itinerary document (JSON) with the uses left, "
        "or its printable text with --text; --json prints the raw response.",
        user=False,
    )
    itinerary.add_argument(
        "download_token",
        metavar="DOWNLOAD_TOKEN",
        help="from booking confirm or booking link, or - for stdin",
    )
    itinerary.add_argument("--text", action="store_true", help="print the printable text")

    for cmd, user in made:  # after each command's own options, in its --help too
        cmd.add_argument("--json", action="store_true", help="print the response as JSON")
        add_common_options(cmd, DEFAULT_TIMEOUT)
        if user:
            who = cmd.add_argument_group("user (one of)").add_mutually_exclusive_group()
            who.add_argument(
                "--user",
                metavar="NAME",
                help="mint a development JWT for this user from BOOKING_JWT_*",
            )
            who.add_argument(
                "--jwt",
                metavar="TOKEN",
                help=f"a user JWT (prefer {ENV_JWT}: command lines are visible "
                "to other users of the machine)",
            )
