# -*- test-case-name: tests.test_summary -*-
"""
Failures said while they happen, without flooding: the first failure of a
component is logged at once as a warning, the next ones are summed and logged
once per period (C{N more failed in the last 5s: refused 37, timeout 2}).
The counters (C{failed.*}) stay the record; this is what a person watching
the terminal sees.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

PERIOD = 5.0
"""Seconds between two warnings of one component."""


class FailureLog:
    """
    Rate-limited warnings about one component's failures.

    Memory: one counter per distinct reason (reasons are a small fixed set).
    """

    log = Logger()

    def __init__(self, name: str, clock: Any, what: str = "requests", period: float = PERIOD) -> None:
        self.name = name
        self.clock = clock
        self.what = what
        self.period = period
        self.pending: dict[str, int] = {}
        self._call: IDelayedCall | None = None
        self._quietUntil = -1.0
        self._stopped = False

    def failed(self, reason: str) -> None:
        """
        Say (now, or at the end of the period) that one more failed for C{reason}
        (nothing once L{stop}ped: the summary has the counters).
        """
        if self._stopped:
            return
        now = self.clock.seconds()
        if now >= self._quietUntil and self._call is None:
            self._quietUntil = now + self.period
            self.log.warn(
                "{name}: {what} failing: {reason} (counted as failed.{reason}; next warning in {period:g}s at most)",
                name=self.name,
                what=self.what,
                reason=reason,
                period=self.period,
            )
            return
        self.pending[reason] = self.pending.get(reason, 0) + 1
        if self._call is None:
            self._call = self.clock.callLater(max(0.0, self._quietUntil - now), self._flush)

    def _flush(self) -> None:
        self._call = None
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        self._quietUntil = self.clock.seconds() + self.period
        self.log.warn(
            "{name}: {count} more {what} failed in the last {period:g}s: {reasons}",
            name=self.name,
            count=sum(pending.values()),
            what=self.what,
            period=self.period,
            reasons=", ".join(f"{reason} {n}" for reason, n in sorted(pending.items())),
        )

    def stop(self) -> None:
        """
        Log what is pending now and stop the timer for good.
        """
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._flush()
