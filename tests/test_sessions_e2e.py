"""
Session-faithful replay (C{--recognize-tcp-sessions}) through the real
C{gor} command: files with session data replayed to a raw TCP target that
records which connection each request came on and when; and (root) a live
capture of two interleaving keep-alive clients, written to a file and
replayed.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from twisted.internet import reactor as globalReactor
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from tests.support import GorResult, listenLocal, runGor, startGor, waitUntil
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message, sessionEnd

START = 1_600_000_000_000_000_000
MS = 1_000_000


class Seen:
    """
    What the recording target saw: C{(connection, path, time)} per request
    and C{(connection, clean, time)} per closed connection.
    """

    def __init__(self, delay: float = 0.0, close: bool = False, silent: frozenset[bytes] = frozenset()) -> None:
        self.delay = delay
        self.close = close
        self.silent = silent
        self.requests: list[tuple[int, bytes, float]] = []
        self.closed: list[tuple[int, bool, float]] = []
        self.connections = 0

    def on(self, path: bytes) -> int:
        """
        The connection that C{path} came on.
        """
        return next(c for c, p, _ in self.requests if p == path)

    def paths(self, connection: int) -> list[bytes]:
        """
        The paths requested on C{connection}, in order.
        """
        return [p for c, p, _ in self.requests if c == connection]


class RecordingTarget(Protocol):
    """
    Answers bodiless requests one by one (after C{delay}), recording them.
    """

    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self.buffer = b""
        seen.connections += 1
        self.number = seen.connections
        self.busy = False

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        self._next()

    def _next(self) -> None:
        if self.busy or b"\r\n\r\n" not in self.buffer:
            return
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        path = head.split(b" ")[1]
        self.seen.requests.append((self.number, path, globalReactor.seconds()))
        self.busy = True
        if path not in self.seen.silent:
            globalReactor.callLater(self.seen.delay, self._answer)

    def _answer(self) -> None:
        self.busy = False
        if self.transport is None or not self.connected:
            return
        extra = b"Connection: close\r\n" if self.seen.close else b""
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + extra + b"\r\nok")
        if self.seen.close:
            self.transport.loseConnection()
        else:
            self._next()

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:
        self.seen.closed.append((self.number, reason.check(ConnectionDone) is not None, globalReactor.seconds()))


def serve(testCase: TestCase, seen: Seen) -> int:
    """
    Start a recording target; return its port.
    """
    factory: ServerFactory[Any] = ServerFactory()
    factory.buildProtocol = lambda addr: RecordingTarget(seen)  # type: ignore[method-assign]
    listening, port = listenLocal(factory, "127.0.0.1", globalReactor)
    testCase.addCleanup(listening.stopListening)
    return port


def request(path: bytes, ts: int, session: bytes | None = None, rid: bytes | None = None) -> Message:
    """
    A recorded GET of C{path} at C{ts}.
    """
    payload = b"GET " + path + b" HTTP/1.1\r\nHost: recorded\r\n\r\n"
    return Message(1, rid or path.strip(b"/").replace(b"/", b"-"), ts, 1000, payload, session=session)


def interleaved() -> list[Message]:
    """
    Session A (3 requests, then closed) and session B (4 requests, closed
    last), interleaved 20 ms apart, as a capture writes them.
    """
    a, b = b"aaaa0001", b"bbbb0002"
    records = [
        request(b"/a/1", START, a + b":1"),
        request(b"/b/1", START + 20 * MS, b + b":1"),
        request(b"/a/2", START + 40 * MS, a + b":2"),
        request(b"/b/2", START + 60 * MS, b + b":2"),
        request(b"/a/3", START + 80 * MS, a + b":3"),
        sessionEnd(a, 3, START + 100 * MS),
        request(b"/b/3", START + 120 * MS, b + b":3"),
        request(b"/b/4", START + 1000 * MS, b + b":4"),
        sessionEnd(b, 4, START + 1020 * MS),
    ]
    return records


def writeFile(testCase: TestCase, messages: list[Message]) -> str:
    path = os.path.abspath(testCase.mktemp() + ".gor")
    with open(path, "wb") as f:
        f.write(b"".join(encodeMessage(m) for m in messages))
    return path


def summary(result: GorResult, prefix: str = "output_http") -> dict[str, int]:
    """
    The exit summary counters of the component named C{prefix...}.
    """
    found: dict[str, int] = {}
    for line in result.errText.splitlines():
        _, sep, rest = line.partition("summary: ")
        if sep and rest.startswith(prefix):
            pairs = rest.partition(": ")[2]
            found = {k: int(v) for k, _, v in (p.partition("=") for p in pairs.split()) if v.isdigit()}
    return found


class FileReplayTests(TestCase):
    """
    C{gor --input-file F --output-http T --recognize-tcp-sessions}.
    """

    timeout = 60

    async def _replay(self, seen: Seen, messages: list[Message], *extra: str) -> GorResult:
        port = serve(self, seen)
        path = writeFile(self, messages)
        result = await runGor(
            "--input-file", path, "--output-http", f"http://127.0.0.1:{port}", *extra, timeout=50
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        return result

    async def test_sessionsOnTheirConnections(self) -> None:
        """
        Each session's requests arrive on one connection, in order; the two
        sessions on two connections; session A's connection is closed
        (cleanly) where the recording closed it, before B's last request.
        """
        seen = Seen()
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions")
        self.assertEqual(len(seen.requests), 7, result.errText)
        a, b = seen.on(b"/a/1"), seen.on(b"/b/1")
        self.assertNotEqual(a, b)
        self.assertEqual(seen.paths(a), [b"/a/1", b"/a/2", b"/a/3"])
        self.assertEqual(seen.paths(b), [b"/b/1", b"/b/2", b"/b/3", b"/b/4"])
        self.assertEqual(seen.connections, 2)
        closedA = [(clean, t) for c, clean, t in seen.closed if c == a]
        self.assertEqual(len(closedA), 1)
        self.assertTrue(closedA[0][0], "session A's connection was reset, not closed")
        lastB = next(t for c, p, t in seen.requests if p == b"/b/4")
        self.assertLess(closedA[0][1], lastB)
        stats = summary(result)
        self.assertEqual(stats.get("sessions.started"), 2, result.errText)
        self.assertEqual(stats.get("sessions.completed"), 2, result.errText)
        self.assertEqual(stats.get("sessions.requests"), 7, result.errText)
        self.assertEqual(stats.get("sessions.requests_max"), 4, result.errText)
        self.assertNotIn("sessions.cut", stats)

    async def test_slowTarget(self) -> None:
        """
        A target taking 0.3 s per answer: the requests of a session arrive
        at least 0.3 s apart (each waited for the previous answer), still in
        order on one connection.
        """
        seen = Seen(delay=0.3)
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions")
        self.assertEqual(len(seen.requests), 7, result.errText)
        for first in (b"/a/1", b"/b/1"):
            connection = seen.on(first)
            times = [t for c, _, t in seen.requests if c == connection]
            gaps = [later - earlier for earlier, later in zip(times, times[1:])]
            self.assertTrue(all(gap >= 0.3 for gap in gaps), gaps)
        self.assertEqual(seen.paths(seen.on(b"/b/1")), [b"/b/1", b"/b/2", b"/b/3", b"/b/4"])

    async def test_withoutSessions(self) -> None:
        """
        Without the flag, the same file replays as GoReplay's would: every
        request sent (independently), the close records not counted as
        requests nor as dropped.
        """
        seen = Seen()
        result = await self._replay(seen, interleaved(), "--output-http-workers", "4")
        self.assertEqual(sorted(p for _, p, _ in seen.requests), sorted(m.payload.split(b" ")[1] for m in interleaved() if m.payload))
        stats = summary(result)
        self.assertEqual(stats.get("sent"), 7, result.errText)
        self.assertNotIn("dropped.not_http", stats)
        self.assertNotIn("sessions.started", stats)

    async def test_goreplayFile(self) -> None:
        """
        A file without session data (as GoReplay writes it) with
        C{--recognize-tcp-sessions}: replayed as without it.
        """
        seen = Seen()
        plain = [request(b"/p/%d" % i, START + i * 10 * MS) for i in range(6)]
        result = await self._replay(seen, plain, "--recognize-tcp-sessions")
        self.assertEqual(sorted(p for _, p, _ in seen.requests), [b"/p/%d" % i for i in range(6)])
        stats = summary(result)
        self.assertEqual(stats.get("succeeded"), 6, result.errText)
        self.assertNotIn("sessions.started", stats)

    async def test_targetCloses(self) -> None:
        """
        A target that closes after every answer: the rest of the session
        goes on new connections, in order, counted as reconnected.
        """
        seen = Seen(close=True)
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions")
        self.assertEqual(len(seen.requests), 7, result.errText)
        order = [p for _, p, _ in seen.requests]
        self.assertEqual([p for p in order if p.startswith(b"/b/")], [b"/b/1", b"/b/2", b"/b/3", b"/b/4"])
        self.assertEqual([p for p in order if p.startswith(b"/a/")], [b"/a/1", b"/a/2", b"/a/3"])
        stats = summary(result)
        self.assertEqual(stats.get("sessions.reconnected"), 5, result.errText)
        self.assertEqual(stats.get("sessions.completed"), 2, result.errText)

    async def test_noAnswer(self) -> None:
        """
        An answer that never comes: that request times out, and the session
        goes on with its next request on a new connection.
        """
        seen = Seen(silent=frozenset({b"/a/2"}))
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions", "--output-http-timeout", "1s")
        self.assertEqual(len(seen.requests), 7, result.errText)
        a1, a3 = seen.on(b"/a/1"), seen.on(b"/a/3")
        self.assertEqual(seen.paths(a1), [b"/a/1", b"/a/2"])
        self.assertEqual(seen.paths(a3), [b"/a/3"])
        stats = summary(result)
        self.assertEqual(stats.get("failed.timeout"), 1, result.errText)
        self.assertEqual(stats.get("sessions.reconnected"), 1, result.errText)
        self.assertEqual(stats.get("sessions.completed"), 2, result.errText)

    async def test_oneWorker(self) -> None:
        """
        C{--output-http-workers 1}: one session at a time; B waits (with
        its requests) until A's recorded close, then runs in order.
        """
        seen = Seen()
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions", "--output-http-workers", "1")
        self.assertEqual(
            [p for _, p, _ in seen.requests],
            [b"/a/1", b"/a/2", b"/a/3", b"/b/1", b"/b/2", b"/b/3", b"/b/4"],
            result.errText,
        )
        a = seen.on(b"/a/1")
        self.assertEqual([clean for c, clean, _ in seen.closed if c == a], [True])
        self.assertEqual(summary(result).get("sessions.completed"), 2, result.errText)

    async def test_filteredRequest(self) -> None:
        """
        A request filtered out of a session (C{--http-disallow-url}): the
        rest of the session keeps its order on its connection; the gap is
        counted.
        """
        seen = Seen()
        result = await self._replay(seen, interleaved(), "--recognize-tcp-sessions", "--http-disallow-url", "^/b/2")
        b = seen.on(b"/b/1")
        self.assertEqual(seen.paths(b), [b"/b/1", b"/b/3", b"/b/4"], result.errText)
        stats = summary(result)
        self.assertEqual(stats.get("sessions.gaps"), 1, result.errText)
        self.assertEqual(stats.get("sessions.completed"), 2, result.errText)


CLIENTS = r'''
import socket, sys, time
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def connect():
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    return s

def answer(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, body = buf.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += s.recv(65536)

a, b = connect(), connect()
for i in range(4):
    for name, s in (("a", a), ("b", b)):
        s.sendall(b"GET /%s/%d HTTP/1.1\r\nHost: live\r\n\r\n" % (name.encode(), i))
        answer(s)
        time.sleep(0.01)
a.close()
time.sleep(0.05)
b.close()
open(prefix + ".done", "w").write("ok")
'''


class LiveCaptureTests(TestCase):
    """
    (root) Two keep-alive clients interleaving requests, captured by
    C{gor --input-raw --recognize-tcp-sessions --output-file}, then replayed
    with C{--recognize-tcp-sessions}.
    """

    timeout = 120

    async def test_captureAndReplay(self) -> None:
        """
        The target of the replay sees each client's requests on one
        connection, in order, and the two clients on two connections.
        """
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        production = Seen()
        port = serve(self, production)
        out = os.path.abspath(self.mktemp() + ".gor")
        gor = startGor(
            "--input-raw", f"127.0.0.1:{port}", "--recognize-tcp-sessions", "--output-file", out,
            "--output-file-flush-interval", "100ms", "--stats", "--stats-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(80)
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            prefix = os.path.abspath(self.mktemp())
            _, err, code = await getProcessOutputAndValue(
                sys.executable, ["-c", CLIENTS, "127.0.0.1", str(port), prefix], env=os.environ
            )
            self.assertEqual(code, 0, err.decode())
            await waitUntil(
                lambda: gor.counters("input_raw").get("sessions.closed", 0) >= 2,
                30,
                describe=lambda: gor.logText,
            )
        finally:
            gor.signal("INT")
        result = await ended
        self.assertEqual(result.rc, 0, result.errText)
        data = open(out, "rb").read()
        self.assertEqual(data.count(b" s="), 10, data[:2000])
        # production saw them interleaved on two connections
        self.assertEqual(len(production.requests), 8)

        seen = Seen()
        target = serve(self, seen)
        replay = await runGor(
            "--input-file", out, "--output-http", f"http://127.0.0.1:{target}", "--recognize-tcp-sessions", timeout=60
        )
        self.assertEqual(replay.rc, 0, replay.errText)
        a, b = seen.on(b"/a/0"), seen.on(b"/b/0")
        self.assertNotEqual(a, b)
        self.assertEqual(seen.paths(a), [b"/a/%d" % i for i in range(4)], replay.errText)
        self.assertEqual(seen.paths(b), [b"/b/%d" % i for i in range(4)], replay.errText)
        self.assertEqual(seen.connections, 2)
        self.assertEqual(summary(replay).get("sessions.completed"), 2, replay.errText)


class LiveReplayTests(TestCase):
    """
    (root) C{gor --input-raw PROD --recognize-tcp-sessions --output-http
    STAGING}: capture and session replay in one process.
    """

    timeout = 120

    async def test_liveSessions(self) -> None:
        """
        Two interleaving keep-alive clients of production reach staging each
        on one connection, in order, closed once the clients closed theirs.
        """
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        production, staging = Seen(), Seen()
        port, target = serve(self, production), serve(self, staging)
        gor = startGor(
            "--input-raw", f"127.0.0.1:{port}", "--recognize-tcp-sessions",
            "--output-http", f"http://127.0.0.1:{target}", "--stats", "--stats-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(80)
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            prefix = os.path.abspath(self.mktemp())
            _, err, code = await getProcessOutputAndValue(
                sys.executable, ["-c", CLIENTS, "127.0.0.1", str(port), prefix], env=os.environ
            )
            self.assertEqual(code, 0, err.decode())
            await waitUntil(lambda: len(staging.closed) >= 2, 30, describe=lambda: gor.logText)
        finally:
            gor.signal("INT")
        result = await ended
        a, b = staging.on(b"/a/0"), staging.on(b"/b/0")
        self.assertNotEqual(a, b)
        self.assertEqual(staging.paths(a), [b"/a/%d" % i for i in range(4)], result.errText)
        self.assertEqual(staging.paths(b), [b"/b/%d" % i for i in range(4)], result.errText)
        self.assertEqual(sorted(c for c, clean, _ in staging.closed if clean), sorted([a, b]))
        self.assertEqual(summary(result).get("sessions.completed"), 2, result.errText)


class TransitTests(TestCase):
    """
    Session data travels unchanged: file to file, and through the relay
    (C{--output-tcp} to C{--input-tcp}).
    """

    timeout = 60

    async def test_fileToFile(self) -> None:
        """
        C{gor --input-file F --output-file G}: G is byte-identical to F,
        close records included.
        """
        source = writeFile(self, interleaved())
        out = os.path.abspath(self.mktemp() + ".gor")
        result = await runGor("--input-file", source + "|10000%", "--output-file", out, timeout=50)
        self.assertEqual(result.rc, 0, result.errText)
        with open(source, "rb") as f, open(out, "rb") as g:
            self.assertEqual(g.read(), f.read())

    async def test_relay(self) -> None:
        """
        Through C{--output-tcp} and C{--input-tcp}, byte-identical.
        """
        from tests.support import fileRecords, freePort

        source = writeFile(self, interleaved())
        out = os.path.abspath(self.mktemp() + ".gor")
        port = freePort()
        receiver = startGor(
            "--input-tcp", f"127.0.0.1:{port}", "--output-file", out, "--output-file-flush-interval", "100ms"
        )
        self.addCleanup(receiver.killIfRunning)
        ended = receiver.wait(50)
        await receiver.waitForLog("input_tcp: listening", timeout=20)
        sent = await runGor(
            "--input-file", source + "|10000%", "--output-tcp", f"127.0.0.1:{port}", "--output-tcp-workers", "1",
            timeout=30,
        )  # fmt: skip
        self.assertEqual(sent.rc, 0, sent.errText)
        await waitUntil(lambda: len(fileRecords(out)) >= 9, 30, describe=lambda: receiver.logText)
        receiver.signal("TERM")
        await ended
        with open(source, "rb") as f, open(out, "rb") as g:
            self.assertEqual(g.read(), f.read())


class DeadTargetTests(TestCase):
    """
    Sessions replayed to a port that refuses connections.
    """

    timeout = 60

    async def test_refused(self) -> None:
        """
        Every request is accounted for (refused, or counted at once once
        the circuit opened), the sessions still end, gor exits 0.
        """
        from tests.support import freePort

        # three sessions of 20 requests, all within 60 ms (the circuit opens
        # after 5 failures and probes again after 0.1 s at the earliest)
        records = []
        for n in range(20):
            for s in range(3):
                records.append(request(b"/%d/%d" % (s, n), START + (n * 3 + s) * MS, b"s%d:%d" % (s, n + 1)))
        records += [sessionEnd(b"s%d" % s, 20, START + 61 * MS) for s in range(3)]
        path = writeFile(self, records)
        result = await runGor(
            "--input-file", path, "--output-http", f"http://127.0.0.1:{freePort()}", "--recognize-tcp-sessions",
            timeout=50,
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        stats = summary(result)
        self.assertEqual(stats.get("sent"), 60, result.errText)
        self.assertEqual(stats.get("failed.refused", 0) + stats.get("failed.target_down", 0), 60, result.errText)
        self.assertLess(stats.get("connections", 0), 30, result.errText)
        self.assertEqual(stats.get("sessions.completed"), 3, result.errText)
