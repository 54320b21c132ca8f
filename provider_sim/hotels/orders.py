"""The hotel supplier's orders, in the shape of Amadeus Hotel Booking v2 (create) and of
its flight order management (retrieve, cancel), which the hotel API lacks.

``POST /v2/booking/hotel-orders``
    ``{"data": {"type": "hotel-order", "guests": [{"tid": 1, "title"?, "firstName",
    "lastName", "phone"?, "email"?}], "travelAgent": {"contact": {"email"}},
    "roomAssociations": [{"guestReferences": [{"guestReference": "1"}],
    "hotelOfferId", "specialRequest"?}], "payment": {"method": "CREDIT_CARD", ...}}}``.
    Every room association names the same offer (as priced); the order sells the offer's
    ``roomQuantity`` rooms for every night. The first association's ``specialRequest``
    is the client's reference for the order (``/_sim/hotel-orders?remark=`` finds it).
    201 ``{"data": {"type": "hotel-order", "id", "hotelBookings": [{"type":
    "hotel-booking", "id", "bookingStatus": "CONFIRMED", "hotelProviderInformation":
    [{"hotelProviderCode", "confirmationNumber"}], "roomAssociations", "hotelOffer",
    "hotel": {"hotelId", "chainCode", "name"}}], "guests", "associatedRecords":
    [{"reference", "originSystemCode": "GDS"}], "self"}}``.
    Errors: the body errors of ``body`` (32171, 477, 4926 with a pointer); 400 37200
    PRICE DISCREPANCY when the offer was priced before a price change and its price
    differs now (price it again); 400 3664 NO ROOMS AVAILABLE AT REQUESTED PROPERTY when
    a night sold out; injected failures (``/_sim/fail-hotel-orders``) before or after the
    order is made.
``GET /v2/booking/hotel-orders/{id}``  the order as created; 404 code 1797 when unknown.
``DELETE /v2/booking/hotel-orders/{id}``  204, the rooms go back; 404 when unknown;
    injected failures (``/_sim/fail-hotel-cancels``) before or after the cancellation.

Orders belong to the client whose token made them.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from provider_sim.bearer import require_bearer
from provider_sim.body import array, invalid_data, obj, read_json, required_string, string
from provider_sim.errors import (
    API_CONTENT_TYPE,
    CODE_NOT_FOUND_RESOURCE,
    CODE_PRICE_DISCREPANCY,
    ApiError,
    injected_failure,
    json_response,
)
from provider_sim.hotels.market import HotelMarket, OfferKey
from provider_sim.hotels.shopping import city_today, no_rooms, offer_json
from provider_sim.keys import STATE_KEY, TOKEN_KEY
from provider_sim.latency import sleep_ms
from provider_sim.market import OrderFault
from provider_sim.offers import money

ORDERS_PATH: Final = "/v2/booking/hotel-orders"
ORDER_PATH: Final = "/v2/booking/hotel-orders/{hotel_order_id}"


def add_routes(app: web.Application) -> None:
    app.router.add_post(ORDERS_PATH, create_order)
    app.router.add_get(ORDER_PATH, get_order)
    app.router.add_delete(ORDER_PATH, delete_order)


def _market(request: web.Request) -> HotelMarket:
    return request.app[STATE_KEY].hotels


def order_not_found() -> web.Response:
    return ApiError(404, CODE_NOT_FOUND_RESOURCE, "NOT FOUND", "Order not found").response()


async def _fail(fault: OrderFault) -> web.Response:
    await sleep_ms(fault.delay_ms)
    return injected_failure(fault.status)


@require_bearer
async def create_order(request: web.Request) -> web.Response:
    market = _market(request)
    fault = market.take_order_fault("before")
    if fault is not None:
        return await _fail(fault)
    try:
        raw = obj(await read_json(request), "/")
        data = obj(raw.get("data"), "/data")
        if data.get("type") != "hotel-order":
            raise invalid_data("type must be hotel-order", "/data/type")
        guests = _guests(data)
        associations = array(data, "roomAssociations", "/data")
        offer_ids = set()
        for n, item in enumerate(associations):
            where = f"/data/roomAssociations[{n}]"
            offer_ids.add(required_string(obj(item, where), "hotelOfferId", where))
        if len(offer_ids) != 1:
            raise invalid_data("every room must name the same offer", "/data/roomAssociations")
        offer_id = offer_ids.pop()
        pointer = "/data/roomAssociations[0]/hotelOfferId"
        key = OfferKey.decode(offer_id)
        sent = market.price(key) if key is not None else None
        if key is None or sent is None:
            raise invalid_data("Not a valid offer id", pointer)
        if key.check_in < city_today(market, sent.hotel.city):
            raise invalid_data("Check-in date is in the past", pointer)
        current = market.price(market.current(key), sent.currency)
        assert current is not None
        if current.total_cents != sent.total_cents:
            raise ApiError(
                400,
                CODE_PRICE_DISCREPANCY,
                "PRICE DISCREPANCY",
                f"Current price ({money(current.total_cents)}) differs from the offer's "
                f"({money(sent.total_cents)}); price the offer again",
                pointer=pointer,
            )
        if not market.bookable(key):
            raise no_rooms()
        remark = string(obj(associations[0], "/data"), "specialRequest", "/data", False) or ""
        obj(data.get("payment"), "/data/payment")
    except ApiError as error:
        return error.response()

    booked = offer_json(current)

    def render(order_id: str, reference: str, created_at: float) -> dict[str, Any]:
        hotel = current.hotel
        return {
            "data": {
                "type": "hotel-order",
                "id": order_id,
                "hotelBookings": [
                    {
                        "type": "hotel-booking",
                        "id": f"{order_id}-1",
                        "bookingStatus": "CONFIRMED",
                        "hotelProviderInformation": [
                            {"hotelProviderCode": hotel.chain_code, "confirmationNumber": reference}
                        ],
                        "roomAssociations": associations,
                        "hotelOffer": booked,
                        "hotel": {
                            "hotelId": hotel.hotel_id,
                            "chainCode": hotel.chain_code,
                            "name": hotel.name,
                        },
                    }
                ],
                "guests": guests,
                "associatedRecords": [{"reference": reference, "originSystemCode": "GDS"}],
                "self": f"{ORDERS_PATH}/{order_id}",
            }
        }

    order = market.create_order(request[TOKEN_KEY].client_id, key, remark, render)
    market.count("hotel_orders_created")
    fault = market.take_order_fault("after")
    if fault is not None:
        return await _fail(fault)
    return json_response(order.body, 201, API_CONTENT_TYPE)


def _guests(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for n, raw in enumerate(array(data, "guests", "/data")):
        where = f"/data/guests[{n}]"
        guest = obj(raw, where)
        out.append(
            {
                "tid": guest.get("tid", n + 1),
                "id": n + 1,
                "firstName": required_string(guest, "firstName", where),
                "lastName": required_string(guest, "lastName", where),
            }
        )
    return out


@require_bearer
async def get_order(request: web.Request) -> web.Response:
    order = _market(request).get_order(
        request[TOKEN_KEY].client_id, request.match_info["hotel_order_id"]
    )
    if order is None:
        return order_not_found()
    return json_response(order.body, 200, API_CONTENT_TYPE)


@require_bearer
async def delete_order(request: web.Request) -> web.Response:
    market = _market(request)
    fault = market.take_cancel_fault("before")
    if fault is not None:
        return await _fail(fault)
    order = market.cancel_order(request[TOKEN_KEY].client_id, request.match_info["hotel_order_id"])
    if order is None:
        return order_not_found()
    market.count("hotel_orders_cancelled")
    fault = market.take_cancel_fault("after")
    if fault is not None:
        return await _fail(fault)
    return web.Response(status=204)
