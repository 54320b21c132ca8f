"""Hotel trackers with the whole stack as processes: the stand-in's hotel supplier, two
token and two search replicas (tests/utils/hotel_stack.py) and three tracking replicas.

- A hotel tracker runs once per period across the replicas, each run keeping the
  cheapest offer described (hotel, room, board); a price drop injected at the hotel
  stand-in reaches a client watching through another replica as exactly one alert.
- A tracker on one hotel: sold out, then rooms again, is one BACK_IN_STOCK alert.
- An unknown city is INVALID_ARGUMENT naming tracker.hotel.destination.code.
- The CLI creates and lists a hotel tracker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2

from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tests.utils.booking_cluster import AUDIENCE, ISSUER
from tests.utils.hotel_stack import HotelStack
from tests.utils.search_cluster import error_details, seeded_database
from tests.utils.tracking_cluster import TrackingCluster

PERIOD = 2
CHECK_IN = datetime.now(UTC).date() + timedelta(days=20)
CHECK_OUT = CHECK_IN + timedelta(days=2)


class Stack:
    def __init__(self, hotels: HotelStack, tracking: TrackingCluster, database_url: str) -> None:
        self.hotels = hotels
        self.tracking = tracking
        self.database_url = database_url

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url.replace("postgresql+asyncpg", "postgresql"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("tracking-hotels")
    with seeded_database() as url:
        hotels = HotelStack(workdir, url, redis_url, {"SEARCH_CACHE_TTL_SECONDS": "0.5"})
        tracking = None
        try:
            tracking = TrackingCluster(
                workdir,
                url,
                redis_url,
                hotels.prefix,
                hotels.search.addresses,
                3,
                env={"TRACKING_LEASE_SECONDS": "3", "TRACKING_RETRY_SECONDS": "1"},
            ).start()
            yield Stack(hotels, tracking, url)
            assert "Traceback" not in tracking.logs()
        finally:
            if tracking is not None:
                tracking.stop()
            hotels.stop()


def hotel_search(**fields: object) -> pb.HotelSearch:
    base: dict[str, object] = {
        "destination": search_pb.HotelDestination(code="PAR"),
        "check_in_date": CHECK_IN.isoformat(),
        "check_out_date": CHECK_OUT.isoformat(),
        "rooms": [search_pb.RoomOccupancy(adults=2)],
    }
    base.update(fields)
    return pb.HotelSearch(**{k: v for k, v in base.items() if v is not None})  # type: ignore[arg-type]


def tracker(search: pb.HotelSearch, **triggers: object) -> pb.Tracker:
    return pb.Tracker(
        hotel=search,
        frequency=duration_pb2.Duration(seconds=PERIOD),
        triggers=pb.Triggers(**triggers),  # type: ignore[arg-type]
    )


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def watch_alerts(
    stack: Stack, user: str, address: str, received: list[pb.Alert]
) -> tuple[grpc.aio.Channel, asyncio.Task[None]]:
    channel = grpc.aio.insecure_channel(address)
    stream = stack.tracking.stub(channel).WatchAlerts(
        pb.WatchAlertsRequest(), metadata=stack.tracking.auth(user), timeout=60
    )

    async def read() -> None:
        async for message in stream:
            received.append(message.alert)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.5)  # subscribed
    return channel, task


async def runs_of(stack: Stack, tracker_id: str) -> list[asyncpg.Record]:
    conn = await stack.db()
    try:
        return list(
            await conn.fetch(
                "SELECT period_start, replica FROM tracker_runs WHERE tracker_id = $1 "
                "ORDER BY period_start",
                int(tracker_id),
            )
        )
    finally:
        await conn.close()


async def test_a_hotel_price_drop_reaches_a_watcher_once(stack: Stack) -> None:
    user = f"hana-{secrets.token_hex(3)}"
    auth = stack.tracking.auth(user)
    channel = grpc.aio.insecure_channel(stack.tracking.addresses[0])
    stub = stack.tracking.stub(channel)
    received: list[pb.Alert] = []
    watcher, watching = await watch_alerts(stack, user, stack.tracking.addresses[2], received)
    try:
        made = await stub.CreateTracker(
            pb.CreateTrackerRequest(tracker=tracker(hotel_search(), drop_percent=10.0)),
            metadata=auth,
            timeout=15,
        )
        tracker_id = made.tracker.tracker_id
        assert made.tracker.hotel.destination.code == "PAR"

        async def ran_twice() -> bool:
            return len(await runs_of(stack, tracker_id)) >= 2

        await eventually(ran_twice, 30, "two runs at the old price")
        stack.hotels.sim.hotel_price_change(-30)
        try:

            async def alerted() -> bool:
                return bool(received)

            await eventually(alerted, 30, "the drop alert")
            await asyncio.sleep(3 * PERIOD)  # more runs at the new price: nothing more
        finally:
            stack.hotels.sim.hotel_price_change(0)
        history = await stub.ListPriceHistory(
            pb.ListPriceHistoryRequest(tracker_id=tracker_id, page_size=100),
            metadata=auth,
            timeout=5,
        )
        await stub.DeleteTracker(
            pb.DeleteTrackerRequest(tracker_id=tracker_id), metadata=auth, timeout=5
        )
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await watcher.close()
        await channel.close()
    assert [a.kind for a in received] == [pb.ALERT_KIND_PRICE_DROP]
    alert = received[0]
    assert alert.tracker_id == tracker_id
    assert alert.price.units < alert.reference_price.units
    assert alert.best_hotel_offer.hotel_id[2:5] == "PAR" and alert.best_hotel_offer.hotel_name
    observations = list(history.observations)
    # One run per period, whichever replica ran it.
    starts = [o.period_start_time.ToDatetime(UTC) for o in observations]
    assert len(starts) == len(set(starts)) >= 4
    assert all((a - b).total_seconds() >= PERIOD for a, b in itertools.pairwise(starts))
    best = observations[0].best_hotel_offer
    assert best.hotel_id[2:5] == "PAR" and best.hotel_name and best.room_type
    assert best.board_type != search_pb.BOARD_TYPE_UNSPECIFIED
    assert observations[0].best_offer_id and observations[0].offers_found >= 1


async def cheapest_hotel(stack: Stack) -> search_pb.HotelResult:
    channel = grpc.aio.insecure_channel(stack.hotels.search.addresses[0])
    try:
        found = await search_grpc.SearchServiceStub(channel).SearchHotels(
            search_pb.SearchHotelsRequest(
                destination=search_pb.HotelDestination(code="PAR"),
                check_in_date=CHECK_IN.isoformat(),
                check_out_date=CHECK_OUT.isoformat(),
                rooms=[search_pb.RoomOccupancy(adults=2)],
                page_size=1,
            ),
            timeout=15,
        )
    finally:
        await channel.close()
    return found.hotels[0]


async def test_one_hotel_sold_out_then_back_is_one_back_in_stock_alert(stack: Stack) -> None:
    hotel = (await cheapest_hotel(stack)).hotel.hotel_id
    user = f"omar-{secrets.token_hex(3)}"
    auth = stack.tracking.auth(user)
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    received: list[pb.Alert] = []
    watcher, watching = await watch_alerts(stack, user, stack.tracking.addresses[1], received)
    stay = {"hotelId": hotel, "checkInDate": CHECK_IN.isoformat()}
    stay["checkOutDate"] = CHECK_OUT.isoformat()
    try:
        stack.hotels.sim._call("POST", "/_sim/hotel-sold-out", stay)
        made = await stub.CreateTracker(
            pb.CreateTrackerRequest(
                tracker=tracker(hotel_search(destination=None, hotel_id=hotel), back_in_stock=True)
            ),
            metadata=auth,
            timeout=15,
        )
        tracker_id = made.tracker.tracker_id
        by_id = stack.hotels.sim.hotel_stats()["hotel_lists_by_id"]

        async def ran_sold_out() -> bool:
            return len(await runs_of(stack, tracker_id)) >= 2

        await eventually(ran_sold_out, 30, "runs while sold out")
        # The runs search that hotel by its id (the create checked its city).
        assert stack.hotels.sim.hotel_stats()["hotel_lists_by_id"] > by_id
        stack.hotels.sim._call("POST", "/_sim/hotel-rooms", {**stay, "rooms": 3})

        async def alerted() -> bool:
            return bool(received)

        await eventually(alerted, 30, "the back-in-stock alert")
        await asyncio.sleep(3 * PERIOD)
        history = await stub.ListPriceHistory(
            pb.ListPriceHistoryRequest(tracker_id=tracker_id, page_size=100),
            metadata=auth,
            timeout=5,
        )
        await stub.DeleteTracker(
            pb.DeleteTrackerRequest(tracker_id=tracker_id), metadata=auth, timeout=5
        )
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await watcher.close()
        await channel.close()
    assert [a.kind for a in received] == [pb.ALERT_KIND_BACK_IN_STOCK]
    assert received[0].best_hotel_offer.hotel_id == hotel
    newest, oldest = history.observations[0], history.observations[-1]
    assert not oldest.HasField("lowest_price") and oldest.offers_found == 0
    assert newest.best_hotel_offer.hotel_id == hotel and newest.HasField("lowest_price")


async def test_an_unknown_city_is_named_as_search_names_it(stack: Stack) -> None:
    auth = stack.tracking.auth(f"ines-{secrets.token_hex(3)}")
    channel = stack.tracking.channel()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stack.tracking.stub(channel).CreateTracker(
                pb.CreateTrackerRequest(
                    tracker=tracker(
                        hotel_search(destination=search_pb.HotelDestination(code="XXX")),
                        drop_percent=5.0,
                    )
                ),
                metadata=auth,
                timeout=15,
            )
        with pytest.raises(grpc.aio.AioRpcError) as shape:
            await stack.tracking.stub(channel).CreateTracker(
                pb.CreateTrackerRequest(
                    tracker=tracker(
                        hotel_search(
                            check_out_date=CHECK_IN.isoformat(),
                            rooms=[search_pb.RoomOccupancy(adults=1, children_ages=[18])],
                        ),
                        drop_percent=5.0,
                    )
                ),
                metadata=auth,
                timeout=15,
            )
    finally:
        await channel.close()
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(bad.value)[0] == ["tracker.hotel.destination.code"]
    assert "unknown city XXX" in (bad.value.details() or "")
    assert shape.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(error_details(shape.value)[0]) == {
        "tracker.hotel.check_out_date",
        "tracker.hotel.rooms[0].children_ages[0]",
    }


def test_the_cli_creates_a_hotel_tracker(stack: Stack) -> None:
    env = {
        **os.environ,
        "TRACKING_SERVICE_ADDRESSES": ",".join(stack.tracking.addresses),
        "BOOKING_JWT_SECRET": stack.tracking.secret,
        "BOOKING_JWT_ISSUER": ISSUER,
        "BOOKING_JWT_AUDIENCE": AUDIENCE,
    }
    user = f"cli-{secrets.token_hex(3)}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "skyroute_cli", "tracking", *args, "--user", user],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = cli(
        "create", "--city", "PAR", "--check-in", "+25", "--check-out", "+27", "--adults", "2",
        "--children-ages", "7", "--board", "breakfast", "--refundable", "--drop", "10", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    hotel = json.loads(made.stdout)["tracker"]["hotel"]
    assert hotel["destination"]["code"] == "PAR"
    assert hotel["rooms"] == [{"adults": 2, "children_ages": [7]}]
    assert hotel["filters"]["board_types"] == ["BOARD_TYPE_BREAKFAST"]
    assert hotel["filters"]["refundable_only"] is True
    shown = cli("list")
    assert shown.returncode == 0 and "PAR " in shown.stdout and "1 room(s)" in shown.stdout
    bad = cli("create", "--city", "PAR", "--check-in", "+25", "--check-out", "+25", "--drop", "5")
    assert bad.returncode == 1 and "tracker.hotel.check_out_date" in bad.stderr
    both = cli("create", "--city", "PAR", "--from", "LHR", "--check-in", "+2", "--check-out", "+3")
    assert both.returncode == 2 and "one search" in both.stderr
