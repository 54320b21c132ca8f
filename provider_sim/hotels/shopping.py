"""The hotel supplier's search and pricing endpoints, in the shapes of the Amadeus
Self-Service hotel APIs, over the stand-in's hotel world.

Every endpoint sits behind ``@require_bearer`` (the same 401 / 429 / 5xx faults, API
latency and per-token counting as the flight endpoints; a token of a hotel client works
as any other) and answers ``application/vnd.amadeus+json``.

``GET /v1/reference-data/locations/cities?keyword=PAR[&max=10]``
    City Search: cities whose IATA code is the keyword, or whose name contains it (case
    insensitive). ``{"data": [{"type": "location", "subType": "city", "name",
    "iataCode", "address": {"countryCode"}, "geoCode": {"latitude", "longitude"},
    "timeZoneOffset": "+01:00"}]}`` (the offset now); no match is an empty list.
``GET /v1/reference-data/locations/hotels/by-city?cityCode=PAR``
    Hotel List. Optional ``radius`` (default 5) and ``radiusUnit`` (KM, MILE) from the
    city centre, ``ratings`` (comma list of 1-5 stars), ``amenities`` (comma list, every
    one required). ``{"data": [{"chainCode", "iataCode", "dupeId", "name", "hotelId",
    "geoCode", "address": {"countryCode", "cityName", "lines": [area]}, "distance":
    {"value", "unit"}, "rating", "amenities"}]}``, nearest first. An unknown city is 400
    code 895 NOTHING FOUND FOR REQUESTED CITY.
``GET /v1/reference-data/locations/hotels/by-geocode?latitude=&longitude=``
    The same around a point (``radius`` default 5).
``GET /v1/reference-data/locations/hotels/by-hotels?hotelIds=A,B``
    Hotel List by hotel ids (at most 100): the same entries without ``distance``, in
    the order asked; an unknown id is left out (none known: an empty list).
``GET /v3/shopping/hotel-offers?hotelIds=A,B&checkInDate=&checkOutDate=&adults=2``
    Hotel Search. Optional ``childAges`` (comma list, 0-17), ``roomQuantity`` (1-9,
    default 1; every room with the same guests), ``currency`` (default the hotel's
    country's), ``boardType``, ``paymentPolicy`` (ignored), ``bestRateOnly`` (default
    true: the cheapest offer per hotel). ``adults`` is per room (1-9). Check-in not
    before today in the hotel's city, check-out after it, at most 30 nights. One
    ``hotel-offers`` entry per hotel with an available offer: ``{"type", "hotel":
    {"hotelId", "chainCode", "name", "cityCode", "latitude", "longitude"}, "available":
    true, "offers": [offer]}``; an offer: ``{"id", "checkInDate", "checkOutDate",
    "rateCode", "room": {"type", "typeEstimated": {"category", "beds", "bedType"},
    "description": {"text", "lang"}}, "guests": {"adults", "childAges"?}, "price":
    {"currency", "base", "total", "variations": {"average": {"base"}, "changes":
    [{"startDate", "endDate", "base", "total"}]}}, "policies": {"paymentType",
    "cancellations": [{"deadline", "amount"?, "type": "FULL_STAY"}], "refundable":
    {"cancellationRefund": "REFUNDABLE_UP_TO_DEADLINE" | "NON_REFUNDABLE"}},
    "boardType", "roomQuantity"}``. Prices are for every room and night (``total`` with
    10% tax). An unknown hotel id is skipped.
``GET /v3/shopping/hotel-offers/{offerId}``
    Offer pricing: the offer at the current price (a new ``id`` when the price changed
    since the id was issued), ``{"data": {"type": "hotel-offers", "hotel", "available":
    true, "offers": [offer]}}``; 400 code 3664 NO ROOMS AVAILABLE AT REQUESTED PROPERTY
    when it sold out; 400 code 4926 for an id that is not an offer.
``GET /v2/e-reputation/hotel-sentiments?hotelIds=A,B``
    ``{"data": [{"type": "hotelSentiment", "hotelId", "overallRating",
    "numberOfReviews", "numberOfRatings", "sentiments": {...}}]}``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from provider_sim.bearer import require_bearer
from provider_sim.body import iso_date
from provider_sim.errors import (
    API_CONTENT_TYPE,
    CODE_INVALID_DATA,
    CODE_INVALID_DATE,
    CODE_INVALID_FORMAT,
    CODE_MANDATORY_DATA_MISSING,
    ApiError,
    json_response,
)
from provider_sim.hotels.inventory import (
    MAX_ADULTS,
    MAX_NIGHTS,
    MAX_ROOMS,
    Hotel,
    Occupancy,
)
from provider_sim.hotels.market import HotelMarket, OfferKey, PricedHotelOffer
from provider_sim.hotels.world import BOARD_TYPES, CITIES, CITIES_BY_CODE, City
from provider_sim.keys import STATE_KEY
from provider_sim.offers import money
from provider_sim.world import CURRENCIES, local_to_utc, utc_offset_minutes, utc_to_local

CITIES_PATH: Final = "/v1/reference-data/locations/cities"
BY_CITY_PATH: Final = "/v1/reference-data/locations/hotels/by-city"
BY_GEOCODE_PATH: Final = "/v1/reference-data/locations/hotels/by-geocode"
BY_HOTELS_PATH: Final = "/v1/reference-data/locations/hotels/by-hotels"
OFFERS_PATH: Final = "/v3/shopping/hotel-offers"
OFFER_PATH: Final = "/v3/shopping/hotel-offers/{offer_id}"
SENTIMENTS_PATH: Final = "/v2/e-reputation/hotel-sentiments"
CODE_NOTHING_FOUND: Final = 895
CODE_NO_ROOMS: Final = 3664
MAX_HOTEL_IDS: Final = 100
KM_PER_MILE: Final = 1.609344


def add_routes(app: web.Application) -> None:
    app.router.add_get(CITIES_PATH, cities)
    app.router.add_get(BY_CITY_PATH, hotels_by_city)
    app.router.add_get(BY_GEOCODE_PATH, hotels_by_geocode)
    app.router.add_get(BY_HOTELS_PATH, hotels_by_ids)
    app.router.add_get(OFFERS_PATH, hotel_offers)
    app.router.add_get(OFFER_PATH, hotel_offer)
    app.router.add_get(SENTIMENTS_PATH, sentiments)


def _market(request: web.Request) -> HotelMarket:
    return request.app[STATE_KEY].hotels


def _answer(body: Any) -> web.Response:
    return json_response(body, 200, API_CONTENT_TYPE)


def param_error(code: int, title: str, detail: str, parameter: str) -> ApiError:
    return ApiError(400, code, title, detail, parameter=parameter)


def _required(query: Any, name: str) -> str:
    value = query.get(name, "").strip()
    if not value:
        raise param_error(
            CODE_MANDATORY_DATA_MISSING, "MANDATORY DATA MISSING", "Missing parameter", name
        )
    return str(value)


def _integer(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise param_error(
            CODE_INVALID_FORMAT, "INVALID FORMAT", "Expected an integer", name
        ) from None
    if not low <= value <= high:
        raise param_error(
            CODE_INVALID_DATA, "INVALID DATA RECEIVED", f"Must be between {low} and {high}", name
        )
    return value


def _number(query: Any, name: str) -> float:
    raw = _required(query, name)
    try:
        return float(raw)
    except ValueError:
        raise param_error(
            CODE_INVALID_FORMAT, "INVALID FORMAT", "Expected a number", name
        ) from None


def _list(query: Any, name: str) -> list[str]:
    return [p.strip() for p in query.get(name, "").split(",") if p.strip()]


def _date(query: Any, name: str) -> date:
    value = iso_date(_required(query, name))
    if value is None:
        raise param_error(CODE_INVALID_FORMAT, "INVALID FORMAT", "Expected YYYY-MM-DD", name)
    return value


def city_today(market: HotelMarket, city: City) -> date:
    return utc_to_local(city.time_zone, market.now_utc().replace(tzinfo=None)).date()


# -- cities ------------------------------------------------------------------------------


@require_bearer
async def cities(request: web.Request) -> web.Response:
    market = _market(request)
    try:
        keyword = _required(request.query, "keyword").upper()
        limit = _integer(request.query, "max", 10, 1, 100)
    except ApiError as error:
        return error.response()
    market.count("cities_searched")
    found = [c for c in CITIES if c.code == keyword or keyword in c.name][:limit]
    now = market.now_utc().replace(tzinfo=None)
    return _answer({"data": [_city_json(c, utc_offset_minutes(c.time_zone, now)) for c in found]})


def _city_json(city: City, offset_minutes: int) -> dict[str, Any]:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return {
        "type": "location",
        "subType": "city",
        "name": city.name,
        "iataCode": city.code,
        "address": {"countryCode": city.country_code},
        "geoCode": {"latitude": city.latitude, "longitude": city.longitude},
        "timeZoneOffset": f"{sign}{hours:02d}:{minutes:02d}",
    }


# -- hotel lists -------------------------------------------------------------------------


@require_bearer
async def hotels_by_city(request: web.Request) -> web.Response:
    market = _market(request)
    query = request.query
    try:
        code = _required(query, "cityCode").upper()
        city = CITIES_BY_CODE.get(code)
        if city is None:
            raise param_error(
                CODE_NOTHING_FOUND,
                "NOTHING FOUND FOR REQUESTED CITY",
                "No hotel found in this city",
                "cityCode",
            )
        body = _hotel_list(market, query, city.latitude, city.longitude, [city.code])
    except ApiError as error:
        return error.response()
    return _answer(body)


@require_bearer
async def hotels_by_geocode(request: web.Request) -> web.Response:
    market = _market(request)
    query = request.query
    try:
        latitude, longitude = _number(query, "latitude"), _number(query, "longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise param_error(
                CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Not a point on Earth", "latitude"
            )
        body = _hotel_list(market, query, latitude, longitude, [c.code for c in CITIES])
    except ApiError as error:
        return error.response()
    return _answer(body)


@require_bearer
async def hotels_by_ids(request: web.Request) -> web.Response:
    market = _market(request)
    query = request.query
    try:
        ids = _hotel_ids(query)
    except ApiError as error:
        return error.response()
    market.count("hotel_lists_by_id")
    found = [h for h in (market.inventory.hotel(i) for i in dict.fromkeys(ids)) if h]
    data = []
    for hotel in found:
        entry = _hotel_json(hotel, 0.0, "KM")
        del entry["distance"]
        data.append(entry)
    return _answer({"data": data})


def _hotel_ids(query: Any) -> list[str]:
    """The required ``hotelIds`` list (comma-separated), at most MAX_HOTEL_IDS."""
    ids = _list(query, "hotelIds")
    if not ids:
        _required(query, "hotelIds")
    if len(ids) > MAX_HOTEL_IDS:
        raise param_error(
            CODE_INVALID_DATA, "INVALID DATA RECEIVED", f"At most {MAX_HOTEL_IDS}", "hotelIds"
        )
    return ids


def _hotel_list(
    market: HotelMarket, query: Any, latitude: float, longitude: float, city_codes: list[str]
) -> dict[str, Any]:
    unit = query.get("radiusUnit", "KM").upper()
    if unit not in ("KM", "MILE"):
        raise param_error(CODE_INVALID_DATA, "INVALID DATA RECEIVED", "KM or MILE", "radiusUnit")
    radius = _integer(query, "radius", 5, 1, 300)
    radius_km = radius * (KM_PER_MILE if unit == "MILE" else 1.0)
    ratings = set()
    for raw in _list(query, "ratings"):
        if raw not in ("1", "2", "3", "4", "5"):
            raise param_error(CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Stars 1-5", "ratings")
        ratings.add(int(raw))
    amenities = set(_list(query, "amenities"))
    market.count("hotel_lists")
    found = []
    for code in city_codes:
        for hotel in market.inventory.city_hotels(code):
            km = hotel.distance_km(latitude, longitude)
            if km > radius_km or (ratings and hotel.stars not in ratings):
                continue
            if not amenities <= set(hotel.amenities):
                continue
            found.append((km, hotel))
    found.sort(key=lambda pair: (pair[0], pair[1].hotel_id))
    per_unit = KM_PER_MILE if unit == "MILE" else 1.0
    return {"data": [_hotel_json(h, km / per_unit, unit) for km, h in found]}


def _hotel_json(hotel: Hotel, distance: float, unit: str) -> dict[str, Any]:
    return {
        "chainCode": hotel.chain_code,
        "iataCode": hotel.city.code,
        "dupeId": int(hotel.hotel_id[-3:]) + 700000000,
        "name": hotel.name,
        "hotelId": hotel.hotel_id,
        "geoCode": {"latitude": hotel.latitude, "longitude": hotel.longitude},
        "address": {
            "countryCode": hotel.city.country_code,
            "cityName": hotel.city.name,
            "lines": [hotel.area.name],
        },
        "distance": {"value": round(distance, 2), "unit": unit},
        "rating": hotel.stars,
        "amenities": list(hotel.amenities),
    }


# -- offers ------------------------------------------------------------------------------


@require_bearer
async def hotel_offers(request: web.Request) -> web.Response:
    market = _market(request)
    query = request.query
    try:
        ids = _hotel_ids(query)
        check_in, check_out = _date(query, "checkInDate"), _date(query, "checkOutDate")
        occupancy = Occupancy(
            _integer(query, "adults", 1, 1, MAX_ADULTS), _child_ages(query.get("childAges", ""))
        )
        rooms = _integer(query, "roomQuantity", 1, 1, MAX_ROOMS)
        currency = _currency(query)
        board = query.get("boardType", "").upper()
        if board and board not in BOARD_TYPES:
            raise param_error(
                CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Unknown board", "boardType"
            )
        best_only = query.get("bestRateOnly", "true").lower() != "false"
        hotels = [h for h in (market.inventory.hotel(i) for i in ids) if h is not None]
        _check_dates(market, hotels, check_in, check_out)
    except ApiError as error:
        return error.response()
    market.count("hotel_offer_searches")
    data = []
    for hotel in hotels:
        offers = []
        for room, _count in hotel.rooms:
            for rate in hotel.rate_plans:
                if board and rate.board_type != board:
                    continue
                key = OfferKey(
                    hotel.hotel_id, room.code, rate.code, check_in, check_out, occupancy, rooms,
                    market.epoch,
                )  # fmt: skip
                priced = market.price(key, currency)
                if priced is not None and market.bookable(key):
                    offers.append(priced)
        if not offers:
            continue
        offers.sort(key=lambda o: (o.total_cents, o.id))
        if best_only:
            offers = offers[:1]
        data.append(offers_json(market, hotel, [offer_json(o) for o in offers]))
    return _answer({"data": data})


def _child_ages(raw: str) -> tuple[int, ...]:
    ages = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        if not part.isdigit() or not 0 <= int(part) <= 17:
            raise param_error(CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Ages 0-17", "childAges")
        ages.append(int(part))
    return tuple(ages)


def _currency(query: Any) -> str | None:
    currency = query.get("currency", "").upper()
    if not currency:
        return None
    if currency not in CURRENCIES:
        raise param_error(
            CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Unknown currency", "currency"
        )
    return str(currency)


def _check_dates(market: HotelMarket, hotels: list[Hotel], check_in: date, check_out: date) -> None:
    # The hotel's city's today; with no known hotel, the earliest today on Earth (UTC-12).
    today = (
        city_today(market, hotels[0].city)
        if hotels
        else (market.now_utc() - timedelta(hours=12)).date()
    )
    if check_in < today:
        raise param_error(
            CODE_INVALID_DATE, "INVALID DATE", "Check-in date is in the past", "checkInDate"
        )
    if check_out <= check_in:
        raise param_error(
            CODE_INVALID_DATE, "INVALID DATE", "Check-out must be after check-in", "checkOutDate"
        )
    if (check_out - check_in).days > MAX_NIGHTS:
        raise param_error(
            CODE_INVALID_DATA,
            "INVALID DATA RECEIVED",
            f"At most {MAX_NIGHTS} nights",
            "checkOutDate",
        )


@require_bearer
async def hotel_offer(request: web.Request) -> web.Response:
    market = _market(request)
    offer_id = request.match_info["offer_id"]
    key = OfferKey.decode(offer_id)
    priced = market.price(key, request.query.get("currency") or None) if key else None
    if key is None or priced is None:
        return param_error(
            CODE_INVALID_DATA, "INVALID DATA RECEIVED", "Not a valid offer id", "offerId"
        ).response()
    market.count("hotel_pricings")
    if priced.key.check_in < city_today(market, priced.hotel.city):
        return param_error(
            CODE_INVALID_DATE, "INVALID DATE", "Check-in date is in the past", "offerId"
        ).response()
    if not market.bookable(key):
        return no_rooms().response()
    current = market.price(market.current(key), priced.currency)
    assert current is not None
    body = offers_json(market, current.hotel, [offer_json(current)])
    return _answer({"data": body})


def no_rooms() -> ApiError:
    return ApiError(
        400,
        CODE_NO_ROOMS,
        "NO ROOMS AVAILABLE AT REQUESTED PROPERTY",
        "The requested rooms are no longer available",
    )


def offers_json(market: HotelMarket, hotel: Hotel, offers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "hotel-offers",
        "hotel": {
            "type": "hotel",
            "hotelId": hotel.hotel_id,
            "chainCode": hotel.chain_code,
            "name": hotel.name,
            "cityCode": hotel.city.code,
            "latitude": hotel.latitude,
            "longitude": hotel.longitude,
        },
        "available": True,
        "offers": offers,
    }


def offer_json(offer: PricedHotelOffer) -> dict[str, Any]:
    key, room, rate = offer.key, offer.room, offer.rate
    nights = len(offer.nights)
    guests: dict[str, Any] = {"adults": key.occupancy.adults}
    if key.occupancy.child_ages:
        guests["childAges"] = list(key.occupancy.child_ages)
    changes = [
        {
            "startDate": night.isoformat(),
            "endDate": (night + timedelta(days=1)).isoformat(),
            "base": money(base * key.rooms),
            "total": money(total * key.rooms),
        }
        for night, base, total in offer.nights
    ]
    policies: dict[str, Any] = {"paymentType": "guarantee"}
    if rate.refundable:
        policies["cancellations"] = [
            {"deadline": cancellation_deadline(offer), "type": "FULL_STAY"}
        ]
        policies["refundable"] = {"cancellationRefund": "REFUNDABLE_UP_TO_DEADLINE"}
    else:
        policies["cancellations"] = [
            {"amount": money(offer.total_cents), "type": "FULL_STAY", "numberOfNights": nights}
        ]
        policies["refundable"] = {"cancellationRefund": "NON_REFUNDABLE"}
    return {
        "id": offer.id,
        "checkInDate": key.check_in.isoformat(),
        "checkOutDate": key.check_out.isoformat(),
        "rateCode": rate.code,
        "room": {
            "type": room.code,
            "typeEstimated": {
                "category": room.category,
                "beds": room.beds,
                "bedType": room.bed_type,
            },
            "description": {"text": room.description, "lang": "EN"},
        },
        "guests": guests,
        "roomQuantity": key.rooms,
        "price": {
            "currency": offer.currency,
            "base": money(offer.base_cents),
            "total": money(offer.total_cents),
            "variations": {
                "average": {"base": money(offer.base_cents // nights)},
                "changes": changes,
            },
        },
        "policies": policies,
        "boardType": rate.board_type,
    }


def cancellation_deadline(offer: PricedHotelOffer) -> str:
    """18:00 local, ``deadline_days`` before arrival, with the city's UTC offset."""
    day = offer.key.check_in - timedelta(days=offer.rate.deadline_days)
    zone = offer.hotel.city.time_zone
    local = datetime(day.year, day.month, day.day, 18, 0)
    minutes = utc_offset_minutes(zone, local_to_utc(zone, local))
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{local.isoformat()}{sign}{hours:02d}:{rest:02d}"


# -- sentiments --------------------------------------------------------------------------


@require_bearer
async def sentiments(request: web.Request) -> web.Response:
    market = _market(request)
    try:
        ids = _list(request.query, "hotelIds")
        if not ids:
            _required(request.query, "hotelIds")
    except ApiError as error:
        return error.response()
    market.count("hotel_sentiments")
    data = []
    for hotel in (market.inventory.hotel(i) for i in ids):
        if hotel is None:
            continue
        data.append(
            {
                "type": "hotelSentiment",
                "hotelId": hotel.hotel_id,
                "overallRating": hotel.rating,
                "numberOfReviews": hotel.reviews,
                "numberOfRatings": hotel.reviews + hotel.reviews // 3,
                "sentiments": {
                    "sleepQuality": min(100, hotel.rating + 3),
                    "service": hotel.rating,
                    "location": min(100, hotel.rating + 5),
                },
            }
        )
    return _answer({"data": data})
