"""Itineraries (domain) to protobuf, and the sort key of a protobuf itinerary.

``proto_sort_key`` must agree with ``itineraries.option_key`` for the same offer:
pagination compares keys of cached protobuf results with keys made at compute time.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from google.protobuf import duration_pb2, timestamp_pb2

from search_service.airports import AirportDirectory
from search_service.itineraries import PROVIDER, Option, sort_key
from search_service.pagination import SortKey
from search_service.pricing import Party, money, money_cents
from search_service.query import Cabin, SortOrder
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

CABIN_ENUMS = {
    Cabin.ECONOMY: pb.CABIN_ECONOMY,
    Cabin.PREMIUM_ECONOMY: pb.CABIN_PREMIUM_ECONOMY,
    Cabin.BUSINESS: pb.CABIN_BUSINESS,
    Cabin.FIRST: pb.CABIN_FIRST,
}


def _ts(moment: datetime) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=int(moment.timestamp()))


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat()


def itinerary_pb(
    option: Option,
    cabin: Cabin,
    party: Party,
    airports: AirportDirectory,
    *,
    offer_id: str = "",
    segment_prices: bool = True,
) -> pb.Itinerary:
    """``segment_prices=False`` leaves segment prices out (a guaranteed total that no
    longer equals the sum of the current fares)."""
    currency = option.currency
    journeys = []
    for journey in option.journeys:
        segments = []
        previous = None
        for i, leg in enumerate(journey.legs):
            origin_zone = airports.zone(leg.origin)
            destination_zone = airports.zone(leg.destination)
            segment = pb.Segment(
                airline_code=leg.airline_code,
                flight_number=leg.flight_number,
                flight_designator=leg.designator,
                origin=leg.origin,
                destination=leg.destination,
                departure_time=_ts(leg.departure_at),
                departure_local_time=_local(leg.departure_at, origin_zone),
                departure_time_zone=origin_zone.key,
                arrival_time=_ts(leg.arrival_at),
                arrival_local_time=_local(leg.arrival_at, destination_zone),
                arrival_time_zone=destination_zone.key,
                duration=duration_pb2.Duration(
                    seconds=int((leg.arrival_at - leg.departure_at).total_seconds())
                ),
                seats_available=leg.seats_available,
                refundable=leg.refundable,
                fare_id=leg.fare_id,
            )
            if previous is not None:
                segment.layover.seconds = int(
                    (leg.departure_at - previous.arrival_at).total_seconds()
                )
            if segment_prices and journey.leg_cents:
                segment.price.CopyFrom(money(journey.leg_cents[i], currency))
            if leg.change_fee_cents is not None:
                segment.change_fee.CopyFrom(money(leg.change_fee_cents, currency))
            segments.append(segment)
            previous = leg
        journeys.append(
            pb.Journey(
                segments=segments,
                duration=duration_pb2.Duration(seconds=journey.duration_s),
                stops=journey.stops,
            )
        )
    return pb.Itinerary(
        offer_id=offer_id,
        source=pb.SOURCE_PROVIDER if option.source == PROVIDER else pb.SOURCE_INVENTORY,
        provider=option.provider,
        journeys=journeys,
        cabin=CABIN_ENUMS[cabin],
        passengers=pb.Passengers(
            adults=party.adults, children=party.children, infants=party.infants
        ),
        total_price=money(option.total_cents, currency),
        total_duration=duration_pb2.Duration(seconds=option.duration_s),
        seats_available=option.seats_available,
        refundable=option.refundable,
    )


def proto_identity(itinerary: pb.Itinerary) -> str:
    if itinerary.source == pb.SOURCE_PROVIDER:
        return "P:" + "/".join(
            "-".join(f"{s.flight_designator}@{s.departure_time.seconds}" for s in j.segments)
            for j in itinerary.journeys
        )
    return "I:" + "/".join("-".join(str(s.fare_id) for s in j.segments) for j in itinerary.journeys)


def proto_sort_key(order: SortOrder, itinerary: pb.Itinerary) -> SortKey:
    return sort_key(
        order,
        money_cents(itinerary.total_price),
        itinerary.total_duration.seconds,
        itinerary.journeys[0].segments[0].departure_time.seconds,
        proto_identity(itinerary),
    )
