"""``booking`` commands: hold, confirm, read, list and cancel bookings, and open an
itinerary link (BookingService).

Every command except ``itinerary`` acts as a user: ``--user NAME`` mints a development
JWT in-process, as ``python -m booking_service.dev_token`` does, from BOOKING_JWT_* in
the environment; ``--jwt TOKEN`` or SKYROUTE_USER_JWT give one. The JWT is sent as
``authorization: Bearer`` metadata and never printed (a hint that needs it says
``--jwt JWT``). Output is a summary for people by default, with the next command as a
hint that runs as printed; ``--json`` prints the response as protobuf JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.text import Text

from services.clients.channels import open_channel
from services.config import ConfigError
from services.context import current_request_id, new_request_id
from services.generated.skyroute.booking.v1 import booking_service_pb2 as pb
from services.generated.skyroute.booking.v1 import booking_service_pb2_grpc as pb_grpc
from skyroute_cli import account
from skyroute_cli.common import (
    CallOptions,
    UsageError,
    add_common_options,
    add_json_option,
    addresses_from_env,
    emit,
    enum_label,
    local_date,
    moment_text,
    money_arg,
    money_text,
    seconds_until,
    timeout_of,
)
from skyroute_cli.output import (
    BAD,
    GOOD,
    MUTED,
    VALUE,
    WARN,
    Column,
    Endpoint,
    Output,
    Table,
    fields,
    relative_text,
    rerun,
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


STATUS_STYLES = {
    pb.BOOKING_STATUS_HELD: WARN,
    pb.BOOKING_STATUS_CONFIRMED: GOOD,
    pb.BOOKING_STATUS_CANCELLED: BAD,
    pb.BOOKING_STATUS_EXPIRED: MUTED,
}


def status_cell(booking: pb.Booking) -> Text:
    return Text(status_text(booking), style=STATUS_STYLES.get(booking.status, ""))


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


def document_text(p: pb.Passenger) -> str:
    if not p.HasField("document"):
        return "-"
    kind = _label(pb.DocumentType, p.document.type, "DOCUMENT_TYPE_")
    return f"{kind} {_mask(p.document.number)}"


def print_booking(out: Output, b: pb.Booking) -> None:
    head = Text("booking ").append(b.booking_reference, style=f"bold {VALUE}")
    head.append("  ").append_text(status_cell(b)).append(f"  {money_text(b.total_price)}")
    if b.status == pb.BOOKING_STATUS_HELD:
        head.append(f"  hold expires {moment_text(b.hold_expire_time)}")
    out.line(head)
    segments = Table(
        [
            "flight (local times)",
            "cabin",
            Column("seats", "right"),
            Column("price", "right"),
            "fare",
        ],
        indent=2,
    )
    for offer in b.offers:
        for s in offer.segments:
            segments.add_row(
                booked_segment_text(s),
                _label(pb.Cabin, s.cabin, "CABIN_").lower().replace("_", "-"),
                str(s.seats),
                money_text(s.price),
                "refundable" if s.refundable else "non-refundable",
            )
    if b.offers:
        out.table(segments)
    if b.hotel_stays:
        stays = Table(
            ["hotel", "dates", "rooms", "board", Column("price", "right"), "rate", "confirmation"],
            indent=2,
        )
        for stay in b.hotel_stays:
            stays.add_row(
                f"{stay.hotel_name} ({stay.city_code})",
                f"{stay.check_in_date}→{stay.check_out_date}",
                f"{stay.rooms} {stay.room_type}",
                stay.board_type.lower().replace("_", "-"),
                money_text(stay.price),
                "refundable" if stay.refundable else "non-refundable",
                stay.confirmation_number or "-",
            )
        out.table(stays)
    if b.package_state == pb.PACKAGE_STATE_FAILED:
        out.line(f"  not confirmed: {b.failure_reason} (nothing booked)")
    # A hotel stay alone has guests, not passengers: no tickets, a document only if given.
    flights = any(offer.segments for offer in b.offers)
    people = Table(
        ["passenger", "type", "born", "document", "ticket"]
        if flights
        else ["guest", "type", "born", "document"],
        indent=2,
    )
    for p in b.passengers:
        row = [
            f"{p.given_name} {p.family_name}",
            _label(pb.PassengerType, p.type, "PASSENGER_TYPE_"),
            p.birth_date,
            document_text(p),
        ]
        if flights:
            row.append(p.ticket_number)
        people.add_row(*row)
    out.table(people)
    more: list[tuple[str, str | Text]] = [
        ("contact", f"{b.contact.email} {b.contact.phone}".rstrip())
    ]
    if b.provider:
        more.append(("provider", f"{b.provider}, record locator {b.provider_record_locator}"))
    if b.payment_reference:
        more.append(("payment", b.payment_reference))
    if b.status == pb.BOOKING_STATUS_CANCELLED:
        more.append(("refund", money_text(b.refund_amount)))
        if len(b.item_refunds) > 1:
            more.append(
                (
                    "refund by item",
                    ", ".join(f"{r.item} {money_text(r.amount)}" for r in b.item_refunds),
                )
            )
    more.append(("request id", b.request_id))
    out.table(fields(more, indent=2))


def print_link(out: Output, link: pb.ItineraryLink) -> None:
    uses = {0: "until it expires", 1: "single use"}.get(link.max_uses, f"{link.max_uses} uses")
    out.line(
        f"itinerary link: expires {moment_text(link.expire_time)}, {uses}; "
        "no sign-in needed, treat it as a secret"
    )
    out.hint("open it", "booking", "itinerary", link.download_token)


def user_args(args: argparse.Namespace) -> list[str]:
    """How a hinted command acts as the same user: ``--user NAME`` again; a JWT from
    SKYROUTE_USER_JWT needs nothing; a ``--jwt`` value is never printed."""
    if args.user:
        return ["--user", args.user]
    if args.jwt:
        return ["--jwt", "JWT"]
    return []


def route_text(b: pb.Booking) -> str:
    """The flights' routes, then the hotel's city (``hotel NYC``)."""
    parts = [f"{o.segments[0].origin}→{o.segments[-1].destination}" for o in b.offers if o.segments]
    parts += [f"hotel {stay.city_code}" for stay in b.hotel_stays]
    return " | ".join(parts)


def first_departure(b: pb.Booking) -> str:
    """The first flight's date; for a hotel stay alone, its check-in."""
    for offer in b.offers:
        for segment in offer.segments:
            departure: str = segment.departure_local_time
            return departure[:10]
    return b.hotel_stays[0].check_in_date if b.hotel_stays else ""


# ------------------------------------------------------------------------ commands


def warn_on_types(out: Output, specs: list[PassengerSpec], booking: pb.Booking) -> None:
    for i, (spec, held) in enumerate(zip(specs, booking.passengers, strict=False)):
        if spec.expected_type is not None and held.type and held.type != spec.expected_type:
            got = _label(pb.PassengerType, held.type, "PASSENGER_TYPE_")
            wanted = _label(pb.PassengerType, spec.expected_type, "PASSENGER_TYPE_")
            out.note(
                f"passenger {i + 1} ({held.given_name} {held.family_name}) travels "
                f"as {got}, not {wanted}: the type follows from the date of birth"
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
    warn_on_types(args.out, args.passengers, response.booking)
    if args.json:
        emit(response)
        return
    print_booking(args.out, response.booking)
    args.out.hint(
        "confirm",
        "booking",
        "confirm",
        response.booking.booking_reference,
        *user_args(args),
        "--payment-token",
        "tok_visa",
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
    print_booking(args.out, response.booking)
    if response.HasField("itinerary_link"):
        print_link(args.out, response.itinerary_link)
    else:
        args.out.hint(
            "no itinerary link yet; ask for one",
            "booking",
            "link",
            response.booking.booking_reference,
            *user_args(args),
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
        print_booking(args.out, response.booking)


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
    out = args.out
    if not response.bookings:
        out.line("no bookings")
    else:
        table = Table(
            ["reference", "status", Column("total", "right"), "route", "departs", "created"]
        )
        for b in response.bookings:
            table.add_row(
                Text(b.booking_reference, style=VALUE),
                status_cell(b),
                money_text(b.total_price),
                route_text(b),
                first_departure(b),
                relative_text(seconds_until(b.create_time)),
            )
        out.table(table)
    if response.next_page_token:
        out.hint("next page", *rerun(args.argv, "--page-token", response.next_page_token))


async def booking_cancel(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.CancelBooking(
        pb.CancelBookingRequest(booking_reference=args.reference), **call.kwargs
    )
    if args.json:
        emit(response)
    else:
        print_booking(args.out, response.booking)


async def booking_link(
    stub: pb_grpc.BookingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.IssueItineraryLink(
        pb.IssueItineraryLinkRequest(booking_reference=args.reference), **call.kwargs
    )
    if args.json:
        emit(response)
    else:
        print_link(args.out, response.itinerary_link)


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
        f"this command acts as a user: sign in (`account login`), or give --user NAME "
        f"(a development JWT from BOOKING_JWT_*), --jwt TOKEN, or set {ENV_JWT}"
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
        if not (args.jwt or args.user or env.get(ENV_JWT, "").strip()) and account.has_session(
            env
        ):  # the signed-in user (`account login`), refreshed as needed
            token = await account.access_token(env)
        else:
            token = user_jwt(args, env)
        metadata = (("authorization", f"Bearer {token}"),)
    addresses = addresses_from_env(env, ENV_ADDRESSES)
    call = CallOptions(
        timeout_of(args, DEFAULT_TIMEOUT), current_request_id() or new_request_id(), metadata
    )
    args.endpoint = Endpoint("booking", addresses, call.timeout)
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
        "hold seats on one or more offers, or a hotel stay",
        "Hold seats on one or more offers (outbound and return) for the passengers, or a\n"
        "hotel stay for them as guests, or both (a package); the booking stays HELD\n"
        "until confirmed or its hold expires.\n\n"
        "A passenger SPEC is\n"
        "  'First Last,YYYY-MM-DD[,ADULT|CHILD|INFANT][,DOCUMENT]'\n"
        "with DOCUMENT as TYPE:NUMBER:COUNTRY:EXPIRY (TYPE PASSPORT or NATIONAL_ID), e.g.\n"
        "  --passenger 'Alice Smith,1990-01-31,PASSPORT:X1234567:GB:2030-01-01'\n"
        "DOCUMENT is required for flights (and packages); the guests of a hotel stay\n"
        "alone (--hotel-offer without --offer) need only names and dates of birth.\n"
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
        "confirm",
        booking_confirm,
        "pay for a held booking (its flights ticketed); prints the itinerary link",
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
        add_json_option(cmd)
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
