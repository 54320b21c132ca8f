"""The seeded inventory on its own: network, schedules, time zones, determinism, seed."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from provider_sim.inventory import (
    MAX_CONNECTION,
    MIN_CONNECTION,
    Inventory,
    inventory_for_seed,
)
from provider_sim.settings import SettingsError, load_settings
from provider_sim.state import SimState
from provider_sim.world import AIRPORTS, CARRIERS, TIME_ZONES, local_to_utc, utc_to_local

REPO_ROOT = Path(__file__).resolve().parents[3]
CODES = [a.iata for a in AIRPORTS]
DAY = date(2027, 3, 10)
INVENTORY = inventory_for_seed(7)


def fingerprint(inventory: Inventory, days: list[date]) -> str:
    """A digest of schedules, seats and fares on some routes and days."""
    rows = []
    for day in days:
        for origin, destination in [("LHR", "JFK"), ("BCN", "BOS"), ("CDG", "FRA"), ("SIN", "ZRH")]:
            for itinerary in inventory.itineraries(origin, destination, day):
                for flight in itinerary:
                    rows.append(
                        [
                            flight.carrier,
                            flight.number,
                            flight.departure.isoformat(),
                            flight.arrival.isoformat(),
                            [inventory.initial_seats(flight, c) for c in flight.service.cabins],
                            [inventory.base_fare_cents(flight, c) for c in flight.service.cabins],
                        ]
                    )
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_the_world_is_about_the_requested_size() -> None:
    assert len(AIRPORTS) == 25 and len(set(CODES)) == 25
    assert len(CARRIERS) >= 10
    assert {a.time_zone for a in AIRPORTS} <= set(TIME_ZONES)


def test_identical_in_another_process_with_another_hash_seed() -> None:
    days = [DAY, date(2026, 10, 25), date(2031, 1, 1)]
    script = "\n".join(
        [
            "import datetime, hashlib, json",
            "from datetime import date",
            "from provider_sim.inventory import Inventory",
            inspect.getsource(fingerprint),
            f"print(fingerprint(Inventory(7), {days!r}))",
        ]
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == fingerprint(Inventory(7), days)


def test_the_seed_changes_the_inventory() -> None:
    assert fingerprint(Inventory(8), [DAY]) != fingerprint(INVENTORY, [DAY])
    assert fingerprint(Inventory(7), [DAY]) == fingerprint(INVENTORY, [DAY])
    assert inventory_for_seed(7) is INVENTORY


def test_routes_are_symmetric_and_every_airport_is_served() -> None:
    routes = set(INVENTORY.routes())
    assert all((d, o) in routes for o, d in routes)
    assert {o for o, _ in routes} == set(CODES)
    for origin, destination in routes:
        assert INVENTORY.route_carriers(origin, destination) == INVENTORY.route_carriers(
            destination, origin
        )


def test_flight_numbers_identify_one_flight() -> None:
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for origin, destination in INVENTORY.routes():
        for flight in INVENTORY.flights(origin, destination, DAY):
            key = (flight.carrier, flight.number)
            assert seen.setdefault(key, (origin, destination)) == (origin, destination)
            assert INVENTORY.flight(flight.carrier, flight.number, DAY) == flight
            assert flight.departure.date() == DAY
            assert "ECONOMY" in flight.service.cabins and "BUSINESS" in flight.service.cabins


def test_every_pair_of_airports_can_be_flown() -> None:
    for origin in CODES:
        for destination in CODES:
            if origin == destination:
                continue
            itineraries = INVENTORY.itineraries(origin, destination, DAY)
            assert itineraries, (origin, destination)
            direct = INVENTORY.has_direct(origin, destination)
            assert all(len(it) == (1 if direct else 2) for it in itineraries)
            assert INVENTORY.itineraries(origin, destination, DAY, max_connections=0) == (
                itineraries if direct else []
            )
            for first, *rest in itineraries:
                assert first.origin == origin and first.departure.date() == DAY
                for second in rest:
                    assert second.origin == first.destination
                    assert second.departure_utc - first.arrival_utc >= MIN_CONNECTION
                    assert second.departure_utc - first.arrival_utc <= MAX_CONNECTION
                    assert second.destination == destination


def test_unknown_airports_have_no_flights() -> None:
    assert INVENTORY.itineraries("XXX", "LHR", DAY) == []
    assert INVENTORY.itineraries("LHR", "XXX", DAY) == []
    assert INVENTORY.flight("BA", "1", DAY) is None


def test_seats_and_fares_are_plausible() -> None:
    for origin, destination in [("LHR", "JFK"), ("CDG", "FRA"), ("SIN", "LHR")]:
        for offset in range(20):
            for flight in INVENTORY.flights(origin, destination, DAY + timedelta(offset)):
                fares = [INVENTORY.base_fare_cents(flight, c) for c in flight.service.cabins]
                assert fares == sorted(set(fares))  # a higher cabin always costs more
                assert fares[0] > 2000
                seats = [INVENTORY.initial_seats(flight, c) for c in flight.service.cabins]
                assert all(0 <= n <= 90 for n in seats)


# -- time zones --------------------------------------------------------------------------


def _moments() -> list[datetime]:
    """Every 13 hours over two years, and every 30 minutes around each DST change."""
    start = datetime(2026, 1, 1)
    moments = [start + timedelta(hours=13 * k) for k in range(2 * 365 * 24 // 13)]
    for year in (2026, 2027):
        for month, day in ((3, 8), (3, 25), (10, 25), (11, 1)):
            sunday = date(year, month, day)
            sunday += timedelta(days=(6 - sunday.weekday()) % 7)
            # Sunday 00:00 UTC - 3 h to 12:00 UTC: covers the EU change (01:00 UTC), the
            # North American ones (06:00-10:00 UTC) and the local wall times around them.
            around = datetime.combine(sunday, datetime.min.time()) - timedelta(hours=3)
            moments += [around + timedelta(minutes=30 * k) for k in range(30)]
    return moments


def test_hard_coded_time_zone_rules_match_the_tz_database() -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        zones = {name: zoneinfo.ZoneInfo(name) for name in TIME_ZONES}
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no time zone database on this machine")
    utc = zoneinfo.ZoneInfo("UTC")
    moments = _moments()
    for name, zone in zones.items():
        for moment in moments:
            expected = moment.replace(tzinfo=utc).astimezone(zone).replace(tzinfo=None)
            assert utc_to_local(name, moment) == expected, (name, moment)
            expected_utc = moment.replace(tzinfo=zone).astimezone(utc).replace(tzinfo=None)
            assert local_to_utc(name, moment) == expected_utc, (name, moment)


def test_local_times_move_with_daylight_saving() -> None:
    # Between the EU (last Sunday of October) and the US (first Sunday of November)
    # changes, London is 4 hours ahead of New York instead of 5.
    before, between = date(2026, 10, 20), date(2026, 10, 28)
    for day, gap in ((before, 5), (between, 4)):
        for flight in INVENTORY.flights("LHR", "JFK", day):
            local = flight.arrival - flight.departure
            assert flight.arrival_utc - flight.departure_utc - local == timedelta(hours=gap)


# -- configuration -----------------------------------------------------------------------


def test_seed_from_flag_environment_or_default() -> None:
    environ = {"SIM_CLIENTS": "a:b"}
    assert load_settings([], environ).inventory_seed == 7
    assert load_settings([], environ | {"SIM_INVENTORY_SEED": "11"}).inventory_seed == 11
    flagged = load_settings(["--inventory-seed", "3"], environ | {"SIM_INVENTORY_SEED": "11"})
    assert flagged.inventory_seed == 3
    with pytest.raises(SettingsError):
        load_settings([], environ | {"SIM_INVENTORY_SEED": "seven"})


def test_state_uses_the_seeded_inventory() -> None:
    state = SimState({"a": "b"}, inventory_seed=8)
    assert state.inventory.seed == 8
    assert state.inventory is inventory_for_seed(8)
