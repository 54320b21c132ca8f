"""Static facts the flight inventory is built from: airports, carriers, aircraft, currencies.

Airports carry their IANA time zone name (reported to clients) and the UTC offset and
daylight-saving rule of that zone, hard-coded here so that local times are identical on
every machine, with or without the system time zone database (slim container images ship
without it). The rules are the ones in force since 2007: the EU switches on the last
Sundays of March and October at 01:00 UTC; the US and Canada on the second Sunday of
March and the first Sunday of November at 02:00 local time; Dubai and Singapore never.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal, NamedTuple

Region = Literal["EU", "NA", "ME", "AS"]
DstRule = Literal["EU", "NA"] | None


class Airport(NamedTuple):
    iata: str
    name: str
    city_code: str
    country_code: str
    time_zone: str
    latitude: float
    longitude: float
    region: Region
    terminals: tuple[str, ...]


class Carrier(NamedTuple):
    code: str
    name: str
    hubs: tuple[str, ...]
    region: Region
    # Long-haul destinations flown from the hubs (besides the carrier's own region).
    long_haul: tuple[str, ...]
    # Widebody types in the fleet, most common first.
    widebodies: tuple[str, ...] = ("333", "359", "789")


# fmt: off
AIRPORTS: Final = (
    Airport("LHR", "HEATHROW", "LON", "GB", "Europe/London", 51.4700, -0.4543, "EU",
            ("2", "3", "5")),
    Airport("CDG", "CHARLES DE GAULLE", "PAR", "FR", "Europe/Paris", 49.0097, 2.5479, "EU",
            ("1", "2E", "2F")),
    Airport("FRA", "FRANKFURT INTL", "FRA", "DE", "Europe/Berlin", 50.0379, 8.5622, "EU",
            ("1", "2")),
    Airport("AMS", "SCHIPHOL", "AMS", "NL", "Europe/Amsterdam", 52.3105, 4.7683, "EU", ()),
    Airport("MAD", "ADOLFO SUAREZ BARAJAS", "MAD", "ES", "Europe/Madrid", 40.4983, -3.5676,
            "EU", ("1", "2", "4", "4S")),
    Airport("BCN", "EL PRAT", "BCN", "ES", "Europe/Madrid", 41.2974, 2.0833, "EU", ("1", "2")),
    Airport("FCO", "FIUMICINO", "ROM", "IT", "Europe/Rome", 41.8003, 12.2389, "EU", ("1", "3")),
    Airport("MUC", "MUNICH INTERNATIONAL", "MUC", "DE", "Europe/Berlin", 48.3537, 11.7750,
            "EU", ("1", "2")),
    Airport("ZRH", "ZURICH", "ZRH", "CH", "Europe/Zurich", 47.4582, 8.5555, "EU", ("1", "2")),
    Airport("VIE", "VIENNA INTL", "VIE", "AT", "Europe/Vienna", 48.1103, 16.5697, "EU",
            ("1", "3")),
    Airport("DUB", "DUBLIN", "DUB", "IE", "Europe/Dublin", 53.4264, -6.2499, "EU", ("1", "2")),
    Airport("CPH", "KASTRUP", "CPH", "DK", "Europe/Copenhagen", 55.6180, 12.6508, "EU",
            ("2", "3")),
    Airport("OSL", "GARDERMOEN", "OSL", "NO", "Europe/Oslo", 60.1976, 11.1004, "EU", ()),
    Airport("ARN", "ARLANDA", "STO", "SE", "Europe/Stockholm", 59.6498, 17.9238, "EU",
            ("2", "5")),
    Airport("HEL", "HELSINKI VANTAA", "HEL", "FI", "Europe/Helsinki", 60.3172, 24.9633, "EU",
            ("2",)),
    Airport("LIS", "HUMBERTO DELGADO", "LIS", "PT", "Europe/Lisbon", 38.7742, -9.1342, "EU",
            ("1", "2")),
    Airport("BRU", "BRUSSELS AIRPORT", "BRU", "BE", "Europe/Brussels", 50.9014, 4.4844, "EU",
            ()),
    Airport("JFK", "JOHN F KENNEDY INTL", "NYC", "US", "America/New_York", 40.6413, -73.7781,
            "NA", ("1", "4", "7", "8")),
    Airport("BOS", "LOGAN INTL", "BOS", "US", "America/New_York", 42.3656, -71.0096, "NA",
            ("A", "B", "C", "E")),
    Airport("ORD", "O HARE INTERNATIONAL", "CHI", "US", "America/Chicago", 41.9742, -87.9073,
            "NA", ("1", "2", "3", "5")),
    Airport("LAX", "LOS ANGELES INTL", "LAX", "US", "America/Los_Angeles", 33.9416,
            -118.4085, "NA", ("4", "5", "7", "B")),
    Airport("SFO", "SAN FRANCISCO INTL", "SFO", "US", "America/Los_Angeles", 37.6213,
            -122.3790, "NA", ("1", "2", "3", "I")),
    Airport("YYZ", "LESTER B PEARSON INTL", "YTO", "CA", "America/Toronto", 43.6777, -79.6248,
            "NA", ("1", "3")),
    Airport("DXB", "DUBAI INTERNATIONAL", "DXB", "AE", "Asia/Dubai", 25.2532, 55.3657, "ME",
            ("1", "3")),
    Airport("SIN", "CHANGI", "SIN", "SG", "Asia/Singapore", 1.3644, 103.9915, "AS",
            ("1", "2", "3")),
)
AIRPORTS_BY_CODE: Final = {a.iata: a for a in AIRPORTS}

_NA_GATEWAYS: Final = ("JFK", "BOS", "ORD", "LAX", "SFO", "YYZ")

CARRIERS: Final = (
    Carrier("BA", "BRITISH AIRWAYS", ("LHR",), "EU", (*_NA_GATEWAYS, "DXB", "SIN"),
            ("77W", "789", "388")),
    Carrier("AF", "AIR FRANCE", ("CDG",), "EU", (*_NA_GATEWAYS, "DXB", "SIN"),
            ("77W", "359", "332")),
    Carrier("LH", "LUFTHANSA", ("FRA", "MUC"), "EU", (*_NA_GATEWAYS, "DXB", "SIN"),
            ("388", "359", "333")),
    Carrier("KL", "KLM ROYAL DUTCH AIRLINES", ("AMS",), "EU", (*_NA_GATEWAYS, "DXB", "SIN"),
            ("77W", "789", "333")),
    Carrier("IB", "IBERIA", ("MAD",), "EU", ("JFK", "BOS", "ORD", "LAX"), ("359", "332")),
    Carrier("AZ", "ITA AIRWAYS", ("FCO",), "EU", ("JFK", "BOS", "LAX"), ("359", "333")),
    Carrier("LX", "SWISS INTERNATIONAL AIR LINES", ("ZRH",), "EU",
            (*_NA_GATEWAYS, "DXB", "SIN"), ("77W", "333")),
    Carrier("OS", "AUSTRIAN AIRLINES", ("VIE",), "EU", ("JFK", "ORD", "YYZ"), ("789", "763")),
    Carrier("EI", "AER LINGUS", ("DUB",), "EU", _NA_GATEWAYS, ("333", "32Q")),
    Carrier("SK", "SAS", ("CPH", "OSL", "ARN"), "EU", ("JFK", "ORD", "LAX", "SFO"),
            ("333", "359")),
    Carrier("AY", "FINNAIR", ("HEL",), "EU", ("JFK", "ORD", "LAX", "DXB", "SIN"),
            ("359", "333")),
    Carrier("TP", "TAP PORTUGAL", ("LIS",), "EU", ("JFK", "BOS", "ORD", "SFO", "YYZ"),
            ("339", "32Q")),
    Carrier("SN", "BRUSSELS AIRLINES", ("BRU",), "EU", ("JFK", "YYZ"), ("333",)),
    Carrier("AA", "AMERICAN AIRLINES", ("JFK", "ORD"), "NA",
            ("LHR", "CDG", "FRA", "MAD", "BCN", "FCO", "MUC", "ZRH", "DUB", "LIS"),
            ("77W", "789", "772")),
    Carrier("UA", "UNITED AIRLINES", ("SFO", "ORD"), "NA",
            ("LHR", "CDG", "FRA", "MUC", "ZRH", "AMS", "BRU", "CPH", "DUB", "LIS", "SIN"),
            ("789", "772", "77W")),
    Carrier("AC", "AIR CANADA", ("YYZ",), "NA",
            ("LHR", "CDG", "FRA", "MUC", "ZRH", "DUB", "LIS", "BCN", "MAD", "FCO", "VIE",
             "CPH", "AMS", "BRU"),
            ("789", "77W", "333")),
    Carrier("EK", "EMIRATES", ("DXB",), "ME",
            tuple(a.iata for a in AIRPORTS if a.iata != "DXB"), ("388", "77W")),
    Carrier("SQ", "SINGAPORE AIRLINES", ("SIN",), "AS",
            ("LHR", "CDG", "FRA", "MUC", "ZRH", "AMS", "CPH", "BCN", "FCO", "JFK", "LAX",
             "SFO"),
            ("359", "388", "77W")),
)
# fmt: on
CARRIERS_BY_CODE: Final = {c.code: c for c in CARRIERS}
# Carriers that sell a FIRST cabin on their largest widebodies.
FIRST_CLASS_CARRIERS: Final = frozenset({"BA", "AF", "LH", "LX", "AA", "EK", "SQ"})
FIRST_CLASS_AIRCRAFT: Final = frozenset({"388", "77W"})

# Narrowbody types by region, most common first.
NARROWBODIES: Final[dict[Region, tuple[str, ...]]] = {
    "EU": ("320", "32N", "321", "319", "E90", "223"),
    "NA": ("321", "73H", "7M8", "32Q"),
    "ME": ("73H",),
    "AS": ("32N",),
}

AIRCRAFT: Final = {
    "223": "AIRBUS A220-300",
    "319": "AIRBUS A319",
    "320": "AIRBUS A320",
    "32N": "AIRBUS A320NEO",
    "321": "AIRBUS A321",
    "32Q": "AIRBUS A321NEO",
    "332": "AIRBUS A330-200",
    "333": "AIRBUS A330-300",
    "339": "AIRBUS A330-900NEO",
    "359": "AIRBUS A350-900",
    "388": "AIRBUS A380-800",
    "73H": "BOEING 737-800",
    "7M8": "BOEING 737 MAX 8",
    "763": "BOEING 767-300",
    "772": "BOEING 777-200",
    "77W": "BOEING 777-300ER",
    "789": "BOEING 787-9",
    "E90": "EMBRAER 190",
}

CABINS: Final = ("ECONOMY", "PREMIUM_ECONOMY", "BUSINESS", "FIRST")
BOOKING_CLASS: Final = {"ECONOMY": "Y", "PREMIUM_ECONOMY": "W", "BUSINESS": "J", "FIRST": "F"}

# Units of each currency per euro. Prices are computed in euro cents and converted per
# fare component, so every total stays an exact sum of its parts.
CURRENCIES: Final = {
    "EUR": ("EURO", Decimal("1")),
    "USD": ("US DOLLAR", Decimal("1.08")),
    "GBP": ("POUND STERLING", Decimal("0.85")),
    "CHF": ("SWISS FRANC", Decimal("0.94")),
    "SEK": ("SWEDISH KRONA", Decimal("11.20")),
    "NOK": ("NORWEGIAN KRONE", Decimal("11.60")),
    "DKK": ("DANISH KRONE", Decimal("7.46")),
    "CAD": ("CANADIAN DOLLAR", Decimal("1.48")),
    "AED": ("UAE DIRHAM", Decimal("3.97")),
    "SGD": ("SINGAPORE DOLLAR", Decimal("1.45")),
}

# Standard UTC offset (minutes) and DST rule of every time zone the airports use.
TIME_ZONES: Final[dict[str, tuple[int, DstRule]]] = {
    "Europe/London": (0, "EU"),
    "Europe/Dublin": (0, "EU"),
    "Europe/Lisbon": (0, "EU"),
    "Europe/Paris": (60, "EU"),
    "Europe/Berlin": (60, "EU"),
    "Europe/Amsterdam": (60, "EU"),
    "Europe/Madrid": (60, "EU"),
    "Europe/Rome": (60, "EU"),
    "Europe/Zurich": (60, "EU"),
    "Europe/Vienna": (60, "EU"),
    "Europe/Copenhagen": (60, "EU"),
    "Europe/Oslo": (60, "EU"),
    "Europe/Stockholm": (60, "EU"),
    "Europe/Brussels": (60, "EU"),
    "Europe/Helsinki": (120, "EU"),
    "America/New_York": (-300, "NA"),
    "America/Toronto": (-300, "NA"),
    "America/Chicago": (-360, "NA"),
    "America/Los_Angeles": (-480, "NA"),
    "Asia/Dubai": (240, None),
    "Asia/Singapore": (480, None),
}


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _last_sunday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def utc_offset_minutes(time_zone: str, utc: datetime) -> int:
    """Offset from UTC in ``time_zone`` at the naive UTC instant ``utc``."""
    standard, rule = TIME_ZONES[time_zone]
    if rule is None:
        return standard
    year = utc.year
    if rule == "EU":
        start = datetime.combine(_last_sunday(year, 3), datetime.min.time()) + timedelta(hours=1)
        end = datetime.combine(_last_sunday(year, 10), datetime.min.time()) + timedelta(hours=1)
    else:
        start = datetime.combine(_nth_sunday(year, 3, 2), datetime.min.time()) + timedelta(
            hours=2, minutes=-standard
        )
        end = datetime.combine(_nth_sunday(year, 11, 1), datetime.min.time()) + timedelta(
            hours=2, minutes=-standard - 60
        )
    return standard + 60 if start <= utc < end else standard


def local_to_utc(time_zone: str, local: datetime) -> datetime:
    """The UTC instant of a naive local wall time; the earlier one when the wall time is
    ambiguous, as if it were in standard time when it falls in a spring-forward gap
    (the same choices as ``zoneinfo`` with ``fold=0``)."""
    standard, rule = TIME_ZONES[time_zone]
    for offset in (standard + 60, standard) if rule else (standard,):
        utc = local - timedelta(minutes=offset)
        if utc_offset_minutes(time_zone, utc) == offset:
            return utc
    return local - timedelta(minutes=standard)


def utc_to_local(time_zone: str, utc: datetime) -> datetime:
    return utc + timedelta(minutes=utc_offset_minutes(time_zone, utc))


def local_today(iata: str, utc_now: datetime) -> date:
    """Today's date at an airport; for an unknown code, the earliest date anywhere on
    Earth (UTC-12), so that no date is called past while it is still today somewhere."""
    airport = AIRPORTS_BY_CODE.get(iata)
    if airport is None:
        return (utc_now - timedelta(hours=12)).date()
    return utc_to_local(airport.time_zone, utc_now).date()


def distance_km(a: Airport, b: Airport) -> int:
    """Great-circle distance, rounded to whole kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return round(2 * 6371.0 * math.asin(math.sqrt(h)))
