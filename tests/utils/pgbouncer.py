"""A private PgBouncer (Debian's ``pgbouncer``) in transaction pooling mode on a free
loopback port, in front of the tests' PostgreSQL, for tests that run the services
through it (``make services-up`` installs the package).

Any database of the server is served under its own name (``* =``), so the throwaway
databases of tests/utils/db.py work through it unchanged: ``url_for(url)`` is ``url``
with PgBouncer's host and port. Clients log in with SCRAM as the tests' role, whose
password PgBouncer keeps in a userlist of its own to log in to PostgreSQL. The pool
per database and user is deliberately small (``pool_size``), so that many client
connections share few server connections and any state left on a server connection
between transactions (a prepared statement, a SET) is seen, or missed, by another
client.

PgBouncer refuses to run as root: then it is started as ``postgres`` (or ``nobody``),
and its files are that user's.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from services.parent_death import dying_with_parent
from tests.utils.db import admin_url
from tests.utils.redis_server import free_port

# How a test's services reach PostgreSQL: a parameter of the tests that run both ways.
DIRECT = "postgresql"
PGBOUNCER = "pgbouncer"
DATABASE_PATHS = (DIRECT, PGBOUNCER)


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _run_as() -> str | None:
    """The user PgBouncer switches to when started as root (None: not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError(
        "running as root, and there is no postgres or nobody user for pgbouncer to run as"
    )


class PgBouncer:
    def __init__(self, pool_size: int = 4) -> None:
        binary = shutil.which("pgbouncer") or (
            "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
        )
        if binary is None:
            raise RuntimeError("pgbouncer not found (make services-up installs it)")
        self._binary = binary
        self._server = admin_url()
        self.pool_size = pool_size
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="skyroute-pgbouncer-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def url_for(self, database_url: str) -> str:
        """``database_url`` (same database, role and driver) through PgBouncer."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def _config(self) -> str:
        password = self._server.password
        return "\n".join(
            [
                "[databases]",
                f"* = host={self._server.host or '127.0.0.1'} port={self._server.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                f"auth_type = {'scram-sha-256' if password else 'trust'}",
                f"auth_file = {self._dir / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "max_client_conn = 2000",
                # Both the services and the tests' direct checks count on this: no reset
                # query between transactions (transaction mode's default, said explicitly).
                "server_reset_query =",
                "",
            ]
        )

    def start(self) -> PgBouncer:
        user = self._server.username or "skyroute"
        userlist = self._dir / "userlist.txt"
        userlist.write_text(f"{_quote(user)} {_quote(self._server.password or '')}\n")
        config = self._dir / "pgbouncer.ini"
        config.write_text(self._config())
        # Switched to its user by the launcher rather than by itself (-u): a change of
        # user clears the parent-death signal (services/parent_death.py), and a
        # PgBouncer left by a killed test run would keep its port and server connections.
        run_as = _run_as()
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            for path in (self._dir, userlist, config):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        userlist.chmod(0o600)
        with open(self._dir / "pgbouncer.log", "wb") as log:
            self.proc = subprocess.Popen(
                dying_with_parent([self._binary, str(config)], user=run_as),
                stdout=log,
                stderr=log,
                cwd=self._dir,
            )
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"pgbouncer exited ({self.proc.returncode}):\n{self.log_text()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("pgbouncer did not listen within 15s") from None
                time.sleep(0.05)

    def log_text(self) -> str:
        path = self._dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self._dir, ignore_errors=True)


def services_database(
    request: pytest.FixtureRequest, database_url: str
) -> tuple[str, dict[str, str]]:
    """For a fixture parametrized over DATABASE_PATHS: the URL the services use to reach
    ``database_url`` and the environment that goes with it (through the session's
    ``pgbouncer`` fixture, started only when needed)."""
    if request.param != PGBOUNCER:
        return database_url, {}
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    return bouncer.url_for(database_url), {"DB_PGBOUNCER": "true"}
