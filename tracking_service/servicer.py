"""gRPC servicer: validate, call the store, convert. The caller is the JWT subject the
interceptor's authenticator put in ``caller_var`` (services/user_auth.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import grpc

from services.context import caller_var
from services.errors import (
    FailedPreconditionError,
    FieldViolation,
    NotFoundError,
    UnauthenticatedError,
    ValidationError,
)
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from services.generated.skyroute.tracking.v1 import tracking_service_pb2_grpc as pb_grpc
from tracking_service import convert, validation
from tracking_service.airports import KnownAirports
from tracking_service.kinds import TrackedSearch, airports, ends_at
from tracking_service.metrics import TrackingMetrics
from tracking_service.prices import PriceSource
from tracking_service.settings import TrackingPolicy
from tracking_service.store import LimitReached, TrackerRow, TrackingStore
from tracking_service.watch import AlertHub


def _user() -> str:
    user = caller_var.get()
    if not user:  # the authenticator always sets it; refuse rather than guess
        raise UnauthenticatedError("no authenticated user", reason="TOKEN_MISSING")
    return user


def _missing(what: str = "tracker") -> NotFoundError:
    return NotFoundError(f"no such {what}", reason=f"{what.upper()}_NOT_FOUND")


class TrackingServicer(pb_grpc.TrackingServiceServicer):
    def __init__(
        self,
        store: TrackingStore,
        hub: AlertHub,
        policy: TrackingPolicy,
        metrics: TrackingMetrics,
        prices: PriceSource,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._prices = prices
        self._airports = KnownAirports(store.known_airports)
        self._hub = hub
        self._policy = policy
        self._metrics = metrics
        self._clock = clock

    async def _tracker(self, row: TrackerRow | None) -> pb.Tracker:
        if row is None:
            raise _missing()
        latest = await self._store.latest_runs([row.id])
        return convert.tracker_pb(row, latest.get(row.id))

    async def _check(self, search: TrackedSearch) -> None:
        """What the request's shape cannot say: the airports are in the airports table
        (search's own reference data, the one list of airports), a hotel city is known
        at the supplier (search resolves it)."""
        named = airports(search)
        if named:
            unknown = await self._airports.unknown([code for _, code in named])
            if unknown:
                raise ValidationError(
                    [
                        FieldViolation(field, f"unknown airport {code}")
                        for field, code in named
                        if code in unknown
                    ]
                )
        await self._prices.check(search)

    async def CreateTracker(
        self, request: pb.CreateTrackerRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateTrackerResponse:
        user = _user()
        now = datetime.fromtimestamp(self._clock(), UTC)
        given = validation.create_input(request, now, self._policy.min_frequency_seconds)
        await self._check(given.search)
        try:
            row = await self._store.create(
                user,
                given.request_id,
                given.search,
                ends_at(given.search),
                given.frequency_seconds,
                given.triggers,
                given.first_run_at,
                self._policy.max_trackers_per_user,
            )
        except LimitReached:
            raise FailedPreconditionError(
                f"at most {self._policy.max_trackers_per_user} trackers per user: delete one first",
                reason="TRACKER_LIMIT_REACHED",
            ) from None
        return pb.CreateTrackerResponse(tracker=await self._tracker(row))

    async def GetTracker(
        self, request: pb.GetTrackerRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTrackerResponse:
        tracker_id = validation.parse_id(request.tracker_id, "tracker_id")
        row = await self._store.get(_user(), tracker_id)
        return pb.GetTrackerResponse(tracker=await self._tracker(row))

    async def ListTrackers(
        self, request: pb.ListTrackersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTrackersResponse:
        user = _user()
        size = validation.page_size(request.page_size)
        cursor = validation.decode_page(request.page_token, user, "trackers")
        before = validation.parse_id(cursor, "page_token") if cursor else None
        rows = await self._store.list_trackers(user, before, size + 1)
        page = rows[:size]
        latest = await self._store.latest_runs([r.id for r in page])
        response = pb.ListTrackersResponse(
            trackers=[convert.tracker_pb(r, latest.get(r.id)) for r in page]
        )
        if len(rows) > size:
            response.next_page_token = validation.encode_page(str(page[-1].id), user, "trackers")
        return response

    async def UpdateTracker(
        self, request: pb.UpdateTrackerRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateTrackerResponse:
        user = _user()
        tracker_id, freq, spec = validation.update_input(
            request, self._policy.min_frequency_seconds
        )
        row = await self._store.update(user, tracker_id, freq, spec)
        return pb.UpdateTrackerResponse(tracker=await self._tracker(row))

    async def PauseTracker(
        self, request: pb.PauseTrackerRequest, context: grpc.aio.ServicerContext
    ) -> pb.PauseTrackerResponse:
        tracker_id = validation.parse_id(request.tracker_id, "tracker_id")
        row = await self._store.set_paused(_user(), tracker_id, request.paused)
        return pb.PauseTrackerResponse(tracker=await self._tracker(row))

    async def DeleteTracker(
        self, request: pb.DeleteTrackerRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteTrackerResponse:
        tracker_id = validation.parse_id(request.tracker_id, "tracker_id")
        if not await self._store.delete(_user(), tracker_id):
            raise _missing()
        return pb.DeleteTrackerResponse()

    async def ListPriceHistory(
        self, request: pb.ListPriceHistoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListPriceHistoryResponse:
        user = _user()
        tracker_id = validation.parse_id(request.tracker_id, "tracker_id")
        size = validation.page_size(request.page_size)
        scope = f"history:{tracker_id}"
        cursor = validation.decode_page(request.page_token, user, scope)
        before = None
        if cursor is not None:
            try:
                before = datetime.fromisoformat(cursor)
            except ValueError:
                before = None
            if before is None or before.tzinfo is None:
                raise validation.ValidationError.field("page_token", "is not a page token")
        runs = await self._store.history(user, tracker_id, before, size + 1)
        if runs is None:
            raise _missing()
        page = runs[:size]
        response = pb.ListPriceHistoryResponse(
            observations=[convert.observation_pb(r) for r in page]
        )
        if len(runs) > size:
            response.next_page_token = validation.encode_page(
                page[-1].period_start.isoformat(), user, scope
            )
        return response

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAlertsResponse:
        user = _user()
        size = validation.page_size(request.page_size)
        scope = f"alerts:{request.unacknowledged_only}"
        cursor = validation.decode_page(request.page_token, user, scope)
        before = validation.parse_id(cursor, "page_token") if cursor else None
        rows = await self._store.alerts(user, before, size + 1, request.unacknowledged_only)
        page = rows[:size]
        response = pb.ListAlertsResponse(alerts=[convert.alert_pb(a) for a in page])
        if len(rows) > size:
            response.next_page_token = validation.encode_page(str(page[-1].id), user, scope)
        return response

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: grpc.aio.ServicerContext
    ) -> pb.AcknowledgeAlertResponse:
        alert_id = validation.parse_id(request.alert_id, "alert_id")
        row = await self._store.acknowledge(_user(), alert_id)
        if row is None:
            raise _missing("alert")
        return pb.AcknowledgeAlertResponse(alert=convert.alert_pb(row))

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        user = _user()
        after = (
            validation.parse_id(request.after_alert_id, "after_alert_id")
            if request.after_alert_id
            else None
        )
        async for alert in self._hub.watch(user, after):
            self._metrics.watchers.inc()
            yield pb.WatchAlertsResponse(alert=convert.alert_pb(alert))
