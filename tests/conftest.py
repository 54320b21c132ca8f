"""Shared fixtures: real Redis with a per-test key space, the provider
stand-in and token-service replicas as separate processes.

Tests marked ``redis_backends`` run twice: on the single Redis (``single``) and on a
6-node Redis Cluster started once per session (``cluster``); ``TEST_REDIS_BACKENDS``
(comma-separated) narrows that down."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import redis

from services.redis_client import sync_client
from tests.utils.pgbouncer import PgBouncer
from tests.utils.redis_keys import delete_matching
from tests.utils.redis_server import RedisClusterSetup
from tests.utils.sim import Sim, new_clients
from tests.utils.token_cluster import TokenCluster

# The token clusters a test started, for its failure report.
STARTED_CLUSTERS = pytest.StashKey[list[TokenCluster]]()

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_BACKENDS = [
    b.strip() for b in os.environ.get("TEST_REDIS_BACKENDS", "single,cluster").split(",") if b
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "redis_backends: run on a single Redis and on a Redis Cluster (redis_backend param)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("redis_backends") is None:
        return
    if "redis_backend" in metafunc.fixturenames:
        # Session scope: tests are grouped by backend, each module's stack started
        # once per backend.
        metafunc.parametrize("redis_backend", REDIS_BACKENDS, indirect=True, scope="session")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that started token replicas reports what they logged (their own
    lines, merged in time order): a rare failure in CI can then be read, not guessed."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for cluster in item.stash.get(STARTED_CLUSTERS, []):
        report.sections.append((f"token replicas' log ({cluster.prefix})", cluster.log_digest()))


@pytest.fixture(scope="session")
def redis_backend(request: pytest.FixtureRequest) -> str:
    """``single`` (the shared Redis) unless the test is marked ``redis_backends``."""
    return str(getattr(request, "param", "single"))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterSetup]:
    """A real Redis Cluster, 3 primaries and 3 replicas, for the whole session."""
    setup = RedisClusterSetup(tmp_path_factory.mktemp("redis-cluster")).start()
    yield setup
    setup.stop()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, redis_backend: str) -> str:
    if redis_backend == "cluster":
        cluster: RedisClusterSetup = request.getfixturevalue("redis_cluster")
        return cluster.url
    if redis_backend != "single":
        raise ValueError(f"unknown Redis backend {redis_backend!r}")
    return REDIS_URL


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key space of our own, deleted after the test."""
    prefix = f"skyroute-test-{secrets.token_hex(6)}"
    yield prefix
    delete_matching(redis_url, f"{prefix}:*")


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[redis.Redis | redis.RedisCluster]:
    client = sync_client(redis_url)
    yield client
    client.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def sim_factory(workdir: Path) -> Iterator[Callable[..., Sim]]:
    started: list[Sim] = []

    def start(token_ttl: float = 1799) -> Sim:
        sim = Sim(workdir, new_clients(), token_ttl=token_ttl).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(sim_factory: Callable[..., Sim]) -> Sim:
    return sim_factory()


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest, workdir: Path, redis_url: str, key_prefix: str
) -> Iterator[Callable[..., TokenCluster]]:
    """Starts token replicas; on teardown stops them and checks their logs for leaks."""
    started: list[TokenCluster] = []
    request.node.stash[STARTED_CLUSTERS] = started

    def start(
        sim: Sim,
        replicas: int = 3,
        env: dict[str, str] | None = None,
        redis: str | None = None,
        replica_env: Sequence[Mapping[str, str]] = (),
    ) -> TokenCluster:
        cluster = TokenCluster(
            workdir, sim, redis or redis_url, key_prefix, replicas, env, replica_env
        )
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
    for cluster in started:
        cluster.assert_no_secrets_in_logs()


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One PgBouncer in transaction pooling mode for the session, serving every
    (throwaway) database of the tests' PostgreSQL under its own name."""
    bouncer = PgBouncer().start()
    yield bouncer
    bouncer.stop()
