"""Child processes of a benchmark run: started in their own session, always stopped.

Every process started here is remembered by a ``ProcessGroup`` so that one ``close()``
in a ``finally`` (also reached on Ctrl-C and SIGTERM) ends them all, by process group id.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from services.parent_death import dying_with_parent
from services.stack import read_port_file

ROOT = Path(__file__).resolve().parents[1]


class Child:
    """One long-running child that reports readiness by writing a port file."""

    def __init__(
        self, name: str, popen: subprocess.Popen[bytes], log_path: Path, port_file: Path | None
    ) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        self.port_file = port_file

    def wait_ready(self, timeout: float = 20.0) -> dict[str, int]:
        """The JSON the child wrote to its port file: an int becomes {"http": port}."""
        assert self.port_file is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = read_port_file(self.port_file)
            if ports is not None:
                return ports
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def pid(self) -> int:
        return self.popen.pid


class ProcessGroup:
    """Starts children and stops every one of them on ``close()``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._children: list[subprocess.Popen[bytes]] = []

    def python(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        port_file: bool = True,
        wrapper: Sequence[str] = (),
    ) -> Child:
        """``python <args>`` from the project root; ``PORT_FILE``-style readiness.
        ``wrapper``: a command that runs it (``valgrind --tool=callgrind ...``)."""
        port_path = self.workdir / f"{name}.port" if port_file else None
        if port_path is not None:
            port_path.unlink(missing_ok=True)
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        if port_path is not None:
            full_env["PORT_FILE"] = str(port_path)
        args = [a.replace("{port_file}", str(port_path)) for a in args]
        return self._spawn(name, [*wrapper, sys.executable, *args], full_env, port_path)

    def command(self, name: str, argv: Sequence[str]) -> Child:
        """Any command (a load generator): output goes to ``<name>.log``."""
        return self._spawn(name, argv, dict(os.environ), None)

    def _spawn(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], port_file: Path | None
    ) -> Child:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as log:
            # Own session: Ctrl-C in the terminal reaches only us; we stop the children.
            popen = subprocess.Popen(
                dying_with_parent(argv),
                env=dict(env),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append(popen)
        return Child(name, popen, log_path, port_file)

    def stop(self, child: Child, timeout: float = 5.0) -> None:
        _stop(child.popen, timeout)
        if child.popen in self._children:
            self._children.remove(child.popen)

    def close(self) -> None:
        for popen in reversed(self._children):
            _stop(popen, 5.0)
        self._children.clear()


def _stop(popen: subprocess.Popen[bytes], timeout: float) -> None:
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


def write_port_file(path: str, ports: dict[str, int]) -> None:
    """Atomically, so a reader never sees half of it."""
    tmp = f"{path}.tmp{os.getpid()}"
    Path(tmp).write_text(json.dumps(ports))
    os.replace(tmp, path)
