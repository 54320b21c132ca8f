"""The hotel supplier stand-in's search, pricing and orders (provider_sim/hotels), over a
real in-process HTTP server with a token from the stand-in's own token endpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.hotels.inventory import HotelInventory
from provider_sim.hotels.market import OfferKey
from provider_sim.state import SimState

CHECK_IN = (datetime.now(UTC) + timedelta(days=40)).date()
CHECK_OUT = CHECK_IN + timedelta(days=3)


async def _get(client: TestClient, token: str, path: str, **params: Any) -> tuple[int, Any]:
    response = await client.get(
        path,
        params={k: str(v) for k, v in params.items()},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status, await response.json(content_type=None)


async def _offers(client: TestClient, token: str, city: str = "PAR", **extra: Any) -> list[Any]:
    status, listed = await _get(
        client, token, "/v1/reference-data/locations/hotels/by-city", cityCode=city
    )
    assert status == 200, listed
    ids = ",".join(h["hotelId"] for h in listed["data"])
    params = {"hotelIds": ids, "checkInDate": CHECK_IN, "checkOutDate": CHECK_OUT, "adults": 2}
    status, body = await _get(client, token, "/v3/shopping/hotel-offers", **(params | extra))
    assert status == 200, body
    return list(body["data"])


def _order_body(offer_id: str, remark: str = "attempt-1") -> dict[str, Any]:
    return {
        "data": {
            "type": "hotel-order",
            "guests": [{"tid": 1, "firstName": "ADA", "lastName": "LOVELACE"}],
            "travelAgent": {"contact": {"email": "ops@example.com"}},
            "roomAssociations": [
                {
                    "guestReferences": [{"guestReference": "1"}],
                    "hotelOfferId": offer_id,
                    "specialRequest": remark,
                }
            ],
            "payment": {"method": "CREDIT_CARD"},
        }
    }


def test_world_is_deterministic_and_real() -> None:
    a, b = HotelInventory(7), HotelInventory(7)
    assert [h.name for h in a.hotels()] == [h.name for h in b.hotels()]
    paris = a.city_hotels("PAR")
    assert 12 <= len(paris) <= 24
    assert all(1 <= h.stars <= 5 and "WIFI" in h.amenities for h in paris)
    # Within a few km of the real centre of Paris (or at CDG, the airport area).
    assert all(h.distance_km(48.8566, 2.3522) < 30 for h in paris)
    assert [h.name for h in HotelInventory(8).hotels()] != [h.name for h in a.hotels()]


async def test_city_search_by_name_and_code(client: TestClient, get_token) -> None:
    token = await get_token()
    status, body = await _get(client, token, "/v1/reference-data/locations/cities", keyword="pari")
    assert status == 200
    assert [c["iataCode"] for c in body["data"]] == ["PAR"]
    assert body["data"][0]["timeZoneOffset"] in ("+01:00", "+02:00")
    _, body = await _get(client, token, "/v1/reference-data/locations/cities", keyword="NYC")
    assert body["data"][0]["name"] == "NEW YORK"
    _, body = await _get(client, token, "/v1/reference-data/locations/cities", keyword="ATLANTIS")
    assert body["data"] == []


async def test_hotel_list_filters_and_unknown_city(client: TestClient, get_token) -> None:
    token = await get_token()
    path = "/v1/reference-data/locations/hotels/by-city"
    _, every = await _get(client, token, path, cityCode="LON", radius=50)
    _, four = await _get(client, token, path, cityCode="LON", radius=50, ratings="4,5")
    assert {h["rating"] for h in four["data"]} <= {4, 5}
    assert len(four["data"]) < len(every["data"])
    distances = [h["distance"]["value"] for h in every["data"]]
    assert distances == sorted(distances)
    status, body = await _get(client, token, path, cityCode="XXX")
    assert status == 400 and body["errors"][0]["code"] == 895


async def test_hotel_list_by_ids_and_offers_skip_unknown_ids(client: TestClient, get_token) -> None:
    token = await get_token()
    _, listed = await _get(
        client, token, "/v1/reference-data/locations/hotels/by-city", cityCode="PAR"
    )
    first, second = listed["data"][0], listed["data"][1]
    ids = f"{second['hotelId']},ZZPAR999,{first['hotelId']},{second['hotelId']}"
    path = "/v1/reference-data/locations/hotels/by-hotels"
    status, body = await _get(client, token, path, hotelIds=ids)
    assert status == 200
    # In the order asked, once each, as the list by city has them but for the distance.
    del first["distance"], second["distance"]
    assert body["data"] == [second, first]
    status, body = await _get(client, token, path, hotelIds="ZZPAR999")
    assert status == 200 and body["data"] == []
    status, body = await _get(client, token, path)
    assert status == 400
    params = {"hotelIds": ids, "checkInDate": CHECK_IN, "checkOutDate": CHECK_OUT, "adults": 2}
    status, body = await _get(client, token, "/v3/shopping/hotel-offers", **params)
    assert status == 200
    assert {h["hotel"]["hotelId"] for h in body["data"]} <= {first["hotelId"], second["hotelId"]}


async def test_offers_prices_add_up_and_refundable_rates_have_deadlines(
    client: TestClient, get_token
) -> None:
    token = await get_token()
    data = await _offers(client, token, bestRateOnly="false")
    assert data
    offer = data[0]["offers"][0]
    changes = offer["price"]["variations"]["changes"]
    assert len(changes) == 3
    total = sum(round(float(c["total"]) * 100) for c in changes)
    assert total == round(float(offer["price"]["total"]) * 100)
    kinds = {o["policies"]["refundable"]["cancellationRefund"] for d in data for o in d["offers"]}
    assert kinds == {"REFUNDABLE_UP_TO_DEADLINE", "NON_REFUNDABLE"}
    refundable = next(
        o
        for d in data
        for o in d["offers"]
        if o["policies"]["refundable"]["cancellationRefund"] == "REFUNDABLE_UP_TO_DEADLINE"
    )
    deadline = datetime.fromisoformat(refundable["policies"]["cancellations"][0]["deadline"])
    assert deadline.date() < CHECK_IN
    # Two rooms cost twice one room.
    two = await _offers(client, token, roomQuantity=2)
    one = {d["hotel"]["hotelId"]: d["offers"][0] for d in await _offers(client, token)}
    for item in two:
        single = one.get(item["hotel"]["hotelId"])
        if single and single["room"]["type"] == item["offers"][0]["room"]["type"]:
            assert float(item["offers"][0]["price"]["total"]) == pytest.approx(
                2 * float(single["price"]["total"])
            )


async def test_past_check_in_and_bad_ages_rejected(client: TestClient, get_token) -> None:
    token = await get_token()
    past = date.today() - timedelta(days=3)
    status, body = await _get(
        client,
        token,
        "/v3/shopping/hotel-offers",
        hotelIds=HotelInventory(7).city_hotels("PAR")[0].hotel_id,
        checkInDate=past,
        checkOutDate=past + timedelta(days=1),
        adults=1,
    )
    assert status == 400 and body["errors"][0]["source"]["parameter"] == "checkInDate"
    status, body = await _get(
        client,
        token,
        "/v3/shopping/hotel-offers",
        hotelIds=HotelInventory(7).city_hotels("PAR")[0].hotel_id,
        checkInDate=CHECK_IN,
        checkOutDate=CHECK_OUT,
        childAges="4,19",
    )
    assert status == 400 and body["errors"][0]["source"]["parameter"] == "childAges"


async def test_price_change_then_recheck_and_order(
    client: TestClient, get_token, sim_state: SimState
) -> None:
    token = await get_token()
    offer = (await _offers(client, token))[0]["offers"][0]
    path = f"/v3/shopping/hotel-offers/{offer['id']}"
    status, same = await _get(client, token, path)
    assert status == 200 and same["data"]["offers"][0]["price"] == offer["price"]
    sim_state.hotels.set_price_percent(__import__("decimal").Decimal(20))
    status, repriced = await _get(client, token, path)
    new = repriced["data"]["offers"][0]
    assert new["id"] != offer["id"]
    assert float(new["price"]["total"]) > float(offer["price"]["total"])
    headers = {"Authorization": f"Bearer {token}"}
    stale = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(offer["id"]), headers=headers
    )
    assert stale.status == 400
    assert (await stale.json(content_type=None))["errors"][0]["code"] == 37200
    made = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(new["id"]), headers=headers
    )
    assert made.status == 201, await made.text()
    order = (await made.json(content_type=None))["data"]
    assert order["hotelBookings"][0]["bookingStatus"] == "CONFIRMED"
    status, fetched = await _get(client, token, f"/v2/booking/hotel-orders/{order['id']}")
    assert status == 200 and fetched["data"]["id"] == order["id"]
    gone = await client.delete(f"/v2/booking/hotel-orders/{order['id']}", headers=headers)
    assert gone.status == 204
    again = await client.delete(f"/v2/booking/hotel-orders/{order['id']}", headers=headers)
    assert again.status == 404


async def test_last_room_sold_once_and_cancel_gives_it_back(
    client: TestClient, get_token, sim_state: SimState
) -> None:
    token = await get_token()
    offer = (await _offers(client, token))[0]["offers"][0]
    key = OfferKey.decode(offer["id"])
    assert key is not None
    body = {
        "hotelId": key.hotel_id,
        "roomType": key.room,
        "checkInDate": CHECK_IN.isoformat(),
        "checkOutDate": CHECK_OUT.isoformat(),
        "rooms": 1,
    }
    assert (await client.post("/_sim/hotel-rooms", json=body)).status == 200
    headers = {"Authorization": f"Bearer {token}"}
    first = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(offer["id"]), headers=headers
    )
    assert first.status == 201
    second = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(offer["id"]), headers=headers
    )
    assert second.status == 400
    assert (await second.json(content_type=None))["errors"][0]["code"] == 3664
    status, _ = await _get(client, token, f"/v3/shopping/hotel-offers/{offer['id']}")
    assert status == 400
    order_id = (await first.json(content_type=None))["data"]["id"]
    await client.delete(f"/v2/booking/hotel-orders/{order_id}", headers=headers)
    status, _ = await _get(client, token, f"/v3/shopping/hotel-offers/{offer['id']}")
    assert status == 200


async def test_order_failing_after_creation_is_found_by_remark(
    client: TestClient, get_token
) -> None:
    token = await get_token()
    offer = (await _offers(client, token))[0]["offers"][0]
    fault = {"count": 1, "status": 504, "mode": "after"}
    assert (await client.post("/_sim/fail-hotel-orders", json=fault)).status == 200
    headers = {"Authorization": f"Bearer {token}"}
    failed = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(offer["id"], "remark-x"), headers=headers
    )
    assert failed.status == 504
    listed = await (await client.get("/_sim/hotel-orders", params={"remark": "remark-x"})).json()
    assert len(listed["orders"]) == 1
    stats = await (await client.get("/_sim/hotel-stats")).json()
    assert stats["hotel_orders_created"] == 1 and stats["hotel_orders_live"] == 1
    await client.post("/_sim/reset")
    stats = await (await client.get("/_sim/hotel-stats")).json()
    assert stats["hotel_orders_live"] == 0


async def test_cancel_faults_before_keep_the_order_after_cancel_it(
    client: TestClient, get_token
) -> None:
    token = await get_token()
    offer = (await _offers(client, token))[0]["offers"][0]
    headers = {"Authorization": f"Bearer {token}"}
    created = await client.post(
        "/v2/booking/hotel-orders", json=_order_body(offer["id"], "remark-c"), headers=headers
    )
    path = f"/v2/booking/hotel-orders/{(await created.json(content_type=None))['data']['id']}"

    async def stats() -> dict[str, int]:
        return dict(await (await client.get("/_sim/hotel-stats")).json())

    before = {"count": 1, "status": 503, "mode": "before"}
    assert (await client.post("/_sim/fail-hotel-cancels", json=before)).status == 200
    assert (await client.delete(path, headers=headers)).status == 503
    assert (await stats())["hotel_orders_live"] == 1  # not cancelled
    after = {"count": 1, "status": 502, "mode": "after", "delay_ms": 50}
    answered = await client.post("/_sim/fail-hotel-cancels", json=after)
    assert (await answered.json())["cancel_failures"]["remaining"] == 1
    assert (await client.delete(path, headers=headers)).status == 502
    counted = await stats()
    assert counted["hotel_orders_live"] == 0 and counted["hotel_orders_cancelled"] == 1
    assert (await client.delete(path, headers=headers)).status == 404  # gone: fault used up
    bad = await client.post("/_sim/fail-hotel-cancels", json={"count": 1, "mode": "during"})
    assert bad.status == 400


async def test_hotel_endpoints_share_the_api_faults(client: TestClient, get_token) -> None:
    token = await get_token()
    await client.post("/_sim/fail-api", json={"count": 1, "status": 503})
    status, _ = await _get(
        client, token, "/v1/reference-data/locations/hotels/by-city", cityCode="PAR"
    )
    assert status == 503
    await client.post("/_sim/revoke", json={})
    status, body = await _get(
        client, token, "/v1/reference-data/locations/hotels/by-city", cityCode="PAR"
    )
    assert status == 401 and body["errors"][0]["code"] == 38193
