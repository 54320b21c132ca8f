"""The search benchmark's hotel part: the hotel supplier it searches (the stand-in's
hotel profile with its own login, and a token-service replica holding the supplier's
token through the password grant, as `make run` wires them), and the hotel searches the
load sends.

The cached search is one popular query repeated; the cold searches all differ from each
other in city, check-in date, nights, adults or sort order, so no two share a cache
entry and each one asks the supplier (at the stand-in's default speed: no added latency).
"""

from __future__ import annotations

import dataclasses
import json
import random
import secrets
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from benchmarks.procs import ProcessGroup
from benchmarks.service_clusters import ServiceCluster
from provider_sim.hotels.world import CITIES
from services import stack
from services.generated.skyroute.search.v1 import search_service_pb2 as pb

SUPPLIER = "hotel"
CALLER = "search"
# The cached search: Paris, a month ahead, three nights, one room for two adults.
CACHED_CITY = "PAR"
CACHED_DAYS_AHEAD, CACHED_NIGHTS, CACHED_ADULTS = 30, 3, 2
SORTS = (
    pb.HOTEL_SORT_ORDER_PRICE,
    pb.HOTEL_SORT_ORDER_STARS,
    pb.HOTEL_SORT_ORDER_DISTANCE,
    pb.HOTEL_SORT_ORDER_RATING,
)
# Cold searches: check-in this many days ahead, stays of 1-7 nights, 1-3 adults.
FIRST_DAY, LAST_DAY = 2, 180
MAX_NIGHTS, MAX_ADULTS = 7, 3


@dataclasses.dataclass(frozen=True, slots=True)
class HotelCase:
    city: str
    check_in: date
    nights: int
    adults: int
    sort: int

    def __str__(self) -> str:
        sort = pb.HotelSortOrder.Name(self.sort).removeprefix("HOTEL_SORT_ORDER_").lower()
        return (
            f"{self.city}, check-in {self.check_in.isoformat()}, {self.nights} nights, "
            f"one room for {self.adults} adults, by {sort}"
        )

    def request(self) -> pb.SearchHotelsRequest:
        return pb.SearchHotelsRequest(
            destination=pb.HotelDestination(code=self.city),
            check_in_date=self.check_in.isoformat(),
            check_out_date=(self.check_in + timedelta(days=self.nights)).isoformat(),
            rooms=[pb.RoomOccupancy(adults=self.adults)],
            sort_order=self.sort,  # type: ignore[arg-type]
        )


def cached_case() -> HotelCase:
    day = datetime.now(UTC).date() + timedelta(days=CACHED_DAYS_AHEAD)
    return HotelCase(CACHED_CITY, day, CACHED_NIGHTS, CACHED_ADULTS, pb.HOTEL_SORT_ORDER_PRICE)


class HotelCaseStream:
    """Distinct hotel searches, never one already taken (nor the cached one)."""

    def __init__(self, seed: int = 11) -> None:
        self._random = random.Random(seed)
        self._today = datetime.now(UTC).date()
        self._cities = sorted(c.code for c in CITIES)
        self._used = {cached_case()}

    def take(self, n: int) -> list[HotelCase]:
        return [next(self._cases) for _ in range(n)]

    @property
    def _cases(self) -> Iterator[HotelCase]:
        r = self._random
        while True:
            case = HotelCase(
                r.choice(self._cities),
                self._today + timedelta(days=r.randint(FIRST_DAY, LAST_DAY)),
                r.randint(1, MAX_NIGHTS),
                r.randint(1, MAX_ADULTS),
                r.choice(SORTS),
            )
            if case not in self._used:
                self._used.add(case)
                yield case

    def bodies(self, n: int) -> list[bytes]:
        return [case.request().SerializeToString() for case in self.take(n)]


class HotelSupplier:
    """The stand-in with its hotel profile (one hotel client, one user) and one
    token-service replica logged in to it (password grant, rotating refresh tokens)."""

    def __init__(self, group: ProcessGroup, redis_url: str, prefix: str) -> None:
        supplier = stack.HotelSupplier(
            name=SUPPLIER,
            base_url="",
            client_id=f"bench-hotel-{secrets.token_hex(3)}",
            client_secret=secrets.token_urlsafe(24),
            username="bench-ops",
            password=secrets.token_urlsafe(18),
        )
        # The stand-in wants an Amadeus client too; nothing uses it here.
        flights = stack.Upstream("amadeus", "", "bench-unused", secrets.token_urlsafe(24))
        self._sim = group.python(
            "provider-sim-hotel",
            [
                "-m",
                stack.PROVIDER_SIM.module,
                "--host",
                stack.HOST,
                "--port",
                "0",
                "--port-file",
                "{port_file}",
                "--log-level",
                "WARNING",
            ],
            stack.provider_sim_env(stack.Facts(upstreams=(flights,), hotel_supplier=supplier)),
        )
        self.base_url = f"http://{stack.HOST}:{self._sim.wait_ready()['http']}"
        self.supplier = dataclasses.replace(supplier, base_url=self.base_url)
        caller_keys = {CALLER: secrets.token_urlsafe(24)}
        callers = {CALLER: (SUPPLIER,)}
        self.tokens = ServiceCluster(
            group,
            stack.TOKEN,
            stack.Facts(
                redis_url=redis_url,
                key_prefix=prefix,
                callers=callers,
                caller_keys=caller_keys,
                hotel_supplier=self.supplier,
            ),
            1,
            name="token-hotel",
        )
        self._callers = callers
        self._caller_keys = caller_keys

    def search_facts(self, facts: stack.Facts) -> stack.Facts:
        """``facts`` of the search replicas with this supplier and its token service."""
        return dataclasses.replace(
            facts,
            hotel_supplier=self.supplier,
            callers=self._callers,
            caller_keys=self._caller_keys,
            addresses={**facts.addresses, "token": tuple(self.tokens.addresses)},
        )

    @property
    def sim_pid(self) -> int:
        return self._sim.pid

    @property
    def pids(self) -> list[int]:
        return [self._sim.pid, *self.tokens.pids]

    def stats(self) -> dict[str, Any]:
        """The stand-in's counters (no token values or secrets)."""
        with urllib.request.urlopen(f"{self.base_url}/_sim/stats", timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def api_requests(self) -> int:
        return int(self.stats()["api_requests"])
