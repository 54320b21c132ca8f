"""Store rows to protos."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from google.protobuf import duration_pb2, timestamp_pb2

from services.generated.skyroute.common.v1 import money_pb2
from services.generated.skyroute.tracking.v1 import tracking_service_pb2 as pb
from tracking_service import hotels
from tracking_service.kinds import set_search
from tracking_service.store import AlertRow, RunRow, TrackerRow

ALERT_KINDS = {
    "PRICE_DROP": pb.ALERT_KIND_PRICE_DROP,
    "BELOW_TARGET": pb.ALERT_KIND_BELOW_TARGET,
    "BACK_IN_STOCK": pb.ALERT_KIND_BACK_IN_STOCK,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def money(amount: Decimal | None, currency: str | None) -> money_pb2.Money | None:
    if amount is None or currency is None:
        return None
    units = int(amount)
    nanos = int((amount - units) * 1_000_000_000)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def observation_pb(run: RunRow) -> pb.PriceObservation:
    out = pb.PriceObservation(
        period_start_time=timestamp(run.period_start),
        start_time=timestamp(run.claimed_at),
        finish_time=timestamp(run.finished_at),
        best_offer_id=run.best_offer_id or "",
        offers_found=run.offers_found,
    )
    price = money(run.lowest_price, run.currency)
    if price is not None:
        out.lowest_price.CopyFrom(price)
    hotel = hotels.summary(run.best_offer)
    if hotel is not None:
        out.best_hotel_offer.CopyFrom(hotel)
    return out


def tracker_pb(row: TrackerRow, latest: RunRow | None = None) -> pb.Tracker:
    state = (
        pb.TRACKER_STATE_ENDED
        if row.ended
        else pb.TRACKER_STATE_PAUSED
        if row.paused
        else pb.TRACKER_STATE_ACTIVE
    )
    spec = row.triggers
    triggers = pb.Triggers(back_in_stock=spec.back_in_stock)
    if spec.drop_percent is not None:
        triggers.drop_percent = float(spec.drop_percent)
    target = money(spec.target_price, spec.target_currency)
    if target is not None:
        triggers.target_price.CopyFrom(target)
    out = pb.Tracker(
        tracker_id=str(row.id),
        frequency=duration_pb2.Duration(seconds=row.frequency_seconds),
        triggers=triggers,
        state=state,
        end_time=timestamp(row.ends_at),
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
    set_search(out, row.kind, row.search)
    if not row.ended:
        out.next_run_time.CopyFrom(timestamp(row.next_run_at))
    if latest is not None:
        out.latest.CopyFrom(observation_pb(latest))
    return out


def alert_pb(row: AlertRow) -> pb.Alert:
    out = pb.Alert(
        alert_id=str(row.id),
        tracker_id=str(row.tracker_id),
        kind=ALERT_KINDS[row.kind],
        best_offer_id=row.best_offer_id or "",
        period_start_time=timestamp(row.period_start),
        create_time=timestamp(row.created_at),
    )
    price = money(row.price, row.currency)
    if price is not None:
        out.price.CopyFrom(price)
    reference = money(row.reference_price, row.currency)
    if reference is not None:
        out.reference_price.CopyFrom(reference)
    if row.acknowledged_at is not None:
        out.acknowledge_time.CopyFrom(timestamp(row.acknowledged_at))
    hotel = hotels.summary(row.best_offer)
    if hotel is not None:
        out.best_hotel_offer.CopyFrom(hotel)
    return out
