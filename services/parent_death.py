"""Child processes that die with the process that started them (Linux).

The tests, the benchmarks and ``make run`` (scripts/run_stack.py) start real servers:
service replicas, redis-server, sentinels, PgBouncer. A starter that exits normally
stops them; one that is SIGKILLed (a CI timeout, the OOM killer, ``kill -9``) does
not, and they keep their ports, CPU and Redis connections until someone finds them.
``prctl(PR_SET_PDEATHSIG)`` has the kernel signal a child when its parent dies:

    subprocess.Popen(dying_with_parent(argv), ...)
    await asyncio.create_subprocess_exec(*dying_with_parent(argv), ...)

and, first thing in a ``multiprocessing`` worker, ``die_with_spawning_process()``.

The signal is armed by a small launcher (``services/parent_death_exec.py``, run by
the same interpreter with ``-I -S``) that then execs the command in its own process:
the pid, exit status and signals are the command's. It is not armed in a
``preexec_fn``: that makes ``subprocess`` fork instead of vfork and run Python in
the child before exec, and in a process with gRPC channels (every test process) the
child can inherit gRPC's poller mid-flight and hang before it ever execs (seen in
CI: "Epoll1Poller ... epoll_wait error: Bad file descriptor", then a replica that
never started). The launcher costs one small interpreter start per child.

What the kernel gives, and so what callers must respect:

- The signal comes when the *thread* that forked the child exits, not the process.
  Spawn from the main thread, or from one that outlives the child (an executor's
  worker lives until its executor shuts down: ``asyncio.to_thread`` children must be
  stopped before the loop closes, as the tests do).
- It covers the direct child only. A child that starts processes of its own must use
  this for them too (none of the services does today).
- It is cleared when the child changes its user or group ids, or execs a setuid or
  file-capability binary: a child that must run as another user is switched by the
  launcher (``user=``), before the signal is armed, instead of switching itself
  (PgBouncer's ``-u``).
- It is SIGKILL: a stopped child (tests SIGSTOP replicas) would never act on SIGTERM,
  and a starter that was killed has nobody left to wait for a graceful shutdown.
- A child whose parent died before the signal was armed exits at once
  (``ORPHANED_EXIT``): no signal would ever come.

Elsewhere than Linux the command is returned as it is.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1
# The exit status of a child whose parent died before the signal was armed.
ORPHANED_EXIT = 111
LAUNCHER = Path(__file__).with_name("parent_death_exec.py")


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def dying_with_parent(argv: Sequence[str], user: str | None = None) -> list[str]:
    """``argv`` run through the launcher: it dies with the calling process (see the
    module's caveats). ``user``: a user name to run it as (the caller must be root)."""
    if _PRCTL is None:
        if user is not None:
            raise OSError("running a child as another user needs Linux here")
        return list(argv)
    return [sys.executable, "-I", "-S", str(LAUNCHER), str(os.getpid()), user or "", *argv]


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In the calling process: have the kernel send ``sig`` when its parent dies, and
    exit at once if ``parent_pid`` already is no longer the parent (it died before the
    prctl: the process was re-parented and no signal will ever come)."""
    if _PRCTL is None:
        return
    # prctl is variadic: the arguments must be passed as unsigned longs.
    unused = ctypes.c_ulong(0)
    if _PRCTL(PR_SET_PDEATHSIG, ctypes.c_ulong(int(sig)), unused, unused, unused) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT)


def die_with_spawning_process(sig: int = signal.SIGKILL) -> None:
    """First thing in a ``multiprocessing`` worker: die with the process that started it
    (its ``Process.start()`` called from the main thread, or one that outlives it)."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid, sig)
