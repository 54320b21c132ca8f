"""Amadeus Hotel Booking v2 (create) and the order retrieval and cancellation of the
same family (``GET`` / ``DELETE /v2/booking/hotel-orders/{id}``), classified like flight
orders (``services.providers.amadeus.orders``): a refusal created nothing; no answer
or a 5xx/429 may have created the order, which is then looked up by the remark (carried
in the first room's ``specialRequest``), never created again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import grpc

from services.clients.token_client import UpstreamUnauthorized
from services.providers.amadeus.http import AmadeusApi, Answer, errors
from services.providers.base import (
    RATE_LIMITED,
    UNAUTHORIZED,
    UNAVAILABLE,
    OrderNotSent,
    OrderOutcomeUnknown,
    OrderRejected,
    PlacedOrder,
    ProviderUnavailable,
)
from services.providers.hotels import HotelOrderRequest
from services.rate_budget import BudgetExhausted

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


class AmadeusHotelOrders:
    def __init__(self, api: AmadeusApi) -> None:
        self._api = api

    def _url(self, order_id: str | None = None) -> str:
        base = self._api.config.base_url + ORDERS_PATH
        return base if order_id is None else f"{base}/{quote(order_id, safe='')}"

    async def create(self, request: HotelOrderRequest) -> PlacedOrder:
        body = order_body(request)
        try:
            answer = await self._api.send("POST", self._url(), body)
        except UpstreamUnauthorized:
            raise OrderNotSent(UNAUTHORIZED, "the supplier rejected a fresh token") from None
        except BudgetExhausted as exc:
            raise OrderNotSent(
                RATE_LIMITED, "upstream rate budget exhausted", retry_after=exc.retry_after
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise OrderNotSent(UNAVAILABLE, f"token service: {exc.code().name}") from None
        except aiohttp.ClientConnectorError:
            raise OrderNotSent(UNAVAILABLE, "supplier unreachable") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OrderOutcomeUnknown(f"no answer ({type(exc).__name__})") from None
        if answer.status in (200, 201):
            try:
                return placed_order(answer.body)
            except ValueError as exc:
                raise OrderOutcomeUnknown(str(exc)) from None
        if answer.status >= 500 or answer.status == 429:
            raise OrderOutcomeUnknown(f"supplier answered HTTP {answer.status}")
        codes, _details = errors(answer.body)
        raise OrderRejected(
            answer.status,
            codes,
            price_changed=PRICE_DISCREPANCY in codes,
            sold_out=NO_ROOMS in codes,
        )

    async def get(self, order_id: str) -> PlacedOrder | None:
        answer = await self._checked("GET", order_id)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise ProviderUnavailable(f"supplier answered HTTP {answer.status}")
        try:
            return placed_order(answer.body)
        except ValueError as exc:
            raise ProviderUnavailable(str(exc)) from None

    async def delete(self, order_id: str) -> bool:
        answer = await self._checked("DELETE", order_id)
        if answer.status == 404:
            return False
        if answer.status not in (200, 204):
            raise ProviderUnavailable(f"supplier answered HTTP {answer.status}")
        return True

    async def _checked(self, method: str, order_id: str) -> Answer:
        try:
            return await self._api.send(method, self._url(order_id))
        except UpstreamUnauthorized:
            raise ProviderUnavailable("the supplier rejected a fresh token") from None
        except BudgetExhausted:
            raise ProviderUnavailable("upstream rate budget exhausted") from None
        except grpc.aio.AioRpcError as exc:
            raise ProviderUnavailable(f"token service: {exc.code().name}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"no answer ({type(exc).__name__})") from None
