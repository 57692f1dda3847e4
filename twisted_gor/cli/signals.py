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


def honourSigint() -> None:
    """
    Undo an inherited "ignore SIGINT" (a background job of a
    non-interactive shell starts with it ignored, so C{kill -INT} did
    nothing): restore Python's default handler, which Twisted then replaces
    with its own (it only does so when it finds the default).
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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

    reactor.callWhenRunning(install)
