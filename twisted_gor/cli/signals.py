# -*- test-case-name: tests.test_signals -*-
"""
Quiet stop signals: a SIGINT or SIGTERM that arrives while gor is already
stopping (draining its outputs) is logged on one line and ignored, instead of
a CRITICAL C{ReactorNotRunning} traceback.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger

_log = Logger(namespace="twisted_gor.signals")


def stopQuietly(reactor: Any, why: str = "") -> bool:
    """
    Stop C{reactor} unless it is already stopping.

    @return: whether this call stopped it.
    """
    try:
        reactor.stop()
    except ReactorNotRunning:
        if why:
            _log.info("gor: {why} while already stopping; still draining", why=why)
        return False
    return True


_early: list[int] = []
"""Stop signals received before the reactor ran (see L{honourSigint})."""


def _remember(number: int, frame: FrameType | None) -> None:
    _early.append(number)


def honourSigint() -> None:
    """
    Handle SIGINT from the start, whatever was inherited: a background job
    of a non-interactive shell starts with it ignored (so C{kill -INT} did
    nothing), and Python's default handler would raise C{KeyboardInterrupt}
    (a traceback) before the reactor's handler is installed. Until
    L{installQuietSignals} takes over, a SIGINT is remembered; it then stops
    gor as soon as the reactor runs.
    """
    signal.signal(signal.SIGINT, _remember)


def installQuietSignals(reactor: Any) -> None:
    """
    Once C{reactor} runs, replace its SIGINT and SIGTERM handlers with ones
    that stop it only once (as Twisted's would, including the exit signal
    twistd re-raises) and log a repeated signal instead of failing.
    """

    def handler(number: int, frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        reactor.callFromThread(stop, number, name)

    def stop(number: int, name: str) -> None:
        if stopQuietly(reactor, f"{name} received"):
            _log.info("Received {name}, shutting down.", name=name)
            # What Twisted's own handler records; twistd exits with it.
            reactor._exitSignal = number

    def install() -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(number) not in (signal.SIG_IGN, None):
                signal.signal(number, handler)
        if _early:
            first = _early[0]
            del _early[:]
            stop(first, signal.Signals(first).name)

    reactor.callWhenRunning(install)
