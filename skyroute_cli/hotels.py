"""``hotels`` commands: find hotels and recheck a hotel offer (SearchService's hotel
RPCs). Output is for people by default (each hotel, then a table of its offers with
their ids, and the next command as a hint that runs as printed); ``--json`` prints the
protobuf JSON."""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from skyroute_cli.common import (
    CallOptions,
    add_common_options,
    add_json_option,
    comma_list,
    day_arg,
    emit,
    enum_label,
    moment_text,
    money_arg,
    money_text,
    non_negative_int,
    timestamp_text,
)
from skyroute_cli.output import BAD, GOOD, MUTED, VALUE, WARN, Column, Output, Table, fields, rerun
from skyroute_cli.search import DEFAULT_TIMEOUT, ENV_ADDRESSES, run

SORT_ORDERS = {
    "price": pb.HOTEL_SORT_ORDER_PRICE,
    "stars": pb.HOTEL_SORT_ORDER_STARS,
    "distance": pb.HOTEL_SORT_ORDER_DISTANCE,
    "rating": pb.HOTEL_SORT_ORDER_RATING,
}
BOARDS = {
    "room-only": pb.BOARD_TYPE_ROOM_ONLY,
    "breakfast": pb.BOARD_TYPE_BREAKFAST,
    "half-board": pb.BOARD_TYPE_HALF_BOARD,
    "full-board": pb.BOARD_TYPE_FULL_BOARD,
    "all-inclusive": pb.BOARD_TYPE_ALL_INCLUSIVE,
}
SHOWN_OFFERS = 3


OFFER_COLUMNS = (
    Column("total", "right"),
    Column("per night", "right"),
    "room",
    "board",
    "cancellation",
)


def offer_cells(offer: pb.HotelOffer) -> list[str]:
    board = enum_label(pb.BoardType.Name(offer.board_type), "BOARD_TYPE_")
    policy = (
        f"free until {timestamp_text(offer.cancellation_deadline)}"
        if offer.refundable
        else "non-refundable"
    )
    return [
        money_text(offer.total_price),
        money_text(offer.price_per_night),
        f"{offer.room_category.lower().replace('_', ' ')} {offer.room_type}",
        board.lower().replace("_", " "),
        policy,
    ]


def offers_table(offers: list[pb.HotelOffer], label: str = "offer") -> Table:
    """One row per offer, each with its offer id on the line under it."""
    table = Table(OFFER_COLUMNS, indent=2)
    for offer in offers:
        table.add_row(
            *offer_cells(offer),
            detail=Text().append(f"{label} ", style=MUTED).append(offer.offer_id, style=VALUE),
        )
    return table


def hotel_head(h: pb.Hotel) -> Text:
    """``HARBOUR VIEW PARIS  ****  rating 82  2.1 km  HVPAR018``"""
    return (
        Text()
        .append(h.name, style="bold")
        .append(f"  {'*' * h.stars or '-'}", style=WARN)
        .append(f"  rating {h.guest_rating or '-'}  {h.distance_km:.1f} km  ")
        .append(h.hotel_id, style=MUTED)
    )


def print_hotel(out: Output, result: pb.HotelResult, shown: int = SHOWN_OFFERS) -> None:
    out.line(hotel_head(result.hotel))
    out.table(offers_table(list(result.offers[:shown])))
    if len(result.offers) > shown:
        out.line(Text(f"  … {len(result.offers) - shown} more offers (--json)", style=MUTED))


def hotels_request(args: argparse.Namespace) -> pb.SearchHotelsRequest:
    destination = pb.HotelDestination(radius_km=args.radius)
    if args.city:
        destination.code = args.city
    elif args.city_name:
        destination.name = args.city_name
    elif args.near is not None:
        destination.point.CopyFrom(args.near)
    filters = pb.HotelFilters(
        min_stars=args.min_stars,
        amenities=args.amenities or [],
        refundable_only=args.refundable,
        board_types=[BOARDS[b] for b in args.board or []],
    )
    if args.max_per_night is not None:
        filters.max_price_per_night.CopyFrom(args.max_per_night)
    if args.max_total is not None:
        filters.max_total_price.CopyFrom(args.max_total)
    room = pb.RoomOccupancy(adults=args.adults, children_ages=args.children_ages or [])
    request = pb.SearchHotelsRequest(
        hotel_ids=args.hotel_ids or [],
        check_in_date=args.check_in,
        check_out_date=args.check_out,
        rooms=[room] * args.rooms,
        filters=filters,
        sort_order=SORT_ORDERS[args.sort],
        page_size=args.page_size,
        page_token=args.page_token,
        currency_code=args.currency or "",
    )
    if not args.hotel_ids:
        request.destination.CopyFrom(destination)
    return request


async def search_hotels(
    stub: pb_grpc.SearchServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.SearchHotels(hotels_request(args), **call.kwargs)
    if args.json:
        emit(response)
        return
    out = args.out
    for result in response.hotels:
        print_hotel(out, result)
    shown = len(response.hotels)
    out.line(f"{shown} of {response.total_size} hotels" if shown else "no hotels found")
    if response.next_page_token:
        out.hint("next page", *rerun(args.argv, "--page-token", response.next_page_token))
    if shown and response.hotels[0].offers:
        out.hint("price one", "hotels", "price", response.hotels[0].offers[0].offer_id)


async def price_hotel(
    stub: pb_grpc.SearchServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.PriceHotelOffer(
        pb.PriceHotelOfferRequest(offer_id=args.offer_id), **call.kwargs
    )
    if args.json:
        emit(response)
        return
    current = money_text(response.current_total_price)
    if response.price_changed:
        price = Text(f"{money_text(response.original_total_price)} → ").append(
            f"{current} (changed)", style=WARN
        )
    else:
        price = Text().append(current, style="bold").append(" (unchanged)")
    available = Text("yes", style=GOOD) if response.available else Text("NO", style=BAD)
    out = args.out
    out.table(
        fields(
            [
                ("hotel", f"{response.hotel.name} ({response.hotel.hotel_id})"),
                ("stay", f"{response.offer.check_in_date} → {response.offer.check_out_date}"),
                ("price", price),
                ("available", available),
                ("guaranteed", moment_text(response.price_guarantee_expire_time)),
            ]
        )
    )
    out.table(offers_table([response.offer], label="offer to book"))


def point(text: str) -> pb.GeoPoint:
    lat, comma, lon = text.partition(",")
    try:
        if not comma:
            raise ValueError
        return pb.GeoPoint(latitude=float(lat), longitude=float(lon))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON like 48.86,2.35") from None


def ages(text: str) -> list[int]:
    try:
        return [int(a) for a in comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of ages like 4,7") from None


def boards(text: str) -> list[str]:
    chosen = comma_list(text.lower())
    unknown = [b for b in chosen if b not in BOARDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown board {unknown[0]!r} ({', '.join(BOARDS)})")
    return chosen


def add_parsers(groups: Any) -> None:
    hotels = groups.add_parser(
        "hotels",
        help="find hotels and recheck hotel offers (search service)",
        description=f"Find hotels at the hotel supplier and recheck offers. Reads {ENV_ADDRESSES}.",
    )
    commands = hotels.add_subparsers(dest="command", required=True)

    search = commands.add_parser(
        "search",
        help="search hotels for a stay",
        description="Search hotels. Prints each hotel (stars, guest rating, distance) "
        "and its cheapest offers (total for every room and night, per night, room, board, "
        "cancellation policy) with their offer ids, for `hotels price`.",
    )
    where = search.add_mutually_exclusive_group(required=True)
    where.add_argument("--city", metavar="CODE", help="IATA city code, e.g. PAR")
    where.add_argument("--city-name", metavar="NAME", help="city name, e.g. Paris")
    where.add_argument("--near", type=point, metavar="LAT,LON", help="around a point")
    where.add_argument(
        "--hotel-id",
        action="append",
        dest="hotel_ids",
        metavar="ID",
        help="only this hotel, e.g. HVPAR018 (repeat for several, at most 20)",
    )
    search.add_argument(
        "--radius", type=non_negative_int, default=0, metavar="KM", help="default 5, at most 50"
    )
    search.add_argument(
        "--check-in",
        required=True,
        type=day_arg,
        metavar="YYYY-MM-DD|+N",
        help="arrival date, local at the destination; +N is N days from today (UTC)",
    )
    search.add_argument(
        "--check-out", required=True, type=day_arg, metavar="YYYY-MM-DD|+N", help="departure date"
    )
    search.add_argument("--rooms", type=int, default=1, metavar="N", help="rooms (default 1)")
    search.add_argument(
        "--adults", type=int, default=1, metavar="N", help="adults per room (default 1)"
    )
    search.add_argument(
        "--children-ages", type=ages, metavar="4,7", help="ages of the children in each room"
    )
    search.add_argument(
        "--min-stars", type=non_negative_int, default=0, metavar="N", help="at least N stars"
    )
    search.add_argument("--amenities", type=comma_list, metavar="WIFI,SPA", help="all of these")
    search.add_argument("--refundable", action="store_true", help="refundable offers only")
    search.add_argument("--board", type=boards, metavar="breakfast,...", help="these boards only")
    search.add_argument(
        "--max-per-night", type=money_arg, metavar="AMOUNT", help="e.g. '200 EUR' per room"
    )
    search.add_argument(
        "--max-total", type=money_arg, metavar="AMOUNT", help="e.g. '900 EUR' for the stay"
    )
    search.add_argument("--sort", choices=list(SORT_ORDERS), default="price", help="default: price")
    search.add_argument("--currency", metavar="EUR", help="prices in this currency")
    search.add_argument(
        "--page-size", type=int, default=0, metavar="N", help="default 20, at most 100"
    )
    search.add_argument(
        "--page-token", default="", metavar="TOKEN", help="next page, from the previous output"
    )
    add_json_option(search)
    add_common_options(search, DEFAULT_TIMEOUT)
    search.set_defaults(run=run, handler=search_hotels)

    price = commands.add_parser(
        "price",
        help="recheck a hotel offer before booking",
        description="Recheck a hotel offer at the supplier: current total, whether it "
        "changed, whether its rooms are still there, how long the price is guaranteed, and "
        "the offer id to book with.",
    )
    price.add_argument("offer_id", metavar="OFFER_ID", help="an offer id from hotels search")
    add_json_option(price)
    add_common_options(price, DEFAULT_TIMEOUT)
    price.set_defaults(run=run, handler=price_hotel)
