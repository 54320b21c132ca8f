"""A private redis-server process, for tests that stop and restart Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from redis.crc import key_slot

from services.parent_death import dying_with_parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (make services-up installs it)")
        self._binary = binary
        self._workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, replica_of: int | None = None, options: Sequence[str] = ()) -> PrivateRedis:
        """Starts it (as a replica of 127.0.0.1:``replica_of`` if given), with extra
        command-line ``options``."""
        extra = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
        extra += options
        self.proc = subprocess.Popen(
            dying_with_parent(
                [
                    self._binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._workdir),
                    "--repl-diskless-sync-delay",
                    "0",
                    *extra,
                ]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed or handed over."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def sentinel_argv(conf: Path) -> list[str]:
    """How to start a sentinel on ``conf``: Debian's redis-sentinel, else redis-server
    --sentinel; installs redis-sentinel when neither is there and we may (root, apt)."""
    if shutil.which("redis-server") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "redis-sentinel"],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if shutil.which("redis-sentinel"):
        return ["redis-sentinel", str(conf)]
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "neither redis-sentinel nor redis-server found (apt-get install redis-sentinel)"
        )
    return [binary, str(conf), "--sentinel"]  # one binary: the server runs as a sentinel


class SentinelSetup:
    """One primary, ``replicas`` replicas and ``sentinels`` sentinels on free loopback
    ports, with a short failure detection so a failover takes a few seconds."""

    MASTER = "skyroute"

    def __init__(
        self,
        workdir: Path,
        replicas: int = 2,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        self._workdir = workdir
        self.servers = [PrivateRedis(workdir / f"redis-{i}") for i in range(replicas + 1)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms
        self._sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.MASTER}/0"

    def start(self) -> SentinelSetup:
        primary, *replicas = self.servers
        for server in self.servers:
            server._workdir.mkdir(parents=True, exist_ok=True)
        primary.start()
        for replica in replicas:
            replica.start(replica_of=primary.port)
        for i in range(len(self.sentinel_ports)):
            self._sentinels.append(self._start_sentinel(i, primary.port, len(replicas)))
        self.wait_for_primary(primary.port, replicas=len(replicas))
        return self

    def _start_sentinel(self, i: int, primary_port: int, replicas: int) -> subprocess.Popen[bytes]:
        """Sentinel ``i``, answering as a sentinel on its port. A port picked free can
        be taken before the sentinel binds it (by an outgoing connection's local port,
        or another server): the sentinel then exits, or a client reaching that port
        finds another server there, and redis-py's sentinel client fails every command
        with that server's ResponseError. Such a sentinel gets a new port."""
        for _ in range(5):
            port = self.sentinel_ports[i]
            conf = self._workdir / f"sentinel-{port}.conf"  # sentinels rewrite it
            conf.write_text(
                "\n".join(
                    [
                        f"port {port}",
                        "bind 127.0.0.1",
                        f"dir {self._workdir}",
                        f"sentinel monitor {self.MASTER} 127.0.0.1 {primary_port} 2",
                        f"sentinel down-after-milliseconds {self.MASTER} {self._down_after_ms}",
                        f"sentinel failover-timeout {self.MASTER} {self._failover_timeout_ms}",
                        f"sentinel parallel-syncs {self.MASTER} {replicas}",
                        "",
                    ]
                )
            )
            proc = subprocess.Popen(
                dying_with_parent(sentinel_argv(conf)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._answers_as_sentinel(proc, port, primary_port):
                return proc
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            self.sentinel_ports[i] = free_port()
        raise RuntimeError(f"sentinel {i} did not start on a free port in 5 tries")

    def _answers_as_sentinel(
        self, proc: subprocess.Popen[bytes], port: int, primary_port: int
    ) -> bool:
        """True once the sentinel on ``port`` names ``primary_port`` as the primary;
        False if it exited or something else answers there."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            client = redis.Redis(port=port, socket_timeout=1)
            try:
                addr = client.sentinel_get_master_addr_by_name(self.MASTER)
                if isinstance(addr, tuple | list) and int(addr[1]) == primary_port:
                    return True
            except redis.ResponseError:
                return False  # a server that is not this sentinel holds the port
            except redis.RedisError:
                pass  # not listening yet
            finally:
                client.close()
            time.sleep(0.05)
        return False

    def primary_port(self) -> int | None:
        """The primary's port as the sentinels' majority reports it (None: no answer)."""
        answers = []
        for port in self.sentinel_ports:
            client = redis.Redis(port=port, socket_timeout=1)
            try:
                addr = client.sentinel_get_master_addr_by_name(self.MASTER)
                answers.append(int(addr[1]) if isinstance(addr, tuple | list) else None)
            except redis.RedisError:
                answers.append(None)
            finally:
                client.close()
        best = max(set(answers), key=answers.count)
        return best if answers.count(best) * 2 > len(answers) else None

    def wait_for_primary(
        self,
        port: int | None = None,
        replicas: int = 0,
        timeout: float = 30.0,
        other_than: int | None = None,
    ) -> int:
        """Waits until the sentinels agree on a primary (``port`` if given, not
        ``other_than``) that has ``replicas`` replicas online; returns its port."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.primary_port()
            if found is not None and found != other_than and port in (None, found):
                client = redis.Redis(port=found, socket_timeout=1)
                try:
                    info = client.info("replication")
                    online = sum(
                        1
                        for k, v in info.items()
                        if k.startswith("slave")
                        and isinstance(v, dict)
                        and v.get("state") == "online"
                    )
                    if info.get("role") == "master" and online >= replicas:
                        return found
                except redis.RedisError:
                    pass
                finally:
                    client.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no primary with {replicas} replicas (saw {found})")
            time.sleep(0.05)

    def server(self, port: int) -> PrivateRedis:
        return next(s for s in self.servers if s.port == port)

    def stop(self) -> None:
        for proc in self._sentinels:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        for server in self.servers:
            server.stop()


class RedisClusterSetup:
    """A real Redis Cluster on free loopback ports: ``primaries`` primaries with
    ``replicas`` replicas each, made by ``redis-cli --cluster create`` (16384 slots
    spread over the primaries), with a short node timeout so a failover is quick."""

    def __init__(
        self, workdir: Path, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 2000
    ) -> None:
        self._workdir = workdir
        self.replicas_per_primary = replicas
        self.servers = [
            PrivateRedis(workdir / f"node-{i}") for i in range(primaries * (replicas + 1))
        ]
        self._node_timeout_ms = node_timeout_ms
        self._bus_ports = {s.port: free_port() for s in self.servers}

    @property
    def url(self) -> str:
        """``REDIS_URL`` for the services: two seed nodes are enough (the client reads
        the slot map from the first that answers)."""
        seeds = ",".join(f"127.0.0.1:{s.port}" for s in self.servers[:2])
        return f"redis+cluster://{seeds}"

    def _options(self, server: PrivateRedis) -> list[str]:
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(server._workdir / "nodes.conf"),
            "--cluster-node-timeout",
            str(self._node_timeout_ms),
            # The bus port defaults to port + 10000, past 65535 for a high free port:
            # one of its own, kept across a restart.
            "--cluster-port",
            str(self._bus_ports[server.port]),
        ]

    def start(self) -> RedisClusterSetup:
        try:
            for server in self.servers:
                server._workdir.mkdir(parents=True, exist_ok=True)
                server.start(options=self._options(server))
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{s.port}" for s in self.servers),
                    "--cluster-replicas",
                    str(self.replicas_per_primary),
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=60,
            )
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every node says the cluster is ok and every primary has its replicas
        online (so WAIT 1 can be answered)."""
        deadline = time.monotonic() + timeout
        while not (self._ready() and self._replicating()):
            if time.monotonic() > deadline:
                raise TimeoutError("Redis Cluster did not become ready")
            time.sleep(0.1)

    def _replicating(self) -> bool:
        """A write on every primary is acknowledged by its replicas (WAIT): right after
        ``--cluster create`` a replica may say online and still be resynchronising."""
        for port in self.primary_ports():
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                slots = client.cluster("slots")
                mine = next(s for s in slots if int(s[2][1]) == port)
                key = next(
                    f"ready-{i}"
                    for i in range(100_000)
                    if mine[0] <= key_slot(f"ready-{i}".encode()) <= mine[1]
                )
                client.set(key, 1, px=1000)
                if (
                    int(client.execute_command("WAIT", self.replicas_per_primary, 1000))
                    < self.replicas_per_primary
                ):
                    return False
            except (redis.RedisError, StopIteration):
                return False
            finally:
                client.close()
        return True

    def _ready(self) -> bool:
        primaries = 0
        for server in self.servers:
            client = redis.Redis(port=server.port, socket_timeout=1)
            try:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
                info = client.info("replication")
                if info.get("role") == "master":
                    primaries += 1
                    online = sum(
                        1
                        for k, v in info.items()
                        if k.startswith("slave")
                        and isinstance(v, dict)
                        and v.get("state") == "online"
                    )
                    if online < self.replicas_per_primary:
                        return False
            except redis.RedisError:
                return False
            finally:
                client.close()
        return primaries * (self.replicas_per_primary + 1) == len(self.servers)

    def server(self, port: int) -> PrivateRedis:
        return next(s for s in self.servers if s.port == port)

    def primary_ports(self) -> list[int]:
        ports = []
        for server in self.servers:
            client = redis.Redis(port=server.port, socket_timeout=1)
            try:
                if client.info("replication").get("role") == "master":
                    ports.append(server.port)
            finally:
                client.close()
        return ports

    def _alive(self) -> list[PrivateRedis]:
        return [s for s in self.servers if s.proc is not None and s.proc.poll() is None]

    def slot_primary(self, key: str) -> int | None:
        """The port of the primary serving ``key``'s slot, as the live nodes agree on
        it with the cluster state ok; None while they do not."""
        slot = key_slot(key.encode())
        answers = set()
        for server in self._alive():
            client = redis.Redis(port=server.port, socket_timeout=1)
            try:
                if client.cluster("info").get("cluster_state") != "ok":
                    return None
                owner = next(r for r in client.cluster("slots") if r[0] <= slot <= r[1])
                answers.add(int(owner[2][1]))
            except (redis.RedisError, StopIteration):
                return None
            finally:
                client.close()
        return answers.pop() if len(answers) == 1 else None

    def kill_slot_primary(self, key: str) -> int:
        """SIGKILLs the primary of ``key``'s slot; returns its port."""
        port = self.slot_primary(key)
        assert port is not None, "the cluster does not agree on a primary"
        self.server(port).kill()
        return port

    def restart(self, port: int) -> None:
        """Starts a killed node again on its port and its nodes.conf: it rejoins the
        cluster as a replica of the primary that replaced it."""
        self.server(port).start(options=self._options(self.server(port)))

    def wait_for_slot_primary(
        self, key: str, other_than: int, timeout: float = 30.0, takeover_after: float = 15.0
    ) -> int:
        """Until a primary other than ``other_than`` serves ``key``'s slot. If the
        cluster has not failed over on its own after ``takeover_after`` seconds (once,
        in a full test run on a loaded machine, it had not after 30 s), the dead
        primary's replica is told to take over, as an operator would, and that is
        printed: what the tests measure is the services' behaviour across a failover,
        not Redis's election."""
        started = time.monotonic()
        tried = False
        while True:
            port = self.slot_primary(key)
            if port is not None and port != other_than:
                return port
            waited = time.monotonic() - started
            if waited > timeout:
                raise TimeoutError(f"no new primary for {key!r} (saw {port})")
            if not tried and waited > takeover_after:
                tried = True
                sent = self._take_over(other_than)
                print(
                    f"\nredis cluster: no failover {waited:.1f} s after {other_than} died; "
                    f"CLUSTER FAILOVER TAKEOVER {'sent' if sent else 'not possible'}"
                )
            time.sleep(0.05)

    def _take_over(self, dead: int) -> bool:
        """``CLUSTER FAILOVER TAKEOVER`` on a live replica of the dead primary."""
        for server in self._alive():
            client = redis.Redis(port=server.port, socket_timeout=2)
            try:
                info = client.info("replication")
                if info.get("role") == "slave" and int(info.get("master_port", 0)) == dead:
                    client.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
                    return True
            except redis.RedisError:
                continue
            finally:
                client.close()
        return False

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
