"""When a run raises an alert: pure rules over the tracker's state and the run's result.

Each alert fires once per crossing of its threshold, so a re-run of the same prices, or
a price that stays low, raises nothing new:

- PRICE_DROP: the lowest price is at least ``drop_percent`` below the reference, the
  highest price seen since the last drop alert (or the first run); the reference then
  restarts at the new price. A change of currency restarts it too.
- BELOW_TARGET: the price is at or below the target having been above it (or unknown);
  it re-arms once the price is above the target again. Other currencies never compare.
- BACK_IN_STOCK: offers are found after a run that found none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.generated.skyroute.common.v1 import money_pb2
from tracking_service.models import AlertKind

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TriggerSpec:
    drop_percent: Decimal | None
    target_price: Decimal | None
    target_currency: str | None
    back_in_stock: bool


@dataclass(frozen=True)
class TriggerState:
    last_price: Decimal | None = None
    last_currency: str | None = None
    last_in_stock: bool | None = None
    drop_reference: Decimal | None = None
    below_target: bool = False


@dataclass(frozen=True)
class Observation:
    """A run's result: the lowest price (None: nothing found) and its offer (and, where
    the offer id says too little, the offer described: a hotel's name, room, board)."""

    price: Decimal | None
    currency: str | None
    best_offer_id: str | None
    offers_found: int
    details: dict[str, Any] | None = None

    @classmethod
    def priced(
        cls,
        money: money_pb2.Money,
        offer_id: str,
        found: int,
        details: dict[str, Any] | None = None,
    ) -> Observation:
        amount = (Decimal(money.units) + Decimal(money.nanos).scaleb(-9)).quantize(Decimal("0.01"))
        return cls(amount, money.currency_code, offer_id, found, details)

    @property
    def in_stock(self) -> bool:
        return self.price is not None


@dataclass(frozen=True)
class AlertDraft:
    kind: AlertKind
    price: Decimal | None
    currency: str | None
    reference_price: Decimal | None
    best_offer_id: str | None


def evaluate(
    spec: TriggerSpec, state: TriggerState, seen: Observation
) -> tuple[TriggerState, list[AlertDraft]]:
    """The state after ``seen`` and the alerts it raises."""
    alerts: list[AlertDraft] = []

    def alert(kind: AlertKind, reference: Decimal | None) -> None:
        alerts.append(AlertDraft(kind, seen.price, seen.currency, reference, seen.best_offer_id))

    if spec.back_in_stock and state.last_in_stock is False and seen.in_stock:
        alert(AlertKind.BACK_IN_STOCK, None)
    if seen.price is None:
        return TriggerState(
            state.last_price, state.last_currency, False, state.drop_reference, state.below_target
        ), alerts

    price = seen.price
    reference = state.drop_reference if seen.currency == state.last_currency else None
    if reference is None:
        reference = price
    elif spec.drop_percent is not None and price <= reference * (1 - spec.drop_percent / HUNDRED):
        alert(AlertKind.PRICE_DROP, reference)
        reference = price
    else:
        reference = max(reference, price)

    below = state.below_target
    if spec.target_price is not None and seen.currency == spec.target_currency:
        now_below = price <= spec.target_price
        if now_below and not below:
            alert(AlertKind.BELOW_TARGET, spec.target_price)
        below = now_below
    return TriggerState(price, seen.currency, True, reference, below), alerts
