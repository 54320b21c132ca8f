"""GET /v1/reference-data/airlines."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from provider_sim.reference import AIRLINES, lookup_airlines

PATH = "/v1/reference-data/airlines"


async def get_airlines(client: TestClient, token: str, query: str) -> tuple[int, dict, str]:
    response = await client.get(f"{PATH}{query}", headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json(content_type=None), response.content_type


def test_table_has_about_twenty_unique_airlines() -> None:
    assert len(AIRLINES) >= 20
    assert len({a.iata for a in AIRLINES}) == len({a.icao for a in AIRLINES}) == len(AIRLINES)


def test_lookup_keeps_order_and_drops_unknown_and_duplicates() -> None:
    found = lookup_airlines(["LH", "XX", "BA", "DLH"])
    assert [a.iata for a in found] == ["LH", "BA"]


@pytest.mark.asyncio
async def test_returns_amadeus_shape(client: TestClient, get_token) -> None:
    status, body, content_type = await get_airlines(
        client, await get_token(), "?airlineCodes=BA,LH,ZZ"
    )
    assert status == 200
    assert content_type == "application/vnd.amadeus+json"
    assert body["meta"]["count"] == 2
    assert body["data"][0] == {
        "type": "airline",
        "iataCode": "BA",
        "icaoCode": "BAW",
        "businessName": "BRITISH AIRWAYS",
        "commonName": "BRITISH A/W",
    }
    assert body["data"][1]["iataCode"] == "LH"


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["", "?airlineCodes=", "?other=BA"])
async def test_missing_codes_is_mandatory_data_missing(
    client: TestClient, get_token, query: str
) -> None:
    status, body, _ = await get_airlines(client, await get_token(), query)
    assert status == 400
    error = body["errors"][0]
    assert (error["status"], error["code"], error["title"]) == (
        400,
        32171,
        "MANDATORY DATA MISSING",
    )
    assert error["source"] == {"parameter": "airlineCodes"}


@pytest.mark.asyncio
async def test_malformed_code_is_invalid_format(client: TestClient, get_token) -> None:
    status, body, _ = await get_airlines(client, await get_token(), "?airlineCodes=BA,B!")
    assert status == 400
    assert body["errors"][0]["code"] == 477
