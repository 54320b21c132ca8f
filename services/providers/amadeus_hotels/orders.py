"""Amadeus Hotel Booking v2 (create) and the order retrieval and cancellation of the
same family (``GET`` / ``DELETE /v2/booking/hotel-orders/{id}``), classified like flight
orders (``services.providers.order_client``): a refusal created nothing; no answer
or a 5xx/429 may have created the order, which is then looked up by the remark (carried
in the first room's ``specialRequest``), never created again.
"""

from __future__ import annotations

from typing import Any

from services.providers.amadeus.http import AmadeusApi, errors
from services.providers.base import OrderRejected, PlacedOrder
from services.providers.hotels import HotelOrderRequest
from services.providers.order_client import OrderAnswer, OrderClient

ORDERS_PATH = "/v2/booking/hotel-orders"
PRICE_DISCREPANCY = 37200
NO_ROOMS = 3664


def order_body(request: HotelOrderRequest) -> dict[str, Any]:
    guests = [
        {"tid": n + 1, "firstName": g.given_name.upper(), "lastName": g.family_name.upper()}
        for n, g in enumerate(request.guests)
    ]
    if guests:  # the lead guest carries the contact
        guests[0]["email"] = request.email
        if request.phone:
            guests[0]["phone"] = request.phone
    rooms = [
        {
            "guestReferences": [{"guestReference": str(n % max(1, len(guests)) + 1)}],
            "hotelOfferId": request.offer_id,
            **({"specialRequest": request.remark} if n == 0 else {}),
        }
        for n in range(request.rooms)
    ]
    return {
        "data": {
            "type": "hotel-order",
            "guests": guests,
            "travelAgent": {"contact": {"email": request.email}},
            "roomAssociations": rooms,
            # Payment is the agency's guarantee with the supplier (no card data here).
            "payment": {"method": "AGENCY_ACCOUNT"},
        }
    }


def placed_order(body: Any) -> PlacedOrder:
    try:
        data = body["data"]
        order_id = str(data["id"])
        booking = data["hotelBookings"][0]
        info = booking.get("hotelProviderInformation") or [{}]
        confirmation = str(info[0].get("confirmationNumber") or "")
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not a hotel order ({type(exc).__name__})") from None
    if not order_id:
        raise ValueError("not a hotel order (no id)")
    return PlacedOrder(order_id, confirmation)


def _rejected(answer: OrderAnswer) -> OrderRejected:
    codes, _details = errors(answer.body)
    return OrderRejected(
        answer.status,
        codes,
        price_changed=PRICE_DISCREPANCY in codes,
        sold_out=NO_ROOMS in codes,
    )


class AmadeusHotelOrders(OrderClient):
    def __init__(self, api: AmadeusApi) -> None:
        super().__init__(
            api, path=ORDERS_PATH, noun="supplier", parse=placed_order, rejected=_rejected
        )

    async def create(self, request: HotelOrderRequest) -> PlacedOrder:
        return await self._place(order_body(request))
