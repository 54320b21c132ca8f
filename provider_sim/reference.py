"""``GET /v1/reference-data/airlines``: Amadeus' airline code lookup, from a small table.

The cheapest real protected endpoint, so tests of token handling have something to call.
``airlineCodes`` is a comma-separated list of IATA (2 characters) or ICAO (3 characters)
codes; unknown codes are simply absent from ``data``, as with the real service.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

from aiohttp import web

from provider_sim.bearer import require_bearer
from provider_sim.errors import (
    API_CONTENT_TYPE,
    CODE_INVALID_FORMAT,
    CODE_MANDATORY_DATA_MISSING,
    api_error,
    json_response,
)

AIRLINES_PATH: Final = "/v1/reference-data/airlines"
_CODE_RE: Final = re.compile(r"^[A-Z0-9]{2,3}$")


class Airline(NamedTuple):
    iata: str
    icao: str
    business_name: str
    common_name: str


AIRLINES: Final = (
    Airline("AA", "AAL", "AMERICAN AIRLINES", "AMERICAN AIRLINES"),
    Airline("AC", "ACA", "AIR CANADA", "AIR CANADA"),
    Airline("AF", "AFR", "AIR FRANCE", "AIRFRANCE"),
    Airline("AY", "FIN", "FINNAIR", "FINNAIR"),
    Airline("AZ", "ITY", "ITA AIRWAYS", "ITA AIRWAYS"),
    Airline("BA", "BAW", "BRITISH AIRWAYS", "BRITISH A/W"),
    Airline("CX", "CPA", "CATHAY PACIFIC", "CATHAY PACIFIC"),
    Airline("DL", "DAL", "DELTA AIR LINES", "DELTA AIR LINES"),
    Airline("EI", "EIN", "AER LINGUS", "AER LINGUS"),
    Airline("EK", "UAE", "EMIRATES", "EMIRATES"),
    Airline("FR", "RYR", "RYANAIR", "RYANAIR"),
    Airline("IB", "IBE", "IBERIA", "IBERIA"),
    Airline("JL", "JAL", "JAPAN AIRLINES", "JAPAN AIRLINES"),
    Airline("KL", "KLM", "KLM ROYAL DUTCH AIRLINES", "KLM"),
    Airline("LH", "DLH", "LUFTHANSA", "LUFTHANSA"),
    Airline("LX", "SWR", "SWISS INTERNATIONAL AIR LINES", "SWISS"),
    Airline("NH", "ANA", "ALL NIPPON AIRWAYS", "ALL NIPPON"),
    Airline("OS", "AUA", "AUSTRIAN AIRLINES", "AUSTRIAN"),
    Airline("QF", "QFA", "QANTAS AIRWAYS", "QANTAS"),
    Airline("QR", "QTR", "QATAR AIRWAYS", "QATAR AIRWAYS"),
    Airline("SK", "SAS", "SCANDINAVIAN AIRLINES", "SAS"),
    Airline("SN", "BEL", "BRUSSELS AIRLINES", "BRUSSELS AIRLINES"),
    Airline("SQ", "SIA", "SINGAPORE AIRLINES", "SINGAPORE"),
    Airline("TK", "THY", "TURKISH AIRLINES", "TURKISH AIRLINES"),
    Airline("TP", "TAP", "TAP PORTUGAL", "TAP PORTUGAL"),
    Airline("U2", "EZY", "EASYJET", "EASYJET"),
    Airline("UA", "UAL", "UNITED AIRLINES", "UNITED AIRLINES"),
)
_BY_CODE: Final = {a.iata: a for a in AIRLINES} | {a.icao: a for a in AIRLINES}


@require_bearer
async def airlines(request: web.Request) -> web.Response:
    raw = request.query.get("airlineCodes", "").strip()
    if not raw:
        return api_error(
            400,
            CODE_MANDATORY_DATA_MISSING,
            "MANDATORY DATA MISSING",
            "This attribute is required",
            parameter="airlineCodes",
        )
    codes = [code.strip().upper() for code in raw.split(",")]
    if not all(_CODE_RE.match(code) for code in codes):
        return api_error(
            400,
            CODE_INVALID_FORMAT,
            "INVALID FORMAT",
            "Airline codes must be 2 (IATA) or 3 (ICAO) letters or digits",
            parameter="airlineCodes",
        )
    data = [_airline_json(airline) for airline in lookup_airlines(codes)]
    body = {"meta": {"count": len(data), "links": {"self": str(request.url)}}, "data": data}
    return json_response(body, 200, API_CONTENT_TYPE)


def lookup_airlines(codes: list[str]) -> list[Airline]:
    """Known airlines for the given codes, in request order, each once (an airline asked
    for by both its IATA and ICAO code appears once)."""
    found = (_BY_CODE[code] for code in codes if code in _BY_CODE)
    return list(dict.fromkeys(found))


def _airline_json(airline: Airline) -> dict[str, Any]:
    return {
        "type": "airline",
        "iataCode": airline.iata,
        "icaoCode": airline.icao,
        "businessName": airline.business_name,
        "commonName": airline.common_name,
    }
