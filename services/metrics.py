"""Prometheus metrics: one registry per process, passed down, served over HTTP."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ServerMetrics:
    """RPC-level metrics every service exposes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "grpc_server_handled_total", "RPCs completed, by method and status code",
            ["method", "code"], registry=registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds", "RPC handling time", ["method"], registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

