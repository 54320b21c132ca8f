"""Servers started by a test run die with it, even when it is SIGKILLed (a CI timeout,
the OOM killer): a starter process starts them through the shared helpers, is killed,
and every server it started is gone a few seconds later (services/parent_death.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.parent_death import ORPHANED_EXIT, dying_with_parent

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")

# Starts one server through each helper that tests and benchmarks start servers with,
# prints their pids, then waits to be killed.
STARTER = """
import asyncio, sys, time
from pathlib import Path

from benchmarks.procs import ProcessGroup
from services.parent_death import dying_with_parent
from tests.utils.pgbouncer import PgBouncer
from tests.utils.processes import ServiceProcess
from tests.utils.redis_server import PrivateRedis

work = Path(sys.argv[1])
sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
pids = {
    "ServiceProcess": ServiceProcess("sleeper", sleep[1:], {}, work).start().proc.pid,
    "PrivateRedis": PrivateRedis(work).start().proc.pid,
    "ProcessGroup": ProcessGroup(work).command("bench", sleep).popen.pid,
}
bouncer = PgBouncer()  # as its own user when run as root: the signal must survive that
(work / "pgbouncer-dir").write_text(str(bouncer._dir))
pids["PgBouncer"] = bouncer.start().proc.pid

async def spawn() -> int:  # as scripts/run_stack.py starts the stack's processes
    proc = await asyncio.create_subprocess_exec(*dying_with_parent(sleep), process_group=0)
    return proc.pid

pids["asyncio"] = asyncio.run(spawn())
print(" ".join(f"{name}={pid}" for name, pid in pids.items()), flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper, PID 1 of a container, may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def test_servers_die_when_their_starter_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    pids: dict[str, int] = {}
    try:
        assert starter.stdout is not None
        line = starter.stdout.readline()
        pids = {name: int(pid) for name, pid in (p.split("=") for p in line.split())}
        assert len(pids) == 5, line
        assert all(_running(pid) for pid in pids.values())

        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(p) for p in pids.values()):
            time.sleep(0.05)
        assert {name for name, pid in pids.items() if _running(pid)} == set()
    finally:
        starter.kill()
        starter.wait(10)
        for pid in pids.values():  # without the fix: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree((tmp_path / "pgbouncer-dir").read_text(), ignore_errors=True)


def test_a_child_whose_parent_already_died_exits() -> None:
    """The getppid check: armed too late (the parent died before the prctl), a child
    would never be signalled, so it exits at once: in-process (multiprocessing workers)
    and in the launcher that starts every other child (the parent it is told of is
    not its parent)."""
    code = "from services.parent_death import die_with_parent; die_with_parent(1)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30)
    assert run.returncode == ORPHANED_EXIT
    argv = dying_with_parent(["true"])
    argv[argv.index(str(os.getpid()))] = "1"
    assert subprocess.run(argv, timeout=30).returncode == ORPHANED_EXIT
    # Told its real parent, it runs the command as that command: its status is the
    # command's.
    assert subprocess.run(dying_with_parent(["sh", "-c", "exit 7"]), timeout=30).returncode == 7
