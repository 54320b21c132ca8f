"""The Prometheus alert rules and the Grafana dashboard in deploy/monitoring/, printed
from the declarations below.

    python -m scripts.monitoring            # print both files
    python -m scripts.monitoring --write    # rewrite them

tests/unit/services/test_monitoring.py fails when a file is out of date, when an
expression names a metric the services do not export, and (where ``promtool`` is on
PATH) when ``promtool check rules`` rejects the rules.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALERTS_FILE = ROOT / "deploy/monitoring/alerts.yaml"
DASHBOARD_FILE = ROOT / "deploy/monitoring/grafana-dashboard.json"

# Codes that mean the server failed, not the caller (INVALID_ARGUMENT, NOT_FOUND...).
SERVER_FAULTS = "INTERNAL|UNKNOWN|UNAVAILABLE|DEADLINE_EXCEEDED|DATA_LOSS"
RPC = "grpc_service, grpc_method"


def alert(
    name: str, expr: str, for_: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


# The alerts docs/operations.md recommends, and the two every gRPC service wants.
ALERTS: dict[str, list[dict[str, Any]]] = {
    "skyroute-grpc": [
        alert(
            "SkyrouteRpcServerErrors",
            f'sum by ({RPC}) (rate(grpc_server_handled_total{{grpc_code=~"{SERVER_FAULTS}"}}'
            f"[5m])) / sum by ({RPC}) (rate(grpc_server_handled_total[5m])) > 0.05",
            "5m",
            "warning",
            "{{ $labels.grpc_service }}/{{ $labels.grpc_method }}: over 5 % server errors",
            "More than 5 % of calls end INTERNAL, UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED "
            "or DATA_LOSS. Find the tracebacks in the logs by the request id of an "
            "INTERNAL answer.",
        ),
        alert(
            "SkyrouteRpcSlow",
            "histogram_quantile(0.99, sum by (le, grpc_service, grpc_method) ("
            'rate(grpc_server_handling_seconds_bucket{grpc_type="unary"}[5m]))) > 1',
            "10m",
            "warning",
            "{{ $labels.grpc_service }}/{{ $labels.grpc_method }}: p99 above 1 s",
            "The 99th percentile of unary calls has been above one second for 10 "
            "minutes (streams such as health's Watch are left out).",
        ),
    ],
    "skyroute-token": [
        alert(
            "SkyrouteTokenNearExpiry",
            "skyroute_token_time_to_expiry_seconds < 0.1 * (skyroute_token_age_seconds"
            " + skyroute_token_time_to_expiry_seconds)",
            "1m",
            "critical",
            "{{ $labels.provider }}: served token near or past expiry",
            "Less than 10 % of the served token's lifetime is left (tokens are replaced "
            "with 15-25 % left): refreshing is failing. See last_error on /status and "
            "skyroute_token_upstream_requests_total.",
        ),
        alert(
            "SkyrouteTokenMissing",
            "skyroute_token_generation == 0",
            "5m",
            "critical",
            "{{ $labels.provider }}: no token held for 5 minutes",
            "The replica has never obtained a token for this provider: the token "
            "endpoint is unreachable or refuses the credentials.",
        ),
        alert(
            "SkyrouteTokenCredentialsRejected",
            "sum by (provider) (increase("
            'skyroute_token_upstream_requests_total{outcome="rejected"}[10m])) > 0',
            "0m",
            "critical",
            "{{ $labels.provider }}: token endpoint rejects our credentials",
            "The provider's token endpoint answered 400/401: the client id or secret "
            "is wrong or revoked. Retrying will not help; fix the secret.",
        ),
        alert(
            "SkyrouteTokenDegraded",
            "skyroute_token_degraded == 1",
            "2m",
            "warning",
            "{{ $labels.instance }}: token service without Redis (degraded)",
            "The replica cannot reach Redis and serves from its own cache: every "
            'replica now fetches tokens on its own. Health service "redis" is '
            "NOT_SERVING.",
        ),
        alert(
            "SkyrouteTokenFencedWrites",
            "sum by (provider) (increase(skyroute_token_fenced_writes_rejected_total[15m])) > 0",
            "15m",
            "warning",
            "{{ $labels.provider }}: token writes fenced out",
            "Refreshers lose their lease before writing (lock TTL shorter than a fetch, "
            "or process pauses), so tokens are fetched twice. See "
            "TOKEN_LOCK_TTL_SECONDS in docs/operations.md.",
        ),
    ],
    "skyroute-booking": [
        alert(
            "SkyrouteBookingSweeperFailing",
            "increase(skyroute_booking_sweeper_errors_total[15m]) > 3",
            "0m",
            "warning",
            "{{ $labels.instance }}: expired holds are not being released",
            "The hold sweeper failed more than 3 times in 15 minutes; held seats stay "
            "out of inventory until it succeeds.",
        ),
    ],
    "skyroute-tracking": [
        alert(
            "SkyrouteTrackingLagging",
            "histogram_quantile(0.99, sum by (le) "
            "(rate(skyroute_tracking_schedule_lag_seconds_bucket[10m]))) > 60",
            "15m",
            "warning",
            "tracker runs start over a minute after they are due",
            "Due trackers wait for a replica: too few tracking replicas, a slow search "
            "service, or runs deferred by the upstream rate budget "
            '(skyroute_tracking_runs_total{outcome="deferred"}).',
        ),
        alert(
            "SkyrouteTrackingClaimsLost",
            'sum(increase(skyroute_tracking_runs_total{outcome="lost"}[15m])) > 0',
            "0m",
            "warning",
            "tracking replicas finish runs after their claim was taken over",
            "A run took longer than TRACKING_LEASE_SECONDS (or its replica stalled), so "
            "another replica ran it again; nothing is stored twice, but searches are. "
            "Raise TRACKING_LEASE_SECONDS or look for slow searches.",
        ),
    ],
}


def _scalar(value: Any) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(value, ensure_ascii=False)


def render_alerts() -> str:
    lines = [
        "# Generated by `python -m scripts.monitoring --write`; edit scripts/monitoring.py.",
        "groups:",
    ]
    for group, rules in ALERTS.items():
        lines += [f"  - name: {group}", "    rules:"]
        for rule in rules:
            lines += [
                f"      - alert: {rule['alert']}",
                f"        expr: {_scalar(rule['expr'])}",
                f"        for: {rule['for']}",
            ]
            for key in ("labels", "annotations"):
                lines.append(f"        {key}:")
                lines += [f"          {k}: {_scalar(v)}" for k, v in rule[key].items()]
    return "\n".join(lines) + "\n"


RATE = "[$__rate_interval]"

# Rows of (title, unit, [(expr, legend)]).
ROWS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "gRPC (every service)",
        [
            (
                "Calls per second",
                "reqps",
                [
                    (
                        f"sum by ({RPC}) (rate(grpc_server_handled_total{RATE}))",
                        "{{grpc_service}}/{{grpc_method}}",
                    )
                ],
            ),
            (
                "Calls per second by code (not OK)",
                "reqps",
                [
                    (
                        f"sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total"
                        f'{{grpc_code!="OK"}}{RATE}))',
                        "{{grpc_method}} {{grpc_code}}",
                    )
                ],
            ),
            (
                "p99 handling time (unary)",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (le, grpc_method) (rate("
                        f'grpc_server_handling_seconds_bucket{{grpc_type="unary"}}{RATE})))',
                        "{{grpc_method}}",
                    )
                ],
            ),
            (
                "Calls in flight",
                "short",
                [
                    (
                        f"sum by ({RPC}) (grpc_server_started_total) - sum by ({RPC}) "
                        "(grpc_server_handled_total)",
                        "{{grpc_service}}/{{grpc_method}}",
                    )
                ],
            ),
        ],
    ),
    (
        "Token service",
        [
            (
                "Time to expiry of the served token",
                "s",
                [("skyroute_token_time_to_expiry_seconds", "{{provider}} {{instance}}")],
            ),
            (
                "GetToken served by",
                "reqps",
                [
                    (
                        f"sum by (provider, result) (rate(skyroute_token_cache_total{RATE}))",
                        "{{provider}} {{result}}",
                    )
                ],
            ),
            (
                "Token endpoint requests",
                "reqps",
                [
                    (
                        f"sum by (provider, outcome) (rate(skyroute_token_upstream_requests_total"
                        f"{RATE}))",
                        "{{provider}} {{outcome}}",
                    )
                ],
            ),
            (
                "Degraded replicas, fenced writes",
                "short",
                [
                    ("sum(skyroute_token_degraded)", "degraded replicas"),
                    (
                        f"sum by (provider) (increase(skyroute_token_fenced_writes_rejected_total"
                        f"{RATE}))",
                        "fenced {{provider}}",
                    ),
                ],
            ),
        ],
    ),
    (
        "Search and booking",
        [
            (
                "Search cache lookups",
                "reqps",
                [
                    (
                        f"sum by (result) (rate(skyroute_search_cache_lookups_total{RATE}))",
                        "{{result}}",
                    )
                ],
            ),
            (
                "Provider requests",
                "reqps",
                [
                    (
                        f"sum by (endpoint, outcome) (rate(skyroute_search_provider_requests_total"
                        f"{RATE}))",
                        "search {{endpoint}} {{outcome}}",
                    ),
                    (
                        f"sum by (outcome) (rate(skyroute_booking_provider_orders_total{RATE}))",
                        "booking order {{outcome}}",
                    ),
                ],
            ),
            (
                "Upstream rate budget",
                "reqps",
                [
                    (
                        "sum by (provider, outcome) "
                        f"(rate(skyroute_rate_budget_permits_total{RATE}))",
                        "{{provider}} {{outcome}}",
                    )
                ],
            ),
            (
                "Tracker runs",
                "short",
                [
                    (
                        f"sum by (outcome) (increase(skyroute_tracking_runs_total{RATE}))",
                        "runs {{outcome}}",
                    ),
                    (
                        f"sum by (kind) (increase(skyroute_tracking_alerts_total{RATE}))",
                        "alerts {{kind}}",
                    ),
                ],
            ),
            (
                "Holds expired, sweeper errors",
                "short",
                [
                    (f"sum(increase(skyroute_booking_holds_expired_total{RATE}))", "holds expired"),
                    (
                        f"sum(increase(skyroute_booking_sweeper_errors_total{RATE}))",
                        "sweeper errors",
                    ),
                ],
            ),
        ],
    ),
    (
        "Processes",
        [
            ("CPU", "percentunit", [(f"rate(process_cpu_seconds_total{RATE})", "{{instance}}")]),
            ("Resident memory", "bytes", [("process_resident_memory_bytes", "{{instance}}")]),
            ("Open file descriptors", "short", [("process_open_fds", "{{instance}}")]),
            (
                "Garbage collections",
                "short",
                [
                    (
                        f"sum by (instance, generation) (rate(python_gc_collections_total{RATE}))",
                        "{{instance}} gen {{generation}}",
                    )
                ],
            ),
        ],
    ),
]

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, charts in ROWS:
        panels.append(
            {
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "id": len(panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for i, (title, unit, targets) in enumerate(charts):
            panels.append(
                {
                    "type": "timeseries",
                    "title": title,
                    "id": len(panels) + 1,
                    "datasource": DATASOURCE,
                    "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)},
                    "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                    "options": {
                        "legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi"},
                    },
                    "targets": [
                        {
                            "datasource": DATASOURCE,
                            "expr": expr,
                            "legendFormat": legend,
                            "refId": chr(ord("A") + n),
                        }
                        for n, (expr, legend) in enumerate(targets)
                    ],
                }
            )
        y += 8 * ((len(charts) + 1) // 2)
    return {
        "title": "skyroute",
        "uid": "skyroute-overview",
        "tags": ["skyroute", "grpc"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "utc",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def render_dashboard() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


FILES = {ALERTS_FILE: render_alerts, DASHBOARD_FILE: render_dashboard}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the files")
    args = parser.parse_args()
    for path, render in FILES.items():
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render())
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            print(f"# {path.relative_to(ROOT)}\n{render()}")


if __name__ == "__main__":
    main()
