"""POST /v1/shopping/flight-offers/pricing and the /_sim/ price and seat controls."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.utils.sim_days import open_days

PRICING = "/v1/shopping/flight-offers/pricing"
# A month ahead, on days every cabin of LHR-JFK is on sale both ways (tests/utils/sim_days.py).
DEPART, RETURN = (d.isoformat() for d in open_days(30))


@pytest.fixture
async def token(get_token) -> str:
    return await get_token()


async def find_offers(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    query = {
        "originLocationCode": "LHR",
        "destinationLocationCode": "JFK",
        "departureDate": DEPART,
        "adults": "1",
    } | {k: str(v) for k, v in params.items()}
    response = await client.get(
        "/v2/shopping/flight-offers", params=query, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    offers: list[dict[str, Any]] = (await response.json(content_type=None))["data"]
    assert offers
    return offers


async def price(client: TestClient, token: str | None, *offers: Any, body: Any = None):
    if body is None:
        body = {"data": {"type": "flight-offers-pricing", "flightOffers": list(offers)}}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(PRICING, json=body, headers=headers)
    return response.status, await response.json(content_type=None)


def first_segment(offer: dict[str, Any]) -> dict[str, Any]:
    return offer["itineraries"][0]["segments"][0]


async def test_pricing_an_unchanged_offer_returns_it_as_is(client: TestClient, token) -> None:
    offer = (await find_offers(client, token, returnDate=RETURN, adults=2, infants=1))[0]
    status, body = await price(client, token, offer)
    assert status == 200
    assert body["data"]["type"] == "flight-offers-pricing"
    assert body["data"]["flightOffers"] == [offer]
    assert "warnings" not in body
    assert set(body["dictionaries"]["locations"]) == {"LHR", "JFK"}
    assert (await (await client.get("/_sim/stats")).json())["pricing_requests"] == 1


async def test_price_change_is_reported_and_can_be_undone(client: TestClient, token) -> None:
    offer = (await find_offers(client, token, adults=2))[0]
    change = await client.post("/_sim/price-change", json={"percent": 10})
    assert (change.status, await change.json()) == (200, {"percent": "10"})

    status, body = await price(client, token, offer)
    assert status == 200
    (repriced,) = body["data"]["flightOffers"]
    assert body["warnings"][0]["title"] == "PricingOrFareBasisDiscrepancyWarning"
    old, new = offer["price"], repriced["price"]
    assert Decimal(new["base"]) / Decimal(old["base"]) == pytest.approx(Decimal("1.1"), abs=0.001)
    assert new["fees"] == old["fees"]  # airport charges do not move with fares
    assert Decimal(new["grandTotal"]) > Decimal(old["grandTotal"])
    fees = sum(Decimal(f["amount"]) for f in new["fees"])
    assert Decimal(new["total"]) == Decimal(new["base"]) + fees
    assert repriced["itineraries"] == offer["itineraries"]

    # New searches see the new price too.
    assert (await find_offers(client, token, adults=2))[0]["price"] == new

    await client.post("/_sim/price-change", json={"percent": 0})
    status, body = await price(client, token, offer)
    assert body["data"]["flightOffers"] == [offer] and "warnings" not in body


async def test_a_client_sent_price_is_not_trusted(client: TestClient, token) -> None:
    offer = (await find_offers(client, token))[0]
    cheap = copy.deepcopy(offer)
    cheap["price"]["grandTotal"] = cheap["price"]["total"] = "1.00"
    status, body = await price(client, token, cheap)
    assert status == 200
    assert body["data"]["flightOffers"][0]["price"] == offer["price"]
    assert body["warnings"]


async def test_several_offers_at_once(client: TestClient, token) -> None:
    offers = (await find_offers(client, token, destinationLocationCode="CDG"))[:3]
    status, body = await price(client, token, *offers)
    assert status == 200
    assert body["data"]["flightOffers"] == offers


def tamper(offer: dict[str, Any], change) -> dict[str, Any]:
    changed = copy.deepcopy(offer)
    change(changed)
    return changed


def _shift_departure(offer: dict[str, Any]) -> None:
    first_segment(offer)["departure"]["at"] = first_segment(offer)["departure"]["at"][:-5] + "01:00"


@pytest.mark.parametrize(
    ("change", "code", "pointer"),
    [
        (_shift_departure, 4926, "/data/flightOffers[0]/itineraries[0]/segments[0]"),
        (
            lambda o: first_segment(o).update(number="9999"),
            4926,
            "/data/flightOffers[0]/itineraries[0]/segments[0]",
        ),
        (
            lambda o: first_segment(o).update(carrierCode="LH"),
            4926,
            "/data/flightOffers[0]/itineraries[0]/segments[0]",
        ),
        (
            lambda o: first_segment(o)["arrival"].update(iataCode="EWR"),
            4926,
            "/data/flightOffers[0]/itineraries[0]/segments[0]",
        ),
        (
            lambda o: first_segment(o)["departure"].update(at="tomorrow"),
            477,
            "/data/flightOffers[0]/itineraries[0]/segments[0]/departure/at",
        ),
        (
            lambda o: first_segment(o).pop("carrierCode"),
            32171,
            "/data/flightOffers[0]/itineraries[0]/segments[0]/carrierCode",
        ),
        (lambda o: o.pop("travelerPricings"), 32171, "/data/flightOffers[0]/travelerPricings"),
        (
            lambda o: o["travelerPricings"][0]["fareDetailsBySegment"][0].update(cabin="SUITE"),
            4926,
            "/data/flightOffers[0]/travelerPricings[0]/fareDetailsBySegment[0]/cabin",
        ),
        (
            lambda o: o["travelerPricings"][0]["fareDetailsBySegment"][0].update(segmentId="7"),
            4926,
            "/data/flightOffers[0]/travelerPricings[0]/fareDetailsBySegment[0]/segmentId",
        ),
        (
            lambda o: o["travelerPricings"][0].update(travelerType="HELD_INFANT"),
            32171,
            "/data/flightOffers[0]/travelerPricings[0]/associatedAdultId",
        ),
        (lambda o: o["price"].update(currency="XYZ"), 4926, "/data/flightOffers[0]/price/currency"),
        (
            lambda o: o["price"].update(grandTotal=12.5),
            477,
            "/data/flightOffers[0]/price/grandTotal",
        ),
        (lambda o: o.update(type="hotel-offer"), 4926, "/data/flightOffers[0]/type"),
    ],
)
async def test_tampered_or_malformed_offers_are_rejected(
    client: TestClient, token, change, code: int, pointer: str
) -> None:
    offer = (await find_offers(client, token, includedAirlineCodes="BA"))[0]
    status, body = await price(client, token, tamper(offer, change))
    assert status == 400
    (entry,) = body["errors"]
    assert (entry["status"], entry["code"]) == (400, code)
    assert entry["source"] == {"pointer": pointer}


async def test_a_cabin_the_flight_does_not_sell_is_rejected(client: TestClient, token) -> None:
    offer = (await find_offers(client, token, destinationLocationCode="CDG"))[0]

    def first_class(o: dict[str, Any]) -> None:
        for detail in o["travelerPricings"][0]["fareDetailsBySegment"]:
            detail["cabin"] = "FIRST"

    status, body = await price(client, token, tamper(offer, first_class))
    assert (status, body["errors"][0]["code"]) == (400, 4926)
    assert "FIRST" in body["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 32171),
        ({"data": {"type": "flight-offers-pricing"}}, 32171),
        ({"data": {"type": "flight-offers-pricing", "flightOffers": []}}, 32171),
        ({"data": {"type": "flight-order", "flightOffers": [{}]}}, 4926),
        ({"data": {"type": "flight-offers-pricing", "flightOffers": "all"}}, 477),
        ({"data": {"type": "flight-offers-pricing", "flightOffers": [1]}}, 477),
    ],
)
async def test_malformed_bodies(client: TestClient, token, body: Any, code: int) -> None:
    status, result = await price(client, token, body=body)
    assert (status, result["errors"][0]["code"]) == (400, code)


async def test_sold_out_segment_fails_pricing(client: TestClient, token) -> None:
    offer = (await find_offers(client, token))[0]
    segment = first_segment(offer)
    sold = await client.post(
        "/_sim/sold-out",
        json={"flight": segment["carrierCode"] + segment["number"], "date": DEPART},
    )
    assert sold.status == 200
    assert set((await sold.json())["seats"].values()) == {0}
    status, body = await price(client, token, offer)
    assert status == 400
    assert body["errors"][0] == {
        "status": 400,
        "code": 34651,
        "title": "SEGMENT SELL FAILURE",
        "detail": "Could not sell segment 1",
    }
    flights = [
        o
        for o in await find_offers(client, token)
        if first_segment(o)["number"] == segment["number"]
    ]
    assert flights == []


async def test_pricing_reports_fewer_seats(client: TestClient, token) -> None:
    offer = (await find_offers(client, token))[0]
    segment = first_segment(offer)
    await client.post(
        "/_sim/seats",
        json={
            "flight": segment["carrierCode"] + segment["number"],
            "date": DEPART,
            "cabin": "ECONOMY",
            "seats": 1,
        },
    )
    status, body = await price(client, token, offer)
    assert status == 200
    assert body["data"]["flightOffers"][0]["numberOfBookableSeats"] == 1


async def test_requires_a_bearer_token(client: TestClient, token) -> None:
    offer = (await find_offers(client, token))[0]
    status, body = await price(client, None, offer)
    assert (status, body["errors"][0]["code"]) == (401, 38191)
    assert (await (await client.get("/_sim/stats")).json())["pricing_requests"] == 0


# -- controls ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/_sim/price-change", {}),
        ("/_sim/price-change", {"percent": "10"}),
        ("/_sim/price-change", {"percent": -95}),
        ("/_sim/price-change", {"percent": 5, "extra": 1}),
        ("/_sim/seats", {"flight": "BA201", "date": DEPART}),
        ("/_sim/seats", {"flight": "BA201", "date": DEPART, "seats": -1}),
        ("/_sim/seats", {"flight": "BA201", "date": "tomorrow", "seats": 1}),
        ("/_sim/seats", {"flight": "BA9999", "date": DEPART, "seats": 1}),
        ("/_sim/seats", {"flight": "BA201", "date": DEPART, "seats": 1, "cabin": "SUITE"}),
        ("/_sim/sold-out", {"flight": "speedbird", "date": DEPART}),
    ],
)
async def test_invalid_control_input(client: TestClient, path: str, payload: Any) -> None:
    response = await client.post(path, json=payload)
    assert response.status == 400
    assert (await response.json())["error"]


async def test_flights_and_inventory_controls(client: TestClient) -> None:
    inventory = await (await client.get("/_sim/inventory")).json()
    assert inventory["seed"] == 7
    assert len(inventory["airports"]) == 25
    heathrow = inventory["airports"][0]
    assert (heathrow["iataCode"], heathrow["timeZone"]) == ("LHR", "Europe/London")
    routes = {(r["origin"], r["destination"]): r["carriers"] for r in inventory["routes"]}
    assert routes[("LHR", "JFK")] == routes[("JFK", "LHR")] == ["AA", "BA"]

    listed = await (
        await client.get(
            "/_sim/flights", params={"origin": "LHR", "destination": "JFK", "date": DEPART}
        )
    ).json()
    assert [f["flight"] for f in listed["flights"]] == ["AA232", "BA201"]
    params = {"flight": "BA201", "date": DEPART}
    one = await (await client.get("/_sim/flights", params=params)).json()
    assert one["flights"] == listed["flights"][1:]
    assert set(one["flights"][0]["cabins"]) == {"ECONOMY", "PREMIUM_ECONOMY", "BUSINESS", "FIRST"}
    assert (await client.get("/_sim/flights", params={"date": DEPART})).status == 400


async def test_reset_restores_prices_and_seats(client: TestClient, token) -> None:
    offer = (await find_offers(client, token))[0]
    segment = first_segment(offer)
    await client.post("/_sim/price-change", json={"percent": 25.5})
    await client.post(
        "/_sim/sold-out",
        json={"flight": segment["carrierCode"] + segment["number"], "date": DEPART},
    )
    await client.post("/_sim/reset")
    token = await (
        await client.post(
            "/v1/security/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "skyroute",
                "client_secret": "s3cret-for-tests-only",
            },
        )
    ).json()
    status, body = await price(client, token["access_token"], offer)
    assert status == 200
    assert body["data"]["flightOffers"] == [offer]
