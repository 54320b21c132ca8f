"""Failed-RPC log lines without the flood: during an outage every call fails the same
way, and a line per call (about 1,500 per replica in 11 s) buries everything else.

A *kind* of failure is (method, code, reason). Timeline of one kind, interval 10 s::

    t=0    first failure        -> logged in full (ERROR with traceback if internal)
    t=0-10 99 more              -> counted, not logged
    t=10   the next call of any method (or failure) after t=10
                                -> one line: "rpc failures suppressed", suppressed=99
    t=10-  no repeat within the next 10 s -> the kind is forgotten; its next failure is
                                logged in full again

A new kind (another code or reason, e.g. the outage turning from UNAVAILABLE into
DEADLINE_EXCEEDED) is logged at once. Counts are written at most once per kind per
interval rather than at every success, so failures interleaved with successes (one
provider down, another up) cannot bring the flood back; a recovery's last count comes
out at most one interval late.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.context import caller_var, request_id_var

Kind = tuple[str, str, str]  # method, code name, reason

DEFAULT_INTERVAL_SECONDS = 10.0


@dataclass(slots=True)
class _Streak:
    level: int
    last_line: float  # when a line was last written for this kind
    suppressed: int = 0  # repeats since then


class FailureLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval
        self._clock = clock
        self._streaks: dict[Kind, _Streak] = {}
        self._due = math.inf  # the earliest time a streak needs a look

    def failed(
        self,
        kind: Kind,
        level: int,
        message: str,
        fields: Mapping[str, Any],
        exc_info: BaseException | None = None,
    ) -> None:
        """A call failed: logged if it is the first of its kind, else counted."""
        now = self._clock()
        self._flush(now)
        streak = self._streaks.get(kind)
        if streak is None:
            self._streaks[kind] = _Streak(level, now)
            self._due = min(self._due, now + self._interval)
            self._log.log(level, message, extra=dict(fields), exc_info=exc_info)
        else:
            streak.suppressed += 1

    def tick(self) -> None:
        """Any call: writes the counts that are due. Cheap while nothing failed."""
        if self._streaks:
            self._flush(self._clock())

    def _flush(self, now: float) -> None:
        if now < self._due:
            return
        due = math.inf
        for kind, streak in list(self._streaks.items()):
            if now - streak.last_line >= self._interval:
                if not streak.suppressed:
                    del self._streaks[kind]  # quiet for an interval: forget it
                    continue
                self._count(kind, streak, now)
                streak.suppressed = 0
                streak.last_line = now
            due = min(due, streak.last_line + self._interval)
        self._due = due

    def _count(self, kind: Kind, streak: _Streak, now: float) -> None:
        # Written during whichever call came next: not that call's request id or caller.
        request_id, caller = request_id_var.set(None), caller_var.set(None)
        try:
            method, code, reason = kind
            self._log.log(
                streak.level,
                "rpc failures suppressed",
                extra={
                    "method": method,
                    "code": code,
                    "reason": reason,
                    "suppressed": streak.suppressed,
                    "seconds": round(now - streak.last_line, 1),
                },
            )
        finally:
            request_id_var.reset(request_id)
            caller_var.reset(caller)
