"""The launcher of ``services.parent_death.dying_with_parent``: run as
``python -I -S parent_death_exec.py <parent pid> <user or ""> <command...>``, it
switches to the user if one is named, has the kernel SIGKILL it when its parent dies,
and execs the command in its own process (which keeps that signal: only a change of
user or a setuid binary clears it).

Standard library only, and nothing imported that it does not use: it runs before
every server a test starts, with no site-packages (-S) and no project on the path.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
ORPHANED_EXIT = 111  # services.parent_death.ORPHANED_EXIT
USAGE = 2


def main(args: list[str]) -> None:
    if len(args) < 3:
        sys.stderr.write("usage: parent_death_exec.py PARENT_PID USER COMMAND...\n")
        os._exit(USAGE)
    parent, user, argv = int(args[0]), args[1], args[2:]
    if user:
        import pwd

        entry = pwd.getpwnam(user)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    unused = ctypes.c_ulong(0)
    if prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), unused, unused, unused) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(ORPHANED_EXIT)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
