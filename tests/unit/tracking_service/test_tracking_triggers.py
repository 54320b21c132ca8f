"""Alert rules: each alert fires once per crossing of its threshold, never on a re-run
of the same prices."""

from __future__ import annotations

from decimal import Decimal

from tracking_service.models import AlertKind
from tracking_service.triggers import Observation, TriggerSpec, TriggerState, evaluate

DROP_10 = TriggerSpec(Decimal("10"), None, None, False)


def seen(price: str | None, currency: str = "EUR") -> Observation:
    if price is None:
        return Observation(None, None, None, 0)
    return Observation(Decimal(price), currency, "offer-1", 3)


def run(spec: TriggerSpec, prices: list[str | None], currency: str = "EUR") -> list[AlertKind]:
    state = TriggerState()
    kinds: list[AlertKind] = []
    for price in prices:
        state, alerts = evaluate(spec, state, seen(price, currency))
        kinds.extend(a.kind for a in alerts)
    return kinds


def test_a_drop_alerts_once_and_a_steady_low_price_does_not_repeat_it() -> None:
    assert run(DROP_10, ["100", "100", "89", "89", "89"]) == [AlertKind.PRICE_DROP]


def test_a_drop_smaller_than_the_threshold_is_nothing() -> None:
    assert run(DROP_10, ["100", "95", "91"]) == []


def test_a_slow_drop_counts_from_the_highest_price_since_the_last_alert() -> None:
    # 100 -> 95 -> 90: 10 % below the 100 seen two runs ago.
    assert run(DROP_10, ["100", "95", "90"]) == [AlertKind.PRICE_DROP]


def test_after_a_drop_the_reference_restarts_and_a_second_drop_alerts_again() -> None:
    kinds = run(DROP_10, ["100", "80", "100", "85"])
    assert kinds == [AlertKind.PRICE_DROP, AlertKind.PRICE_DROP]


def test_the_alert_names_the_price_and_its_reference() -> None:
    state, _ = evaluate(DROP_10, TriggerState(), seen("200"))
    _, (alert,) = evaluate(DROP_10, state, seen("150"))
    assert (alert.price, alert.reference_price, alert.currency) == (
        Decimal("150"),
        Decimal("200"),
        "EUR",
    )


def test_a_change_of_currency_restarts_the_reference() -> None:
    state, _ = evaluate(DROP_10, TriggerState(), seen("100", "EUR"))
    _, alerts = evaluate(DROP_10, state, seen("50", "USD"))
    assert alerts == []


def test_below_target_fires_on_crossing_and_re_arms_above_it() -> None:
    spec = TriggerSpec(None, Decimal("90"), "EUR", False)
    kinds = run(spec, ["100", "90", "85", "95", "80"])
    assert kinds == [AlertKind.BELOW_TARGET, AlertKind.BELOW_TARGET]


def test_below_target_already_at_the_first_run_alerts() -> None:
    spec = TriggerSpec(None, Decimal("90"), "EUR", False)
    assert run(spec, ["50", "50"]) == [AlertKind.BELOW_TARGET]


def test_a_target_in_another_currency_never_compares() -> None:
    spec = TriggerSpec(None, Decimal("90"), "USD", False)
    assert run(spec, ["50", "40"]) == []


def test_back_in_stock_only_after_a_run_found_nothing() -> None:
    spec = TriggerSpec(None, None, None, True)
    assert run(spec, ["100", None, None, "120", "120", None, "90"]) == [
        AlertKind.BACK_IN_STOCK,
        AlertKind.BACK_IN_STOCK,
    ]


def test_a_sold_out_run_keeps_the_drop_reference() -> None:
    assert run(DROP_10, ["100", None, "85"]) == [AlertKind.PRICE_DROP]


def test_several_triggers_in_one_run() -> None:
    spec = TriggerSpec(Decimal("10"), Decimal("80"), "EUR", True)
    assert run(spec, ["100", None, "75"]) == [
        AlertKind.BACK_IN_STOCK,
        AlertKind.PRICE_DROP,
        AlertKind.BELOW_TARGET,
    ]
