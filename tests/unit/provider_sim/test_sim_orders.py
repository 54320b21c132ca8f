"""/v1/booking/flight-orders: create, get, delete; seats, failures and reconciliation."""

from __future__ import annotations

import asyncio
import copy
import re
import urllib.parse
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.utils.sim_days import open_days

OTHER_ID, OTHER_SECRET = "other", "another-secret-value"  # the second client in conftest
ORDERS = "/v1/booking/flight-orders"
# A month ahead, on a day every cabin of LHR-JFK is on sale (tests/utils/sim_days.py).
DEPART = open_days(30)[0].isoformat()
NOT_FOUND = {
    "errors": [{"status": 404, "code": 1797, "title": "NOT FOUND", "detail": "Order not found"}]
}


@pytest.fixture
async def token(get_token) -> str:
    return await get_token()


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def find_offers(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    query = {
        "originLocationCode": "LHR",
        "destinationLocationCode": "CDG",
        "departureDate": DEPART,
        "adults": "1",
    } | {k: str(v) for k, v in params.items()}
    response = await client.get("/v2/shopping/flight-offers", params=query, headers=auth(token))
    assert response.status == 200
    offers: list[dict[str, Any]] = (await response.json(content_type=None))["data"]
    assert offers
    return offers


def travelers_for(offer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": pricing["travelerId"],
            "dateOfBirth": "2020-05-05" if pricing["travelerType"] != "ADULT" else "1980-01-31",
            "name": {"firstName": f"ANA{pricing['travelerId']}", "lastName": "GARCIA"},
            "gender": "FEMALE",
            "contact": {
                "emailAddress": "ana@example.com",
                "phones": [
                    {"deviceType": "MOBILE", "countryCallingCode": "34", "number": "600000000"}
                ],
            },
            "documents": [
                {
                    "documentType": "PASSPORT",
                    "number": "X123",
                    "expiryDate": "2030-01-01",
                    "issuanceCountry": "ES",
                    "nationality": "ES",
                    "holder": True,
                }
            ],
        }
        for pricing in offer["travelerPricings"]
    ]


def order_body(offer: dict[str, Any], remark: str | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "flight-order",
        "flightOffers": [offer],
        "travelers": travelers_for(offer),
    }
    if remark is not None:
        body["remarks"] = {"general": [{"subType": "GENERAL_MISCELLANEOUS", "text": remark}]}
    return {"data": body | data}


async def create(client: TestClient, token: str | None, body: Any, **kwargs: Any):
    response = await client.post(ORDERS, json=body, headers=auth(token), **kwargs)
    return response.status, await response.json(content_type=None)


async def available(client: TestClient, segment: dict[str, Any], cabin: str = "ECONOMY") -> int:
    flight = segment["carrierCode"] + segment["number"]
    listed = await (
        await client.get(
            "/_sim/flights", params={"flight": flight, "date": segment["departure"]["at"][:10]}
        )
    ).json()
    return int(listed["flights"][0]["cabins"][cabin]["available"])


async def set_seats(client: TestClient, segment: dict[str, Any], seats: int) -> None:
    response = await client.post(
        "/_sim/seats",
        json={
            "flight": segment["carrierCode"] + segment["number"],
            "date": segment["departure"]["at"][:10],
            "cabin": "ECONOMY",
            "seats": seats,
        },
    )
    assert response.status == 200


def segments(offer: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for itinerary in offer["itineraries"] for s in itinerary["segments"]]


async def stats(client: TestClient) -> dict[str, Any]:
    return dict(await (await client.get("/_sim/stats")).json())


async def sim_orders(client: TestClient, **params: str) -> list[dict[str, Any]]:
    return list((await (await client.get("/_sim/orders", params=params)).json())["orders"])


# -- create, get, delete -----------------------------------------------------------------


async def test_create_get_and_delete(client: TestClient, token: str) -> None:
    offer = (await find_offers(client, token, adults=2, infants=1))[0]
    body = order_body(
        offer,
        remark="skyroute-booking-1",
        ticketingAgreement={"option": "DELAY_TO_CANCEL", "delay": "6D"},
    )
    status, created = await create(client, token, body)
    assert status == 201, created
    order = created["data"]
    assert order["type"] == "flight-order"
    assert order["id"].endswith("%3D")  # opaque and percent-encoded, like Amadeus'
    (record,) = order["associatedRecords"]
    assert re.fullmatch(r"[A-Z0-9]{6}", record["reference"])
    assert record["originSystemCode"] == "GDS" and record["flightOfferId"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000", record["creationDate"])
    assert order["flightOffers"] == [offer]
    assert order["travelers"] == body["data"]["travelers"]
    assert order["remarks"] == body["data"]["remarks"]
    assert order["ticketingAgreement"] == {"option": "DELAY_TO_CANCEL", "delay": "6D"}
    assert set(created["dictionaries"]["locations"]) == {"LHR", "CDG"}

    for order_id in (order["id"], urllib.parse.quote(order["id"], safe="")):
        response = await client.get(f"{ORDERS}/{order_id}", headers=auth(token))
        assert response.status == 200
        assert response.content_type == "application/vnd.amadeus+json"
        assert await response.json(content_type=None) == created

    response = await client.delete(f"{ORDERS}/{order['id']}", headers=auth(token))
    assert (response.status, await response.read()) == (204, b"")
    for method in (client.get, client.delete):
        response = await method(f"{ORDERS}/{order['id']}", headers=auth(token))
        assert response.status == 404
        assert await response.json(content_type=None) == NOT_FOUND

    counters = await stats(client)
    assert (counters["orders_created"], counters["orders_cancelled"]) == (1, 1)
    assert counters["orders_live"] == 0


async def test_orders_belong_to_the_client_that_created_them(
    client: TestClient, token: str, get_token
) -> None:
    offer = (await find_offers(client, token))[0]
    _, created = await create(client, token, order_body(offer))
    path = f"{ORDERS}/{created['data']['id']}"
    other = await get_token(OTHER_ID, OTHER_SECRET)
    assert (await client.get(path, headers=auth(other))).status == 404
    assert (await client.delete(path, headers=auth(other))).status == 404
    assert (await client.get(path, headers=auth(token))).status == 200


async def test_unknown_order_is_404(client: TestClient, token: str) -> None:
    response = await client.get(f"{ORDERS}/eJzNOPE%3D", headers=auth(token))
    assert response.status == 404
    assert await response.json(content_type=None) == NOT_FOUND


async def test_endpoints_require_a_bearer_token(client: TestClient, token: str) -> None:
    offer = (await find_offers(client, token))[0]
    status, body = await create(client, None, order_body(offer))
    assert (status, body["errors"][0]["code"]) == (401, 38191)
    for method in (client.get, client.delete):
        response = await method(f"{ORDERS}/anything", headers=auth("bogus"))
        assert response.status == 401
    assert (await stats(client))["orders_created"] == 0


# -- seats -------------------------------------------------------------------------------


async def test_booking_sells_seats_and_cancelling_returns_them(
    client: TestClient, token: str
) -> None:
    offer = (await find_offers(client, token, adults=2, infants=1))[0]
    (segment,) = segments(offer)
    await set_seats(client, segment, 3)
    offer = (await find_offers(client, token, adults=2, infants=1))[0]  # re-search: 3 seats
    assert segments(offer) == [segment] and offer["numberOfBookableSeats"] == 3

    status, first = await create(client, token, order_body(offer))
    assert status == 201
    assert await available(client, segment) == 1  # held infants take no seat
    remaining = await find_offers(client, token, adults=2)
    assert segment not in [s for o in remaining for s in segments(o)]

    status, failed = await create(client, token, order_body(offer))
    assert status == 400
    assert failed == {
        "errors": [
            {
                "status": 400,
                "code": 34651,
                "title": "SEGMENT SELL FAILURE",
                "detail": "Could not sell segment 1",
            }
        ]
    }
    assert await available(client, segment) == 1

    await client.delete(f"{ORDERS}/{first['data']['id']}", headers=auth(token))
    assert await available(client, segment) == 3
    await client.delete(f"{ORDERS}/{first['data']['id']}", headers=auth(token))
    assert await available(client, segment) == 3  # a second cancel returns nothing


async def test_all_segments_or_none(client: TestClient, token: str) -> None:
    offer = (
        await find_offers(client, token, originLocationCode="BCN", destinationLocationCode="BOS")
    )[0]
    first, second = segments(offer)
    before = await available(client, first)
    await set_seats(client, second, 0)
    status, body = await create(client, token, order_body(offer))
    assert status == 400
    assert body["errors"][0]["detail"] == "Could not sell segment 2"
    assert await available(client, first) == before
    assert (await stats(client))["orders_created"] == 0


async def test_concurrent_bookings_never_oversell(client: TestClient, token: str) -> None:
    offer = (await find_offers(client, token))[0]
    (segment,) = segments(offer)
    await set_seats(client, segment, 3)
    results = await asyncio.gather(*(create(client, token, order_body(offer)) for _ in range(8)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [400] * 5
    assert await available(client, segment) == 0
    assert len(await sim_orders(client)) == 3


async def test_price_change_since_the_offer_is_a_discrepancy(
    client: TestClient, token: str
) -> None:
    offer = (await find_offers(client, token))[0]
    (segment,) = segments(offer)
    before = await available(client, segment)
    await client.post("/_sim/price-change", json={"percent": -20})
    status, body = await create(client, token, order_body(offer))
    assert status == 400
    (error,) = body["errors"]
    assert (error["code"], error["title"]) == (37200, "PRICE DISCREPANCY")
    assert offer["price"]["grandTotal"] in error["detail"]
    assert await available(client, segment) == before

    repriced = (
        await (
            await client.post(
                "/v1/shopping/flight-offers/pricing",
                headers=auth(token),
                json={"data": {"type": "flight-offers-pricing", "flightOffers": [offer]}},
            )
        ).json(content_type=None)
    )["data"]["flightOffers"][0]
    status, _ = await create(client, token, order_body(repriced))
    assert status == 201


# -- validation --------------------------------------------------------------------------


def _drop_name(body: dict[str, Any]) -> None:
    del body["data"]["travelers"][0]["name"]["lastName"]


def _wrong_traveler(body: dict[str, Any]) -> None:
    body["data"]["travelers"][0]["id"] = "9"


def _bad_birth_date(body: dict[str, Any]) -> None:
    body["data"]["travelers"][0]["dateOfBirth"] = "31/01/1980"


def _no_travelers(body: dict[str, Any]) -> None:
    del body["data"]["travelers"]


def _no_price(body: dict[str, Any]) -> None:
    del body["data"]["flightOffers"][0]["price"]["grandTotal"]
    del body["data"]["flightOffers"][0]["price"]["total"]


def _wrong_type(body: dict[str, Any]) -> None:
    body["data"]["type"] = "flight-offers-pricing"


def _tampered_segment(body: dict[str, Any]) -> None:
    segments(body["data"]["flightOffers"][0])[0]["number"] = "9999"


@pytest.mark.parametrize(
    ("change", "code", "pointer"),
    [
        (_drop_name, 32171, "/data/travelers[0]/name/lastName"),
        (_wrong_traveler, 4926, "/data/travelers"),
        (_bad_birth_date, 477, "/data/travelers[0]/dateOfBirth"),
        (_no_travelers, 32171, "/data/travelers"),
        (_no_price, 32171, "/data/flightOffers[0]/price/grandTotal"),
        (_wrong_type, 4926, "/data/type"),
        (_tampered_segment, 4926, "/data/flightOffers[0]/itineraries[0]/segments[0]"),
    ],
)
async def test_invalid_orders(client: TestClient, token: str, change, code, pointer) -> None:
    offer = (await find_offers(client, token))[0]
    body = copy.deepcopy(order_body(offer))
    change(body)
    status, result = await create(client, token, body)
    assert status == 400
    (error,) = result["errors"]
    assert (error["code"], error["source"]) == (code, {"pointer": pointer})
    assert (await stats(client))["orders_created"] == 0


# -- injected failures and reconciliation ------------------------------------------------


async def test_fail_before_creates_nothing(client: TestClient, token: str) -> None:
    offer = (await find_offers(client, token))[0]
    (segment,) = segments(offer)
    before = await available(client, segment)
    response = await client.post("/_sim/fail-orders", json={"count": 1, "status": 503})
    assert (await response.json())["order_failures"] == {
        "remaining": 1,
        "status": 503,
        "mode": "before",
        "delay_ms": 0,
    }
    status, body = await create(client, token, order_body(offer, remark="attempt-1"))
    assert (status, body["errors"][0]["code"]) == (503, 141)
    assert await sim_orders(client) == []
    assert await available(client, segment) == before
    status, _ = await create(client, token, order_body(offer, remark="attempt-1"))
    assert status == 201


async def test_fail_after_creates_the_order_and_it_can_be_reconciled(
    client: TestClient, token: str
) -> None:
    offer = (await find_offers(client, token))[0]
    (segment,) = segments(offer)
    before = await available(client, segment)
    await client.post("/_sim/fail-orders", json={"count": 1, "status": 500, "mode": "after"})
    status, body = await create(client, token, order_body(offer, remark="booking-42"))
    assert (status, body["errors"][0]["code"]) == (500, 141)

    assert await available(client, segment) == before - 1
    assert (await stats(client))["orders_created"] == 1
    (found,) = await sim_orders(client, remark="booking-42")
    assert found["client_id"] == "skyroute"
    assert found["remarks"] == ["booking-42"]
    assert await sim_orders(client, remark="booking-41") == []
    assert (await sim_orders(client, reference=found["reference"]))[0]["id"] == found["id"]
    response = await client.get(f"{ORDERS}/{found['id']}", headers=auth(token))
    assert (await response.json(content_type=None))["data"]["remarks"]["general"][0][
        "text"
    ] == "booking-42"
    response = await client.delete(f"{ORDERS}/{found['id']}", headers=auth(token))
    assert response.status == 204
    assert await available(client, segment) == before


async def test_fail_after_with_delay_lets_the_client_time_out(
    client: TestClient, token: str
) -> None:
    offer = (await find_offers(client, token))[0]
    await client.post(
        "/_sim/fail-orders", json={"count": 1, "status": 504, "mode": "after", "delay_ms": 300}
    )
    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            ORDERS,
            json=order_body(offer, remark="slow"),
            headers=auth(token),
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    (found,) = await sim_orders(client, remark="slow")
    assert found["data"]["flightOffers"] == [offer]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"count": 1, "mode": "during"},
        {"count": 1, "status": 200},
        {"count": -1},
        {"count": 1, "delay_ms": -5},
        {"count": 1, "retry": True},
    ],
)
async def test_invalid_fail_orders_input(client: TestClient, payload: dict[str, Any]) -> None:
    response = await client.post("/_sim/fail-orders", json=payload)
    assert response.status == 400
    assert (await response.json())["error"]


async def test_reset_forgets_orders_and_faults(client: TestClient, token: str) -> None:
    offer = (await find_offers(client, token))[0]
    await create(client, token, order_body(offer))
    await client.post("/_sim/fail-orders", json={"count": 3})
    await client.post("/_sim/reset")
    assert await sim_orders(client) == []
    counters = await stats(client)
    assert (counters["orders_created"], counters["orders_live"]) == (0, 0)
    new_token = await (
        await client.post(
            "/v1/security/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "skyroute",
                "client_secret": "s3cret-for-tests-only",
            },
        )
    ).json()
    status, _ = await create(client, new_token["access_token"], order_body(offer))
    assert status == 201
