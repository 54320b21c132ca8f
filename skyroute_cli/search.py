"""``search`` commands: find flights and revalidate an offer (SearchService).

Output is a compact table for people by default; ``--json`` prints the response as
protobuf JSON. The search service needs no credentials.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from services.clients.channels import open_channel
from services.context import current_request_id, new_request_id
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as pb_grpc
from skyroute_cli.common import (
    CallOptions,
    add_common_options,
    addresses_from_env,
    columns,
    comma_list,
    day_arg,
    duration_text,
    emit,
    local_date,
    local_time,
    money_arg,
    money_text,
    non_negative_int,
    timeout_of,
    timestamp_text,
)

SERVICE = "skyroute.search.v1.SearchService"
ENV_ADDRESSES = "SEARCH_SERVICE_ADDRESSES"
DEFAULT_TIMEOUT = 15.0  # a search may wait for the upstream provider
CABINS = {
    "economy": pb.CABIN_ECONOMY,
    "premium-economy": pb.CABIN_PREMIUM_ECONOMY,
    "business": pb.CABIN_BUSINESS,
    "first": pb.CABIN_FIRST,
}
SORT_ORDERS = {
    "price": pb.SORT_ORDER_PRICE,
    "duration": pb.SORT_ORDER_DURATION,
    "departure": pb.SORT_ORDER_DEPARTURE_TIME,
}


# ------------------------------------------------------------------------ formatting


def segment_text(
    designator: str,
    origin: str,
    departure_local: str,
    destination: str,
    arrival_local: str,
    day: Any = None,
) -> str:
    """``BA201 LHR 10:30+00:00 → JFK 13:35-05:00``, times local at each airport and
    marked ``(+1)`` when on a later day than ``day``."""
    return (
        f"{designator} {origin} {local_time(departure_local, day)} → "
        f"{destination} {local_time(arrival_local, day)}"
    )


def journey_text(journey: pb.Journey) -> str:
    if not journey.segments:
        return ""
    first = journey.segments[0].departure_local_time
    day = local_date(first)
    parts = [
        segment_text(
            s.flight_designator,
            s.origin,
            s.departure_local_time,
            s.destination,
            s.arrival_local_time,
            day,
        )
        for s in journey.segments
    ]
    return f"{first[:10]} " + ", ".join(parts)


def stops_text(stops: int) -> str:
    return "nonstop" if stops == 0 else f"{stops} stop{'s' if stops > 1 else ''}"


def source_text(itinerary: pb.Itinerary) -> str:
    if itinerary.source == pb.SOURCE_PROVIDER:
        return itinerary.provider or "provider"
    return "inventory"


def itinerary_cells(itinerary: pb.Itinerary) -> list[str]:
    return [
        money_text(itinerary.total_price),
        duration_text(itinerary.total_duration),
        "/".join(stops_text(j.stops) for j in itinerary.journeys),
        " | ".join(journey_text(j) for j in itinerary.journeys),
        source_text(itinerary),
    ]


def itinerary_table(itineraries: list[pb.Itinerary]) -> list[str]:
    """One aligned line per itinerary, each followed by its offer id, indented."""
    lines = []
    rows = columns([itinerary_cells(i) for i in itineraries])
    for row, itinerary in zip(rows, itineraries, strict=True):
        lines += [row, f"    offer {itinerary.offer_id}"]
    return lines


def inventory_dates_text(origin: str, destination: str, dates: pb.InventoryDates) -> str:
    """Where a search that found nothing could look instead (the service's hint)."""
    span = f"{dates.first_date} to {dates.last_date}"
    if dates.nonstop_to_destination:
        found = f"inventory: non-stop {origin}→{destination} flights {span}"
    else:
        found = (
            f"inventory: no non-stop {origin}→{destination} flights; flights from {origin} {span}"
        )
    return f"{found} (try --date {dates.first_date})"


# ------------------------------------------------------------------------ commands


def flights_request(args: argparse.Namespace) -> pb.SearchFlightsRequest:
    filters = pb.SearchFilters(
        included_airline_codes=args.airlines or [],
        excluded_airline_codes=args.exclude_airlines or [],
    )
    if args.max_stops is not None:
        filters.max_stops = args.max_stops
    if args.depart_between is not None:
        filters.departure_time_window.CopyFrom(args.depart_between)
    if args.max_price is not None:
        filters.max_total_price.CopyFrom(args.max_price)
    return pb.SearchFlightsRequest(
        origin=args.origin,
        destination=args.destination,
        departure_date=args.date,
        return_date=args.return_date or "",
        passengers=pb.Passengers(adults=args.adults, children=args.children, infants=args.infants),
        cabin=CABINS[args.cabin],
        filters=filters,
        flexible_days=args.flex,
        sort_order=SORT_ORDERS[args.sort],
        page_size=args.page_size,
        page_token=args.page_token,
        include_provider_offers=args.provider,
    )


async def search_flights(
    stub: pb_grpc.SearchServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.SearchFlights(flights_request(args), **call.kwargs)
    if args.json:
        emit(response)
        return
    for line in itinerary_table(list(response.itineraries)):
        print(line)
    shown = len(response.itineraries)
    print(f"{shown} of {response.total_size} itineraries" if shown else "no itineraries found")
    if not shown and response.HasField("inventory_dates"):
        print(inventory_dates_text(args.origin, args.destination, response.inventory_dates))
    if response.next_page_token:
        print(f"next page: --page-token {response.next_page_token}")
    if response.partial:
        print(f"partial: {response.partial_reason or 'yes'} (inventory results only)")


async def search_price(
    stub: pb_grpc.SearchServiceStub, call: CallOptions, args: argparse.Namespace
) -> None:
    response = await stub.PriceOffer(pb.PriceOfferRequest(offer_id=args.offer_id), **call.kwargs)
    if args.json:
        emit(response)
        return
    current = money_text(response.current_total_price)
    if response.price_changed:
        price = f"{money_text(response.original_total_price)} → {current} (CHANGED)"
    else:
        price = f"{current} (unchanged)"
    rows = [
        ["price", price],
        ["available", "yes" if response.available else "NO"],
        ["guaranteed until", timestamp_text(response.price_guarantee_expire_time) or "-"],
    ]
    for line in columns(rows):
        print(line)
    print(*columns([itinerary_cells(response.itinerary)]))
    print(f"    offer to book {response.itinerary.offer_id}")


async def run(args: argparse.Namespace, env: Mapping[str, str]) -> None:
    addresses = addresses_from_env(env, ENV_ADDRESSES)
    call = CallOptions(timeout_of(args, DEFAULT_TIMEOUT), current_request_id() or new_request_id())
    channel = open_channel(addresses, SERVICE)
    try:
        await args.handler(pb_grpc.SearchServiceStub(channel), call, args)
    finally:
        await channel.close()


# ------------------------------------------------------------------------ arguments


def time_window(text: str) -> pb.TimeOfDayRange:
    start, dash, end = text.partition("-")
    if not dash or "-" in end:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range like 06:00-12:00")
    return pb.TimeOfDayRange(start_time=start.strip(), end_time=end.strip())


def add_parsers(groups: Any) -> None:
    search = groups.add_parser(
        "search",
        help="find flights and price offers (search service)",
        description=f"Find flights and revalidate offers. Reads {ENV_ADDRESSES}.",
    )
    commands = search.add_subparsers(dest="command", required=True)

    flights = commands.add_parser(
        "flights",
        help="search itineraries (one-way or round trip)",
        description="Search itineraries. Prints one line per itinerary (total price for "
        "all passengers, duration, stops, flights with local times, source) "
        "and its offer id, for `search price` and `booking create`.",
    )
    flights.add_argument(
        "--from", dest="origin", required=True, metavar="IATA", help="origin airport, e.g. LHR"
    )
    flights.add_argument(
        "--to",
        dest="destination",
        required=True,
        metavar="IATA",
        help="destination airport, e.g. JFK",
    )
    flights.add_argument(
        "--date",
        required=True,
        type=day_arg,
        metavar="YYYY-MM-DD|+N",
        help="outbound date, local at the origin; +N is N days from today (UTC)",
    )
    flights.add_argument(
        "--return",
        dest="return_date",
        type=day_arg,
        metavar="YYYY-MM-DD|+N",
        help="return date for a round trip",
    )
    flights.add_argument(
        "--adults",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="aged 12 or over (default: 1)",
    )
    flights.add_argument(
        "--children",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="aged 2 to 11 (default: 0)",
    )
    flights.add_argument(
        "--infants",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="under 2, on an adult's lap (default: 0)",
    )
    flights.add_argument(
        "--cabin", choices=list(CABINS), default="economy", help="default: economy"
    )
    flights.add_argument(
        "--max-stops", type=int, choices=(0, 1), help="0 for nonstop only (default: 1)"
    )
    flights.add_argument("--airlines", type=comma_list, metavar="BA,AA", help="only these airlines")
    flights.add_argument(
        "--exclude-airlines", type=comma_list, metavar="BA,AA", help="none of these airlines"
    )
    flights.add_argument(
        "--depart-between",
        type=time_window,
        metavar="HH:MM-HH:MM",
        help="outbound departure window, local at the origin",
    )
    flights.add_argument(
        "--max-price",
        type=money_arg,
        metavar="AMOUNT",
        help="total for all passengers, e.g. 800.00 (USD) or '800 EUR'",
    )
    flights.add_argument(
        "--flex",
        type=non_negative_int,
        default=0,
        metavar="DAYS",
        help="also search up to this many days either side (0-3)",
    )
    flights.add_argument(
        "--sort", choices=list(SORT_ORDERS), default="price", help="default: price"
    )
    flights.add_argument(
        "--page-size", type=int, default=0, metavar="N", help="default 20, at most 100"
    )
    flights.add_argument(
        "--page-token", default="", metavar="TOKEN", help="next page, from the previous output"
    )
    flights.add_argument(
        "--provider", action="store_true", help="also search the upstream provider"
    )
    flights.add_argument("--json", action="store_true", help="print the response as JSON")
    add_common_options(flights, DEFAULT_TIMEOUT)
    flights.set_defaults(run=run, handler=search_flights)

    price = commands.add_parser(
        "price",
        help="revalidate an offer before booking",
        description="Revalidate an offer: current total, whether it changed, seat "
        "availability, how long the price is guaranteed, and the offer id "
        "to book with.",
    )
    price.add_argument("offer_id", metavar="OFFER_ID", help="an offer id from search flights")
    price.add_argument("--json", action="store_true", help="print the response as JSON")
    add_common_options(price, DEFAULT_TIMEOUT)
    price.set_defaults(run=run, handler=search_price)
