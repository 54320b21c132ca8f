"""deploy/monitoring/: the alert rules and the Grafana dashboard are what
scripts/monitoring.py declares, well-formed, and every expression selects metrics the
services export (their registries built in-process, tests/utils/metric_names.py).
``promtool check rules`` runs too where promtool is on PATH."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from scripts.monitoring import ALERTS, ALERTS_FILE, DASHBOARD_FILE, FILES, dashboard
from tests.utils.metric_names import series_names, service_registry

DURATION = re.compile(r"^[0-9]+[smhdwy]$")
# What is left of an expression once strings, label matchers, ranges and grouping
# clauses are gone: identifiers followed by "(" are functions, the rest metric names.
_STRIPS = (
    r'"(?:[^"\\]|\\.)*"',
    r"\{[^}]*\}",
    r"\[[^\]]*\]",
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
)
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    for pattern in _STRIPS:
        expr = re.sub(pattern, " ", expr)
    return {
        m[1]
        for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)", expr)
        if not m[2] and m[1].lower() not in _KEYWORDS
    }


def read_rules_yaml(text: str) -> dict[str, Any]:
    """The subset of YAML the rule file is written in (block mappings and sequences,
    scalars bare or JSON-quoted): enough to see that it says what was declared, without
    a YAML library in the environment."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, Any]] = [(0, root)]  # (indent of its entries, container)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip())

    for number, line in enumerate(lines):
        at, body = indent(line), line.strip()
        while stack[-1][0] > at:
            stack.pop()
        container = stack[-1][1]
        assert stack[-1][0] == at, line
        if body.startswith("- "):
            assert isinstance(container, list), line
            container.append({})
            container = container[-1]
            at, body = at + 2, body[2:]
            stack.append((at, container))
        assert isinstance(container, dict), line
        key, _, value = body.partition(":")
        value = value.strip()
        if value:
            container[key] = json.loads(value) if value.startswith('"') else value
            continue
        following = lines[number + 1]
        child: Any = [] if following.strip().startswith("- ") else {}
        container[key] = child
        stack.append((indent(following), child))
    return root


def test_files_are_generated_from_the_declarations() -> None:
    for path, render in FILES.items():
        assert path.read_text() == render(), (
            f"{path.name} is out of date: run python -m scripts.monitoring --write"
        )


def test_rule_file_says_what_was_declared() -> None:
    parsed = read_rules_yaml(ALERTS_FILE.read_text())
    assert parsed == {"groups": [{"name": name, "rules": rules} for name, rules in ALERTS.items()]}


def test_rules_are_well_formed() -> None:
    names = [rule["alert"] for rules in ALERTS.values() for rule in rules]
    assert len(names) == len(set(names))
    for rules in ALERTS.values():
        for rule in rules:
            assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule
            assert DURATION.match(rule["for"]), rule
            assert rule["labels"]["severity"] in ("warning", "critical"), rule
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule


def test_the_recommended_alerts_are_there() -> None:
    """docs/operations.md's recommendations, by the metric each watches."""
    watched = {
        name for rules in ALERTS.values() for rule in rules for name in metric_names(rule["expr"])
    }
    assert {
        "skyroute_token_time_to_expiry_seconds",
        "skyroute_token_upstream_requests_total",
        "skyroute_token_degraded",
        "skyroute_token_fenced_writes_rejected_total",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
    } <= watched


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", ())]


def test_every_expression_selects_exported_metrics() -> None:
    exported = series_names(service_registry())
    exprs = [rule["expr"] for rules in ALERTS.values() for rule in rules] + _dashboard_exprs()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, sorted(names - exported))


def test_name_extraction_is_not_vacuous() -> None:
    assert metric_names('sum by (le, x) (rate(a_total{b="c(d)"}[5m])) / on(x) b > 0.1') == {
        "a_total",
        "b",
    }
    exported = series_names(service_registry())
    assert "grpc_server_handling_seconds_bucket" in exported
    assert "skyroute_token_degraded" in exported and "no_such_metric" not in exported


def test_dashboard_is_a_grafana_dashboard() -> None:
    board = json.loads(DASHBOARD_FILE.read_text())
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    charts = [p for p in board["panels"] if p["type"] == "timeseries"]
    assert len(charts) >= 12
    for panel in charts:
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
        assert panel["datasource"]["uid"] == "${datasource}"
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
