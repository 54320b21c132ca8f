"""``tracking`` commands: create and list price trackers, their price history and alerts
(TrackingService), as a user (``--user NAME``, ``--jwt TOKEN`` or SKYROUTE_USER_JWT, as
the booking commands). ``alerts --watch`` streams new alerts until Ctrl-C.

``create`` tracks a flight search (``--from --to --date``) or a hotel search (``--city``,
``--near`` or ``--hotel`` with ``--check-in --check-out``, the rooms and filters as in
``hotels search``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from google.protobuf import duration_pb2

from services.clients.channels import open_channel
from services.context import current_request_id, new_request_id
from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2_grpc as pb_grpc
from skyroute_cli.booking import ENV_JWT, user_jwt
from skyroute_cli.common import (
    CallOptions,
    UsageError,
    add_common_options,
    add_json_option,
    addresses_from_env,
    day_arg,
    emit,
    enum_label,
    money_arg,
    money_text,
    non_negative_int,
    timeout_of,
    timestamp_text,
)
from skyroute_cli.hotels import BOARDS, ages, boards, point
from skyroute_cli.output import Output, Table

SERVICE = "skyroute.tracking.v1.TrackingService"
ENV_ADDRESSES = "TRACKING_SERVICE_ADDRESSES"
DEFAULT_TIMEOUT = 15.0
CABINS = {
    "economy": search_pb.CABIN_ECONOMY,
    "premium-economy": search_pb.CABIN_PREMIUM_ECONOMY,
    "business": search_pb.CABIN_BUSINESS,
    "first": search_pb.CABIN_FIRST,
}
FREQUENCIES = {"15m": 900, "hourly": 3600, "daily": 86_400}


def frequency_arg(text: str) -> int:
    if text in FREQUENCIES:
        return FREQUENCIES[text]
    try:
        seconds = int(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError("15m, hourly, daily or seconds, e.g. 1800s") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return seconds


TRACKER_COLUMNS = ["tracker", "route", "state", "every", "latest", "next run"]
ALERT_COLUMNS = ["alert", "tracker", "kind", "price", "before", "raised", "seen"]


def table(out: Output, columns: list[str], rows: list[list[str]], empty: str) -> None:
    if not rows:
        out.line(empty)
        return
    lines = Table(columns)
    for row in rows:
        lines.add_row(*row)
    out.table(lines)


def search_text(t: pb.Tracker) -> str:
    if t.WhichOneof("search") == "hotel":
        h = t.hotel
        place = h.destination
        where = (
            f"hotel {h.hotel_id}"
            if h.hotel_id
            else place.code
            if place.code
            else f"{place.point.latitude:.2f},{place.point.longitude:.2f} {place.radius_km} km"
        )
        return f"{where} {h.check_in_date}→{h.check_out_date} {len(h.rooms) or 1} room(s)"
    f = t.flight
    route = f"{f.origin}-{f.destination} {f.departure_date}"
    if f.return_date:
        route += f"/{f.return_date}"
    return route


def offer_text(o: pb.PriceObservation) -> str:
    if o.HasField("best_hotel_offer"):
        h = o.best_hotel_offer
        board = enum_label(search_pb.BoardType.Name(h.board_type), "BOARD_TYPE_")
        refundable = "refundable" if h.refundable else "non-refundable"
        return f"{h.hotel_name} ({h.hotel_id}) {h.room_type} {board} {refundable}"
    return o.best_offer_id[:24] + ("…" if len(o.best_offer_id) > 24 else "")


def tracker_line(t: pb.Tracker) -> list[str]:
    route = search_text(t)
    latest = money_text(t.latest.lowest_price) if t.latest.HasField("lowest_price") else "-"
    return [
        t.tracker_id,
        route,
        enum_label(pb.TrackerState.Name(t.state), "TRACKER_STATE_"),
        f"{t.frequency.seconds}s",
        latest,
        timestamp_text(t.next_run_time) if t.HasField("next_run_time") else "-",
    ]


def alert_line(a: pb.Alert) -> list[str]:
    reference = money_text(a.reference_price) if a.HasField("reference_price") else "-"
    return [
        a.alert_id,
        a.tracker_id,
        enum_label(pb.AlertKind.Name(a.kind), "ALERT_KIND_"),
        money_text(a.price) if a.HasField("price") else "-",
        reference,
        timestamp_text(a.create_time),
        "yes" if a.HasField("acknowledge_time") else "no",
    ]


async def tracking_create(
    stub: pb_grpc.TrackingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    triggers = pb.Triggers(back_in_stock=args.back_in_stock)
    if args.drop is not None:
        triggers.drop_percent = args.drop
    if args.below is not None:
        triggers.target_price.CopyFrom(args.below)
    tracker = pb.Tracker(frequency=duration_pb2.Duration(seconds=args.every), triggers=triggers)
    if args.city or args.near or args.hotel:
        tracker.hotel.CopyFrom(hotel_search(args))
    else:
        tracker.flight.CopyFrom(flight_search(args))
    request = pb.CreateTrackerRequest(tracker=tracker, request_id=args.request_id or "")
    response = await stub.CreateTracker(request, **call.kwargs)
    if args.json:
        emit(response)
    else:
        table(args.out, TRACKER_COLUMNS, [tracker_line(response.tracker)], "")


def flight_search(args: argparse.Namespace) -> pb.FlightSearch:
    if not (args.origin and args.destination and args.date):
        raise UsageError(
            "a flight tracker needs --from, --to and --date "
            "(a hotel tracker --city, --near or --hotel)"
        )
    flight = pb.FlightSearch(
        origin=args.origin.upper(),
        destination=args.destination.upper(),
        departure_date=args.date,
        return_date=args.return_date or "",
        passengers=search_pb.Passengers(adults=args.adults, children=args.children),
        cabin=CABINS[args.cabin],
    )
    if args.max_stops is not None:
        flight.max_stops = args.max_stops
    return flight


def hotel_search(args: argparse.Namespace) -> pb.HotelSearch:
    if args.origin or args.destination or args.date:
        raise UsageError("--from/--to/--date are for flights: a tracker has one search")
    if not (args.check_in and args.check_out):
        raise UsageError("a hotel tracker needs --check-in and --check-out")
    room = search_pb.RoomOccupancy(adults=args.adults, children_ages=args.children_ages or [])
    out = pb.HotelSearch(
        hotel_id=args.hotel or "",
        check_in_date=args.check_in,
        check_out_date=args.check_out,
        rooms=[room] * args.rooms,
        filters=pb.HotelTrackerFilters(
            min_stars=args.min_stars,
            board_types=[BOARDS[b] for b in args.board or []],
            refundable_only=args.refundable,
        ),
    )
    if args.city:
        out.destination.CopyFrom(search_pb.HotelDestination(code=args.city, radius_km=args.radius))
    elif args.near:
        out.destination.CopyFrom(search_pb.HotelDestination(point=args.near, radius_km=args.radius))
    return out


async def tracking_list(
    stub: pb_grpc.TrackingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.ListTrackers(
        pb.ListTrackersRequest(page_size=args.page_size, page_token=args.page_token),
        **call.kwargs,
    )
    if args.json:
        emit(response)
        return
    rows = [tracker_line(t) for t in response.trackers]
    table(args.out, TRACKER_COLUMNS, rows, "no trackers")
    if response.next_page_token:
        args.out.line(f"next page: --page-token {response.next_page_token}")


async def tracking_history(
    stub: pb_grpc.TrackingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.ListPriceHistory(
        pb.ListPriceHistoryRequest(
            tracker_id=args.tracker_id, page_size=args.page_size, page_token=args.page_token
        ),
        **call.kwargs,
    )
    if args.json:
        emit(response)
        return
    rows = [
        [
            timestamp_text(o.period_start_time),
            money_text(o.lowest_price) if o.HasField("lowest_price") else "nothing found",
            f"{o.offers_found} offers",
            offer_text(o),
        ]
        for o in response.observations
    ]
    table(args.out, ["period", "lowest", "offers", "best offer"], rows, "no runs yet")
    if response.next_page_token:
        args.out.line(f"next page: --page-token {response.next_page_token}")


async def tracking_alerts(
    stub: pb_grpc.TrackingServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    if args.ack:
        acked = await stub.AcknowledgeAlert(
            pb.AcknowledgeAlertRequest(alert_id=args.ack), **call.kwargs
        )
        if args.json:
            emit(acked)
        else:
            table(args.out, ALERT_COLUMNS, [alert_line(acked.alert)], "")
        return
    if args.watch:
        kwargs: dict[str, Any] = {**call.kwargs, "timeout": None}
        async for message in stub.WatchAlerts(pb.WatchAlertsRequest(), **kwargs):
            if args.json:
                emit(message, compact=True)
            else:
                table(args.out, ALERT_COLUMNS, [alert_line(message.alert)], "")
        return
    response = await stub.ListAlerts(
        pb.ListAlertsRequest(
            page_size=args.page_size, page_token=args.page_token, unacknowledged_only=args.new
        ),
        **call.kwargs,
    )
    if args.json:
        emit(response)
        return
    table(args.out, ALERT_COLUMNS, [alert_line(a) for a in response.alerts], "no alerts")
    if response.next_page_token:
        args.out.line(f"next page: --page-token {response.next_page_token}")


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    if args.user is not None and not args.user.strip():
        raise UsageError("--user must not be empty")
    metadata = (("authorization", f"Bearer {user_jwt(args, env)}"),)
    addresses = addresses_from_env(env, ENV_ADDRESSES)
    call = CallOptions(
        timeout_of(args, DEFAULT_TIMEOUT), current_request_id() or new_request_id(), metadata
    )
    channel = open_channel(addresses, SERVICE)
    try:
        await args.handler(pb_grpc.TrackingServiceStub(channel), call, args)
    finally:
        await channel.close()


def add_hotel_arguments(hotel: Any) -> None:
    where = hotel.add_mutually_exclusive_group()
    where.add_argument("--city", metavar="CODE", help="IATA city code, e.g. PAR")
    where.add_argument("--near", type=point, metavar="LAT,LON", help="around a point")
    where.add_argument("--hotel", metavar="HOTEL_ID", help="one hotel, e.g. HVPAR018")
    hotel.add_argument(
        "--radius", type=non_negative_int, default=0, metavar="KM", help="default 5, at most 50"
    )
    hotel.add_argument("--check-in", type=day_arg, metavar="YYYY-MM-DD|+N")
    hotel.add_argument("--check-out", type=day_arg, metavar="YYYY-MM-DD|+N")
    hotel.add_argument("--rooms", type=int, default=1, metavar="N", help="rooms (default 1)")
    hotel.add_argument("--children-ages", type=ages, metavar="4,7", help="in each room")
    hotel.add_argument("--min-stars", type=non_negative_int, default=0, metavar="N")
    hotel.add_argument("--board", type=boards, metavar="breakfast,...", help="these boards only")
    hotel.add_argument("--refundable", action="store_true", help="refundable offers only")


def add_parsers(groups: Any) -> None:
    tracking = groups.add_parser(
        "tracking",
        help="price trackers, their history and alerts (tracking service)",
        description=f"Price trackers of one user. Reads {ENV_ADDRESSES}; the user comes "
        f"from --user NAME (needs BOOKING_JWT_*), --jwt TOKEN or {ENV_JWT}.",
    )
    commands = tracking.add_subparsers(dest="command", required=True)
    made: list[argparse.ArgumentParser] = []

    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        cmd: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        cmd.set_defaults(run=run, handler=handler)
        made.append(cmd)
        return cmd

    def pages(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("--page-size", type=int, default=0, metavar="N")
        cmd.add_argument("--page-token", default="", metavar="TOKEN")

    create = command("create", tracking_create, "track a flight or hotel search's lowest price")
    flight = create.add_argument_group("a flight search")
    flight.add_argument("--from", dest="origin", metavar="IATA")
    flight.add_argument("--to", dest="destination", metavar="IATA")
    flight.add_argument("--date", type=day_arg, help="YYYY-MM-DD or +N days")
    flight.add_argument("--return", dest="return_date", type=day_arg, metavar="DATE")
    flight.add_argument("--children", type=int, default=0)
    flight.add_argument("--cabin", choices=list(CABINS), default="economy")
    flight.add_argument("--max-stops", type=int, choices=(0, 1))
    create.add_argument(
        "--adults", type=int, default=1, help="travellers (flight) or adults per room (hotel)"
    )
    add_hotel_arguments(create.add_argument_group("or a hotel search"))
    create.add_argument(
        "--every", type=frequency_arg, default=3600, help="15m, hourly, daily or N seconds"
    )
    create.add_argument("--drop", type=float, metavar="PERCENT", help="alert on a drop of X %%")
    create.add_argument("--below", type=money_arg, metavar="AMOUNT", help="alert at or below")
    create.add_argument("--back-in-stock", action="store_true", help="alert when offers return")
    create.add_argument("--request-id", metavar="ID", help="idempotency key")
    pages(command("list", tracking_list, "the user's trackers, newest first"))
    history = command("history", tracking_history, "a tracker's runs, newest first")
    history.add_argument("tracker_id", metavar="TRACKER_ID")
    pages(history)
    alerts = command("alerts", tracking_alerts, "the user's alerts (--watch: stream new ones)")
    pages(alerts)
    alerts.add_argument("--new", action="store_true", help="only alerts not acknowledged")
    alerts.add_argument("--watch", action="store_true", help="stream new alerts until Ctrl-C")
    alerts.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert")

    for cmd in made:
        add_json_option(cmd)
        add_common_options(cmd, DEFAULT_TIMEOUT)
        who = cmd.add_argument_group("user (one of)").add_mutually_exclusive_group()
        who.add_argument("--user", metavar="NAME", help="mint a development JWT (BOOKING_JWT_*)")
        who.add_argument("--jwt", metavar="TOKEN", help=f"a user JWT (prefer {ENV_JWT})")
