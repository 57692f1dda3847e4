"""
Helpers for end-to-end tests: run the real C{gor} command in a subprocess.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from twisted_gor.framing import iterMessages
from twisted_gor.message import Message

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


def fileRecords(path: str) -> list[Message]:
    """
    The complete gor records (L{Message}s) in the file at
    C{path} so far; none if it does not exist yet. A record still being written
    is not counted, so this can be polled while a process writes the file.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return list(iterMessages(data))


class WaitTimeout(AssertionError):
    """
    A condition waited for by L{waitUntil} did not become true in time.

    An L{AssertionError}, so trial reports the test as failed (not as an error)
    with the description of what was awaited.
    """


def waitUntil(
    predicate: Callable[[], object],
    timeout: float = 20.0,
    interval: float = 0.05,
    describe: str | Callable[[], str] = "",
    clock: IReactorTime | None = None,
) -> Deferred[None]:
    """
    Poll C{predicate} every C{interval} seconds until it returns something
    true; a deadline instead of a fixed sleep.

    The predicate is called at once, then after each interval (never blocking
    the reactor), so a fast machine does not wait and a loaded one gets up to
    C{timeout} seconds. It may return a L{Deferred} (a probe that takes time,
    such as an HTTP request); its result is what counts.

    @param describe: what is awaited, for the failure message; a callable is
        called at the deadline (to include, say, a process's output so far).
    @param clock: the reactor to wait on (the global one when L{None}).
    @return: fires with L{None} once the predicate held; fails with
        L{WaitTimeout} if it still did not after C{timeout} seconds.
    """
    if clock is None:
        from twisted.internet import reactor

        clock = reactor
    timer: IReactorTime = clock

    async def poll() -> None:
        deadline = timer.seconds() + timeout
        while True:
            result = predicate()
            if isinstance(result, Deferred):
                result = await result
            if result:
                return
            if timer.seconds() >= deadline:
                text = describe() if callable(describe) else describe
                raise WaitTimeout(f"condition not met within {timeout}s: {text or repr(predicate)}")
            await deferLater(timer, interval, lambda: None)

    return Deferred.fromCoroutine(poll())


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

    def counters(self, prefix: str, kind: str = "stats") -> dict[str, int]:
        """
        The counters of the last C{--stats} line (or, with C{kind="summary"},
        summary line) logged so far by the component whose name starts with
        C{prefix}; empty if there is none yet.

        Run gor with C{--stats --stats-interval 100ms} and poll this with
        L{waitUntil} to wait for an event gor counts (a refused connection, a
        response) instead of sleeping.
        """
        found: dict[str, int] = {}
        for line in self.logText.splitlines():
            _, sep, rest = line.partition(f"{kind}: ")
            if not sep or not rest.startswith(prefix):
                continue
            _, sep, pairs = rest.partition(": ")
            if not sep:
                continue
            values = (pair.partition("=") for pair in pairs.split())
            found = {k: int(v) for k, eq, v in values if eq and v.isdigit()}
        return found

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

            def cancelKill(result: GorResult) -> GorResult:
                if call.active():
                    call.cancel()
                return result

            self.ended.addCallback(cancelKill)
        d: Deferred[GorResult] = Deferred()

        def relay(result: GorResult) -> GorResult:
            d.callback(result)
            return result

        self.ended.addCallback(relay)
        return d

    def killIfRunning(self) -> Deferred[GorResult] | None:
        """
        Kill the process unless it already ended (a cleanup for tests that
        normally stop it themselves).

        @return: L{None} if it had ended, else a Deferred that fires once it
            has.
        """
        if self.ended.called:
            return None
        self.signal("KILL")
        return self.wait(10)

    def _kill(self) -> None:
        self.err.append(b"\n[test harness: killed after timeout]\n")
        self.signal("KILL")


def listenLocal(
    factory: ServerFactory[Any], host: str = "127.0.0.1", reactor: IReactorTCP | None = None
) -> tuple[IListeningPort, int]:
    """
    Listen with C{factory} on an ephemeral TCP port of C{host}.

    @param reactor: the reactor (the global one when L{None}).
    @return: the listening port and its number.
    """
    if reactor is None:
        from twisted.internet import reactor
    assert reactor is not None
    listening = reactor.listenTCP(0, factory, interface=host)
    address = listening.getHost()
    assert isinstance(address, (IPv4Address, IPv6Address)), address
    return listening, address.port


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


__all__ = ["GorProcess", "GorResult", "WaitTimeout", "waitUntil", "fileRecords", "listenLocal", "runGor", "startGor", "runCommand", "freePort", "isRoot", "ROOT_REASON", "signal"]


def peakRss(pid: int) -> int | None:
    """
    The peak RSS (VmHWM) of process C{pid} in kB, L{None} once it is gone
    or before it has become gor: between fork and exec a child still shares
    the test runner's memory, and its VmHWM is the runner's.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"twisted_gor" not in f.read():
                return None
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakRssSampler:
    """
    Samples a gor child's peak RSS (L{peakRss}) every C{interval} seconds on
    the reactor until L{stop}; L{peak} is the largest sample in kB (0 when
    none was taken).
    """

    def __init__(self, reactor: Any, pid: int, interval: float) -> None:
        from twisted.internet.task import LoopingCall

        self.pid = pid
        self.peaks: list[int] = []
        self._loop = LoopingCall(self._sample)
        self._loop.clock = reactor
        self._loop.start(interval)

    def _sample(self) -> None:
        peak = peakRss(self.pid)
        if peak is not None:
            self.peaks.append(peak)

    @property
    def peak(self) -> int:
        """
        The largest sample in kB, 0 when none was taken.
        """
        return max(self.peaks, default=0)

    def stop(self) -> None:
        """
        Stop sampling (idempotent: safe as a cleanup too).
        """
        if self._loop.running:
            self._loop.stop()
