# -*- test-case-name: tests.test_http_e2e -*-
"""
End-to-end tests of C{--output-http} and C{--input-http} through the real
C{gor} command, against raw TCP servers started by the tests that record the
exact bytes of every replayed request.
"""

from __future__ import annotations

import base64
import os
import random
import re
import socket
import tempfile
from typing import Any

from twisted.internet import defer, reactor as _reactor
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.trial.unittest import TestCase

from tests.support import GorProcess, fileRecords, freePort, runGor, startGor, waitUntil
from twisted_gor.framing import RecordDecoder, encodeMessage
from twisted_gor.message import Message

reactor: Any = _reactor


def gorFile(payloads: list[bytes], path: str) -> str:
    """
    Write type-1 records with the given payloads (all with the same timestamp,
    so they replay at once).
    """
    with open(path, "wb") as f:
        for i, p in enumerate(payloads):
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000, -1, p)))
    return path


def counters(errText: str, prefix: str) -> dict[str, int]:
    """
    The last summary counters of the component whose name starts with C{prefix}.
    """
    found: dict[str, int] = {}
    for line in errText.splitlines():
        m = re.search(r"summary: (\S+): (.*)$", line)
        if m and m.group(1).startswith(prefix):
            found = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split())}
    return found


class RecordingServer(Protocol):
    """
    Records each request (head + Content-Length body) exactly; answers as its
    factory's C{mode} says: ok, blackhole, slow, reset, garbage, redirect.
    """

    def connectionMade(self) -> None:
        self.buf = b""
        self.factory.connections += 1

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        f: Any = self.factory
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[: end + 4]
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            n = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + n:
                return
            request, self.buf = self.buf[: end + 4 + n], self.buf[end + 4 + n :]
            f.requests.append(request)
            mode = f.mode
            if mode == "ok":
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Srv: rec\r\n\r\nok")  # type: ignore[union-attr]
            elif mode == "slow":
                call = reactor.callLater(f.delay, self._late)
                f.calls.append(call)
            elif mode == "reset":
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")  # type: ignore[union-attr]
                self.transport.abortConnection()  # type: ignore[union-attr]
                return
            elif mode == "redirect":
                # /r/N redirects to /r/N-1 (N > 0); anything else is 200.
                m = re.match(rb"[A-Z]+ /r/(\d+) ", request)
                hops = int(m.group(1)) if m else 0
                if hops > 0:
                    self.transport.write(  # type: ignore[union-attr]
                        b"HTTP/1.1 302 Found\r\nLocation: /r/%d\r\nContent-Length: 0\r\n\r\n" % (hops - 1)
                    )
                else:
                    self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhere")  # type: ignore[union-attr]
            elif mode == "garbage":
                self.transport.write(b"garbage garbage\r\n\r\n")  # type: ignore[union-attr]

    def _late(self) -> None:
        if self.transport is not None and self.transport.connected:  # type: ignore[attr-defined]
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def startServer(
    testCase: TestCase, mode: str = "ok", port: int = 0, delay: float = 2.0, tlsOptions: Any = None
) -> Any:
    """
    Listen on loopback (TLS with C{tlsOptions}); the factory has
    C{requests}, C{port}, C{mode}.
    """
    factory: Any = Factory.forProtocol(RecordingServer)
    factory.noisy = False
    factory.requests = []
    factory.mode = mode
    factory.delay = delay
    factory.connections = 0
    factory.calls = []
    testCase.addCleanup(lambda: [c.cancel() for c in factory.calls if c.active()])
    if tlsOptions is not None:
        listening = reactor.listenSSL(port, factory, tlsOptions, interface="127.0.0.1")
    else:
        listening = reactor.listenTCP(port, factory, interface="127.0.0.1")
    factory.port = listening.getHost().port
    factory.listening = listening
    testCase.addCleanup(listening.stopListening)
    return factory


REQ = (
    b"POST /post?a=1&b=2 HTTP/1.1\r\nhost: prod.example.com\r\nX-lower-case: v\r\n"
    b"X-Dup: 1\r\nX-Dup: 2\r\nCookie: s=1\r\nContent-Length: 7\r\n\r\na=1&b=2"
)


class ReplayTests(TestCase):
    """
    Byte-exact replay and every seed example.
    """

    timeout = 120

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()

    def path(self, name: str) -> str:
        """
        A file in this test's temp directory.
        """
        return os.path.join(self.dir, name)

    @defer.inlineCallbacks
    def replay(self, payloads: list[bytes], *args: str, mode: str = "ok") -> Any:
        """
        Replay C{payloads} from a file to a fresh recording server; return
        (server factory, result).
        """
        server = startServer(self, mode)
        f = gorFile(payloads, self.path("in.gor"))
        args = tuple(a.replace("TARGET", f"127.0.0.1:{server.port}") for a in args)
        result = yield runGor("--input-file", f, *args, timeout=90)
        self.assertEqual(result.rc, 0, result.errText)
        return server, result

    @defer.inlineCallbacks
    def test_byteExact(self) -> Any:
        """
        The target receives the captured bytes with only Host changed: case,
        order, duplicates, body, GET without body, HTTP/1.0.
        """
        get = b"GET /x/y?q=%20z HTTP/1.0\r\nHOST: h\r\nuser-agent: Curl\r\n\r\n"
        server, result = yield self.replay([REQ, get], "--output-http", "TARGET", "--output-http-workers", "1")
        port = server.port
        self.assertEqual(
            server.requests,
            [
                REQ.replace(b"host: prod.example.com", b"host: 127.0.0.1:%d" % port),
                get.replace(b"HOST: h", b"HOST: 127.0.0.1:%d" % port),
            ],
        )
        c = counters(result.errText, "output_http")
        self.assertEqual((c["sent"], c["succeeded"]), (2, 2))

    @defer.inlineCallbacks
    def test_originalHost(self) -> Any:
        """
        --http-original-host sends the captured bytes unchanged.
        """
        server, _ = yield self.replay([REQ], "--output-http", "http://TARGET", "--http-original-host")
        self.assertEqual(server.requests, [REQ])

    @defer.inlineCallbacks
    def test_urlRegexp(self) -> Any:
        """
        Seed: --output-http-url-regexp ^www. keeps requests to www.* hosts.
        """
        a = b"GET /a HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
        b = b"GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
        server, _ = yield self.replay([a, b], "--output-http", "TARGET", "--output-http-url-regexp", "^www.")
        self.assertEqual([r.split(b"\r\n")[0] for r in server.requests], [b"GET /a HTTP/1.1"])

    @defer.inlineCallbacks
    def test_headerFilter(self) -> Any:
        """
        Seed: --output-http-header-filter api-version:^1\\.0\\d.
        """
        reqs = [b"GET /%d HTTP/1.1\r\nApi-Version: %s\r\n\r\n" % (i, v) for i, v in enumerate([b"1.01", b"2.0", b"1.0"])]
        server, _ = yield self.replay(reqs, "--output-http", "TARGET", "--output-http-header-filter", "api-version:^1\\.0\\d")
        self.assertEqual([r.split(b" ")[1] for r in server.requests], [b"/0"])

    @defer.inlineCallbacks
    def test_hashFilter(self) -> Any:
        """
        Seed: --output-http-header-hash-filter user-id:1/32 over 10k users keeps
        about 1/32 of them, consistently per user (each user sends twice).
        """
        rng = random.Random(3)
        users = [b"%032x" % rng.getrandbits(128) for _ in range(10_000)]
        reqs = [b"GET /u HTTP/1.1\r\nUser-Id: %s\r\n\r\n" % u for u in users + users]
        server, _ = yield self.replay(
            reqs, "--output-http", "TARGET", "--output-http-header-hash-filter", "user-id:1/32", "--output-http-workers", "4"
        )
        seen = [re.search(rb"User-Id: (\w+)", r).group(1) for r in server.requests]  # type: ignore[union-attr]
        distinct = set(seen)
        self.assertTrue(10_000 / 32 * 0.7 < len(distinct) < 10_000 / 32 * 1.3, len(distinct))
        self.assertEqual(len(seen), 2 * len(distinct))

    @defer.inlineCallbacks
    def test_methodAndHeaders(self) -> Any:
        """
        Seed: method whitelist and header injection (old flag names).
        """
        reqs = [
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
            b"OPTIONS /3 HTTP/1.1\r\nUser-Agent: curl\r\nHost: a\r\n\r\n",
        ]
        server, _ = yield self.replay(
            reqs,
            "--output-http", "TARGET",
            "--output-http-method", "GET", "--output-http-method", "OPTIONS",
            "--output-http-header", "User-Agent: Replayed by Gor",
            "--output-http-header", "Enable-Feature-X: true",
            "--output-http-workers", "1",
        )
        port = server.port
        self.assertEqual(
            server.requests,
            [
                b"GET /1 HTTP/1.1\r\nEnable-Feature-X: true\r\nUser-Agent: Replayed by Gor\r\nHost: 127.0.0.1:%d\r\n\r\n" % port,
                b"OPTIONS /3 HTTP/1.1\r\nEnable-Feature-X: true\r\nUser-Agent: Replayed by Gor\r\nHost: 127.0.0.1:%d\r\n\r\n" % port,
            ],
        )

    @defer.inlineCallbacks
    def test_basicAuthFromUrl(self) -> Any:
        """
        Seed: credentials in the URL set Authorization: Basic, replacing the captured one.
        """
        reqs = [b"GET / HTTP/1.1\r\nAuthorization: Basic b2xkOm9sZA==\r\nHost: a\r\n\r\n", b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"]
        server, _ = yield self.replay(reqs, "--output-http", "http://user:pass@TARGET", "--output-http-workers", "1")
        expected = b"Basic " + base64.b64encode(b"user:pass")
        self.assertEqual(server.requests[0], reqs[0].replace(b"Basic b2xkOm9sZA==", expected).replace(b"Host: a", b"Host: 127.0.0.1:%d" % server.port))
        self.assertIn(b"\r\nAuthorization: " + expected + b"\r\n", server.requests[1])

    @defer.inlineCallbacks
    def test_rewriteUrl(self) -> Any:
        """
        Seed: --output-http-rewrite-url /xml_test/interface.php:/api/service.do; $1 groups.
        """
        reqs = [b"GET /xml_test/interface.php?x=1 HTTP/1.1\r\n\r\n", b"GET /v1/user/joe/ping HTTP/1.1\r\n\r\n"]
        server, _ = yield self.replay(
            reqs,
            "--output-http", "TARGET", "--output-http-workers", "1",
            "--output-http-rewrite-url", "/xml_test/interface.php:/api/service.do",
            "--http-rewrite-url", "/v1/user/([^/]+)/ping:/v2/user/$1/ping",
        )
        self.assertEqual([r.split(b" ")[1] for r in server.requests], [b"/api/service.do?x=1", b"/v2/user/joe/ping"])

    @defer.inlineCallbacks
    def test_twoOutputsAndSplit(self) -> Any:
        """
        Seed: two outputs each get every request; --split-output alternates.
        """
        reqs = [b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(10)]
        f = gorFile(reqs, self.path("in.gor"))
        a, b = startServer(self), startServer(self)
        targets = ("--output-http", f"127.0.0.1:{a.port}", "--output-http", f"127.0.0.1:{b.port}")
        result = yield runGor("--input-file", f, *targets)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual((len(a.requests), len(b.requests)), (10, 10))
        a.requests.clear()
        b.requests.clear()
        result = yield runGor("--input-file", f, *targets, "--split-output")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual((len(a.requests), len(b.requests)), (5, 5))

    @defer.inlineCallbacks
    def test_limits(self) -> Any:
        """
        Seed: URL|10 passes 10 of 100 sent at once; URL|10% about a tenth.
        """
        reqs = [b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(100)]
        server, _ = yield self.replay(reqs, "--output-http", "TARGET|10")
        self.assertEqual(len(server.requests), 10)
        reqs = [b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(2000)]
        server, _ = yield self.replay(reqs, "--output-http", "TARGET|10%")
        self.assertTrue(120 < len(server.requests) < 280, len(server.requests))

    @defer.inlineCallbacks
    def test_trackResponse(self) -> Any:
        """
        --output-http-track-response records type-3 messages (same id) next to
        the requests in --output-file. (Fed through --input-http: with a short
        file the file output may close before the last response arrives, see
        /work/coord/http-requests.md.)
        """
        out = self.path("out.gor")
        server = startServer(self)
        inPort = freePort()
        gor = startGor(
            "--input-http", f"127.0.0.1:{inPort}", "--output-http", f"127.0.0.1:{server.port}",
            "--output-http-track-response", "--output-file", out, "--output-file-flush-interval", "100ms",
        )
        self.addCleanup(gor.signal, "KILL")
        yield gor.waitForLog("input-http listening")
        yield sendRequests(inPort, REQ, 1)
        # the request, then its replayed response, reach the file
        yield waitUntil(lambda: len(fileRecords(out)) >= 2, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        yield gor.wait(30)
        with open(out, "rb") as f:
            messages = RecordDecoder(lambda offset, reason: None).feed(f.read())
        self.assertEqual(sorted(m.type for m in messages), [1, 3])
        request, replayed = sorted(messages, key=lambda m: m.type)
        self.assertEqual(request.id, replayed.id)
        self.assertEqual(replayed.payload, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Srv: rec\r\n\r\nok")
        self.assertTrue(replayed.latency > 0)
        self.assertTrue(replayed.timestamp >= request.timestamp)


class FaultTests(TestCase):
    """
    Dead, silent, slow, resetting and garbage targets.
    """

    timeout = 120

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()

    @defer.inlineCallbacks
    def runFaulty(self, mode: str, count: int = 6, *extra: str) -> Any:
        """
        Replay C{count} requests to a server in C{mode}; return the output counters.
        """
        server = startServer(self, mode, delay=3.0)
        f = gorFile([b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(count)], os.path.join(self.dir, "in.gor"))
        result = yield runGor(
            "--input-file", f, "--output-http", f"127.0.0.1:{server.port}", "--output-http-timeout", "1s",
            "--output-http-workers", "3", *extra, timeout=60,
        )
        self.assertEqual(result.rc, 0, result.errText)
        return counters(result.errText, "output_http")

    @defer.inlineCallbacks
    def test_refused(self) -> Any:
        """
        Nothing listens: every request fails as refused, gor exits normally.
        """
        port = freePort()
        f = gorFile([b"GET / HTTP/1.1\r\n\r\n"] * 5, os.path.join(self.dir, "in.gor"))
        result = yield runGor("--input-file", f, "--output-http", f"127.0.0.1:{port}")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(counters(result.errText, "output_http")["failed.refused"], 5)

    @defer.inlineCallbacks
    def test_notAccepting(self) -> Any:
        """
        A target whose listen queue is full (it never accepts): the SYNs are
        dropped, so the connections are never established; those requests
        count as failed.connect_timeout, not failed.timeout, and gor exits
        normally.
        """
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        for _ in range(3):  # fill the accept queue (never accepted)
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        # a backlog of 0 queues one connection: once one filler is established
        # the queue is full and later SYNs are dropped
        yield waitUntil(lambda: any(isEstablished(s) for s in fillers), 10, describe="no filler connection established")
        f = gorFile([b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(3)], os.path.join(self.dir, "in.gor"))
        result = yield runGor(
            "--input-file", f, "--output-http", f"127.0.0.1:{port}", "--output-http-timeout", "1s",
            "--output-http-workers", "3", timeout=60,
        )
        self.assertEqual(result.rc, 0, result.errText)
        c = counters(result.errText, "output_http")
        self.assertEqual((c["failed.connect_timeout"], c.get("failed.timeout", 0)), (3, 0), c)

    @defer.inlineCallbacks
    def test_blackHoleTimeout(self) -> Any:
        """
        A target that never answers: requests time out (counted), none twice.
        """
        c = yield self.runFaulty("blackhole")
        self.assertTrue(c["failed.timeout"] >= 3, c)
        self.assertEqual(c["failed.timeout"] + c.get("dropped.shutdown", 0), 6, c)

    @defer.inlineCallbacks
    def test_slow(self) -> Any:
        """
        Answers slower than the timeout count as timeouts.
        """
        c = yield self.runFaulty("slow")
        self.assertTrue(c["failed.timeout"] >= 3, c)
        self.assertEqual(c["failed.timeout"] + c.get("dropped.shutdown", 0), 6, c)

    @defer.inlineCallbacks
    def test_reset(self) -> Any:
        """
        A connection reset mid-response counts as reset.
        """
        c = yield self.runFaulty("reset")
        self.assertEqual(c["failed.reset"], 6)

    @defer.inlineCallbacks
    def test_garbage(self) -> Any:
        """
        A non-HTTP answer counts as bad_response.
        """
        c = yield self.runFaulty("garbage")
        self.assertEqual(c["failed.bad_response"], 6)

    @defer.inlineCallbacks
    def test_blackHoleMemory(self) -> Any:
        """
        Thousands of requests pushed through --input-http (which cannot pause)
        to a black hole: the queue-full counter grows, RSS stays bounded, what
        is left at shutdown is counted.
        """
        hole = startServer(self, "blackhole")
        inPort = freePort()
        gor = startGor(
            "--input-http", f"127.0.0.1:{inPort}", "--output-http", f"127.0.0.1:{hole.port}",
            "--output-http-timeout", "3s", "--output-http-workers", "20",
        )
        self.addCleanup(gor.signal, "KILL")
        yield gor.waitForLog("input-http listening")
        body = b"x" * 2000
        request = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        rss = []
        for _ in range(4):
            yield sendRequests(inPort, request, 1000)
            rss.append(vmRSS(gor))
        gor.signal("TERM")
        result = yield gor.wait(60)
        c = counters(result.errText, "output_http")
        self.assertTrue(c["dropped.queue_full"] > 3000, c)
        self.assertEqual(c["dropped.queue_full"] + c["sent"] + c.get("dropped.shutdown", 0), 4000, c)
        self.assertTrue(max(rss) - rss[0] < 30_000, rss)

    @defer.inlineCallbacks
    def test_recovers(self) -> Any:
        """
        Requests fail while the target is down and succeed once it is up.
        """
        port = freePort()
        inPort = freePort()
        gor = startGor(
            "--input-http", f"127.0.0.1:{inPort}", "--output-http", f"127.0.0.1:{port}", "--output-http-workers", "2",
            "--stats", "--stats-interval", "100ms",
        )
        self.addCleanup(gor.signal, "KILL")
        yield gor.waitForLog("input-http listening")
        yield sendRequests(inPort, b"GET /down HTTP/1.1\r\n\r\n", 5)
        yield waitUntil(
            lambda: gor.counters("output_http").get("failed.refused", 0) >= 5, 30, describe=lambda: gor.logText
        )
        server = startServer(self, "ok", port=port)
        yield sendRequests(inPort, b"GET /up HTTP/1.1\r\n\r\n", 5)
        yield waitUntil(lambda: gor.counters("output_http").get("succeeded", 0) >= 5, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        result = yield gor.wait(30)
        c = counters(result.errText, "output_http")
        self.assertEqual((c["failed.refused"], c["succeeded"]), (5, 5), result.errText)
        self.assertEqual(len(server.requests), 5)


def vmRSS(gor: GorProcess) -> int:
    """
    Resident set size of the gor process, in kB.
    """
    with open(f"/proc/{gor.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def isEstablished(sock: socket.socket) -> bool:
    """
    Whether a non-blocking C{connect} of C{sock} has completed.
    """
    try:
        sock.getpeername()
    except OSError:
        return False
    return True


class _Sender(Protocol):
    def __init__(self, request: bytes, count: int, done: defer.Deferred[None]) -> None:
        self.request, self.left, self.done, self.buf = request, count, done, b""

    def connectionMade(self) -> None:
        self.transport.write(self.request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, _, self.buf = self.buf.partition(b"\r\n\r\n")
            self.left -= 1
            if self.left:
                self.transport.write(self.request)  # type: ignore[union-attr]
            else:
                self.transport.loseConnection()  # type: ignore[union-attr]
                if not self.done.called:
                    self.done.callback(None)

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.errback(reason)


def sendRequests(port: int, request: bytes, count: int) -> defer.Deferred[None]:
    """
    Send C{request} C{count} times over one keep-alive connection to
    --input-http (which answers 200 with an empty body at once).
    """
    done: defer.Deferred[None] = defer.Deferred()
    factory = ClientFactory.forProtocol(lambda: _Sender(request, count, done))
    factory.noisy = False
    reactor.connectTCP("127.0.0.1", port, factory)
    return done


class InputHttpTests(TestCase):
    """
    --input-http records what a real HTTP client sends.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_toFile(self) -> Any:
        """
        Requests with bodies and a chunked upload, sent with raw sockets and
        treq, are recorded as type-1 messages with their headers as sent.
        """
        import treq

        out = os.path.join(tempfile.mkdtemp(), "out.gor")
        inPort = freePort()
        gor = startGor("--input-http", f"127.0.0.1:{inPort}", "--output-file", out, "--output-file-flush-interval", "100ms")
        self.addCleanup(gor.signal, "KILL")
        yield gor.waitForLog("input-http listening")
        plain = b"POST /form?x=1 HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: v\r\nContent-Length: 5\r\n\r\nhello"
        yield sendRequests(inPort, plain, 1)
        chunked = (
            b"PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
        )
        yield sendRequests(inPort, chunked, 1)
        from twisted.web.client import HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=False)
        headers: dict[bytes | str, bytes | str] = {"X-Test": "1"}
        response = yield treq.post(f"http://127.0.0.1:{inPort}/treq", data=b"body-bytes", headers=headers, pool=pool)
        self.assertEqual(response.code, 200)
        yield treq.content(response)
        yield waitUntil(lambda: len(fileRecords(out)) >= 3, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        yield gor.wait(30)
        with open(out, "rb") as f:
            messages = RecordDecoder(lambda offset, reason: None).feed(f.read())
        payloads = [m.payload for m in messages]
        self.assertEqual(len(payloads), 3, payloads)
        self.assertTrue(all(m.type == 1 for m in messages))
        self.assertEqual(payloads[0], plain)
        self.assertEqual(
            payloads[1],
            b"PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n",
        )
        self.assertTrue(payloads[2].startswith(b"POST /treq HTTP/1.1\r\n"))
        self.assertIn(b"X-Test: 1\r\n", payloads[2])
        self.assertTrue(payloads[2].endswith(b"\r\n\r\nbody-bytes"))

