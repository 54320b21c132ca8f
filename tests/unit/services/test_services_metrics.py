"""What a scraper reads on /metrics of a real server (the probe service behind the real
bootstrap, its HTTP endpoint on port 0): the standard gRPC server metrics with their
standard labels for every handler kind, the process and runtime collectors, no
``_created`` series; and the ``skyroute_`` prefix on every metric of our own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from google.protobuf import wrappers_pb2
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from services.http_status import ServingState, start_http
from services.metrics import OWN_PREFIX
from tests.utils.metric_names import family_names, metric_classes, service_registry
from tests.utils.probe import SERVICE, Running, eventually

RUNTIME_PREFIXES = ("grpc_server_", "process_", "python_")


def _text(value: str) -> bytes:
    return wrappers_pb2.StringValue(value=value).SerializeToString()


@pytest.fixture
async def scrape(running: Running) -> AsyncIterator[str]:
    runner, port = await start_http(
        running.registry, ServingState("probe", "probe-1"), None, "127.0.0.1", 0
    )
    assert runner is not None
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        await runner.cleanup()


async def _samples(url: str) -> tuple[str, list[Sample]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return text, [s for f in text_string_to_metric_families(text) for s in f.samples]


def _value(samples: list[Sample], name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, (name, labels)
    return found[0] if found else None


async def test_standard_grpc_metrics_for_every_handler_kind(running: Running, scrape: str) -> None:
    channel = running.channel
    assert await running.unary("Ok")(b"ping", timeout=5) == b"ok:ping"
    assert [r async for r in channel.unary_stream(f"/{SERVICE}/Count")(b"two", timeout=5)] == [
        b"1",
        b"2",
    ]
    await channel.stream_unary(f"/{SERVICE}/Join")(iter([_text("a"), _text("b")]), timeout=5)
    chat = channel.stream_stream(f"/{SERVICE}/Chat")(
        iter([_text("x"), _text("y"), _text("z")]), timeout=5
    )
    assert len([r async for r in chat]) == 3
    await eventually(lambda: running.handled("Chat", "OK") == 1)

    text, samples = await _samples(scrape)
    # method, grpc_type, messages received, messages sent
    calls = [
        ("Ok", "unary", 1, 1),
        ("Count", "server_stream", 1, 2),
        ("Join", "client_stream", 2, 1),
        ("Chat", "bidi_stream", 3, 3),
    ]
    for method, kind, received, sent in calls:
        labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}
        assert _value(samples, "grpc_server_started_total", **labels) == 1, method
        assert _value(samples, "grpc_server_handled_total", **labels, grpc_code="OK") == 1
        assert _value(samples, "grpc_server_msg_received_total", **labels) == received, method
        assert _value(samples, "grpc_server_msg_sent_total", **labels) == sent, method
        assert _value(samples, "grpc_server_handling_seconds_count", **labels) == 1, method
        assert _value(samples, "grpc_server_handling_seconds_bucket", **labels, le="+Inf") == 1
    # The old labels are gone.
    assert not [s for s in samples if "method" in s.labels or "code" in s.labels]
    assert "_created" not in text


async def test_failures_are_counted_by_code(running: Running, scrape: str) -> None:
    for method in ("Missing", "Invalid"):
        with pytest.raises(grpc.aio.AioRpcError):
            await running.unary(method)(b"", timeout=5)
    await eventually(lambda: running.handled("Invalid", "INVALID_ARGUMENT") == 1)
    _, samples = await _samples(scrape)
    missing = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": "Missing"}
    assert _value(samples, "grpc_server_handled_total", **missing, grpc_code="NOT_FOUND") == 1
    assert _value(samples, "grpc_server_handled_total", **missing, grpc_code="OK") == 0
    assert _value(samples, "grpc_server_started_total", **missing) == 1
    assert _value(samples, "grpc_server_msg_sent_total", **missing) == 0


async def test_process_and_runtime_collectors(running: Running, scrape: str) -> None:
    _, samples = await _samples(scrape)
    names = {s.name for s in samples}
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections_total",
    ):
        assert name in names, name
    cpu = _value(samples, "process_cpu_seconds_total")
    assert cpu is not None and cpu > 0


def test_every_metric_class_is_found() -> None:
    """The discovery below covers the known classes (a renamed module would hide one)."""
    found = {cls.__name__ for cls in metric_classes()}
    assert {
        "ServerMetrics",
        "TokenMetrics",
        "CacheMetrics",
        "ProviderMetrics",
        "RepositoryMetrics",
        "SearchMetrics",
        "RateBudgetMetrics",
        "OrderMetrics",
        "SweeperMetrics",
    } <= found


def test_own_metrics_carry_the_skyroute_prefix() -> None:
    names = family_names(service_registry())
    ours = {n for n in names if not n.startswith(RUNTIME_PREFIXES)}
    assert ours, "no metric of our own found"
    assert sorted(n for n in ours if not n.startswith(OWN_PREFIX)) == []
    assert {n for n in names if n.startswith("grpc_server_")} == {
        "grpc_server_started",
        "grpc_server_handled",
        "grpc_server_msg_received",
        "grpc_server_msg_sent",
        "grpc_server_handling_seconds",
    }
