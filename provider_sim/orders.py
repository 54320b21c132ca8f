"""Flight Create Orders, Flight Order Management: book, retrieve and cancel.

All behind ``@require_bearer``; orders belong to the API client (``client_id``) whose
token created them, and other clients get 404 for them.

``POST /v1/booking/flight-orders``
    ``{"data": {"type": "flight-order", "flightOffers": [offer], "travelers": [{"id",
    "dateOfBirth", "name": {"firstName", "lastName"}, "gender"?, "contact"?,
    "documents"?}], "remarks"?: {"general": [{"subType", "text"}]}, "contacts"?,
    "ticketingAgreement"?}}``. Each offer is verified against the inventory as for
    pricing, then, in this order: 37200 PRICE DISCREPANCY if its ``price.grandTotal``
    differs from the current price (re-price first, then book the re-priced offer);
    34651 SEGMENT SELL FAILURE ("Could not sell segment <id>") if any segment lacks a
    seat per seated traveler (nothing is sold then: all segments or none). Otherwise
    the seats are sold and the answer is 201 ``{"data": {"type": "flight-order", "id",
    "queuingOfficeId", "associatedRecords": [{"reference": "<6-char PNR>",
    "creationDate", "originSystemCode": "GDS", "flightOfferId"}], "flightOffers",
    "travelers", "remarks"?, "contacts"?, "ticketingAgreement"?}, "dictionaries":
    {"locations"}}``. ``travelers[].id`` must be exactly the offers' travelerIds.
    The order ``id`` is opaque and, like Amadeus', percent-encoded (it ends in
    ``%3D``): put it in paths as-is or encoded once more; both are accepted.
    Creating an order is not idempotent (neither is Amadeus'): a client that lost the
    response must look the order up before retrying. The stand-in echoes ``remarks``
    on the order, so a client can tag each attempt with its own reference in
    ``remarks.general[0].text`` and tests can find the order through
    ``GET /_sim/orders?remark=<text>``.
``GET /v1/booking/flight-orders/{id}``
    200 ``{"data": order, "dictionaries": {...}}``, or 404 code 1797 NOT FOUND.
``DELETE /v1/booking/flight-orders/{id}``
    204 and the seats go back on sale; 404 code 1797 once cancelled or if unknown.

Injected failures (``POST /_sim/fail-orders``) apply to creation only: mode "before"
fails the call before anything happens; mode "after" creates the order (seats sold,
counted in ``orders_created``) and then answers with the failure status, optionally
after ``delay_ms`` so a client's timeout fires first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from provider_sim.bearer import require_bearer
from provider_sim.body import (
    array,
    field,
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
    CODE_NOT_FOUND_RESOURCE,
    CODE_PRICE_DISCREPANCY,
    ApiError,
    injected_failure,
    json_response,
)
from provider_sim.keys import STATE_KEY, TOKEN_KEY
from provider_sim.latency import sleep_ms
from provider_sim.market import OrderFault, SeatKey
from provider_sim.offers import (
    ClientOffer,
    dictionaries,
    money,
    offer_json,
    price_offer,
    seat_needs,
)
from provider_sim.shopping import price_changed, read_offers, sell_failure

ORDERS_PATH: Final = "/v1/booking/flight-orders"
ORDER_PATH: Final = ORDERS_PATH + "/{flight_order_id}"
QUEUING_OFFICE_ID: Final = "SKYSIM001"
_GENDERS: Final = ("MALE", "FEMALE", "UNSPECIFIED", "UNDISCLOSED")
_NAME_RE: Final = re.compile(r"\S")


def add_routes(app: web.Application) -> None:
    app.router.add_post(ORDERS_PATH, create_order)
    app.router.add_get(ORDER_PATH, get_order)
    app.router.add_delete(ORDER_PATH, delete_order)


def order_not_found() -> web.Response:
    return ApiError(404, CODE_NOT_FOUND_RESOURCE, "NOT FOUND", "Order not found").response()


async def _fail(fault: OrderFault) -> web.Response:
    await sleep_ms(fault.delay_ms)
    return injected_failure(fault.status)


@require_bearer
async def create_order(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    market = state.market
    fault = market.take_order_fault("before")
    if fault is not None:
        return await _fail(fault)
    try:
        raw = await read_json(request)
        sent = read_offers(market, raw, "flight-order")
        data = raw["data"]
        travelers = _read_travelers(data, sent)
        extras = _read_extras(data)
        priced = [price_offer(market, o.legs, o.travelers, o.currency) for o in sent]
        needs: dict[SeatKey, int] = {}
        for n, (offer, current) in enumerate(zip(sent, priced, strict=True)):
            if offer.grand_total is None:
                raise missing(f"/data/flightOffers[{n}]/price/grandTotal")
            if price_changed(offer, current):
                raise ApiError(
                    400,
                    CODE_PRICE_DISCREPANCY,
                    "PRICE DISCREPANCY",
                    f"Current grandTotal price ({money(current.price.total)}) is different "
                    f"from request one ({offer.grand_total})",
                    pointer=f"/data/flightOffers[{n}]/price/grandTotal",
                )
            for key, count in seat_needs(current).items():
                needs[key] = needs.get(key, 0) + count
        short = market.shortfall(needs)
        if short is not None:
            raise sell_failure(next(o for o in sent if short in o.seat_keys()), short)
    except ApiError as error:
        return error.response()

    today = state.today()
    offers_json = [
        offer_json(o.id, p, today, o.segment_ids) for o, p in zip(sent, priced, strict=True)
    ]
    currency = sent[0].currency

    def render(order_id: str, reference: str, created_at: float) -> dict[str, Any]:
        created = datetime.fromtimestamp(created_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000")
        data: dict[str, Any] = {
            "type": "flight-order",
            "id": order_id,
            "queuingOfficeId": QUEUING_OFFICE_ID,
            "associatedRecords": [
                {
                    "reference": reference,
                    "creationDate": created,
                    "originSystemCode": "GDS",
                    "flightOfferId": offer.id,
                }
                for offer in sent
            ],
            "flightOffers": offers_json,
            "travelers": travelers,
            **extras,
        }
        return {
            "data": data,
            "dictionaries": {"locations": dictionaries(priced, currency)["locations"]},
        }

    order = market.create_order(request[TOKEN_KEY].client_id, needs, render)
    state.record_flight_call("orders_created")
    fault = market.take_order_fault("after")
    if fault is not None:
        return await _fail(fault)
    return json_response(order.body, 201, API_CONTENT_TYPE)


@require_bearer
async def get_order(request: web.Request) -> web.Response:
    market = request.app[STATE_KEY].market
    order = market.get_order(request[TOKEN_KEY].client_id, request.match_info["flight_order_id"])
    if order is None:
        return order_not_found()
    return json_response(order.body, 200, API_CONTENT_TYPE)


@require_bearer
async def delete_order(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    order = state.market.cancel_order(
        request[TOKEN_KEY].client_id, request.match_info["flight_order_id"]
    )
    if order is None:
        return order_not_found()
    state.record_flight_call("orders_cancelled")
    return web.Response(status=204)


def _read_travelers(data: dict[str, Any], offers: list[ClientOffer]) -> list[dict[str, Any]]:
    travelers = array(data, "travelers", "/data")
    ids = []
    for n, raw in enumerate(travelers):
        where = f"/data/travelers[{n}]"
        traveler = obj(raw, where)
        ids.append(required_string(traveler, "id", where))
        born = iso_date(required_string(traveler, "dateOfBirth", where))
        if born is None:
            raise invalid_format("Dates are YYYY-MM-DD", f"{where}/dateOfBirth")
        name = obj(field(traveler, "name", where), f"{where}/name")
        for part in ("firstName", "lastName"):
            if not _NAME_RE.search(required_string(name, part, f"{where}/name")):
                raise missing(f"{where}/name/{part}")
        gender = string(traveler, "gender", where, required=False)
        if gender is not None and gender not in _GENDERS:
            raise invalid_data(f"gender must be one of {', '.join(_GENDERS)}", f"{where}/gender")
        if traveler.get("contact") is not None:
            obj(traveler["contact"], f"{where}/contact")
        for k, document in enumerate(
            array(traveler, "documents", where, required=False, minimum=0)
        ):
            obj(document, f"{where}/documents[{k}]")
    if len(set(ids)) != len(ids):
        raise invalid_data("Traveler ids must be unique", "/data/travelers")
    for offer in offers:
        if {t.id for t in offer.travelers} != set(ids):
            raise invalid_data(
                f"travelers must match the travelerPricings of offer {offer.id}",
                "/data/travelers",
            )
    return [dict(t) for t in travelers]


def _read_extras(data: dict[str, Any]) -> dict[str, Any]:
    """Optional order fields echoed back as sent: remarks, contacts, ticketingAgreement."""
    extras: dict[str, Any] = {}
    if data.get("remarks") is not None:
        remarks = obj(data["remarks"], "/data/remarks")
        for n, raw in enumerate(
            array(remarks, "general", "/data/remarks", required=False, minimum=0)
        ):
            remark = obj(raw, f"/data/remarks/general[{n}]")
            required_string(remark, "text", f"/data/remarks/general[{n}]")
        extras["remarks"] = remarks
    if data.get("contacts") is not None:
        for n, contact in enumerate(array(data, "contacts", "/data", minimum=0)):
            obj(contact, f"/data/contacts[{n}]")
        extras["contacts"] = data["contacts"]
    if data.get("ticketingAgreement") is not None:
        extras["ticketingAgreement"] = obj(data["ticketingAgreement"], "/data/ticketingAgreement")
    return extras


def remark_texts(order_data: dict[str, Any]) -> list[str]:
    """The ``remarks.general[].text`` values of an order (used by ``/_sim/orders``)."""
    general = order_data.get("remarks", {}).get("general", [])
    return [r["text"] for r in general if isinstance(r, dict) and isinstance(r.get("text"), str)]
