"""Replicas of a service of the stack (services/stack.py) as separate processes of the
benchmark's ``ProcessGroup``, and the counters they expose on /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.procs import Child, ProcessGroup
from services.metrics import split_method
from services.stack import Facts, ServiceSpec

Labels = Mapping[str, str]


class ServiceCluster:
    def __init__(
        self,
        group: ProcessGroup,
        service: ServiceSpec,
        facts: Facts,
        replicas: int,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        """``env``: tuning on top of the stack's environment; ``name``: of the children
        and their replica ids (default: the service's package), distinct per cluster."""
        self._group = group
        name = name or service.module
        tuning = {"SHUTDOWN_GRACE_SECONDS": "1", "LOG_LEVEL": "INFO", **(env or {})}
        children = [
            group.python(
                f"{name}-{i + 1}",
                ["-m", service.module],
                {
                    **service.replica_env(facts, f"{name}-{i + 1}", grpc_port=0, metrics_port=0),
                    **tuning,
                },
            )
            for i in range(replicas)
        ]
        self.children: list[Child] = []
        self.addresses: list[str] = []
        self.metrics_ports: list[int] = []
        for child in children:
            ports = child.wait_ready(timeout=60)
            self.children.append(child)
            self.addresses.append(f"127.0.0.1:{ports['grpc']}")
            self.metrics_ports.append(int(ports["metrics"]))

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    def samples(
        self, name: str, keep: Callable[[Labels], bool] = lambda _l: True, by: str | None = None
    ) -> dict[str, float]:
        """Sum over the replicas of counter ``name``'s samples whose labels ``keep``
        accepts, per value of label ``by`` (one key "" without ``by``)."""
        totals: dict[str, float] = {}
        for port in self.metrics_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                text = response.read().decode()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == name and keep(sample.labels):
                        key = sample.labels.get(by, "") if by else ""
                        totals[key] = totals.get(key, 0.0) + sample.value
        return totals

    def handled(self, method: str) -> dict[str, float]:
        """``grpc_server_handled_total`` of ``method`` (``/pkg.Service/Method``) by status
        code."""
        service, name = split_method(method)
        return self.samples(
            "grpc_server_handled_total",
            lambda labels: (
                (labels.get("grpc_service"), labels.get("grpc_method")) == (service, name)
            ),
            by="grpc_code",
        )

    def log_text(self) -> str:
        return "\n".join(c.log_tail(200) for c in self.children)

    def stop(self) -> None:
        for child in self.children:
            self._group.stop(child)


def increase(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """Per key, how much a counter rose (keys that did not rise are left out)."""
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v > before.get(k, 0.0)}
