# -*- test-case-name: tests.test_limiter -*-
"""
Rate limits written after an address: C{ADDRESS|N} (at most N messages in each
one-second window, the rest dropped) and C{ADDRESS|N%} (keep each message with
probability N/100). On C{--input-file}, C{|N%} is a replay speed instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Union

from twisted.internet.interfaces import IReactorTime


@dataclass(frozen=True)
class AbsoluteLimit:
    """
    At most C{perSecond} messages per one-second window.
    """

    perSecond: int

    def __str__(self) -> str:
        return str(self.perSecond)


@dataclass(frozen=True)
class PercentageLimit:
    """
    Keep C{percent}% of messages (chosen at random), or replay at C{percent}%
    speed on a file input.
    """

    percent: float

    def __str__(self) -> str:
        return f"{self.percent:g}%"


Limit = Union[AbsoluteLimit, PercentageLimit]


def parseLimit(text: str) -> Limit:
    """
    Parse the part after C{|}: C{10} or C{10%} (a fraction like C{12.5%} is
    accepted too).

    @raise ValueError: for anything else, or a negative number.
    """
    s = text.strip()
    if s.endswith("%"):
        try:
            percent = float(s[:-1])
        except ValueError:
            raise ValueError(f"invalid percentage limit {text!r} (example: 10%)") from None
        if percent < 0:
            raise ValueError(f"negative percentage limit {text!r}")
        return PercentageLimit(percent)
    try:
        n = int(s)
    except ValueError:
        raise ValueError(f"invalid limit {text!r} (examples: 10 for 10 per second, 10% for a tenth)") from None
    if n < 0:
        raise ValueError(f"negative limit {text!r}")
    return AbsoluteLimit(n)


def splitLimit(value: str) -> tuple[str, Limit | None]:
    """
    Split C{"address|limit"} into the address and its parsed limit (L{None}
    when there is no C{|}).
    """
    address, bar, limit = value.partition("|")
    if not bar:
        return value, None
    return address, parseLimit(limit)


def splitFlagLimit(flagName: str, value: str) -> tuple[str, Limit | None]:
    """
    L{splitLimit} for the value of C{--flagName}; the error names the flag.

    @raise ValueError: C{"--flag-name: ..."}.
    """
    try:
        return splitLimit(value)
    except ValueError as e:
        raise ValueError(f"--{flagName}: {e}") from None


class AbsoluteLimiter:
    """
    GoReplay's fixed-window counter: a window starts with the first message and
    lasts one second of the reactor's clock; within it at most C{perSecond}
    messages pass.
    """

    def __init__(self, perSecond: int, clock: IReactorTime) -> None:
        self.perSecond = perSecond
        self._clock = clock
        self._windowStart = -1.0
        self._count = 0

    def allow(self) -> bool:
        """
        Whether the next message may pass (and count it if so).
        """
        now = self._clock.seconds()
        if now - self._windowStart >= 1.0:
            self._windowStart = now
            self._count = 0
        if self._count >= self.perSecond:
            return False
        self._count += 1
        return True


class PercentageLimiter:
    """
    Keep each message independently with probability C{percent}/100.
    """

    def __init__(self, percent: float, rand: Callable[[], float] = random.random) -> None:
        self.percent = percent
        self._rand = rand

    def allow(self) -> bool:
        """
        Whether the next message may pass.
        """
        return self._rand() * 100.0 < self.percent


Limiter = Union[AbsoluteLimiter, PercentageLimiter]


def makeLimiter(limit: Limit, clock: IReactorTime) -> Limiter:
    """
    The runtime limiter for a parsed limit.
    """
    if isinstance(limit, AbsoluteLimit):
        return AbsoluteLimiter(limit.perSecond, clock)
    return PercentageLimiter(limit.percent)
