"""``/_sim/`` controls for the flight inventory, prices, seats and orders.

Same conventions as ``control``: JSON in and out, no authentication, 400
``{"error": "..."}`` for bad input (including unknown fields and flights that do not
operate on the given date). ``POST /_sim/reset`` also restores seats and prices and
forgets orders and order faults. Flights are named ``<carrier><number>`` (``BA117``)
with their local departure date (``YYYY-MM-DD``).

``GET  /_sim/inventory``
    ``{"seed", "airports": [{"iataCode", "name", "cityCode", "countryCode", "timeZone",
    "terminals"}], "carriers": [{"code", "name", "hubs"}], "routes": [{"origin",
    "destination", "carriers"}]}``: the non-stop network (every route both ways).
``GET  /_sim/flights?origin=LHR&destination=JFK&date=2026-12-01`` or ``?flight=BA117&date=``
    ``{"flights": [{"flight", "carrierCode", "number", "origin", "destination",
    "departure", "arrival", "aircraft", "cabins": {cabin: {"available": n,
    "fare": "EUR adult base fare now"}}}]}``. ``available`` is the real seat count,
    not capped at 9 like ``numberOfBookableSeats``.
``POST /_sim/price-change``
    ``{"percent": 10}``: every fare is the inventory fare shifted by that percent
    (-90..1000; 0 restores) from now on, for searches, pricing and orders alike, so an
    offer searched before is re-priced differently. Returns ``{"percent": "10"}``.
``POST /_sim/seats``
    ``{"flight": "BA117", "date": "2026-12-01", "seats": 2, "cabin": "ECONOMY"}``
    sets the seats left (all cabins of the flight when ``cabin`` is omitted).
``POST /_sim/sold-out``
    ``{"flight", "date", "cabin"?}``: the same with ``seats: 0``. Both return
    ``{"flight", "date", "seats": {cabin: n}}``.
``POST /_sim/fail-orders``
    ``{"count": N, "status": 500, "mode": "before"|"after", "delay_ms": 0}`` (status
    429|500|502|503|504, default 500; mode default "before"): the next N order
    creations fail. "before": nothing is created. "after": the order is created and
    its seats sold, then the response is the failure, after ``delay_ms`` (so a client
    timeout can fire first); the client must reconcile. Returns ``{"order_failures":
    {"remaining", "status", "mode", "delay_ms"}}``.
``GET  /_sim/orders[?remark=TEXT][&reference=PNR]``
    Live (not cancelled) orders of every client, oldest first: ``{"orders":
    [{"client_id", "id", "reference", "remarks": [text...], "data": order}]}``;
    ``remark`` keeps orders with a ``remarks.general[].text`` equal to TEXT.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from provider_sim.body import iso_date
from provider_sim.control import (
    CONTROL_PREFIX,
    BadControlInput,
    _integer,
    _json_object,
    _only,
    _rejects_bad_input,
    _required,
)
from provider_sim.inventory import Flight, Inventory
from provider_sim.keys import STATE_KEY
from provider_sim.offers import money
from provider_sim.orders import remark_texts
from provider_sim.world import AIRPORTS, CABINS, CARRIERS

_FLIGHT_RE: Final = re.compile(r"^([A-Z0-9]{2})(\d{1,4})$")


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{CONTROL_PREFIX}/inventory", inventory)
    app.router.add_get(f"{CONTROL_PREFIX}/flights", flights)
    app.router.add_post(f"{CONTROL_PREFIX}/price-change", price_change)
    app.router.add_post(f"{CONTROL_PREFIX}/seats", seats)
    app.router.add_post(f"{CONTROL_PREFIX}/sold-out", sold_out)
    app.router.add_post(f"{CONTROL_PREFIX}/fail-orders", fail_orders)
    app.router.add_get(f"{CONTROL_PREFIX}/orders", orders)


async def inventory(request: web.Request) -> web.Response:
    inv = request.app[STATE_KEY].inventory
    return web.json_response(
        {
            "seed": inv.seed,
            "airports": [
                {
                    "iataCode": a.iata,
                    "name": a.name,
                    "cityCode": a.city_code,
                    "countryCode": a.country_code,
                    "timeZone": a.time_zone,
                    "terminals": list(a.terminals),
                }
                for a in AIRPORTS
            ],
            "carriers": [{"code": c.code, "name": c.name, "hubs": list(c.hubs)} for c in CARRIERS],
            "routes": [
                {"origin": o, "destination": d, "carriers": inv.route_carriers(o, d)}
                for o, d in inv.routes()
            ],
        }
    )


@_rejects_bad_input
async def flights(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    query = request.query
    day = _date(query.get("date"))
    if "flight" in query:
        found = [_flight(state.inventory, query["flight"], day)]
    else:
        origin, destination = query.get("origin"), query.get("destination")
        if not origin or not destination:
            raise BadControlInput("give flight=, or origin= and destination=, with date=")
        found = state.inventory.flights(origin, destination, day)
    market = state.market
    listed = [
        {
            "flight": f.service.flight_number,
            "carrierCode": f.carrier,
            "number": f.number,
            "origin": f.origin,
            "destination": f.destination,
            "departure": f.departure.isoformat(),
            "arrival": f.arrival.isoformat(),
            "aircraft": f.service.aircraft,
            "cabins": {
                cabin: {
                    "available": market.available(f, cabin),
                    "fare": money(market.fare_cents(f, cabin)),
                }
                for cabin in f.service.cabins
            },
        }
        for f in found
    ]
    return web.json_response({"flights": listed})


@_rejects_bad_input
async def price_change(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"percent"})
    value = _required(body, "percent")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadControlInput("percent must be a number")
    market = request.app[STATE_KEY].market
    market.set_price_percent(Decimal(str(value)))
    return web.json_response({"percent": str(market.price_percent)})


@_rejects_bad_input
async def seats(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"flight", "date", "cabin", "seats"})
    return _set_seats(request, body, _integer(body, "seats"))


@_rejects_bad_input
async def sold_out(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"flight", "date", "cabin"})
    return _set_seats(request, body, 0)


def _set_seats(request: web.Request, body: dict[str, Any], count: int) -> web.Response:
    state = request.app[STATE_KEY]
    name, day = _required(body, "flight"), _date(_required(body, "date"))
    flight = _flight(state.inventory, name, day)
    cabin = body.get("cabin")
    if cabin is not None and cabin not in CABINS:
        raise BadControlInput(f"cabin must be one of {', '.join(CABINS)}")
    for each in [cabin] if cabin is not None else flight.service.cabins:
        state.market.set_available(flight, each, count)
    return web.json_response(
        {
            "flight": flight.service.flight_number,
            "date": day.isoformat(),
            "seats": {c: state.market.available(flight, c) for c in flight.service.cabins},
        }
    )


@_rejects_bad_input
async def fail_orders(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"count", "status", "mode", "delay_ms"})
    market = request.app[STATE_KEY].market
    market.fail_orders(
        _integer(body, "count"),
        _integer(body, "status") if "status" in body else 500,
        body.get("mode", "before"),
        _integer(body, "delay_ms") if "delay_ms" in body else 0,
    )
    return web.json_response({"order_failures": market.order_fault_view()})


async def orders(request: web.Request) -> web.Response:
    remark = request.query.get("remark")
    reference = request.query.get("reference")
    listed = []
    for order in request.app[STATE_KEY].market.orders():
        texts = remark_texts(order.body["data"])
        if remark is not None and remark not in texts:
            continue
        if reference is not None and reference != order.reference:
            continue
        listed.append(
            {
                "client_id": order.client_id,
                "id": order.id,
                "reference": order.reference,
                "remarks": texts,
                "data": order.body["data"],
            }
        )
    return web.json_response({"orders": listed})


def _date(value: Any) -> date:
    day = iso_date(value) if isinstance(value, str) else None
    if day is None:
        raise BadControlInput("date must be YYYY-MM-DD")
    return day


def _flight(inv: Inventory, name: Any, day: date) -> Flight:
    match = _FLIGHT_RE.match(name) if isinstance(name, str) else None
    if match is None:
        raise BadControlInput("flight must look like BA117")
    flight = inv.flight(match.group(1), match.group(2), day)
    if flight is None:
        raise BadControlInput(f"no flight {name} in the inventory")
    return flight
