"""GET and POST /v2/shopping/flight-offers over the stand-in's own inventory."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from provider_sim.app import create_app
from provider_sim.inventory import inventory_for_seed
from provider_sim.state import SimConfig, SimState
from tests.utils.sim_days import open_days

PATH = "/v2/shopping/flight-offers"
AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
DURATION_RE = re.compile(r"^PT(\d+H)?(\d+M)?$")
AMOUNT_RE = re.compile(r"^\d+\.\d{2}$")
INVENTORY = inventory_for_seed(7)


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


# A month ahead, on days every cabin of LHR-JFK is on sale both ways (tests/utils/sim_days.py).
DEPART, RETURN = (d.isoformat() for d in open_days(30))


async def search(client: TestClient, token: str | None, **params: Any) -> tuple[int, Any]:
    query = {
        "originLocationCode": "LHR",
        "destinationLocationCode": "JFK",
        "departureDate": DEPART,
        "adults": "1",
    } | {k: str(v) for k, v in params.items()}
    query = {k: v for k, v in query.items() if v != "None"}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get(PATH, params=query, headers=headers)
    return response.status, await response.json(content_type=None)


async def post_search(client: TestClient, token: str, body: Any, **headers: str) -> tuple[int, Any]:
    response = await client.post(
        PATH, json=body, headers={"Authorization": f"Bearer {token}", **headers}
    )
    return response.status, await response.json(content_type=None)


def segments(offer: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for itinerary in offer["itineraries"] for s in itinerary["segments"]]


def carriers(offer: dict[str, Any]) -> set[str]:
    return {s["carrierCode"] for s in segments(offer)}


def cabins(offer: dict[str, Any]) -> set[str]:
    return {d["cabin"] for t in offer["travelerPricings"] for d in t["fareDetailsBySegment"]}


def total(offer: dict[str, Any]) -> Decimal:
    return Decimal(offer["price"]["grandTotal"])


@pytest.fixture
async def token(get_token) -> str:
    return await get_token()


# -- determinism -------------------------------------------------------------------------


async def test_same_query_twice_and_on_another_app_gives_identical_offers(
    client: TestClient, token: str
) -> None:
    params = {"returnDate": RETURN, "adults": 2, "children": 1, "infants": 1}
    status, first = await search(client, token, **params)
    assert status == 200 and first["meta"]["count"] > 0
    assert (await search(client, token, **params))[1] == first

    other_state = SimState({"x": "secret-x"}, SimConfig(token_ttl=60))
    async with TestClient(TestServer(create_app(other_state))) as other:
        form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "secret-x"}
        other_token = (await (await other.post("/v1/security/oauth2/token", data=form)).json())[
            "access_token"
        ]
        status, second = await search(other, other_token, **params)
    assert status == 200
    assert second["data"] == first["data"]
    assert second["dictionaries"] == first["dictionaries"]


# -- shape -------------------------------------------------------------------------------


async def test_offer_has_the_amadeus_shape_and_exact_prices(client: TestClient, token: str) -> None:
    response = await client.get(
        PATH,
        params={
            "originLocationCode": "BCN",
            "destinationLocationCode": "BOS",
            "departureDate": DEPART,
            "adults": "2",
            "children": "1",
            "infants": "1",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 200
    assert response.content_type == "application/vnd.amadeus+json"
    body = await response.json(content_type=None)
    assert body["meta"]["count"] == len(body["data"]) > 0
    assert body["meta"]["links"]["self"].endswith(response.url.path_qs)
    dictionaries = body["dictionaries"]
    assert dictionaries["currencies"] == {"EUR": "EURO"}
    for n, offer in enumerate(body["data"]):
        assert offer["id"] == str(n + 1)
        assert offer["type"] == "flight-offer"
        assert offer["source"] == "GDS"
        for flag in ("instantTicketingRequired", "nonHomogeneous", "oneWay"):
            assert offer[flag] is False
        assert DEPART >= offer["lastTicketingDate"] >= day(0)
        assert 1 <= offer["numberOfBookableSeats"] <= 9
        assert offer["validatingAirlineCodes"] == [segments(offer)[0]["carrierCode"]]
        assert offer["pricingOptions"]["fareType"] == ["PUBLISHED"]
        (itinerary,) = offer["itineraries"]
        assert DURATION_RE.match(itinerary["duration"])
        for k, segment in enumerate(itinerary["segments"]):
            assert segment["id"] == str(k + 1)
            assert AT_RE.match(segment["departure"]["at"]) and AT_RE.match(segment["arrival"]["at"])
            assert DURATION_RE.match(segment["duration"])
            assert segment["numberOfStops"] == 0 and segment["blacklistedInEU"] is False
            assert segment["operating"] == {"carrierCode": segment["carrierCode"]}
            assert segment["number"].isdigit()
            assert segment["aircraft"]["code"] in dictionaries["aircraft"]
            assert segment["carrierCode"] in dictionaries["carriers"]
            for end in ("departure", "arrival"):
                assert segment[end]["iataCode"] in dictionaries["locations"]
        assert itinerary["segments"][0]["departure"]["iataCode"] == "BCN"
        assert itinerary["segments"][-1]["arrival"]["iataCode"] == "BOS"

        price = offer["price"]
        amounts = [price["total"], price["base"], price["grandTotal"]]
        amounts += [fee["amount"] for fee in price["fees"]]
        assert all(AMOUNT_RE.match(a) for a in amounts)
        assert price["currency"] == "EUR"
        fees = sum(Decimal(fee["amount"]) for fee in price["fees"])
        assert Decimal(price["total"]) == Decimal(price["base"]) + fees
        assert price["grandTotal"] == price["total"]

        pricings = offer["travelerPricings"]
        assert [(t["travelerId"], t["travelerType"]) for t in pricings] == [
            ("1", "ADULT"),
            ("2", "ADULT"),
            ("3", "CHILD"),
            ("4", "HELD_INFANT"),
        ]
        assert pricings[3]["associatedAdultId"] == "1"
        assert sum(Decimal(t["price"]["total"]) for t in pricings) == Decimal(price["total"])
        assert sum(Decimal(t["price"]["base"]) for t in pricings) == Decimal(price["base"])
        adult, child, infant = (Decimal(pricings[i]["price"]["total"]) for i in (0, 2, 3))
        assert adult > child > infant > 0
        assert infant == Decimal(pricings[3]["price"]["base"])  # infants pay no charges
        for pricing in pricings:
            assert [d["segmentId"] for d in pricing["fareDetailsBySegment"]] == [
                s["id"] for s in segments(offer)
            ]
            assert {d["cabin"] for d in pricing["fareDetailsBySegment"]} == {"ECONOMY"}


async def test_offers_are_sorted_by_price(client: TestClient, token: str) -> None:
    _, body = await search(client, token, originLocationCode="LHR", destinationLocationCode="CDG")
    totals = [total(offer) for offer in body["data"]]
    assert len(totals) >= 2 and totals == sorted(totals)


async def test_local_times_and_durations_are_consistent(client: TestClient, token: str) -> None:
    _, body = await search(client, token)
    for offer in body["data"]:
        (segment,) = segments(offer)
        flight = INVENTORY.flight(
            segment["carrierCode"], segment["number"], datetime.fromisoformat(DEPART).date()
        )
        assert flight is not None
        assert segment["departure"]["at"] == flight.departure.isoformat()
        assert segment["arrival"]["at"] == flight.arrival.isoformat()
        minutes = (flight.arrival_utc - flight.departure_utc) // timedelta(minutes=1)
        assert segment["duration"] == f"PT{minutes // 60}H{minutes % 60}M".replace("H0M", "H")


# -- filters -----------------------------------------------------------------------------


async def test_connections_only_without_a_non_stop_route(client: TestClient, token: str) -> None:
    assert not INVENTORY.has_direct("BCN", "BOS")
    _, body = await search(client, token, originLocationCode="BCN", destinationLocationCode="BOS")
    assert body["data"] and all(len(segments(o)) == 2 for o in body["data"])
    for offer in body["data"]:
        first, second = segments(offer)
        assert first["arrival"]["iataCode"] == second["departure"]["iataCode"]
        assert first["arrival"]["at"] < second["departure"]["at"]  # both local to the hub

    status, body = await search(
        client, token, originLocationCode="BCN", destinationLocationCode="BOS", nonStop="true"
    )
    assert status == 200
    assert body["meta"]["count"] == 0 and body["data"] == []
    assert "dictionaries" not in body

    _, direct = await search(client, token, nonStop="true")
    _, default = await search(client, token, nonStop="false")
    assert direct["data"] and direct["data"] == default["data"]
    assert all(len(segments(o)) == 1 for o in direct["data"])


async def test_included_and_excluded_airlines(client: TestClient, token: str) -> None:
    _, everything = await search(client, token)
    assert {"AA", "BA"} <= set().union(*(carriers(o) for o in everything["data"]))
    _, only_ba = await search(client, token, includedAirlineCodes="BA")
    assert only_ba["data"] and all(carriers(o) == {"BA"} for o in only_ba["data"])
    _, no_ba = await search(client, token, excludedAirlineCodes="BA,XX")
    assert no_ba["data"] and all("BA" not in carriers(o) for o in no_ba["data"])
    assert len(only_ba["data"]) + len(no_ba["data"]) == len(everything["data"])
    assert set(only_ba["dictionaries"]["carriers"]) == {"BA"}


async def test_max_price_bounds_every_traveler(client: TestClient, token: str) -> None:
    params = {
        "originLocationCode": "LHR",
        "destinationLocationCode": "CDG",
        "adults": 2,
        "children": 1,
    }
    _, everything = await search(client, token, **params)
    adult_totals = sorted(
        Decimal(o["travelerPricings"][0]["price"]["total"]) for o in everything["data"]
    )
    limit = int(adult_totals[len(adult_totals) // 2])
    _, capped = await search(client, token, maxPrice=limit, **params)
    assert 0 < len(capped["data"]) < len(everything["data"])
    for offer in capped["data"]:
        assert all(Decimal(t["price"]["total"]) <= limit for t in offer["travelerPricings"])
    expected = [
        o
        for o in everything["data"]
        if all(Decimal(t["price"]["total"]) <= limit for t in o["travelerPricings"])
    ]
    assert [segments(o) for o in capped["data"]] == [segments(o) for o in expected]


@pytest.mark.parametrize(
    ("travel_class", "allowed"),
    [
        ("ECONOMY", {"ECONOMY"}),
        ("BUSINESS", {"BUSINESS"}),
        ("FIRST", {"FIRST"}),
        ("PREMIUM_ECONOMY", {"PREMIUM_ECONOMY", "BUSINESS"}),  # this quality or higher
    ],
)
async def test_travel_class(client: TestClient, token: str, travel_class: str, allowed) -> None:
    _, body = await search(client, token, travelClass=travel_class)
    assert body["data"]
    assert all(cabins(o) <= allowed for o in body["data"])


async def test_premium_economy_falls_back_to_business_short_haul(
    client: TestClient, token: str
) -> None:
    _, body = await search(
        client, token, destinationLocationCode="CDG", travelClass="PREMIUM_ECONOMY"
    )
    assert body["data"] and all(cabins(o) == {"BUSINESS"} for o in body["data"])
    _, first = await search(client, token, destinationLocationCode="CDG", travelClass="FIRST")
    assert first["data"] == []


async def test_business_costs_more_than_economy(client: TestClient, token: str) -> None:
    _, economy = await search(client, token, travelClass="ECONOMY", includedAirlineCodes="BA")
    _, business = await search(client, token, travelClass="BUSINESS", includedAirlineCodes="BA")
    assert total(business["data"][0]) > total(economy["data"][0])


async def test_max_limits_the_count_keeping_the_cheapest(client: TestClient, token: str) -> None:
    _, everything = await search(client, token, destinationLocationCode="CDG")
    _, one = await search(client, token, destinationLocationCode="CDG", max=1)
    assert one["meta"]["count"] == 1
    assert one["data"] == everything["data"][:1]


async def test_currency(client: TestClient, token: str) -> None:
    _, eur = await search(client, token)
    _, usd = await search(client, token, currencyCode="USD")
    assert usd["dictionaries"]["currencies"] == {"USD": "US DOLLAR"}
    offer = usd["data"][0]
    assert offer["price"]["currency"] == "USD"
    assert all(t["price"]["currency"] == "USD" for t in offer["travelerPricings"])
    assert total(offer) > total(eur["data"][0])
    fees = sum(Decimal(f["amount"]) for f in offer["price"]["fees"])
    assert Decimal(offer["price"]["total"]) == Decimal(offer["price"]["base"]) + fees


async def test_round_trip_has_two_itineraries(client: TestClient, token: str) -> None:
    _, body = await search(client, token, returnDate=RETURN)
    assert body["data"]
    for offer in body["data"]:
        outbound, inbound = offer["itineraries"]
        assert outbound["segments"][0]["departure"]["iataCode"] == "LHR"
        assert outbound["segments"][0]["departure"]["at"].startswith(DEPART)
        assert inbound["segments"][0]["departure"]["iataCode"] == "JFK"
        assert inbound["segments"][0]["departure"]["at"].startswith(RETURN)
        assert inbound["segments"][-1]["arrival"]["iataCode"] == "LHR"
        assert [s["id"] for s in segments(offer)] == ["1", "2"]
    totals = [total(o) for o in body["data"]]
    assert totals == sorted(totals)


async def test_round_trip_with_connections_both_ways(client: TestClient, token: str) -> None:
    _, body = await search(
        client,
        token,
        originLocationCode="BCN",
        destinationLocationCode="BOS",
        returnDate=RETURN,
        max=5,
    )
    assert body["meta"]["count"] == 5
    for offer in body["data"]:
        assert [len(i["segments"]) for i in offer["itineraries"]] == [2, 2]
        assert [s["id"] for s in segments(offer)] == ["1", "2", "3", "4"]


async def test_unknown_airport_gives_no_offers(client: TestClient, token: str) -> None:
    status, body = await search(client, token, destinationLocationCode="XXX")
    assert (status, body["meta"]["count"], body["data"]) == (200, 0, [])


async def test_far_future_date(client: TestClient, token: str) -> None:
    status, body = await search(client, token, departureDate="2099-06-30")
    assert status == 200 and body["data"]


# -- validation --------------------------------------------------------------------------

MISSING, FORMAT, DATE, DATA, COMBINATION = (
    (32171, "MANDATORY DATA MISSING"),
    (477, "INVALID FORMAT"),
    (425, "INVALID DATE"),
    (4926, "INVALID DATA RECEIVED"),
    (2668, "PARAMETER COMBINATION INVALID/RESTRICTED"),
)


@pytest.mark.parametrize(
    ("params", "error", "parameter"),
    [
        ({"originLocationCode": None}, MISSING, "originLocationCode"),
        ({"destinationLocationCode": ""}, MISSING, "destinationLocationCode"),
        ({"departureDate": None}, MISSING, "departureDate"),
        ({"adults": None}, MISSING, "adults"),
        ({"originLocationCode": "lhr"}, FORMAT, "originLocationCode"),
        ({"destinationLocationCode": "JFKX"}, FORMAT, "destinationLocationCode"),
        ({"departureDate": "2026-02-30"}, FORMAT, "departureDate"),
        ({"departureDate": "01/12/2026"}, FORMAT, "departureDate"),
        ({"departureDate": day(-1)}, DATE, "departureDate"),
        ({"returnDate": day(-2)}, DATE, "returnDate"),
        ({"returnDate": day(29)}, DATE, "returnDate"),
        ({"returnDate": "soon"}, FORMAT, "returnDate"),
        ({"adults": "one"}, FORMAT, "adults"),
        ({"adults": "0"}, DATA, "adults"),
        ({"adults": "10"}, DATA, "adults"),
        ({"adults": "5", "children": "5"}, DATA, "adults"),
        ({"children": "-1"}, FORMAT, "children"),
        ({"infants": "2"}, DATA, "infants"),
        ({"travelClass": "COACH"}, FORMAT, "travelClass"),
        ({"nonStop": "yes"}, FORMAT, "nonStop"),
        ({"includedAirlineCodes": "BAW"}, FORMAT, "includedAirlineCodes"),
        ({"excludedAirlineCodes": "BA,,LH"}, FORMAT, "excludedAirlineCodes"),
        (
            {"includedAirlineCodes": "BA", "excludedAirlineCodes": "LH"},
            COMBINATION,
            "excludedAirlineCodes",
        ),
        ({"maxPrice": "12.5"}, FORMAT, "maxPrice"),
        ({"maxPrice": "0"}, FORMAT, "maxPrice"),
        ({"max": "0"}, DATA, "max"),
        ({"max": "251"}, DATA, "max"),
        ({"currencyCode": "eur"}, FORMAT, "currencyCode"),
        ({"currencyCode": "XYZ"}, DATA, "currencyCode"),
        ({"destinationLocationCode": "LHR"}, DATA, "destinationLocationCode"),
    ],
)
async def test_validation_errors_name_the_parameter(
    client: TestClient, token: str, params: dict[str, Any], error, parameter: str
) -> None:
    status, body = await search(client, token, **params)
    assert status == 400
    (entry,) = body["errors"]
    assert (entry["status"], entry["code"], entry["title"]) == (400, *error)
    assert entry["detail"]
    assert entry["source"] == {"parameter": parameter}


async def test_requires_a_bearer_token_and_counts_searches(client: TestClient, token: str) -> None:
    status, body = await search(client, None)
    assert status == 401 and body["errors"][0]["code"] == 38191
    status, body = await search(client, "not-a-token")
    assert status == 401 and body["errors"][0]["code"] == 38190
    await client.post("/_sim/fail-api", json={"count": 1, "status": 429})
    assert (await search(client, token))[0] == 429
    assert (await search(client, token))[0] == 200
    assert (await search(client, token, adults=0))[0] == 400
    stats = await (await client.get("/_sim/stats")).json()
    assert stats["offers_searched"] == 2  # authenticated calls that reached the search
    assert stats["api_requests_per_token"] == {"1": 3}
    assert stats["api_401"]["38191"] == stats["api_401"]["38190"] == 1


# -- POST --------------------------------------------------------------------------------


def post_body(**criteria: Any) -> dict[str, Any]:
    return {
        "currencyCode": "EUR",
        "originDestinations": [
            {
                "id": "1",
                "originLocationCode": "LHR",
                "destinationLocationCode": "JFK",
                "departureDateTimeRange": {"date": DEPART, "time": "10:00:00"},
            },
            {
                "id": "2",
                "originLocationCode": "JFK",
                "destinationLocationCode": "LHR",
                "departureDateTimeRange": {"date": RETURN},
            },
        ],
        "travelers": [
            {"id": "1", "travelerType": "ADULT"},
            {"id": "2", "travelerType": "CHILD"},
            {"id": "3", "travelerType": "HELD_INFANT", "associatedAdultId": "1"},
        ],
        "sources": ["GDS"],
        "searchCriteria": criteria,
    }


async def test_post_search_matches_the_equivalent_get(client: TestClient, token: str) -> None:
    status, posted = await post_search(
        client,
        token,
        post_body(
            maxFlightOffers=3,
            maxPrice=20000,
            flightFilters={
                "cabinRestrictions": [
                    {
                        "cabin": "BUSINESS",
                        "coverage": "MOST_SEGMENTS",
                        "originDestinationIds": ["1", "2"],
                    }
                ],
                "carrierRestrictions": {"excludedCarrierCodes": ["LH"]},
                "connectionRestriction": {"maxNumberOfConnections": 0},
            },
        ),
        **{"X-HTTP-Method-Override": "GET"},
    )
    assert status == 200, posted
    _, got = await search(
        client,
        token,
        returnDate=RETURN,
        children=1,
        infants=1,
        travelClass="BUSINESS",
        excludedAirlineCodes="LH",
        nonStop="true",
        max=3,
        maxPrice=20000,
    )
    assert posted["data"] and posted["data"] == got["data"]
    assert posted["dictionaries"] == got["dictionaries"]


async def test_post_cabin_restriction_can_target_one_leg(client: TestClient, token: str) -> None:
    body = post_body(
        flightFilters={"cabinRestrictions": [{"cabin": "BUSINESS", "originDestinationIds": ["2"]}]}
    )
    _, result = await post_search(client, token, body)
    assert result["data"]
    for offer in result["data"]:
        outbound, inbound = offer["travelerPricings"][0]["fareDetailsBySegment"]
        assert (outbound["cabin"], inbound["cabin"]) == ("ECONOMY", "BUSINESS")


def without(body: dict[str, Any], *path: Any) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "error", "pointer"),
    [
        (without(post_body(), "sources"), MISSING, "/sources"),
        (without(post_body(), "originDestinations"), MISSING, "/originDestinations"),
        (
            without(post_body(), "originDestinations", 0, "departureDateTimeRange", "date"),
            MISSING,
            "/originDestinations[0]/departureDateTimeRange/date",
        ),
        (post_body() | {"sources": ["NDC"]}, DATA, "/sources"),
        (
            post_body() | {"travelers": [{"id": "1", "travelerType": "SENIOR"}]},
            DATA,
            "/travelers[0]/travelerType",
        ),
        (post_body() | {"travelers": [{"id": "1", "travelerType": "CHILD"}]}, DATA, "/travelers"),
        (post_body() | {"travelers": "one adult"}, FORMAT, "/travelers"),
        (post_body() | {"currencyCode": "XYZ"}, DATA, "/currencyCode"),
        (post_body(maxFlightOffers=0), DATA, "/searchCriteria/maxFlightOffers"),
        (post_body(maxFlightOffers="5"), FORMAT, "/searchCriteria/maxFlightOffers"),
        (
            post_body(
                flightFilters={
                    "carrierRestrictions": {
                        "includedCarrierCodes": ["BA"],
                        "excludedCarrierCodes": ["LH"],
                    }
                }
            ),
            COMBINATION,
            "/searchCriteria/flightFilters/carrierRestrictions",
        ),
        (
            post_body(
                flightFilters={
                    "cabinRestrictions": [{"cabin": "BUSINESS", "originDestinationIds": ["9"]}]
                }
            ),
            DATA,
            "/searchCriteria/flightFilters/cabinRestrictions[0]/originDestinationIds",
        ),
    ],
)
async def test_post_validation_errors_point_at_the_field(
    client: TestClient, token: str, body: dict[str, Any], error, pointer: str
) -> None:
    status, result = await post_search(client, token, body)
    assert status == 400
    (entry,) = result["errors"]
    assert (entry["code"], entry["title"]) == error
    assert entry["source"] == {"pointer": pointer}


async def test_post_past_date_and_bad_json(client: TestClient, token: str) -> None:
    body = post_body()
    body["originDestinations"][1]["departureDateTimeRange"]["date"] = day(-2)
    status, result = await post_search(client, token, body)
    assert (status, result["errors"][0]["code"]) == (400, 425)
    response = await client.post(
        PATH, data="{not json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 400
    assert (await response.json(content_type=None))["errors"][0]["code"] == 477
    status, result = await post_search(
        client, token, post_body(), **{"X-HTTP-Method-Override": "DELETE"}
    )
    assert status == 400


# -- the clock ---------------------------------------------------------------------------


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now


async def test_past_means_before_today_at_the_origin_and_departed_flights_are_gone() -> None:
    # 02:00 UTC on 10 March 2027: already the 10th in London, still the 9th in New York.
    clock = Clock(datetime(2027, 3, 10, 2, 0, tzinfo=UTC))
    state = SimState({"x": "secret-x"}, SimConfig(token_ttl=86400), clock=clock)
    async with TestClient(TestServer(create_app(state))) as sim:
        form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "secret-x"}
        sim_token = (await (await sim.post("/v1/security/oauth2/token", data=form)).json())[
            "access_token"
        ]
        status, body = await search(
            sim,
            sim_token,
            originLocationCode="JFK",
            destinationLocationCode="LHR",
            departureDate="2027-03-09",
        )
        assert status == 200
        status, body = await search(sim, sim_token, departureDate="2027-03-09")
        assert (status, body["errors"][0]["code"]) == (400, 425)

        clock.now = datetime(2027, 3, 10, 12, 0, tzinfo=UTC).timestamp()  # noon in London
        _, body = await search(
            sim, sim_token, destinationLocationCode="CDG", departureDate="2027-03-10"
        )
        departures = [segments(o)[0]["departure"]["at"] for o in body["data"]]
        assert departures and all(at > "2027-03-10T12:00:00" for at in departures)
        every = INVENTORY.flights("LHR", "CDG", datetime(2027, 3, 10).date())
        assert len(departures) < len(every)  # the morning flights have left

        offer = body["data"][0]
        pricing = {"data": {"type": "flight-offers-pricing", "flightOffers": [offer]}}
        headers = {"Authorization": f"Bearer {sim_token}"}
        response = await sim.post(
            "/v1/shopping/flight-offers/pricing", json=pricing, headers=headers
        )
        assert response.status == 200
        clock.now = datetime(2027, 3, 10, 23, 59, tzinfo=UTC).timestamp()
        response = await sim.post(
            "/v1/shopping/flight-offers/pricing", json=pricing, headers=headers
        )
        error = (await response.json(content_type=None))["errors"][0]
        assert (response.status, error["code"]) == (400, 4926)
        assert "departed" in error["detail"]
