"""Itineraries from inventory legs: journeys, round-trip pairing, filters, sort order.

A journey is one direction: one flight, or two with a connection (the connection
rules are applied in SQL, see repository.py, and checked again here). A round trip
pairs every outbound journey with every inbound journey that departs at least the
minimum connection time after the outbound arrives, in the same currency.

Sort keys are ``(primary, secondary, tertiary, identity)`` tuples of the total price
in cents, the total duration in seconds and the outbound departure in epoch seconds,
ending with a stable identity text, so the order is total and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from typing import Any

from search_service.airports import AirportDirectory
from search_service.pagination import SortKey
from search_service.pricing import Party
from search_service.query import SearchQuery, SortOrder
from search_service.repository import Leg

INVENTORY = "INVENTORY"
PROVIDER = "PROVIDER"


@dataclass(frozen=True, slots=True)
class Journey:
    legs: tuple[Leg, ...]
    # Filled in for inventory journeys: the party's cost of every leg, in cents.
    leg_cents: tuple[int, ...] = ()

    @property
    def departure_ts(self) -> int:
        return int(self.legs[0].departure_at.timestamp())

    @property
    def arrival_ts(self) -> int:
        return int(self.legs[-1].arrival_at.timestamp())

    @property
    def duration_s(self) -> int:
        return self.arrival_ts - self.departure_ts

    @property
    def stops(self) -> int:
        return len(self.legs) - 1


@dataclass(frozen=True, slots=True)
class Option:
    """A priced itinerary: one journey (one-way) or two (round trip)."""

    source: str
    journeys: tuple[Journey, ...]
    total_cents: int
    currency: str
    seats_available: int
    refundable: bool
    identity: str
    # Provider offers only: provider name and the key of the stored raw offer.
    provider: str = ""
    provider_ref: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def duration_s(self) -> int:
        return sum(j.duration_s for j in self.journeys)

    @property
    def departure_ts(self) -> int:
        return self.journeys[0].departure_ts

    def signature(self) -> tuple[tuple[str, int, int], ...]:
        """Carrier, flight number and departure of every segment: what makes two
        offers the same flights."""
        return tuple(
            (leg.airline_code, leg.flight_number, int(leg.departure_at.timestamp()))
            for j in self.journeys
            for leg in j.legs
        )


def sort_key(
    order: SortOrder, total_cents: int, duration_s: int, departure_ts: int, identity: str
) -> SortKey:
    if order is SortOrder.DURATION:
        return (duration_s, total_cents, departure_ts, identity)
    if order is SortOrder.DEPARTURE:
        return (departure_ts, total_cents, duration_s, identity)
    return (total_cents, duration_s, departure_ts, identity)


def option_key(order: SortOrder, option: Option) -> SortKey:
    return sort_key(
        order, option.total_cents, option.duration_s, option.departure_ts, option.identity
    )


def inventory_identity(journeys: Iterable[Journey]) -> str:
    return "I:" + "/".join("-".join(str(leg.fare_id) for leg in j.legs) for j in journeys)


def provider_identity(journeys: Iterable[Journey]) -> str:
    return "P:" + "/".join(
        "-".join(f"{leg.designator}@{int(leg.departure_at.timestamp())}" for leg in j.legs)
        for j in journeys
    )


def connection_ok(
    legs: Sequence[Leg], min_connection_minutes: int, max_layover_minutes: int
) -> bool:
    low = timedelta(minutes=min_connection_minutes)
    high = timedelta(minutes=max_layover_minutes)
    return all(low <= b.departure_at - a.arrival_at <= high for a, b in pairwise(legs))


def in_window(leg: Leg, query: SearchQuery, airports: AirportDirectory) -> bool:
    if query.window_start_minute == 0 and query.window_end_minute >= 24 * 60 - 1:
        return True
    local = leg.departure_at.astimezone(airports.zone(leg.origin))
    minute = local.hour * 60 + local.minute
    return query.window_start_minute <= minute <= query.window_end_minute


@dataclass(frozen=True, slots=True)
class _Priced:
    journey: Journey
    cents: int
    seats: int
    refundable: bool
    identity: str


def _price(journey: Journey, party: Party) -> _Priced:
    leg_cents = tuple(party.fare_cents(leg.price_cents or 0) for leg in journey.legs)
    priced = Journey(journey.legs, leg_cents)
    return _Priced(
        priced,
        sum(leg_cents),
        min(leg.seats_available for leg in journey.legs),
        all(leg.refundable for leg in journey.legs),
        "-".join(str(leg.fare_id) for leg in journey.legs),
    )


def build_inventory_options(
    query: SearchQuery,
    rows: Iterable[tuple[int, tuple[Leg, ...]]],
    airports: AirportDirectory,
    *,
    min_connection_minutes: int,
    max_layover_minutes: int,
    limit: int,
) -> list[Option]:
    """The best ``limit`` itineraries (in the query's order) from repository rows."""
    outbound: list[_Priced] = []
    inbound: list[_Priced] = []
    for direction, legs in rows:
        if not connection_ok(legs, min_connection_minutes, max_layover_minutes):
            continue
        if direction == 0 and not in_window(legs[0], query, airports):
            continue
        (outbound if direction == 0 else inbound).append(_price(Journey(legs), query.party))

    max_cents = query.max_total_cents
    max_currency = query.max_total_currency
    order = query.sort
    candidates: list[tuple[SortKey, int, tuple[_Priced, ...]]] = []
    if not query.round_trip:
        for o in outbound:
            if max_cents is not None and (
                o.cents > max_cents or o.journey.legs[0].currency != max_currency
            ):
                continue
            key = sort_key(
                order, o.cents, o.journey.duration_s, o.journey.departure_ts, "I:" + o.identity
            )
            candidates.append((key, o.cents, (o,)))
    else:
        turnaround = min_connection_minutes * 60
        for o in outbound:
            currency = o.journey.legs[0].currency
            if max_currency is not None and currency != max_currency:
                continue
            ready = o.journey.arrival_ts + turnaround
            for i in inbound:
                if i.journey.departure_ts < ready or i.journey.legs[0].currency != currency:
                    continue
                cents = o.cents + i.cents
                if max_cents is not None and cents > max_cents:
                    continue
                key = sort_key(
                    order,
                    cents,
                    o.journey.duration_s + i.journey.duration_s,
                    o.journey.departure_ts,
                    f"I:{o.identity}/{i.identity}",
                )
                candidates.append((key, cents, (o, i)))
    candidates.sort(key=lambda c: c[0])
    return [
        Option(
            source=INVENTORY,
            journeys=tuple(p.journey for p in parts),
            total_cents=cents,
            currency=parts[0].journey.legs[0].currency,
            seats_available=min(p.seats for p in parts),
            refundable=all(p.refundable for p in parts),
            identity=key[3],
        )
        for key, cents, parts in candidates[:limit]
    ]
