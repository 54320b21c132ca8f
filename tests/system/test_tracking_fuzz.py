"""Fuzz every RPC of the tracking service with hostile requests (tests/utils/fuzz.py),
with and without credentials, against a tracking replica pricing through a search
replica: each call ends with a documented code (never INTERNAL, UNKNOWN or a hang of a
unary call), undecodable bodies are INVALID_ARGUMENT (or UNAUTHENTICATED without a
JWT), and the replica still serves afterwards with no traceback in its log.

WatchAlerts waits for alerts that may never come: a stream still open when its short
deadline passes was accepted, which is what the check needs to know.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.search.v1 import search_service_pb2 as spb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2_grpc as pb_grpc
from tests.utils.booking_cluster import bearer, token_for
from tests.utils.fuzz import HOSTILE_TEXT, UNDECODABLE_BODIES, Rpc, Shown, requests
from tests.utils.redis_keys import delete_matching
from tests.utils.search_cluster import SearchCluster, seeded_database
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster
from tests.utils.tracking_cluster import TrackingCluster

SERVICE = pb.DESCRIPTOR.services_by_name["TrackingService"]
RPCS = [Rpc(SERVICE.full_name, m) for m in SERVICE.methods]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
CALL_TIMEOUT = 20.0
STREAM_TIMEOUT = 1.0
DOCUMENTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.UNAVAILABLE,
}
MAX_REQUEST_BYTES = 4 * 1024 * 1024
HOSTILE_SUBJECTS = [t for t in HOSTILE_TEXT if 0 < len(t) <= 400]
Metadata = tuple[tuple[str, str], ...]


class Stack:
    def __init__(self, workdir: Path, database_url: str, redis_url: str) -> None:
        self.prefix = f"skyroute-test-{secrets.token_hex(6)}"
        self.redis_url = redis_url
        self.sim = Sim(workdir, new_clients()).start()
        self.tokens = TokenCluster(workdir, self.sim, redis_url, self.prefix, 1).start()
        self.search = SearchCluster(
            workdir, database_url, redis_url, self.prefix, 1, self.tokens
        ).start()
        self.tracking = TrackingCluster(
            workdir, database_url, redis_url, self.prefix, self.search.addresses, 1
        ).start()
        self.channel = grpc.insecure_channel(self.tracking.addresses[0])
        self.valid = bearer(token_for("fuzzer", self.tracking.secret))
        self.seeds: dict[str, list[Message]] = {}

    def stop(self) -> None:
        self.channel.close()
        for part in (self.tracking, self.search, self.tokens, self.sim):
            part.stop()
        delete_matching(self.redis_url, f"{self.prefix}:*")

    def other_credentials(self) -> st.SearchStrategy[Metadata]:
        return st.one_of(
            st.sampled_from(
                [(), (("authorization", "Bearer not-a-jwt"),), (("authorization", "Basic x"),)]
            ),
            st.sampled_from(HOSTILE_SUBJECTS).map(
                lambda sub: bearer(token_for(sub, self.tracking.secret))
            ),
        )


def seed_requests(stack: Stack) -> dict[str, list[Message]]:
    stub = pb_grpc.TrackingServiceStub(stack.channel)
    day = (datetime.now(UTC).date() + timedelta(days=20)).isoformat()
    tracker = pb.Tracker(
        flight=pb.FlightSearch(
            origin="LHR",
            destination="JFK",
            departure_date=day,
            passengers=spb.Passengers(adults=1),
            cabin=spb.CABIN_ECONOMY,
        ),
        frequency=Duration(seconds=3600),
        triggers=pb.Triggers(
            drop_percent=10.0,
            target_price=money_pb2.Money(currency_code="EUR", units=300),
            back_in_stock=True,
        ),
    )
    create = pb.CreateTrackerRequest(tracker=tracker, request_id="seed")
    made = stub.CreateTracker(create, metadata=stack.valid, timeout=CALL_TIMEOUT).tracker
    tid = made.tracker_id
    update = pb.Tracker()
    update.CopyFrom(made)
    return {
        "CreateTracker": [create],
        "GetTracker": [pb.GetTrackerRequest(tracker_id=tid)],
        "ListTrackers": [pb.ListTrackersRequest(page_size=1)],
        "UpdateTracker": [pb.UpdateTrackerRequest(tracker=update, update_mask=["triggers"])],
        "PauseTracker": [pb.PauseTrackerRequest(tracker_id=tid, paused=True)],
        "DeleteTracker": [pb.DeleteTrackerRequest(tracker_id=str(int(tid) + 10_000))],
        "ListPriceHistory": [pb.ListPriceHistoryRequest(tracker_id=tid, page_size=2)],
        "ListAlerts": [pb.ListAlertsRequest(page_size=2, unacknowledged_only=True)],
        "AcknowledgeAlert": [pb.AcknowledgeAlertRequest(alert_id="1")],
        "WatchAlerts": [pb.WatchAlertsRequest(after_alert_id="0")],
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    with seeded_database() as url:
        stack = Stack(tmp_path_factory.mktemp("tracking-fuzz"), url, redis_url)
        try:
            stack.seeds = seed_requests(stack)
            yield stack
            logs = stack.tracking.logs()
            assert "Traceback" not in logs
            assert stack.tracking.secret not in logs
        finally:
            stack.stop()


def call(channel: grpc.Channel, rpc: Rpc, body: bytes, metadata: Metadata) -> grpc.StatusCode:
    if rpc.streaming:
        stream = channel.unary_stream(rpc.path)(body, metadata=metadata, timeout=STREAM_TIMEOUT)
        try:
            next(stream)
        except StopIteration:
            pass
        except grpc.RpcError as exc:
            code: grpc.StatusCode = exc.code()
            # Open until its deadline: accepted, waiting for alerts.
            return grpc.StatusCode.OK if code is grpc.StatusCode.DEADLINE_EXCEEDED else code
        finally:
            stream.cancel()
        return grpc.StatusCode.OK
    try:
        channel.unary_unary(rpc.path)(body, metadata=metadata, timeout=CALL_TIMEOUT)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def assert_still_serving(stack: Stack) -> None:
    reply = health_pb2_grpc.HealthStub(stack.channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_hostile_requests_get_documented_codes(stack: Stack, rpc: Rpc) -> None:
    examples = EXAMPLES // 4 if rpc.streaming else EXAMPLES  # each may wait its deadline

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(request=requests(rpc, stack.seeds.get(rpc.name, [])), other=stack.other_credentials())
    def run(request: Shown, other: Metadata) -> None:
        body = request.message.SerializeToString()
        for metadata in (stack.valid, other):
            code = call(stack.channel, rpc, body, metadata)
            allowed = DOCUMENTED | (
                {grpc.StatusCode.RESOURCE_EXHAUSTED} if len(body) > MAX_REQUEST_BYTES else set()
            )
            assert code in allowed, f"{rpc} answered {code.name} ({len(body)} bytes)"

    run()
    assert_still_serving(stack)


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_undecodable_bodies_are_invalid_argument(stack: Stack, rpc: Rpc) -> None:
    for body in UNDECODABLE_BODIES:
        try:
            rpc.request_class.FromString(body)
            expected = DOCUMENTED
        except DecodeError:
            expected = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED}
        for metadata in (stack.valid, ()):
            code = call(stack.channel, rpc, body, metadata)
            assert code in expected, (rpc.path, body, code.name)
    assert_still_serving(stack)
