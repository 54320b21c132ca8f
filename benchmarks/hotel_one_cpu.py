"""CPU per search of one hotel: ``python -m benchmarks.hotel_one_cpu [--searches N]``.

What a one-hotel tracker's run costs, the old way and the new: its city at the widest
radius (50 km: every hotel of the city, one hotel list, their offers and ratings) or
that hotel by id (``HotelQuery.hotel_ids``: the hotel's details, offers and rating at
once). Each search goes through the Amadeus hotel adapter to the stand-in, in this one
process, and through search's filters and proto building, so the process CPU time per
search (``time.process_time``) is the supplier's work plus ours; other load on the
machine hardly changes it. Prints the supplier calls of one search too.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp.test_utils import TestServer

from provider_sim.app import create_app
from search_service.hotels.query import HotelQuery as SearchQuery
from search_service.hotels.results import hotel_pb, select
from services.generated.skyroute.search.v1 import search_service_pb2 as pb
from services.providers.amadeus_hotels import AmadeusHotelProvider
from services.providers.base import ProviderConfig
from services.providers.hotels import HotelQuery
from tests.utils.hotel_login import LoginTokens, hotel_sim_state

CHECK_IN = datetime.now(UTC).date() + timedelta(days=45)


async def run(searches: int, city: str) -> None:
    state = hotel_sim_state()
    server = TestServer(create_app(state), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as session:
            config = ProviderConfig(name="hotel", base_url=base, timeout_seconds=10.0)
            provider = AmadeusHotelProvider(config, session, LoginTokens(session, base))
            stay = {
                "check_in": CHECK_IN,
                "check_out": CHECK_IN + timedelta(days=2),
                "adults": 2,
                "rooms": 1,
            }
            in_city = await provider.search(HotelQuery(**stay, city_code=city, radius_km=50))  # type: ignore[arg-type]
            one = sorted(h.hotel.hotel_id for h in in_city)[len(in_city) // 2]
            cases = {
                f"city {city} 50 km": {"city_code": city, "radius_km": 50},
                f"hotel_ids=[{one}]": {"hotel_ids": (one,)},
            }
            for name, where in cases.items():
                query = HotelQuery(**stay, **where)  # type: ignore[arg-type]
                ours = SearchQuery(**stay, **where)  # type: ignore[arg-type]
                before = state.hotels.stats()
                await provider.search(query)
                after = state.hotels.stats()
                calls = {k: after[k] - before[k] for k in after if after[k] != before[k]}
                started = time.process_time()
                for _ in range(searches):
                    found = await provider.search(query)
                    response = pb.SearchHotelsResponse()
                    for item in select(found, ours):
                        response.hotels.add(hotel=hotel_pb(item.hotel, "hotel"))
                    size = len(response.SerializeToString())
                per_search = (time.process_time() - started) / searches * 1000
                print(
                    f"{name:22s} {per_search:6.2f} ms CPU/search  {len(found)} hotels, "
                    f"{size} bytes  supplier calls {calls}"
                )
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=40)
    parser.add_argument("--city", default="PAR")
    args = parser.parse_args()
    asyncio.run(run(args.searches, args.city))


if __name__ == "__main__":
    main()
