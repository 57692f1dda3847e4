# -*- test-case-name: tests.test_kafka_formats,tests.test_fileinput -*-
"""
Replay pacing on absolute deadlines, shared by every input that replays
recorded traffic at its recorded pace (C{--input-file FILE|N%},
C{--input-kafka-offset -2|N%}).

The first message is due at once; each later one at C{previous deadline +
(timestamp - previous timestamp) / speed}, capped by C{maxWait}. Deadlines
are absolute, so errors do not accumulate over a long replay. A timestamp
earlier than the previous one (out of order) is due at once and does not move
the reference timestamp back (GoReplay's C{negative_wait}).
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class Pacer:
    """
    When each message of a replay is due.

    Ask L{deadline} for the next message; once it is emitted, L{advance}
    with the same deadline. Nothing changes until L{advance}, so a message
    whose deadline is in the future can be asked about again later.

    @ivar speed: replay speed factor (2.0 = twice as fast; C{inf} = no waits).
    @ivar maxWait: cap of one gap in seconds, or L{None}.
    @ivar firstTimestamp: the timestamp (ns) of the first message emitted.
    @ivar lastTimestamp: the reference timestamp (ns), or L{None} before the
        first message (or after L{restart}).
    """

    __slots__ = ("speed", "maxWait", "firstTimestamp", "lastTimestamp", "_lastDeadline")

    def __init__(self, speed: float = 1.0, maxWait: float | None = None) -> None:
        self.speed = speed
        self.maxWait = maxWait
        self.firstTimestamp: int | None = None
        self.lastTimestamp: int | None = None
        self._lastDeadline = 0.0

    def deadline(self, timestamp: int, now: float) -> float:
        """
        When the message with C{timestamp} (ns) is due, in the clock's
        seconds; C{now} for the first message.
        """
        last = self.lastTimestamp
        if last is None:
            return now
        gap = (timestamp - last) / 1e9 / self.speed
        if gap < 0:
            gap = 0.0
        maxWait = self.maxWait
        if maxWait is not None and gap > maxWait:
            gap = maxWait
        return self._lastDeadline + gap

    def advance(self, timestamp: int, deadline: float) -> bool:
        """
        The message with C{timestamp} was emitted for C{deadline} (what
        L{deadline} returned).

        @return: whether it was out of order (earlier than the reference
            timestamp, which then stays).
        """
        last = self.lastTimestamp
        self._lastDeadline = deadline
        if last is None:
            if self.firstTimestamp is None:
                self.firstTimestamp = timestamp
            self.lastTimestamp = timestamp
            return False
        if timestamp < last:
            return True
        self.lastTimestamp = timestamp
        return False

    def restart(self) -> None:
        """
        The next message is due at once again (a replay starting over).
        """
        self.lastTimestamp = None


class DueCall:
    """
    The one pending call of a paced input's emit loop: L{schedule} it for a
    deadline, or for the next reactor turn (C{delay} 0), which replaces a
    later one.
    """

    __slots__ = ("_reactor", "_function", "_call")

    def __init__(self, reactor: IReactorTime, function: Callable[[], None]) -> None:
        self._reactor = reactor
        self._function = function
        self._call: IDelayedCall | None = None

    def schedule(self, delay: float) -> None:
        """
        Call the function after C{delay} seconds, unless a call is already
        pending (a pending call is brought forward when C{delay} is 0).
        """
        call = self._call
        if call is not None and call.active():
            if delay > 0:
                return
            call.cancel()
        self._call = self._reactor.callLater(delay, self._fire)

    def cancel(self) -> None:
        """
        Forget the pending call, if any.
        """
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _fire(self) -> None:
        self._call = None
        self._function()
