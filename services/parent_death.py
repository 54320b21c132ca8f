"""Child processes that die with the process that started them (Linux).

The tests, the benchmarks and ``make run`` (scripts/run_stack.py) start real servers:
service replicas, redis-server, sentinels, PgBouncer. A starter that exits normally
stops them; one that is SIGKILLed (a CI timeout, the OOM killer, ``kill -9``) does
not, and they keep their ports, CPU and Redis connections until someone finds them.
``prctl(PR_SET_PDEATHSIG)`` has the kernel signal a child when its parent dies:

    subprocess.Popen(argv, ..., **dies_with_parent())
    await asyncio.create_subprocess_exec(*argv, ..., **dies_with_parent())

and, first thing in a ``multiprocessing`` worker, ``die_with_spawning_process()``.

What the kernel gives, and so what callers must respect:

- The signal comes when the *thread* that forked the child exits, not the process.
  Spawn from the main thread, or from one that outlives the child (an executor's
  worker lives until its executor shuts down: ``asyncio.to_thread`` children must be
  stopped before the loop closes, as the tests do).
- It covers the direct child only. A child that starts processes of its own must use
  this for them too (none of the services does today).
- It is cleared when the child changes its user or group ids, or execs a setuid or
  file-capability binary: start such a child as its user (``Popen(user=...)``,
  applied before ``preexec_fn``) instead of letting it switch (PgBouncer ``-u``).
- It is SIGKILL by default: a stopped child (tests SIGSTOP replicas) would never act
  on SIGTERM, and a starter that was killed has nobody left to wait for a graceful
  shutdown.

Elsewhere than Linux it does nothing (``dies_with_parent()`` is empty).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1
# The exit status of a child whose parent died before the signal was armed.
ORPHANED_EXIT = 111


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once, in the parent: a forked child only calls it (no dlopen after fork).
_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """In the child: have the kernel send ``sig`` when the parent dies, and exit at once
    if ``parent_pid`` already is no longer the parent (it died before the prctl: the
    child was re-parented and no signal will ever come)."""
    if _PRCTL is None:
        return
    # prctl is variadic: the arguments must be passed as unsigned longs.
    unused = ctypes.c_ulong(0)
    if _PRCTL(PR_SET_PDEATHSIG, ctypes.c_ulong(int(sig)), unused, unused, unused) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:
        os._exit(ORPHANED_EXIT)


def dies_with_parent(sig: int = signal.SIGKILL) -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen`` (and ``asyncio.create_subprocess_exec``)
    that make the child die with the calling process (see the module's caveats)."""
    if _PRCTL is None:
        return {}
    parent = os.getpid()

    def arm() -> None:
        die_with_parent(parent, sig)

    return {"preexec_fn": arm}


def die_with_spawning_process(sig: int = signal.SIGKILL) -> None:
    """First thing in a ``multiprocessing`` worker: die with the process that started it
    (its ``Process.start()`` called from the main thread, or one that outlives it)."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid, sig)
