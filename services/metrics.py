"""Prometheus metrics: one registry per process, passed down, served over HTTP.

The RPC metrics are named and labelled as go-grpc-prometheus (and its Python ports) name
them, so stock gRPC dashboards and alerts work unchanged: ``grpc_server_started_total``,
``grpc_server_handled_total`` (with ``grpc_code``), ``grpc_server_msg_received_total``,
``grpc_server_msg_sent_total`` and the ``grpc_server_handling_seconds`` histogram, all
labelled ``grpc_type`` (unary, client_stream, server_stream, bidi_stream),
``grpc_service`` (``skyroute.token.v1.TokenService``) and ``grpc_method`` (``GetToken``).
``grpc_code`` is the status code's canonical name (``OK``, ``INVALID_ARGUMENT``), as
grpc-python spells it. The process, platform and garbage-collector collectors sit on the
same registry; every other metric of ours starts with ``skyroute_``.
"""

from __future__ import annotations

import time

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

# ``*_created`` series (one per counter, histogram and label set) double the series
# count and no dashboard reads them. Process-wide; done on import, before any metric.
disable_created_metrics()

OWN_PREFIX = "skyroute_"

# Handler kind (grpc's RpcMethodHandler attribute) -> the conventional ``grpc_type``.
GRPC_TYPES = {
    "unary_unary": "unary",
    "unary_stream": "server_stream",
    "stream_unary": "client_stream",
    "stream_stream": "bidi_stream",
}

LABELS = ("grpc_type", "grpc_service", "grpc_method")


def split_method(full_method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` -> (``pkg.Service``, ``Method``)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method


def register_runtime_collectors(registry: CollectorRegistry) -> None:
    """``process_*`` (CPU, memory, file descriptors), ``python_info`` and
    ``python_gc_*``: what the default registry has, on ours."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)  # registers nothing off CPython


class ServerMetrics:
    """RPC-level metrics every service exposes, and the runtime collectors."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.started = Counter(
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            LABELS,
            registry=registry,
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            (*LABELS, "grpc_code"),
            registry=registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            LABELS,
            registry=registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            LABELS,
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been "
            "application-level handled by the server.",
            LABELS,
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        register_runtime_collectors(registry)

    def method(self, full_method: str, kind: str) -> MethodMetrics:
        return MethodMetrics(self, full_method, kind)


class MethodMetrics:
    """One method's metric children, resolved once (on its first call): the hot path
    only increments them."""

    __slots__ = ("_handled", "_labels", "_ok", "handling", "received", "sent", "started")

    def __init__(self, metrics: ServerMetrics, full_method: str, kind: str) -> None:
        service, method = split_method(full_method)
        self._labels = (GRPC_TYPES[kind], service, method)
        self._handled = metrics.handled
        self._ok = metrics.handled.labels(*self._labels, grpc.StatusCode.OK.name)
        self.started = metrics.started.labels(*self._labels)
        self.received = metrics.msg_received.labels(*self._labels)
        self.sent = metrics.msg_sent.labels(*self._labels)
        self.handling = metrics.handling.labels(*self._labels)

    def done(self, code: grpc.StatusCode, started: float) -> None:
        """The call ended with ``code``; ``started`` is its ``time.perf_counter()``."""
        if code is grpc.StatusCode.OK:
            self._ok.inc()
        else:
            self._handled.labels(*self._labels, code.name).inc()
        self.handling.observe(time.perf_counter() - started)
