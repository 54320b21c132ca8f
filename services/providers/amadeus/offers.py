"""Amadeus flight offers: the search parameters, offers in the neutral shape, pricing.

Amadeus gives segment times as local wall-clock times without an offset. We convert
them with the airport's zone from our inventory; for an airport we do not know (a
connection point outside our network) the offset is inferred from the previous
segment (its arrival local time against departure plus flight duration), and the
segment then carries that fixed offset instead of a zone name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.providers.amadeus.http import AmadeusApi, Rejected
from services.providers.base import (
    UNAVAILABLE,
    Offer,
    OfferGone,
    OfferQuery,
    ProviderFailure,
    ProviderQuote,
    Segment,
    UnreadablePrice,
    Zones,
)

SEARCH_PATH = "/v2/shopping/flight-offers"
PRICING_PATH = "/v1/shopping/flight-offers/pricing"
MAX_OFFERS = 250
# Amadeus error codes.
SEGMENT_SELL_FAILURE = 34651
INVALID_DATA = 4926

_DURATION = re.compile(r"^P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> int:
    """An amount as integer cents, rounded half-up."""
    return int(amount.quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def search_params(query: OfferQuery, currency: str) -> dict[str, str]:
    params = {
        "originLocationCode": query.origin,
        "destinationLocationCode": query.destination,
        "departureDate": query.departure_date.isoformat(),
        "adults": str(query.adults),
        "travelClass": query.cabin,
        "currencyCode": currency,
        "max": str(MAX_OFFERS),
    }
    if query.return_date is not None:
        params["returnDate"] = query.return_date.isoformat()
    if query.children:
        params["children"] = str(query.children)
    if query.infants:
        params["infants"] = str(query.infants)
    if query.non_stop:
        params["nonStop"] = "true"
    if query.included_airlines:
        params["includedAirlineCodes"] = ",".join(query.included_airlines)
    if query.excluded_airlines:
        params["excludedAirlineCodes"] = ",".join(query.excluded_airlines)
    if query.max_total_cents is not None and query.max_total_currency == currency:
        # Amadeus takes a whole number; we filter exactly afterwards.
        params["maxPrice"] = str(max(1, -(-query.max_total_cents // 100)))
    return params


def parse_duration(text: str) -> timedelta | None:
    """ISO 8601 durations as Amadeus writes them: ``PT2H10M``, ``P1DT1H``."""
    match = _DURATION.match(text or "")
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _naive(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=None)


def _journey(raw: Mapping[str, Any], zones: Zones) -> tuple[Segment, ...] | None:
    segments: list[Segment] = []
    offset: timedelta | None = None
    for seg in raw["segments"]:
        dep, arr = seg["departure"], seg["arrival"]
        origin, destination = str(dep["iataCode"]), str(arr["iataCode"])
        dep_local, arr_local = _naive(dep["at"]), _naive(arr["at"])
        if origin in zones:
            departure = dep_local.replace(tzinfo=zones.zone(origin))
        elif offset is not None:
            departure = dep_local.replace(tzinfo=timezone(offset))
        else:
            return None  # cannot place the first departure in time
        flown = parse_duration(seg.get("duration", ""))
        if destination in zones:
            arrival = arr_local.replace(tzinfo=zones.zone(destination))
            offset = arrival.utcoffset()
        elif flown is not None:
            landed = departure.astimezone(UTC) + flown
            offset = arr_local - landed.replace(tzinfo=None)
            if abs(offset) >= timedelta(hours=18):
                return None
            arrival = arr_local.replace(tzinfo=timezone(offset))
        else:
            return None
        segments.append(
            Segment(
                str(seg["carrierCode"]), int(seg["number"]), origin, destination, departure, arrival
            )
        )
    if not segments:
        return None
    return tuple(segments)


def _cabins(raw: Mapping[str, Any]) -> frozenset[str]:
    cabins = set()
    for traveler in raw.get("travelerPricings") or ():
        for detail in traveler.get("fareDetailsBySegment") or ():
            if detail.get("cabin"):
                cabins.add(str(detail["cabin"]))
    return frozenset(cabins)


def _refundable(raw: Mapping[str, Any]) -> bool:
    """Amadeus marks refundability per fare as an amenity or a fare rule; absent
    means not refundable."""
    rules = (raw.get("fareRules") or {}).get("rules") or ()
    for rule in rules:
        if rule.get("category") == "REFUND" and rule.get("notApplicable") is not True:
            return True
    return False


def offer_ref(raw: Mapping[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def parse_offer(raw: Mapping[str, Any], zones: Zones) -> Offer | None:
    """An Amadeus flight-offer in the neutral shape, or None if it cannot be
    understood."""
    try:
        price = raw["price"]
        currency = str(price["currency"])
        total = to_cents(Decimal(str(price.get("grandTotal") or price["total"])))
        seats = int(raw.get("numberOfBookableSeats") or 0)
        journeys = []
        for itinerary in raw["itineraries"]:
            journey = _journey(itinerary, zones)
            if journey is None:
                return None
            journeys.append(journey)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    if not journeys:
        return None
    return Offer(
        ref=offer_ref(raw),
        raw=raw,
        journeys=tuple(journeys),
        total_cents=total,
        currency=currency,
        seats_available=seats,
        refundable=_refundable(raw),
        cabins=_cabins(raw),
    )


async def search(api: AmadeusApi, query: OfferQuery, zones: Zones) -> list[Offer]:
    data = await api.call(
        "search", "GET", SEARCH_PATH, params=search_params(query, api.config.currency)
    )
    if not isinstance(data, dict):
        raise ProviderFailure(UNAVAILABLE, "unexpected flight-offers response")
    offers = []
    for raw in data.get("data") or ():
        offer = parse_offer(raw, zones)
        if offer is not None:
            offers.append(offer)
    return offers


async def price(api: AmadeusApi, raw: Mapping[str, Any]) -> ProviderQuote:
    """The offer priced again; a sell failure is an offer without seats."""
    body = {"data": {"type": "flight-offers-pricing", "flightOffers": [raw]}}
    try:
        data = await api.call("pricing", "POST", PRICING_PATH, body=body)
    except Rejected as exc:
        if SEGMENT_SELL_FAILURE in exc.codes:
            return ProviderQuote(dict(raw), 0, "", False)
        if INVALID_DATA in exc.codes:
            raise OfferGone("the provider no longer has this offer") from None
        raise
    try:
        priced = data["data"]["flightOffers"][0]
    except (KeyError, IndexError, TypeError):
        raise ProviderFailure(UNAVAILABLE, "unexpected pricing response") from None
    if not isinstance(priced, dict):
        raise ProviderFailure(UNAVAILABLE, "unexpected pricing response")
    try:
        total = priced["price"]["grandTotal"]
        currency = str(priced["price"]["currency"])
        return ProviderQuote(priced, to_cents(Decimal(str(total))), currency, True)
    except (KeyError, TypeError, InvalidOperation):
        raise UnreadablePrice(UNAVAILABLE, "the provider answered an unexpected price") from None
