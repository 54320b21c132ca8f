"""``/_sim/`` controls for the hotel world (same conventions as ``control``: JSON in and
out, 400 ``{"error"}`` for bad input). ``POST /_sim/reset`` also restores rooms and
prices and forgets hotel orders, faults and counters.

The API faults of ``control`` apply to the hotel endpoints as to every API endpoint:
``/_sim/fail-api`` (429 or 5xx for the next N calls; a large N is "the supplier is
down"), ``/_sim/config`` ``api_latency_ms`` (slow), ``/_sim/revoke`` with the hotel
client's id (its tokens answer 401).

``GET  /_sim/hotels?cityCode=PAR`` (or ``?hotelId=``)
    ``{"hotels": [{"hotelId", "name", "cityCode", "area", "stars", "rating",
    "amenities", "latitude", "longitude", "rooms": {type: count}, "ratePlans"}]}``.
``GET  /_sim/hotel-rooms?hotelId=&roomType=&checkInDate=&checkOutDate=``
    ``{"nights": {date: rooms free}}``.
``POST /_sim/hotel-rooms``
    ``{"hotelId", "roomType"?, "checkInDate", "checkOutDate", "rooms": n}``: sets the
    rooms free on each night (of every room type when ``roomType`` is omitted).
``POST /_sim/hotel-sold-out``
    The same with ``rooms: 0``.
``POST /_sim/hotel-price-change``
    ``{"percent": 10}``: every hotel price from now on (a new price epoch). Returns
    ``{"percent", "epoch"}``.
``POST /_sim/fail-hotel-orders``
    ``{"count", "status"?, "mode": "before"|"after", "delay_ms"?}`` as
    ``/_sim/fail-orders`` for flights: "after" makes the order, then fails the answer
    (the client must reconcile by lookup).
``POST /_sim/fail-hotel-cancels``
    The same for order cancellations (``DELETE``): "before" fails without cancelling,
    "after" cancels the order (its rooms back), then fails the answer after
    ``delay_ms`` (a slow supplier cancel whose outcome the client cannot tell).
``GET  /_sim/hotel-orders[?remark=TEXT][&reference=CONF]``
    Live orders: ``{"orders": [{"client_id", "id", "reference", "remark", "data"}]}``.
``GET  /_sim/hotel-stats``
    ``{"cities_searched", "hotel_lists", "hotel_lists_by_id", "hotel_offer_searches",
    "hotel_pricings", "hotel_sentiments", "hotel_orders_created",
    "hotel_orders_cancelled", "hotel_orders_live"}``.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

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
from provider_sim.hotels.inventory import ROOM_TYPES_BY_CODE, Hotel, RoomType
from provider_sim.hotels.market import HotelMarket
from provider_sim.keys import STATE_KEY


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{CONTROL_PREFIX}/hotels", hotels)
    app.router.add_get(f"{CONTROL_PREFIX}/hotel-rooms", get_rooms)
    app.router.add_post(f"{CONTROL_PREFIX}/hotel-rooms", set_rooms)
    app.router.add_post(f"{CONTROL_PREFIX}/hotel-sold-out", sold_out)
    app.router.add_post(f"{CONTROL_PREFIX}/hotel-price-change", price_change)
    app.router.add_post(f"{CONTROL_PREFIX}/fail-hotel-orders", fail_orders)
    app.router.add_post(f"{CONTROL_PREFIX}/fail-hotel-cancels", fail_cancels)
    app.router.add_get(f"{CONTROL_PREFIX}/hotel-orders", orders)
    app.router.add_get(f"{CONTROL_PREFIX}/hotel-stats", stats)


def _market(request: web.Request) -> HotelMarket:
    return request.app[STATE_KEY].hotels


@_rejects_bad_input
async def hotels(request: web.Request) -> web.Response:
    inventory = _market(request).inventory
    if "hotelId" in request.query:
        found = [_hotel(_market(request), request.query["hotelId"])]
    else:
        found = inventory.city_hotels(request.query.get("cityCode", "").upper())
    return web.json_response(
        {
            "hotels": [
                {
                    "hotelId": h.hotel_id,
                    "name": h.name,
                    "cityCode": h.city.code,
                    "area": h.area.name,
                    "stars": h.stars,
                    "rating": h.rating,
                    "amenities": list(h.amenities),
                    "latitude": h.latitude,
                    "longitude": h.longitude,
                    "rooms": {room.code: count for room, count in h.rooms},
                    "ratePlans": [p.code for p in h.rate_plans],
                }
                for h in found
            ]
        }
    )


@_rejects_bad_input
async def get_rooms(request: web.Request) -> web.Response:
    market = _market(request)
    query = request.query
    hotel = _hotel(market, query.get("hotelId"))
    room = _room(hotel, query.get("roomType"))
    return web.json_response(
        {
            "nights": {
                night.isoformat(): market.available(hotel, room, night)
                for night in _nights(query.get("checkInDate"), query.get("checkOutDate"))
            }
        }
    )


@_rejects_bad_input
async def set_rooms(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"hotelId", "roomType", "checkInDate", "checkOutDate", "rooms"})
    return _set_rooms(request, body, _integer(body, "rooms"))


@_rejects_bad_input
async def sold_out(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"hotelId", "roomType", "checkInDate", "checkOutDate"})
    return _set_rooms(request, body, 0)


def _set_rooms(request: web.Request, body: dict[str, Any], rooms: int) -> web.Response:
    market = _market(request)
    hotel = _hotel(market, _required(body, "hotelId"))
    types = (
        [_room(hotel, body["roomType"])] if body.get("roomType") else [r for r, _ in hotel.rooms]
    )
    nights = _nights(_required(body, "checkInDate"), _required(body, "checkOutDate"))
    for room in types:
        for night in nights:
            market.set_available(hotel, room, night, rooms)
    return web.json_response({"hotelId": hotel.hotel_id, "rooms": rooms, "nights": len(nights)})


@_rejects_bad_input
async def price_change(request: web.Request) -> web.Response:
    body = await _json_object(request)
    _only(body, {"percent"})
    value = _required(body, "percent")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadControlInput("percent must be a number")
    market = _market(request)
    market.set_price_percent(Decimal(str(value)))
    return web.json_response({"percent": str(market.price_percent), "epoch": market.epoch})


def _fault_args(body: dict[str, Any]) -> tuple[int, int, str, int]:
    _only(body, {"count", "status", "mode", "delay_ms"})
    return (
        _integer(body, "count"),
        _integer(body, "status") if "status" in body else 500,
        body.get("mode", "before"),
        _integer(body, "delay_ms") if "delay_ms" in body else 0,
    )


@_rejects_bad_input
async def fail_orders(request: web.Request) -> web.Response:
    market = _market(request)
    market.fail_orders(*_fault_args(await _json_object(request)))
    return web.json_response({"order_failures": market.order_fault_view()})


@_rejects_bad_input
async def fail_cancels(request: web.Request) -> web.Response:
    market = _market(request)
    market.fail_cancels(*_fault_args(await _json_object(request)))
    return web.json_response({"cancel_failures": market.cancel_fault_view()})


async def orders(request: web.Request) -> web.Response:
    remark = request.query.get("remark")
    reference = request.query.get("reference")
    listed = [
        {
            "client_id": o.client_id,
            "id": o.id,
            "reference": o.reference,
            "remark": o.remark,
            "data": o.body["data"],
        }
        for o in _market(request).orders()
        if (remark is None or o.remark == remark)
        and (reference is None or o.reference == reference)
    ]
    return web.json_response({"orders": listed})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(_market(request).stats())


def _hotel(market: HotelMarket, hotel_id: Any) -> Hotel:
    hotel = market.inventory.hotel(hotel_id) if isinstance(hotel_id, str) else None
    if hotel is None:
        raise BadControlInput(f"no hotel {hotel_id}")
    return hotel


def _room(hotel: Hotel, code: Any) -> RoomType:
    room = ROOM_TYPES_BY_CODE.get(code) if isinstance(code, str) else None
    if room is None or hotel.room_count(room) == 0:
        raise BadControlInput(f"{hotel.hotel_id} has no room type {code}")
    return room


def _nights(check_in: Any, check_out: Any) -> list[date]:
    start = iso_date(check_in) if isinstance(check_in, str) else None
    end = iso_date(check_out) if isinstance(check_out, str) else None
    if start is None or end is None or end <= start:
        raise BadControlInput("checkInDate and checkOutDate must be YYYY-MM-DD, out after in")
    return [start + timedelta(days=n) for n in range((end - start).days)]
