"""Amadeus Flight Create Orders and Flight Order Management: create, retrieve and
delete a flight order. Creating one is not idempotent (at Amadeus or the stand-in); a
failed create is classified by what it proves (``services.providers.order_client``):
after ``OrderOutcomeUnknown`` the caller looks the order up by its remark and never
simply creates it again.
"""

from __future__ import annotations

import re
from typing import Any

from services.providers.amadeus.http import AmadeusApi, errors
from services.providers.base import (
    OrderNotBookable,
    OrderRejected,
    OrderRequest,
    OrderTraveller,
    PlacedOrder,
)
from services.providers.order_client import OrderAnswer, OrderClient

ORDERS_PATH = "/v1/booking/flight-orders"
# Amadeus error codes.
PRICE_DISCREPANCY = 37200
SEGMENT_SELL_FAILURE = 34651
# Amadeus traveler types and document types by ours.
TRAVELER_TYPES = {"ADULT": "ADULT", "CHILD": "CHILD", "INFANT": "HELD_INFANT"}
DOCUMENT_TYPES = {"PASSPORT": "PASSPORT", "NATIONAL_ID": "IDENTITY_CARD"}
_CURRENT_TOTAL = re.compile(r"Current grandTotal price \(([0-9]+(?:\.[0-9]+)?)\)")


def order_rejected(
    status: int, codes: list[int], details: list[str] | None = None
) -> OrderRejected:
    """A refusal in neutral terms; a PRICE DISCREPANCY's detail ("Current grandTotal
    price (612.40) is different from request one (577.34)") gives the current price."""
    current = None
    for detail in details or ():
        match = _CURRENT_TOTAL.search(detail)
        if match:
            current = match.group(1)
            break
    return OrderRejected(
        status,
        codes,
        price_changed=PRICE_DISCREPANCY in codes,
        sold_out=SEGMENT_SELL_FAILURE in codes,
        current_total=current,
    )


def _traveler_ids(offer: Any) -> dict[str, list[str]]:
    """The offer's travelerIds by Amadeus traveler type, in order."""
    ids: dict[str, list[str]] = {}
    for pricing in offer.get("travelerPricings") or ():
        ids.setdefault(str(pricing.get("travelerType")), []).append(str(pricing["travelerId"]))
    return ids


def order_body(request: OrderRequest) -> dict[str, Any]:
    """The flight-order request: the offers as priced, one traveler per passenger (ids
    matched to the offers' travelerIds by type, in order), the contact and the remark.
    Raises OrderNotBookable when the offers' travelers do not match the passengers."""
    offers = [dict(o) for o in request.offers]
    try:
        available = _traveler_ids(offers[0])
    except (KeyError, TypeError, AttributeError):
        available = {}
    travelers = []
    used: dict[str, int] = {}
    for i, traveller in enumerate(request.travellers):
        kind = TRAVELER_TYPES[traveller.passenger_type]
        n = used.get(kind, 0)
        ids = available.get(kind, [])
        if n >= len(ids):
            raise OrderNotBookable(
                "the provider's offer is not priced for these passengers", f"passengers[{i}]"
            )
        used[kind] = n + 1
        travelers.append(_traveler(ids[n], traveller, request.email if i == 0 else None))
    if sum(used.values()) != sum(len(v) for v in available.values()):
        raise OrderNotBookable(
            "the provider's offer is priced for more passengers than were given", "passengers"
        )
    return {
        "data": {
            "type": "flight-order",
            "flightOffers": offers,
            "travelers": travelers,
            "remarks": {"general": [{"subType": "GENERAL_MISCELLANEOUS", "text": request.remark}]},
        }
    }


def _traveler(traveler_id: str, t: OrderTraveller, email: str | None) -> dict[str, Any]:
    traveler: dict[str, Any] = {
        "id": traveler_id,
        "dateOfBirth": t.birth_date.isoformat(),
        "name": {"firstName": t.given_name.upper(), "lastName": t.family_name.upper()},
        "documents": [
            {
                "documentType": DOCUMENT_TYPES[t.document_type],
                "number": t.document_number,
                "expiryDate": t.document_expire_date.isoformat(),
                "issuanceCountry": t.document_country,
                "nationality": t.document_country,
                "holder": True,
            }
        ],
    }
    if email is not None:  # the booking's contact goes with the first traveler
        traveler["contact"] = {"emailAddress": email}
    return traveler


def placed_order(body: Any) -> PlacedOrder:
    """The order id and record locator of a flight-order response; ValueError if the
    body does not have them."""
    try:
        data = body["data"]
        order_id = str(data["id"])
        records = data.get("associatedRecords") or []
        locator = str(records[0]["reference"]) if records else ""
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"not a flight order ({type(exc).__name__})") from None
    if not order_id:
        raise ValueError("not a flight order (no id)")
    return PlacedOrder(order_id, locator)


def _rejected(answer: OrderAnswer) -> OrderRejected:
    return order_rejected(answer.status, *errors(answer.body))


class AmadeusOrders(OrderClient):
    def __init__(self, api: AmadeusApi) -> None:
        super().__init__(
            api, path=ORDERS_PATH, noun="provider", parse=placed_order, rejected=_rejected
        )

    async def create(self, request: OrderRequest) -> PlacedOrder:
        return await self._place(order_body(request))  # OrderNotBookable before sending
