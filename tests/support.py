"""
Helpers for end-to-end tests: run the real C{gor} command in a subprocess.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.python.failure import Failure

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOR = [sys.executable, "-m", "twisted_gor"]
"""The gor command, run from this checkout."""



def environment() -> dict[str, str]:
    """
    The environment for child processes: this checkout first on the path.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def isRoot() -> bool:
    """
    Whether this process may capture packets.
    """
    return os.geteuid() == 0


ROOT_REASON = "needs root (CAP_NET_RAW) to capture on loopback; CI runs as root"


def freePort(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    """
    A TCP port nothing listens on right now.
    """
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class GorResult:
    """
    How a gor process ended.
    """

    rc: int | None
    signal: int | None
    out: bytes
    err: bytes

    @property
    def errText(self) -> str:
        """
        stderr as text.
        """
        return self.err.decode("utf-8", "replace")


class GorProcess(protocol.ProcessProtocol):
    """
    A running gor (or other) process whose output is collected.
    """

    def __init__(self, reactor: Any, argv: Sequence[str], stdin: bytes | None = None) -> None:
        self.reactor = reactor
        self.argv = list(argv)
        self._stdin = stdin
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.ended: Deferred[GorResult] = Deferred()
        self._waiters: list[tuple[str, Deferred[None]]] = []
        self.transport: Any = None
        self.pid: int | None = None

    def start(self, cwd: str | None = None) -> "GorProcess":
        """
        Spawn the process.
        """
        self.reactor.spawnProcess(self, self.argv[0], self.argv, env=environment(), path=cwd or REPO)
        self.pid = self.transport.pid
        return self

    def connectionMade(self) -> None:
        if self._stdin is not None:
            self.transport.write(self._stdin)
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)
        self._checkWaiters()

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)
        self._checkWaiters()

    def _checkWaiters(self) -> None:
        if not self._waiters:
            return
        text = self.logText
        for waiter in list(self._waiters):
            if waiter[0] in text:
                self._waiters.remove(waiter)
                waiter[1].callback(None)

    @property
    def logText(self) -> str:
        """
        stderr and stdout so far (twistd logs to stdout with C{--logfile=-}).
        """
        return self.errText + b"".join(self.out).decode("utf-8", "replace")

    @property
    def errText(self) -> str:
        """
        stderr so far, as text.
        """
        return b"".join(self.err).decode("utf-8", "replace")

    def waitForLog(self, text: str, timeout: float = 20.0) -> Deferred[None]:
        """
        Fire once C{text} appears on stderr (or stdout); fail after C{timeout}
        seconds.
        """
        d: Deferred[None] = Deferred()
        if text in self.logText:
            d.callback(None)
            return d
        entry = (text, d)
        self._waiters.append(entry)

        def expire() -> None:
            if entry in self._waiters:
                self._waiters.remove(entry)
                d.errback(Failure(TimeoutError(f"{text!r} not logged in {timeout}s; output:\n{self.logText}")))

        call = self.reactor.callLater(timeout, expire)
        d.addBoth(lambda r: (call.active() and call.cancel(), r)[1])
        return d

    def signal(self, name: str = "TERM") -> None:
        """
        Send a signal (ignored if the process already ended).
        """
        try:
            self.transport.signalProcess(name)
        except Exception:
            pass

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        rc = getattr(value, "exitCode", None)
        sig = getattr(value, "signal", None)
        if isinstance(value, ProcessDone):
            rc = 0
        self.ended.callback(GorResult(rc, sig, b"".join(self.out), b"".join(self.err)))

    def wait(self, timeout: float = 60.0) -> Deferred[GorResult]:
        """
        Fire with the result when the process ends; kill it after C{timeout}.
        """
        if not self.ended.called:
            call = self.reactor.callLater(timeout, self._kill)
            self.ended.addBoth(lambda r: (call.active() and call.cancel(), r)[1])
        d: Deferred[GorResult] = Deferred()
        self.ended.addBoth(lambda r: (d.callback(r), r)[1])
        return d

    def _kill(self) -> None:
        self.err.append(b"\n[test harness: killed after timeout]\n")
        self.signal("KILL")


def runGor(*args: str, timeout: float = 60.0, stdin: bytes | None = None, cwd: str | None = None) -> Deferred[GorResult]:
    """
    Run C{gor ARGS} to completion (killed after C{timeout}).
    """
    from twisted.internet import reactor

    return GorProcess(reactor, [*GOR, *args], stdin).start(cwd).wait(timeout)


def startGor(*args: str, cwd: str | None = None) -> GorProcess:
    """
    Start C{gor ARGS} in the background; stop it with C{.signal()} and C{.wait()}.
    """
    from twisted.internet import reactor

    return GorProcess(reactor, [*GOR, *args]).start(cwd)


def runCommand(*argv: str, timeout: float = 60.0, cwd: str | None = None) -> Deferred[GorResult]:
    """
    Run any command to completion.
    """
    from twisted.internet import reactor

    return GorProcess(reactor, list(argv)).start(cwd).wait(timeout)


__all__ = ["GorProcess", "GorResult", "runGor", "startGor", "runCommand", "freePort", "isRoot", "ROOT_REASON", "signal"]
