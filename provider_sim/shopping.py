"""Flight Offers Search and Flight Offers Price over the stand-in's own inventory.

All three endpoints sit behind ``@require_bearer`` (same 401/429/5xx behaviour and
per-token counting as every API endpoint) and answer ``application/vnd.amadeus+json``.

``GET /v2/shopping/flight-offers``
    Required: ``originLocationCode``, ``destinationLocationCode`` (3 capital letters),
    ``departureDate`` (YYYY-MM-DD, not before today at the origin airport; flights that
    have already left are not offered), ``adults`` (1-9). Optional:
    ``returnDate``, ``children`` (0-9), ``infants`` (0-9, at most one per adult, held
    on an adult's lap), ``travelClass`` (ECONOMY, PREMIUM_ECONOMY, BUSINESS, FIRST),
    ``nonStop`` (true/false), ``includedAirlineCodes`` / ``excludedAirlineCodes``
    (comma-separated, not both), ``currencyCode`` (default EUR; EUR USD GBP CHF SEK NOK DKK
    CAD AED SGD), ``maxPrice`` (positive whole number, per traveler), ``max`` (1-250,
    default 250). Unknown parameters are ignored. Adults plus children at most 9.
    Answer: ``{"meta": {"count", "links": {"self"}}, "data": [flight-offer...],
    "dictionaries": {"locations", "aircraft", "currencies", "carriers"}}``;
    ``dictionaries`` is absent when ``data`` is empty (as with Amadeus). Well-formed but
    unknown airport codes simply give no offers. Semantics: see ``offers``.
``POST /v2/shopping/flight-offers``
    The same search as an Amadeus JSON body: ``currencyCode``, ``originDestinations[]``
    (1-6: ``id``, ``originLocationCode``, ``destinationLocationCode``,
    ``departureDateTimeRange.date``; ``time`` is accepted and ignored), ``travelers[]``
    (``id``, ``travelerType`` ADULT | CHILD | HELD_INFANT, ``associatedAdultId`` for
    infants), ``sources`` (must include "GDS"), ``searchCriteria`` (``maxFlightOffers``,
    ``maxPrice``, ``flightFilters.cabinRestrictions[]`` {``cabin``,
    ``originDestinationIds``}, ``flightFilters.carrierRestrictions``
    {``includedCarrierCodes`` | ``excludedCarrierCodes``},
    ``flightFilters.connectionRestriction.maxNumberOfConnections`` (0 = non-stop)).
    Real Amadeus wants the header ``X-HTTP-Method-Override: GET`` on this call; the
    stand-in accepts it (and rejects any other value) but does not require it.
``POST /v1/shopping/flight-offers/pricing``
    ``{"data": {"type": "flight-offers-pricing", "flightOffers": [offer, ...]}}`` (1-6
    offers as returned by the search). Each offer is matched against the inventory and
    re-priced at the current market price: ``{"data": {"type": "flight-offers-pricing",
    "flightOffers": [...], "bookingRequirements": {...}}, "dictionaries": {"locations"}}``,
    plus ``warnings`` (``PricingOrFareBasisDiscrepancyWarning``) when a grandTotal
    differs from the one sent. Offer and segment ids and traveler ids are kept.

Errors are Amadeus ``errors[]`` (``source.parameter`` for GET, ``source.pointer`` for
bodies): 32171 MANDATORY DATA MISSING, 477 INVALID FORMAT (malformed value or JSON), 425
INVALID DATE (date in the past, return before departure), 4926 INVALID DATA RECEIVED
(out of range, unsupported, offer not matching the inventory: tampered, stale or
already departed), 2668 PARAMETER COMBINATION INVALID/RESTRICTED (included and excluded
airlines together); on pricing, 34651 SEGMENT SELL FAILURE when a segment no longer has
seats for every seated traveler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from provider_sim.bearer import require_bearer
from provider_sim.body import (
    array,
    field,
    integer,
    invalid_data,
    invalid_format,
    iso_date,
    missing,
    obj,
    read_json,
    required_string,
    string,
)
from provider_sim.errors import (
    API_CONTENT_TYPE,
    CODE_INVALID_DATA,
    CODE_INVALID_DATE,
    CODE_INVALID_FORMAT,
    CODE_MANDATORY_DATA_MISSING,
    CODE_PARAMETER_COMBINATION,
    CODE_SEGMENT_SELL_FAILURE,
    ApiError,
    json_response,
)
from provider_sim.keys import STATE_KEY
from provider_sim.market import Market, SeatKey
from provider_sim.offers import (
    MAX_LEGS,
    MAX_OFFERS,
    ClientOffer,
    LegQuery,
    PricedOffer,
    SearchQuery,
    Traveler,
    check_travelers,
    dictionaries,
    money,
    offer_json,
    price_offer,
    read_offer,
    search,
    seat_needs,
)
from provider_sim.state import SimState
from provider_sim.world import CABINS, CURRENCIES, local_today

SEARCH_PATH: Final = "/v2/shopping/flight-offers"
PRICING_PATH: Final = "/v1/shopping/flight-offers/pricing"

_LOCATION_RE: Final = re.compile(r"^[A-Z]{3}$")
_AIRLINE_RE: Final = re.compile(r"^[A-Z0-9]{2}$")
_CURRENCY_RE: Final = re.compile(r"^[A-Z]{3}$")
_COUNT_RE: Final = re.compile(r"^\d{1,3}$")
_PRICE_RE: Final = re.compile(r"^\d{1,9}$")
# Far enough for "any date"; keeps date arithmetic away from datetime's year 9999 limit.
_LAST_YEAR: Final = 9998
_CABIN_COVERAGES: Final = ("MOST_SEGMENTS", "AT_LEAST_ONE_SEGMENT", "ALL_SEGMENTS")
PRICE_WARNING: Final = {
    "status": 200,
    "code": 0,
    "title": "PricingOrFareBasisDiscrepancyWarning",
    "detail": "Actual price and/or fare basis for some passengers is different from requested ones",
}


def add_routes(app: web.Application) -> None:
    app.router.add_get(SEARCH_PATH, search_get)
    app.router.add_post(SEARCH_PATH, search_post)
    app.router.add_post(PRICING_PATH, pricing)


@require_bearer
async def search_get(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.record_flight_call("offers_searched")
    try:
        query = parse_search_params(request.query, state.market.now_utc())
    except ApiError as error:
        return error.response()
    return _search_response(state, query, str(request.url))


@require_bearer
async def search_post(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.record_flight_call("offers_searched")
    override = request.headers.get("X-HTTP-Method-Override")
    try:
        if override is not None and override.strip().upper() != "GET":
            raise ApiError(
                400,
                CODE_INVALID_DATA,
                "INVALID DATA RECEIVED",
                "X-HTTP-Method-Override must be GET",
                parameter="X-HTTP-Method-Override",
            )
        query = parse_search_body(await read_json(request), state.market.now_utc())
    except ApiError as error:
        return error.response()
    return _search_response(state, query, str(request.url))


def _search_response(state: SimState, query: SearchQuery, self_link: str) -> web.Response:
    offers = search(state.market, query)
    today = state.today()
    data = [offer_json(str(n + 1), offer, today) for n, offer in enumerate(offers)]
    body: dict[str, Any] = {
        "meta": {"count": len(data), "links": {"self": self_link}},
        "data": data,
    }
    if data:
        body["dictionaries"] = dictionaries(offers, query.currency)
    return json_response(body, 200, API_CONTENT_TYPE)


@require_bearer
async def pricing(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.record_flight_call("pricing_requests")
    try:
        sent = read_offers(state.market, await read_json(request), "flight-offers-pricing")
        priced = [price_offer(state.market, o.legs, o.travelers, o.currency) for o in sent]
        for offer, current in zip(sent, priced, strict=True):
            check_seats(state.market, offer, seat_needs(current))
    except ApiError as error:
        return error.response()
    today = state.today()
    body: dict[str, Any] = {
        "data": {
            "type": "flight-offers-pricing",
            "flightOffers": [
                offer_json(o.id, p, today, o.segment_ids) for o, p in zip(sent, priced, strict=True)
            ],
            "bookingRequirements": {
                "emailAddressRequired": True,
                "mobilePhoneNumberRequired": True,
            },
        },
        "dictionaries": {"locations": dictionaries(priced, sent[0].currency)["locations"]},
    }
    if any(price_changed(o, p) for o, p in zip(sent, priced, strict=True)):
        body["warnings"] = [PRICE_WARNING]
    return json_response(body, 200, API_CONTENT_TYPE)


# -- shared with orders ----------------------------------------------------------------


def read_offers(market: Market, raw: Any, data_type: str) -> list[ClientOffer]:
    """``{"data": {"type": data_type, "flightOffers": [...]}}``, each offer verified."""
    root = obj(raw, "")
    data = obj(field(root, "data", ""), "/data")
    if required_string(data, "type", "/data") != data_type:
        raise invalid_data(f"type must be {data_type}", "/data/type")
    raw_offers = array(data, "flightOffers", "/data")
    if len(raw_offers) > MAX_LEGS:
        raise invalid_data(f"At most {MAX_LEGS} flight offers", "/data/flightOffers")
    return [read_offer(market, o, f"/data/flightOffers[{n}]") for n, o in enumerate(raw_offers)]


def price_changed(sent: ClientOffer, current: PricedOffer) -> bool:
    return sent.grand_total != Decimal(money(current.price.total))


def check_seats(market: Market, offer: ClientOffer, needs: Mapping[SeatKey, int]) -> None:
    """34651 SEGMENT SELL FAILURE naming the first segment without enough seats."""
    short = market.shortfall(needs)
    if short is not None:
        raise sell_failure(offer, short)


def sell_failure(offer: ClientOffer, short: SeatKey) -> ApiError:
    keys = offer.seat_keys()
    segment_id = offer.segment_ids[keys.index(short)] if short in keys else "1"
    return ApiError(
        400,
        CODE_SEGMENT_SELL_FAILURE,
        "SEGMENT SELL FAILURE",
        f"Could not sell segment {segment_id}",
    )


# -- GET parameters --------------------------------------------------------------------


def _param_error(code: int, title: str, detail: str, parameter: str) -> ApiError:
    return ApiError(400, code, title, detail, parameter=parameter)


def _bad_format(parameter: str, detail: str) -> ApiError:
    return _param_error(CODE_INVALID_FORMAT, "INVALID FORMAT", detail, parameter)


def _bad_data(parameter: str, detail: str) -> ApiError:
    return _param_error(CODE_INVALID_DATA, "INVALID DATA RECEIVED", detail, parameter)


def _bad_date(parameter: str, detail: str) -> ApiError:
    return _param_error(CODE_INVALID_DATE, "INVALID DATE", detail, parameter)


def parse_search_params(params: Mapping[str, str], now: datetime) -> SearchQuery:
    """The GET parameters as a query; ``now`` (naive UTC) decides which dates are past,
    by the local date at each leg's origin."""
    for name in ("originLocationCode", "destinationLocationCode", "departureDate", "adults"):
        if not params.get(name, "").strip():
            raise _param_error(
                CODE_MANDATORY_DATA_MISSING,
                "MANDATORY DATA MISSING",
                "This attribute is required",
                name,
            )
    origin = _location(params["originLocationCode"], "originLocationCode")
    destination = _location(params["destinationLocationCode"], "destinationLocationCode")
    departure = _date(params["departureDate"], "departureDate", local_today(origin, now))
    returning = None
    if "returnDate" in params:
        returning = _date(params["returnDate"], "returnDate", local_today(destination, now))
    adults = _count(params, "adults", 1, 9, 1)
    children = _count(params, "children", 0, 9, 0)
    infants = _count(params, "infants", 0, 9, 0)
    cabin = params.get("travelClass")
    if cabin is not None and cabin not in CABINS:
        raise _bad_format("travelClass", f"travelClass must be one of {', '.join(CABINS)}")
    included = _airlines(params, "includedAirlineCodes")
    excluded = _airlines(params, "excludedAirlineCodes")
    non_stop = params.get("nonStop", "false")
    if non_stop not in ("true", "false"):
        raise _bad_format("nonStop", "nonStop must be true or false")
    currency = _currency(params.get("currencyCode", "EUR"), "currencyCode")
    max_price = None
    if "maxPrice" in params:
        if not _PRICE_RE.match(params["maxPrice"]) or int(params["maxPrice"]) < 1:
            raise _bad_format("maxPrice", "maxPrice must be a positive whole number")
        max_price = int(params["maxPrice"])
    max_offers = _count(params, "max", 1, MAX_OFFERS, MAX_OFFERS)

    if origin == destination:
        raise _bad_data("destinationLocationCode", "Origin and destination must differ")
    if returning is not None and returning < departure:
        raise _bad_date("returnDate", "returnDate must not be before departureDate")
    if included and excluded:
        raise _param_error(
            CODE_PARAMETER_COMBINATION,
            "PARAMETER COMBINATION INVALID/RESTRICTED",
            "includedAirlineCodes and excludedAirlineCodes cannot be used together",
            "excludedAirlineCodes",
        )
    if adults + children > 9:
        raise _bad_data("adults", "At most 9 seated travelers (adults and children)")
    if infants > adults:
        raise _bad_data("infants", "At most one infant per adult")

    travelers = [Traveler(str(n + 1), "ADULT") for n in range(adults)]
    travelers += [Traveler(str(adults + n + 1), "CHILD") for n in range(children)]
    travelers += [
        Traveler(str(adults + children + n + 1), "HELD_INFANT", str(n + 1)) for n in range(infants)
    ]
    legs = [LegQuery(origin, destination, departure, cabin)]
    if returning is not None:
        legs.append(LegQuery(destination, origin, returning, cabin))
    return SearchQuery(
        legs=tuple(legs),
        travelers=tuple(travelers),
        currency=currency,
        non_stop=non_stop == "true",
        included_carriers=included,
        excluded_carriers=excluded,
        max_price=max_price,
        max_offers=max_offers,
    )


def _location(value: str, parameter: str) -> str:
    if not _LOCATION_RE.match(value):
        raise _bad_format(parameter, "Location codes are 3 capital letters (IATA)")
    return value


def _date(value: str, parameter: str, today: date) -> date:
    day = iso_date(value)
    if day is None:
        raise _bad_format(parameter, "Dates are YYYY-MM-DD")
    if day < today:
        raise _bad_date(parameter, "Date/Time is in the past")
    if day.year > _LAST_YEAR:
        raise _bad_data(parameter, "Date is too far in the future")
    return day


def _count(params: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    if name not in params:
        return default
    value = params[name]
    if not _COUNT_RE.match(value):
        raise _bad_format(name, f"{name} must be a whole number")
    if not low <= int(value) <= high:
        raise _bad_data(name, f"{name} must be between {low} and {high}")
    return int(value)


def _airlines(params: Mapping[str, str], name: str) -> frozenset[str]:
    if name not in params:
        return frozenset()
    codes = params[name].split(",")
    if not all(_AIRLINE_RE.match(code) for code in codes):
        raise _bad_format(name, "Airline codes are 2-character IATA codes, comma-separated")
    return frozenset(codes)


def _currency(value: str, parameter: str) -> str:
    if not _CURRENCY_RE.match(value):
        raise _bad_format(parameter, "Currency codes are 3 capital letters (ISO 4217)")
    if value not in CURRENCIES:
        raise _bad_data(parameter, f"Unsupported currency; use one of {', '.join(CURRENCIES)}")
    return value


# -- POST body -------------------------------------------------------------------------


def _pointer_date(text: str, pointer: str, today: date) -> date:
    day = iso_date(text)
    if day is None:
        raise invalid_format("Dates are YYYY-MM-DD", pointer)
    if day < today:
        raise ApiError(
            400, CODE_INVALID_DATE, "INVALID DATE", "Date/Time is in the past", pointer=pointer
        )
    if day.year > _LAST_YEAR:
        raise invalid_data("Date is too far in the future", pointer)
    return day


def _pointer_location(parent: dict[str, Any], name: str, pointer: str) -> str:
    value = required_string(parent, name, pointer)
    if not _LOCATION_RE.match(value):
        raise invalid_format("Location codes are 3 capital letters (IATA)", f"{pointer}/{name}")
    return value


def parse_search_body(raw: Any, now: datetime) -> SearchQuery:
    root = obj(raw, "")
    currency = string(root, "currencyCode", "", required=False) or "EUR"
    if not _CURRENCY_RE.match(currency):
        raise invalid_format("Currency codes are 3 capital letters (ISO 4217)", "/currencyCode")
    if currency not in CURRENCIES:
        raise invalid_data(
            f"Unsupported currency; use one of {', '.join(CURRENCIES)}", "/currencyCode"
        )

    raw_legs = array(root, "originDestinations", "")
    if len(raw_legs) > MAX_LEGS:
        raise invalid_data(f"At most {MAX_LEGS} originDestinations", "/originDestinations")
    leg_ids: list[str] = []
    legs: list[LegQuery] = []
    for n, raw_leg in enumerate(raw_legs):
        where = f"/originDestinations[{n}]"
        leg = obj(raw_leg, where)
        leg_ids.append(required_string(leg, "id", where))
        origin = _pointer_location(leg, "originLocationCode", where)
        destination = _pointer_location(leg, "destinationLocationCode", where)
        window = obj(field(leg, "departureDateTimeRange", where), f"{where}/departureDateTimeRange")
        day = _pointer_date(
            required_string(window, "date", f"{where}/departureDateTimeRange"),
            f"{where}/departureDateTimeRange/date",
            local_today(origin, now),
        )
        if origin == destination:
            raise invalid_data(
                "Origin and destination must differ", f"{where}/destinationLocationCode"
            )
        legs.append(LegQuery(origin, destination, day))
    if len(set(leg_ids)) != len(leg_ids):
        raise invalid_data("originDestinations ids must be unique", "/originDestinations")

    travelers = []
    for n, raw_traveler in enumerate(array(root, "travelers", "")):
        where = f"/travelers[{n}]"
        traveler = obj(raw_traveler, where)
        traveler_id = required_string(traveler, "id", where)
        kind = required_string(traveler, "travelerType", where)
        if kind not in ("ADULT", "CHILD", "HELD_INFANT"):
            raise invalid_data(
                "The stand-in supports ADULT, CHILD and HELD_INFANT travelers",
                f"{where}/travelerType",
            )
        adult = string(traveler, "associatedAdultId", where, required=False)
        if kind == "HELD_INFANT" and adult is None:
            raise missing(f"{where}/associatedAdultId")
        travelers.append(Traveler(traveler_id, kind, adult if kind == "HELD_INFANT" else None))
    check_travelers(travelers, "/travelers")

    sources = array(root, "sources", "")
    if not all(isinstance(s, str) for s in sources) or "GDS" not in sources:
        raise invalid_data('sources must include "GDS"', "/sources")

    criteria = obj(root.get("searchCriteria") or {}, "/searchCriteria")
    max_offers = integer(criteria, "maxFlightOffers", "/searchCriteria", required=False)
    if max_offers is None:
        max_offers = MAX_OFFERS
    elif not 1 <= max_offers <= MAX_OFFERS:
        raise invalid_data(
            f"maxFlightOffers must be between 1 and {MAX_OFFERS}", "/searchCriteria/maxFlightOffers"
        )
    max_price = integer(criteria, "maxPrice", "/searchCriteria", required=False)
    if max_price is not None and max_price < 1:
        raise invalid_data("maxPrice must be positive", "/searchCriteria/maxPrice")
    filters = obj(criteria.get("flightFilters") or {}, "/searchCriteria/flightFilters")
    where = "/searchCriteria/flightFilters"
    legs = _apply_cabins(filters, where, legs, leg_ids)
    included, excluded = _carrier_restrictions(filters, where)
    non_stop = False
    connections = obj(filters.get("connectionRestriction") or {}, f"{where}/connectionRestriction")
    most = integer(
        connections, "maxNumberOfConnections", f"{where}/connectionRestriction", required=False
    )
    if most is not None:
        if not 0 <= most <= 2:
            raise invalid_data(
                "maxNumberOfConnections must be between 0 and 2",
                f"{where}/connectionRestriction/maxNumberOfConnections",
            )
        non_stop = most == 0
    return SearchQuery(
        legs=tuple(legs),
        travelers=tuple(travelers),
        currency=currency,
        non_stop=non_stop,
        included_carriers=included,
        excluded_carriers=excluded,
        max_price=max_price,
        max_offers=max_offers,
    )


def _apply_cabins(
    filters: dict[str, Any], pointer: str, legs: list[LegQuery], leg_ids: list[str]
) -> list[LegQuery]:
    cabins: dict[str, str] = {}
    restrictions = array(filters, "cabinRestrictions", pointer, required=False, minimum=0)
    for n, raw in enumerate(restrictions):
        where = f"{pointer}/cabinRestrictions[{n}]"
        restriction = obj(raw, where)
        cabin = required_string(restriction, "cabin", where)
        if cabin not in CABINS:
            raise invalid_data(f"cabin must be one of {', '.join(CABINS)}", f"{where}/cabin")
        coverage = string(restriction, "coverage", where, required=False)
        if coverage is not None and coverage not in _CABIN_COVERAGES:
            raise invalid_data(
                f"coverage must be one of {', '.join(_CABIN_COVERAGES)}", f"{where}/coverage"
            )
        targets = array(restriction, "originDestinationIds", where)
        for target in targets:
            if target not in leg_ids:
                raise invalid_data(
                    f"Unknown originDestination id {target!r}", f"{where}/originDestinationIds"
                )
            cabins[target] = cabin
    return [
        LegQuery(leg.origin, leg.destination, leg.date, cabins.get(leg_id))
        for leg, leg_id in zip(legs, leg_ids, strict=True)
    ]


def _carrier_restrictions(
    filters: dict[str, Any], pointer: str
) -> tuple[frozenset[str], frozenset[str]]:
    where = f"{pointer}/carrierRestrictions"
    restrictions = obj(filters.get("carrierRestrictions") or {}, where)
    found = []
    for name in ("includedCarrierCodes", "excludedCarrierCodes"):
        codes = array(restrictions, name, where, required=False, minimum=0)
        if not all(isinstance(c, str) and _AIRLINE_RE.match(c) for c in codes):
            raise invalid_format("Airline codes are 2-character IATA codes", f"{where}/{name}")
        found.append(frozenset(codes))
    if found[0] and found[1]:
        raise ApiError(
            400,
            CODE_PARAMETER_COMBINATION,
            "PARAMETER COMBINATION INVALID/RESTRICTED",
            "includedCarrierCodes and excludedCarrierCodes cannot be used together",
            pointer=where,
        )
    return found[0], found[1]
