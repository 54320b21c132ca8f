"""A hotel stay's rules, shared by search (SearchHotels) and tracking (hotel trackers):
check-in and check-out dates, rooms and their guests, the board types. Each check
reports through ``add(field, description)`` with the field named under ``prefix``
(``check_out_date``, ``rooms[1].children_ages[0]``), so both services name the same
fields with the same words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta

from services.generated.skyroute.search.v1 import search_service_pb2 as pb

Report = Callable[[str, str], None]

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CITY_CODE = re.compile(r"^[A-Z]{3}$")
# A supplier hotel id: chain code, IATA city code, three characters ("HVPAR018").
HOTEL_ID = re.compile(r"^[A-Z0-9]{2}[A-Z]{3}[A-Z0-9]{3}$")
MAX_NAME_CHARS = 100
DEFAULT_RADIUS_KM = 5
MAX_RADIUS_KM = 50
MAX_NIGHTS = 30
MAX_ROOMS = 9
MAX_ADULTS = 9
MAX_CHILD_AGE = 17
MAX_CHILDREN = 8
MAX_DAYS_AHEAD = 366
BOARDS: dict[pb.BoardType, str] = {
    pb.BOARD_TYPE_ROOM_ONLY: "ROOM_ONLY",
    pb.BOARD_TYPE_BREAKFAST: "BREAKFAST",
    pb.BOARD_TYPE_HALF_BOARD: "HALF_BOARD",
    pb.BOARD_TYPE_FULL_BOARD: "FULL_BOARD",
    pb.BOARD_TYPE_ALL_INCLUSIVE: "ALL_INCLUSIVE",
}
BOARD_ENUMS = {v: k for k, v in BOARDS.items()}


def destination(
    add: Report, d: pb.HotelDestination | None, prefix: str = ""
) -> tuple[str, str, float | None, float | None, int]:
    """(city code upper-cased, city name, latitude, longitude, radius km) of a
    destination checked for shape only (the supplier knows which cities exist)."""
    if d is None:
        add(f"{prefix}destination", "is required (code, name or point)")
        return "", "", None, None, DEFAULT_RADIUS_KM
    radius = d.radius_km or DEFAULT_RADIUS_KM
    if not 1 <= radius <= MAX_RADIUS_KM:
        add(f"{prefix}destination.radius_km", f"must be between 1 and {MAX_RADIUS_KM}")
    place = d.WhichOneof("place")
    if place == "code":
        code = d.code.strip().upper()
        if not CITY_CODE.match(code):
            add(f"{prefix}destination.code", "must be a three-letter IATA city code")
        return code, "", None, None, radius
    if place == "name":
        name = " ".join(d.name.split())
        if not name:
            add(f"{prefix}destination.name", "must not be empty")
        elif len(name) > MAX_NAME_CHARS:
            add(f"{prefix}destination.name", f"longer than {MAX_NAME_CHARS} characters")
        return "", name, None, None, radius
    if place == "point":
        lat, lon = d.point.latitude, d.point.longitude
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            add(f"{prefix}destination.point.latitude", "must be between -90 and 90")
        if not (math.isfinite(lon) and -180 <= lon <= 180):
            add(f"{prefix}destination.point.longitude", "must be between -180 and 180")
        return "", "", lat, lon, radius
    add(f"{prefix}destination", "is required (code, name or point)")
    return "", "", None, None, radius


def stay_date(add: Report, name: str, raw: str) -> date | None:
    if not raw:
        add(name, "is required (YYYY-MM-DD)")
        return None
    if not ISO_DATE.match(raw):
        add(name, "must be a date as YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        add(name, "is not a valid calendar date")
        return None


def stay_dates(
    add: Report,
    check_in_raw: str,
    check_out_raw: str,
    earliest: date,
    today: date,
    prefix: str = "",
) -> tuple[date | None, date | None]:
    """Check-in not before ``earliest`` (the earliest local date anywhere, or the
    city's), at most 366 days after ``today``; check-out after it, at most 30 nights."""
    check_in = stay_date(add, f"{prefix}check_in_date", check_in_raw)
    check_out = stay_date(add, f"{prefix}check_out_date", check_out_raw)
    if check_in is not None:
        if check_in < earliest:
            add(f"{prefix}check_in_date", "is in the past")
        elif check_in > today + timedelta(days=MAX_DAYS_AHEAD):
            add(f"{prefix}check_in_date", f"is more than {MAX_DAYS_AHEAD} days ahead")
    if check_in is not None and check_out is not None:
        if check_out <= check_in:
            add(f"{prefix}check_out_date", "must be after check_in_date")
        elif (check_out - check_in).days > MAX_NIGHTS:
            add(f"{prefix}check_out_date", f"at most {MAX_NIGHTS} nights after check_in_date")
    return check_in, check_out


def occupancy(
    add: Report, rooms: Sequence[pb.RoomOccupancy], prefix: str = ""
) -> tuple[int, tuple[int, ...], int]:
    """(adults per room, children's ages sorted, rooms); no rooms is one for one adult.
    Every room must have the same guests (the supplier prices identical rooms)."""
    if not rooms:
        return 1, (), 1
    if len(rooms) > MAX_ROOMS:
        add(f"{prefix}rooms", f"at most {MAX_ROOMS} rooms")
        return 1, (), 1
    for i, room in enumerate(rooms):
        if not 1 <= room.adults <= MAX_ADULTS:
            add(f"{prefix}rooms[{i}].adults", f"must be between 1 and {MAX_ADULTS}")
        if len(room.children_ages) > MAX_CHILDREN:
            add(f"{prefix}rooms[{i}].children_ages", f"at most {MAX_CHILDREN} children per room")
        for j, age in enumerate(room.children_ages):
            if not 0 <= age <= MAX_CHILD_AGE:
                add(
                    f"{prefix}rooms[{i}].children_ages[{j}]",
                    f"must be between 0 and {MAX_CHILD_AGE}",
                )
    first = (rooms[0].adults, sorted(rooms[0].children_ages))
    for i, room in enumerate(rooms[1:], start=1):
        if (room.adults, sorted(room.children_ages)) != first:
            add(f"{prefix}rooms[{i}]", "every room must have the same guests as rooms[0]")
    return rooms[0].adults, tuple(sorted(rooms[0].children_ages)), len(rooms)


def stars_and_boards(
    add: Report, min_stars: int, board_types: Sequence[int], prefix: str = ""
) -> tuple[str, ...]:
    """Checks ``filters.min_stars`` (0 to 5) and ``filters.board_types``; the boards'
    names, sorted and without repeats."""
    if not 0 <= min_stars <= 5:
        add(f"{prefix}filters.min_stars", "must be between 0 and 5")
    boards = []
    for i, board in enumerate(board_types):
        name = BOARDS.get(board)  # type: ignore[call-overload]
        if name is None:
            add(f"{prefix}filters.board_types[{i}]", "is not a known board type")
        else:
            boards.append(name)
    return tuple(sorted(set(boards)))
