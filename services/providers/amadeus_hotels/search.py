"""Amadeus hotel shopping: City Search, Hotel List (by city, by geocode or by hotel ids),
Hotel Search v3 (offers), offer pricing and hotel sentiments, in the neutral shapes of
``services.providers.hotels``.

A search is one hotel list, then the offers of the listed hotels (in chunks of
``HOTEL_IDS_PER_CALL``) and their guest ratings, concurrently. A search by hotel ids
needs no list first: the hotels' details (stars, amenities, area: the offers carry only
the name and position), their offers and their ratings are asked at once. Amadeus
refuses an id it does not know, or a hotel without rooms, with an error per id (codes
``INVALID_PROPERTY_CODE``, ``NO_ROOMS``, ``NOTHING_FOUND_FOR_CITY``) when no hotel
asked has an answer; that is an empty result, not a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from services.providers.amadeus.http import AmadeusApi, Rejected
from services.providers.amadeus.offers import to_cents
from services.providers.base import UNAVAILABLE, OfferGone, ProviderFailure, UnreadablePrice
from services.providers.hotels import (
    City,
    Hotel,
    HotelOffers,
    HotelQuery,
    HotelQuote,
    HotelRate,
    QueryRejected,
    UnknownDestination,
)

CITIES_PATH = "/v1/reference-data/locations/cities"
BY_CITY_PATH = "/v1/reference-data/locations/hotels/by-city"
BY_GEOCODE_PATH = "/v1/reference-data/locations/hotels/by-geocode"
BY_HOTELS_PATH = "/v1/reference-data/locations/hotels/by-hotels"
OFFERS_PATH = "/v3/shopping/hotel-offers"
SENTIMENTS_PATH = "/v2/e-reputation/hotel-sentiments"
HOTEL_IDS_PER_CALL = 100
# Amadeus error codes.
NOTHING_FOUND_FOR_CITY = 895
INVALID_DATE = 425
INVALID_DATA = 4926
NO_ROOMS = 3664
INVALID_PROPERTY_CODE = 1257
# Answers that only say the hotels asked have nothing (a search by hotel ids).
NOTHING_FOR_THESE_HOTELS = frozenset({NOTHING_FOUND_FOR_CITY, NO_ROOMS, INVALID_PROPERTY_CODE})
# Supplier parameters -> our request fields (for a refused search).
_FIELDS = {425: "check_in_date"}


def _offset_minutes(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    return sign * (int(hours) * 60 + int(minutes or 0))


async def find_cities(api: AmadeusApi, keyword: str) -> list[City]:
    data = await api.call("cities", "GET", CITIES_PATH, params={"keyword": keyword, "max": "20"})
    cities = []
    for raw in _items(data):
        try:
            cities.append(
                City(
                    code=str(raw["iataCode"]),
                    name=str(raw["name"]),
                    country_code=str(raw.get("address", {}).get("countryCode", "")),
                    latitude=float(raw["geoCode"]["latitude"]),
                    longitude=float(raw["geoCode"]["longitude"]),
                    utc_offset_minutes=_offset_minutes(str(raw.get("timeZoneOffset") or "+00:00")),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return cities


def _items(data: Any) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ProviderFailure(UNAVAILABLE, "unexpected answer from the hotel supplier")
    return list(data["data"])


def list_params(query: HotelQuery) -> tuple[str, dict[str, str]]:
    params = {"radius": str(query.radius_km), "radiusUnit": "KM"}
    if query.stars:
        params["ratings"] = ",".join(str(s) for s in query.stars)
    if query.amenities:
        params["amenities"] = ",".join(query.amenities)
    if query.city_code:
        return BY_CITY_PATH, {"cityCode": query.city_code, **params}
    params["latitude"] = str(query.latitude)
    params["longitude"] = str(query.longitude)
    return BY_GEOCODE_PATH, params


def offer_params(query: HotelQuery, hotel_ids: list[str]) -> dict[str, str]:
    params = {
        "hotelIds": ",".join(hotel_ids),
        "checkInDate": query.check_in.isoformat(),
        "checkOutDate": query.check_out.isoformat(),
        "adults": str(query.adults),
        "roomQuantity": str(query.rooms),
        "bestRateOnly": "false",
    }
    if query.child_ages:
        params["childAges"] = ",".join(str(a) for a in query.child_ages)
    if query.currency:
        params["currency"] = query.currency
    if query.board_type:
        params["boardType"] = query.board_type
    return params


def parse_hotel(raw: Mapping[str, Any]) -> Hotel | None:
    try:
        distance = raw.get("distance") or {}
        km = float(distance.get("value", 0.0))
        if str(distance.get("unit", "KM")).upper() == "MILE":
            km *= 1.609344
        lines = (raw.get("address") or {}).get("lines") or [""]
        return Hotel(
            hotel_id=str(raw["hotelId"]),
            name=str(raw["name"]),
            chain_code=str(raw.get("chainCode", "")),
            city_code=str(raw.get("iataCode", "")),
            latitude=float(raw["geoCode"]["latitude"]),
            longitude=float(raw["geoCode"]["longitude"]),
            stars=int(raw.get("rating") or 0),
            amenities=tuple(str(a) for a in raw.get("amenities") or ()),
            distance_km=round(km, 2),
            area=str(lines[0]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def parse_rate(hotel_id: str, raw: Mapping[str, Any]) -> HotelRate | None:
    try:
        price = raw["price"]
        room = raw.get("room") or {}
        policies = raw.get("policies") or {}
        refund = (policies.get("refundable") or {}).get("cancellationRefund", "")
        refundable = refund == "REFUNDABLE_UP_TO_DEADLINE"
        deadline = None
        if refundable:
            cancellations = policies.get("cancellations") or [{}]
            text = cancellations[0].get("deadline")
            deadline = datetime.fromisoformat(text) if text else None
        check_in = datetime.fromisoformat(raw["checkInDate"]).date()
        check_out = datetime.fromisoformat(raw["checkOutDate"]).date()
        return HotelRate(
            offer_id=str(raw["id"]),
            hotel_id=hotel_id,
            room_type=str(room.get("type", "")),
            room_category=str((room.get("typeEstimated") or {}).get("category", "")),
            room_description=str((room.get("description") or {}).get("text", "")),
            board_type=str(raw.get("boardType") or "ROOM_ONLY"),
            refundable=refundable,
            cancellation_deadline=deadline,
            total_cents=to_cents(Decimal(str(price["total"]))),
            currency=str(price["currency"]),
            nights=(check_out - check_in).days,
            rooms=int(raw.get("roomQuantity") or 1),
            rate_code=str(raw.get("rateCode", "")),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation, IndexError, AttributeError):
        return None


async def search(api: AmadeusApi, query: HotelQuery) -> list[HotelOffers]:
    if query.hotel_ids:
        return await _search_hotels(api, query)
    path, params = list_params(query)
    try:
        listed = await api.call("hotel_list", "GET", path, params=params)
    except Rejected as exc:
        if NOTHING_FOUND_FOR_CITY in exc.codes:
            raise UnknownDestination(query.city_code) from None
        raise
    hotels = {h.hotel_id: h for h in map(parse_hotel, _items(listed)) if h is not None}
    if not hotels:
        return []
    ids = list(hotels)
    chunks = [ids[i : i + HOTEL_IDS_PER_CALL] for i in range(0, len(ids), HOTEL_IDS_PER_CALL)]
    try:
        answers = await asyncio.gather(
            *(
                api.call("hotel_offers", "GET", OFFERS_PATH, params=offer_params(query, c))
                for c in chunks
            ),
            _ratings(api, ids),
        )
    except Rejected as exc:
        raise _refused(exc) from None
    *offer_answers, ratings = answers
    return _offers(hotels, offer_answers, ratings)


async def _search_hotels(api: AmadeusApi, query: HotelQuery) -> list[HotelOffers]:
    """Given hotels (at most ``HOTEL_IDS_PER_CALL``): details, offers and ratings at once."""
    ids = list(query.hotel_ids)[:HOTEL_IDS_PER_CALL]

    async def nothing_if_refused(call: str, path: str, params: dict[str, str]) -> Any:
        try:
            return await api.call(call, "GET", path, params=params)
        except Rejected as exc:
            if exc.codes and set(exc.codes) <= NOTHING_FOR_THESE_HOTELS:
                return {"data": []}
            raise _refused(exc) from None

    listed, offers, ratings = await asyncio.gather(
        nothing_if_refused("hotel_list", BY_HOTELS_PATH, {"hotelIds": ",".join(ids)}),
        nothing_if_refused("hotel_offers", OFFERS_PATH, offer_params(query, ids)),
        _ratings(api, ids),
    )
    hotels = {h.hotel_id: h for h in map(parse_hotel, _items(listed)) if h is not None}
    return _offers(hotels, [offers], ratings)


def _refused(exc: Rejected) -> Exception:
    for code, field in _FIELDS.items():
        if code in exc.codes:
            return QueryRejected(field, "refused by the hotel supplier")
    return exc


def _offers(
    hotels: dict[str, Hotel], offer_answers: list[Any], ratings: dict[str, int]
) -> list[HotelOffers]:
    """The listed hotels with at least one readable rate, each with its rating."""
    found = []
    for answer in offer_answers:
        for item in _items(answer):
            try:
                hotel_id = str(item["hotel"]["hotelId"])
                offers = list(item.get("offers") or ())
            except (KeyError, TypeError):
                continue
            hotel = hotels.get(hotel_id)
            if hotel is None:
                continue
            rates = tuple(r for r in (parse_rate(hotel_id, o) for o in offers) if r is not None)
            if rates:
                rated = dataclasses.replace(hotel, rating=ratings.get(hotel_id, 0))
                found.append(HotelOffers(rated, rates))
    return found


async def _ratings(api: AmadeusApi, ids: list[str]) -> dict[str, int]:
    """Overall guest ratings; a hotel without one (or a failed call) rates 0."""
    ratings: dict[str, int] = {}
    for i in range(0, len(ids), HOTEL_IDS_PER_CALL):
        try:
            data = await api.call(
                "hotel_sentiments",
                "GET",
                SENTIMENTS_PATH,
                params={"hotelIds": ",".join(ids[i : i + HOTEL_IDS_PER_CALL])},
            )
        except Rejected:
            continue
        for item in _items(data):
            try:
                ratings[str(item["hotelId"])] = int(item["overallRating"])
            except (KeyError, TypeError, ValueError):
                continue
    return ratings


async def price(api: AmadeusApi, offer_id: str) -> HotelQuote:
    path = f"{OFFERS_PATH}/{quote(offer_id, safe='')}"
    try:
        data = await api.call("hotel_pricing", "GET", path)
    except Rejected as exc:
        if NO_ROOMS in exc.codes:
            return HotelQuote(None)
        if INVALID_DATA in exc.codes or INVALID_DATE in exc.codes:
            raise OfferGone("the supplier no longer has this offer") from None
        raise
    try:
        item = data["data"]
        raw = item["offers"][0]
        hotel_id = str(item["hotel"]["hotelId"])
    except (KeyError, IndexError, TypeError):
        raise ProviderFailure(UNAVAILABLE, "unexpected pricing answer") from None
    rate = parse_rate(hotel_id, raw)
    if rate is None:
        raise UnreadablePrice(UNAVAILABLE, "the supplier answered an unexpected price")
    return HotelQuote(rate)
