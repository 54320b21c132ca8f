"""Price tracking with the whole stack as processes: the provider stand-in, two token
replicas, two search replicas and three tracking replicas sharing Redis and PostgreSQL.

- Hundreds of trackers due in one period, a tracking replica SIGKILLed while it holds
  claims: every tracker's period is stored exactly once, its schedule advanced exactly
  once, and the killed replica's claims are taken over by the others.
- A price drop injected at the stand-in reaches a client watching through another
  replica as exactly one alert; later runs at the same price raise nothing.
- Trackers per user: validation names fields, other users get NOT_FOUND, the limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.generated.skyroute.search.v1 import search_service_pb2 as search_pb
from services.generated.skyroute.search.v1 import search_service_pb2_grpc as search_grpc
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tests.utils.booking_cluster import AUDIENCE, ISSUER
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, error_details, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster
from tests.utils.tracking_cluster import TrackingCluster

TRACKERS = 1000
USERS = 10
LEASE_SECONDS = 3


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.database_url = database_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 2).start()
        self.search = SearchCluster(
            workdir,
            database_url,
            redis_url,
            self.prefix,
            2,
            self.tokens,
            env={"SEARCH_CACHE_TTL_SECONDS": "0.5", "LOG_LEVEL": "INFO"},
        ).start()
        self.tracking = TrackingCluster(
            workdir,
            database_url,
            redis_url,
            self.prefix,
            self.search.addresses,
            3,
            env={
                "TRACKING_LEASE_SECONDS": str(LEASE_SECONDS),
                "TRACKING_CLAIM_BATCH": "20",
                "TRACKING_SEARCH_CONCURRENCY": "2",
                "TRACKING_MAX_TRACKERS_PER_USER": str(TRACKERS // USERS),
                "TRACKING_RETRY_SECONDS": "1",
            },
        ).start()

    def stop(self) -> None:
        for part in (self.tracking, self.search, self.tokens, self.sim):
            part.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url.replace("postgresql+asyncpg", "postgresql"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with seeded_database() as url:
        stack = Stack(tmp_path_factory.mktemp("tracking-stack"), url, redis_url)
        try:
            yield stack
            logs = stack.tracking.logs()
            assert stack.tracking.secret not in logs
            assert "Traceback" not in logs
        finally:
            stack.stop()


async def routes(stack: Stack) -> list[tuple[str, str]]:
    """Non-stop routes both the stand-in and the seeded inventory's airports know."""
    conn = await stack.db()
    try:
        known = {r[0] for r in await conn.fetch("SELECT iata_code FROM airports")}
    finally:
        await conn.close()
    network = stack.sim._call("GET", "/_sim/inventory")["routes"]
    return [
        (r["origin"], r["destination"])
        for r in network
        if r["origin"] in known and r["destination"] in known
    ]


def flight(origin: str, destination: str, days: int, adults: int = 1) -> pb.FlightSearch:
    return pb.FlightSearch(
        origin=origin,
        destination=destination,
        departure_date=(datetime.now(UTC).date() + timedelta(days=days)).isoformat(),
        passengers=search_pb.Passengers(adults=adults),
        cabin=search_pb.CABIN_ECONOMY,
        max_stops=0,
    )


def tracker(search: pb.FlightSearch, every: int, **triggers: object) -> pb.Tracker:
    return pb.Tracker(
        flight=search,
        frequency=duration_pb2.Duration(seconds=every),
        triggers=pb.Triggers(**triggers),  # type: ignore[arg-type]
    )


async def eventually(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_trackers_due_together_run_once_each_despite_a_killed_replica(
    stack: Stack,
) -> None:
    pairs = (await routes(stack))[:10]
    assert pairs, "no route both the stand-in and the inventory know"
    searches = [flight(o, d, days) for o, d in pairs for days in (3, 4, 5)]
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=15)
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(first)
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    try:
        users = [f"bulk-{secrets.token_hex(3)}" for _ in range(USERS)]
        slots = asyncio.Semaphore(32)

        async def create(n: int) -> str:
            async with slots:
                response = await stub.CreateTracker(
                    pb.CreateTrackerRequest(
                        tracker=tracker(searches[n % len(searches)], 3600, back_in_stock=True),
                        first_run_time=when,
                        request_id=f"bulk-{n}",
                    ),
                    metadata=stack.tracking.auth(users[n % USERS]),
                    timeout=20,
                )
                return response.tracker.tracker_id

        ids = [int(i) for i in await asyncio.gather(*(create(n) for n in range(TRACKERS)))]
        assert len(set(ids)) == TRACKERS
        assert datetime.now(UTC) < first, "creating the trackers took past their due time"
    finally:
        await channel.close()

    victim = stack.tracking.processes[0]
    conn = await stack.db()
    try:

        async def victim_holds_claims() -> bool:
            held = await conn.fetchval(
                "SELECT count(*) FROM price_trackers WHERE lease_owner = $1 "
                "AND lease_until > now() AND id = ANY($2::bigint[])",
                victim.name,
                ids,
            )
            return bool(held)

        await eventually(victim_holds_claims, 30, "the victim to claim trackers")
        victim.signal(signal.SIGKILL)
        killed_at = await conn.fetchval("SELECT now()")
        orphaned = await conn.fetchval(
            "SELECT count(*) FROM price_trackers WHERE lease_owner = $1 AND id = ANY($2)",
            victim.name,
            ids,
        )

        async def all_ran() -> bool:
            done = await conn.fetchval(
                "SELECT count(*) FROM tracker_runs WHERE tracker_id = ANY($1)", ids
            )
            return bool(done == TRACKERS)

        await eventually(all_ran, 60, "every tracker's run")
        await asyncio.sleep(LEASE_SECONDS + 1)  # a late duplicate would show by now
        runs = await conn.fetch(
            "SELECT tracker_id, period_start, replica, fence, finished_at FROM tracker_runs "
            "WHERE tracker_id = ANY($1)",
            ids,
        )
        trackers = await conn.fetch(
            "SELECT id, next_run_at, fence, lease_owner FROM price_trackers WHERE id = ANY($1)",
            ids,
        )
        alerts = await conn.fetchval(
            "SELECT count(*) FROM tracker_alerts WHERE tracker_id = ANY($1)", ids
        )
    finally:
        await conn.close()

    # One run per tracker, for the period it was due, stored under its latest claim.
    assert len(runs) == TRACKERS
    assert {r["tracker_id"] for r in runs} == set(ids)
    assert {r["period_start"] for r in runs} == {first}
    fences = {t["id"]: t["fence"] for t in trackers}
    assert all(r["fence"] == fences[r["tracker_id"]] for r in runs)
    # Each schedule advanced exactly one period, and nothing is left claimed.
    assert {t["next_run_at"] for t in trackers} == {first + timedelta(seconds=3600)}
    assert all(t["lease_owner"] is None for t in trackers)
    # The victim's unfinished claims were taken over by the survivors.
    assert orphaned >= 1
    assert all(r["finished_at"] <= killed_at for r in runs if r["replica"] == victim.name)
    assert any(f > 1 for f in fences.values())
    assert alerts == 0  # first runs only set the references (and found offers)


async def test_a_replica_paused_past_its_claims_stores_nothing_when_it_wakes(
    stack: Stack,
) -> None:
    """A replica stopped (SIGSTOP: a long GC pause, a frozen VM) while holding claims:
    the others take the runs over once the leases expire; woken up, it finishes its
    stale batch and the fence makes that a no-op."""
    pairs = (await routes(stack))[:5]
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(first)
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    users = [f"paused-{secrets.token_hex(3)}" for _ in range(3)]
    try:
        made = await asyncio.gather(
            *(
                stub.CreateTracker(
                    pb.CreateTrackerRequest(
                        tracker=tracker(
                            flight(*pairs[n % len(pairs)], 7 + n % 3), 3600, drop_percent=5.0
                        ),
                        first_run_time=when,
                    ),
                    metadata=stack.tracking.auth(users[n % 3]),
                    timeout=20,
                )
                for n in range(240)
            )
        )
    finally:
        await channel.close()
    ids = [int(m.tracker.tracker_id) for m in made]
    conn = await stack.db()
    try:

        async def holds_claims(name: str) -> bool:
            held = await conn.fetchval(
                "SELECT count(*) FROM price_trackers WHERE lease_owner = $1 "
                "AND lease_until > now() AND id = ANY($2::bigint[])",
                name,
                ids,
            )
            return bool(held)

        # Stop whichever replica holds claims at that moment, and keep it stopped only if
        # it still holds them once stopped (a batch can finish between look and signal).
        sleeper = None
        deadline = time.monotonic() + 40
        while sleeper is None and time.monotonic() < deadline:
            owner = await conn.fetchval(
                "SELECT lease_owner FROM price_trackers WHERE lease_until > now() "
                "AND id = ANY($1::bigint[]) GROUP BY lease_owner ORDER BY count(*) DESC "
                "LIMIT 1",
                ids,
            )
            candidate = next(
                (p for p in stack.tracking.processes if p.alive and p.name == owner), None
            )
            if candidate is not None:
                candidate.signal(signal.SIGSTOP)
                await asyncio.sleep(0.2)  # a statement it sent before stopping lands
                if await holds_claims(candidate.name):
                    sleeper = candidate
                else:
                    candidate.signal(signal.SIGCONT)
            await asyncio.sleep(0.02)
        assert sleeper is not None, "no replica was caught holding claims"
        stopped_at = await conn.fetchval("SELECT now()")
        try:

            async def all_ran() -> bool:
                done = await conn.fetchval(
                    "SELECT count(*) FROM tracker_runs WHERE tracker_id = ANY($1)", ids
                )
                return bool(done == len(ids))

            await eventually(all_ran, 60, "the others to run every tracker")
        finally:
            sleeper.signal(signal.SIGCONT)
        await asyncio.sleep(3)  # the sleeper finishes its stale batch meanwhile
        runs = await conn.fetch(
            "SELECT r.tracker_id, r.replica, r.finished_at, r.fence, t.fence AS current "
            "FROM tracker_runs r JOIN price_trackers t ON t.id = r.tracker_id "
            "WHERE r.tracker_id = ANY($1)",
            ids,
        )
    finally:
        await conn.close()
    assert len(runs) == len(ids) and {r["tracker_id"] for r in runs} == set(ids)
    assert all(r["fence"] == r["current"] for r in runs)
    late = [r for r in runs if r["replica"] == sleeper.name and r["finished_at"] > stopped_at]
    assert late == []
    assert any(r["fence"] > 1 for r in runs)  # taken over
    assert sleeper.alive
    health = grpc.aio.insecure_channel(
        stack.tracking.addresses[stack.tracking.processes.index(sleeper)]
    )
    try:
        reply = await health_pb2_grpc.HealthStub(health).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    finally:
        await health.close()
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def cheapest_from_provider(stack: Stack) -> pb.FlightSearch:
    """A search whose cheapest itinerary is the stand-in's, so its price change shows."""
    channel = grpc.aio.insecure_channel(stack.search.addresses[0])
    stub = search_grpc.SearchServiceStub(channel)
    try:
        for origin, destination in await routes(stack):
            search = flight(origin, destination, 6)
            response = await stub.SearchFlights(
                search_pb.SearchFlightsRequest(
                    origin=origin,
                    destination=destination,
                    departure_date=search.departure_date,
                    passengers=search.passengers,
                    cabin=search.cabin,
                    filters=search_pb.SearchFilters(max_stops=0),
                    page_size=1,
                    include_provider_offers=True,
                ),
                timeout=15,
            )
            if (
                response.itineraries
                and response.itineraries[0].source == search_pb.SOURCE_PROVIDER
                and not response.partial
            ):
                return search
    finally:
        await channel.close()
    raise AssertionError("no route whose cheapest offer is the stand-in's")


async def test_a_price_drop_reaches_a_watcher_on_another_replica_once(stack: Stack) -> None:
    search = await cheapest_from_provider(stack)
    user = f"dana-{secrets.token_hex(3)}"
    auth = stack.tracking.auth(user)
    creator = grpc.aio.insecure_channel(stack.tracking.addresses[1])
    watcher = grpc.aio.insecure_channel(stack.tracking.addresses[2])
    received: list[tuple[pb.Alert, float]] = []
    try:
        stub = stack.tracking.stub(creator)
        created = await stub.CreateTracker(
            pb.CreateTrackerRequest(tracker=tracker(search, 2, drop_percent=10.0)),
            metadata=auth,
            timeout=10,
        )
        tracker_id = created.tracker.tracker_id

        async def ran_twice() -> bool:
            history = await stub.ListPriceHistory(
                pb.ListPriceHistoryRequest(tracker_id=tracker_id), metadata=auth, timeout=5
            )
            return len(history.observations) >= 2

        await eventually(ran_twice, 30, "two runs at the old price")
        stream = stack.tracking.stub(watcher).WatchAlerts(
            pb.WatchAlertsRequest(), metadata=auth, timeout=40
        )

        async def watch() -> None:
            async for message in stream:
                received.append((message.alert, time.time()))

        watching = asyncio.create_task(watch())
        await asyncio.sleep(0.5)  # the stream is subscribed
        stack.sim._call("POST", "/_sim/price-change", {"percent": -30})
        try:

            async def alerted() -> bool:
                return bool(received)

            await eventually(alerted, 30, "the drop alert")
            # Several more runs at the new, stable price: nothing more.
            await asyncio.sleep(6)
        finally:
            stack.sim._call("POST", "/_sim/price-change", {"percent": 0})
            stream.cancel()
            await asyncio.gather(watching, return_exceptions=True)
        listed = await stub.ListAlerts(pb.ListAlertsRequest(), metadata=auth, timeout=5)
        acked = await stub.AcknowledgeAlert(
            pb.AcknowledgeAlertRequest(alert_id=listed.alerts[0].alert_id),
            metadata=auth,
            timeout=5,
        )
        unseen = await stub.ListAlerts(
            pb.ListAlertsRequest(unacknowledged_only=True), metadata=auth, timeout=5
        )
        # The history, one run per page, newest first, each run once.
        pages: list[pb.PriceObservation] = []
        token = ""
        while True:
            page = await stub.ListPriceHistory(
                pb.ListPriceHistoryRequest(tracker_id=tracker_id, page_size=1, page_token=token),
                metadata=auth,
                timeout=5,
            )
            pages.extend(page.observations)
            token = page.next_page_token
            if not token:
                break
        # A client that reconnects with the last alert it saw before gets it again.
        resumed = stack.tracking.stub(creator).WatchAlerts(
            pb.WatchAlertsRequest(after_alert_id="0"), metadata=auth, timeout=5
        )
        caught_up = (await resumed.read()).alert
        resumed.cancel()
        history = await stub.ListPriceHistory(
            pb.ListPriceHistoryRequest(tracker_id=tracker_id), metadata=auth, timeout=5
        )
    finally:
        await creator.close()
        await watcher.close()

    assert [a.kind for a, _ in received] == [pb.ALERT_KIND_PRICE_DROP]
    alert, at = received[0]
    assert alert.tracker_id == tracker_id
    assert [a.alert_id for a in listed.alerts] == [alert.alert_id]
    assert caught_up.alert_id == alert.alert_id
    assert acked.alert.HasField("acknowledge_time") and list(unseen.alerts) == []
    starts = [o.period_start_time.ToDatetime(UTC) for o in pages]
    assert starts == sorted(set(starts), reverse=True) and len(starts) >= 3
    assert any(o.lowest_price.units < pages[-1].lowest_price.units for o in pages)
    assert alert.price.units < alert.reference_price.units
    # Delivered within a second or so of being stored (reported, not a speed test).
    print(f"alert delivered {at - alert.create_time.ToDatetime(UTC).timestamp():.3f}s after")
    later = [
        o
        for o in history.observations
        if o.period_start_time.ToDatetime(UTC) > (alert.period_start_time.ToDatetime(UTC))
    ]
    assert later, "no run after the drop: the test would not see a duplicate"


async def test_trackers_belong_to_their_user(stack: Stack) -> None:
    alice, bob = (stack.tracking.auth(f"{n}-{secrets.token_hex(3)}") for n in ("alice", "bob"))
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.CreateTracker(
                pb.CreateTrackerRequest(
                    tracker=tracker(flight("LHR", "LHR", -1), 0, drop_percent=150.0)
                ),
                metadata=alice,
                timeout=5,
            )
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        fields, _ = error_details(bad.value)
        assert {
            "tracker.flight.destination",
            "tracker.flight.departure_date",
            "tracker.frequency",
            "tracker.triggers.drop_percent",
        } <= set(fields)

        made = await stub.CreateTracker(
            pb.CreateTrackerRequest(
                tracker=tracker(flight("LHR", "JFK", 20), 3600, back_in_stock=True),
                first_run_time=timestamp_pb2.Timestamp(seconds=int(time.time()) + 86400),
            ),
            metadata=alice,
            timeout=5,
        )
        tracker_id = made.tracker.tracker_id
        assert made.tracker.state == pb.TRACKER_STATE_ACTIVE
        for call, request in (
            (stub.GetTracker, pb.GetTrackerRequest(tracker_id=tracker_id)),
            (stub.DeleteTracker, pb.DeleteTrackerRequest(tracker_id=tracker_id)),
            (stub.ListPriceHistory, pb.ListPriceHistoryRequest(tracker_id=tracker_id)),
            (stub.PauseTracker, pb.PauseTrackerRequest(tracker_id=tracker_id, paused=True)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await call(request, metadata=bob, timeout=5)  # type: ignore[operator]
            assert other.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as bad_mask:
            await stub.UpdateTracker(
                pb.UpdateTrackerRequest(
                    tracker=pb.Tracker(tracker_id=tracker_id), update_mask=["flight"]
                ),
                metadata=alice,
                timeout=5,
            )
        assert error_details(bad_mask.value)[0] == ["update_mask"]
        update = tracker(flight("LHR", "JFK", 20), 7200, drop_percent=12.5)
        update.tracker_id = tracker_id
        changed = await stub.UpdateTracker(
            pb.UpdateTrackerRequest(tracker=update, update_mask=["frequency", "triggers"]),
            metadata=alice,
            timeout=5,
        )
        assert changed.tracker.frequency.seconds == 7200
        assert changed.tracker.triggers.drop_percent == 12.5
        assert not changed.tracker.triggers.back_in_stock
        paused = await stub.PauseTracker(
            pb.PauseTrackerRequest(tracker_id=tracker_id, paused=True), metadata=alice, timeout=5
        )
        assert paused.tracker.state == pb.TRACKER_STATE_PAUSED
        mine = await stub.ListTrackers(pb.ListTrackersRequest(), metadata=alice, timeout=5)
        assert [t.tracker_id for t in mine.trackers] == [tracker_id]
        theirs = await stub.ListTrackers(pb.ListTrackersRequest(), metadata=bob, timeout=5)
        assert list(theirs.trackers) == []
        await stub.DeleteTracker(
            pb.DeleteTrackerRequest(tracker_id=tracker_id), metadata=alice, timeout=5
        )
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetTracker(
                pb.GetTrackerRequest(tracker_id=tracker_id), metadata=alice, timeout=5
            )
        assert gone.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
            await stub.ListTrackers(pb.ListTrackersRequest(), timeout=5)
        assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close()


async def test_the_per_user_limit_holds_under_concurrent_creates(stack: Stack) -> None:
    limit = TRACKERS // USERS
    auth = stack.tracking.auth(f"eager-{secrets.token_hex(3)}")
    channel = stack.tracking.channel()
    stub = stack.tracking.stub(channel)
    later = timestamp_pb2.Timestamp(seconds=int(time.time()) + 86400)
    slots = asyncio.Semaphore(8)

    async def create(burst: bool) -> pb.CreateTrackerResponse:
        request = pb.CreateTrackerRequest(
            tracker=tracker(flight("LHR", "JFK", 30), 3600, back_in_stock=True),
            first_run_time=later,
        )
        if burst:  # all at once, through every replica
            return await stub.CreateTracker(request, metadata=auth, timeout=20)
        async with slots:
            return await stub.CreateTracker(request, metadata=auth, timeout=20)

    try:
        await asyncio.gather(*(create(False) for _ in range(limit - 10)))
        results = await asyncio.gather(*(create(True) for _ in range(30)), return_exceptions=True)
        page = await stub.ListTrackers(
            pb.ListTrackersRequest(page_size=limit), metadata=auth, timeout=5
        )
    finally:
        await channel.close()
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(results) - len(refused) == 10
    assert len(refused) == 20
    assert all(r.code() is grpc.StatusCode.FAILED_PRECONDITION for r in refused)
    assert {error_details(r)[1] for r in refused} == {"TRACKER_LIMIT_REACHED"}
    assert len(page.trackers) == limit and page.next_page_token == ""


def test_the_cli_creates_and_lists_trackers(stack: Stack) -> None:
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

    made = cli("create", "--from", "LHR", "--to", "JFK", "--date", "+40", "--drop", "15", "--json")
    assert made.returncode == 0, made.stderr
    tracker_id = json.loads(made.stdout)["tracker"]["tracker_id"]
    shown = cli("list")
    assert shown.returncode == 0 and tracker_id in shown.stdout and "LHR-JFK" in shown.stdout
    listed = cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["tracker_id"] for t in json.loads(listed.stdout)["trackers"]] == [tracker_id]
    assert cli("history", tracker_id).returncode == 0
    assert "no alerts" in cli("alerts").stdout
    bad = cli("create", "--from", "LHR", "--to", "LHR", "--date", "+40", "--drop", "15")
    assert bad.returncode == 1
    assert "tracker.flight.destination" in bad.stderr
    assert stack.tracking.secret not in made.stdout + made.stderr + bad.stderr
