# -*- test-case-name: tests.test_http_output -*-
"""
Unit tests for the HTTP output: response parser, target URLs, workers,
queue, backpressure, timeouts and statistics.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_gor._interfaces import IMessageReceiver, IOutput, IResponseSource
from twisted_gor.http.client import BadResponse, HttpClientProtocol, ResponseParser
from twisted_gor.http.output import HttpOutput, HttpOutputConfig, _ClientFactory, parseTarget
from twisted_gor.queuestats import QueueStats
from twisted_gor.testing import RecordingBackpressure
from twisted_gor.message import Message


class ParserTests(SynchronousTestCase):
    """
    L{ResponseParser} framing.
    """

    def feedAll(self, parser: ResponseParser, data: bytes, step: int = 3) -> None:
        """
        Feed C{data} in small pieces.
        """
        for i in range(0, len(data), step):
            parser.feed(data[i : i + step])

    def test_contentLength(self) -> None:
        """
        A Content-Length body split across reads completes; raw bytes kept.
        """
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        p = ResponseParser(keep=1000)
        self.feedAll(p, raw)
        self.assertTrue(p.done)
        self.assertEqual((p.status, p.rawBytes(), p.closeAfter), (200, raw, False))

    def test_chunkedWithTrailer(self) -> None:
        """
        Chunked bodies with extensions and trailers complete at the final CRLF.
        """
        raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n3\r\n0\r\n\r\n0\r\nExpires: x\r\n\r\n"
        p = ResponseParser(keep=1000)
        self.feedAll(p, raw[:-1], step=1)
        self.assertFalse(p.done)
        p.feed(raw[-1:])
        self.assertTrue(p.done)
        self.assertEqual(p.rawBytes(), raw)

    def test_interimAndNoBody(self) -> None:
        """
        100 Continue is skipped; HEAD, 204 and 304 have no body.
        """
        p = ResponseParser()
        p.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual((p.done, p.status), (True, 201))
        p = ResponseParser(isHead=True)
        p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        self.assertTrue(p.done)
        p = ResponseParser()
        p.feed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n")
        self.assertTrue(p.done)

    def test_closeDelimited(self) -> None:
        """
        No length: the body ends with the connection; HTTP/1.0 closes.
        """
        p = ResponseParser()
        p.feed(b"HTTP/1.0 200 OK\r\n\r\nabc")
        self.assertFalse(p.done)
        self.assertTrue(p.closeAfter)
        self.assertTrue(p.finishOnClose())

    def test_garbage(self) -> None:
        """
        Non-HTTP bytes raise BadResponse.
        """
        self.assertRaises(BadResponse, ResponseParser().feed, b"garbage\r\n\r\n")
        self.assertRaises(BadResponse, ResponseParser().feed, b"SSH-2.0")
        self.assertRaises(BadResponse, ResponseParser().feed, b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")

    def test_keepLimit(self) -> None:
        """
        Only C{keep} bytes are kept; the size is still counted.
        """
        p = ResponseParser(keep=10)
        p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        self.assertEqual((p.rawBytes(), p.truncated, p.done), (b"HTTP/1.1 2", True, True))


class TargetTests(SynchronousTestCase):
    """
    C{--output-http} URL parsing.
    """

    def test_forms(self) -> None:
        """
        Scheme-less means http; ports default; credentials become Basic auth;
        a path becomes a base path.
        """
        t = parseTarget("staging.com")
        self.assertEqual((t.scheme, t.host, t.port, t.netloc, t.basePath), ("http", "staging.com", 80, b"staging.com", b""))
        t = parseTarget("https://user:p%40ss@h:8443/base/")
        self.assertEqual((t.scheme, t.port, t.netloc, t.basePath), ("https", 8443, b"h:8443", b"/base"))
        self.assertEqual(t.authorization, b"Basic dXNlcjpwQHNz")
        for bad in ("", "ftp://x", "http://", "http://h/?q=1"):
            self.assertRaises(ValueError, parseTarget, bad)

    def test_workerRange(self) -> None:
        """
        N fixed; -1/0 dynamic 1..500 unless min/max given.
        """
        t = parseTarget("h")
        self.assertEqual(HttpOutputConfig(t, workers=8).workerRange(), (8, 8))
        self.assertEqual(HttpOutputConfig(t, workers=8, workersMin=2).workerRange(), (2, 8))
        self.assertEqual(HttpOutputConfig(t, workers=-1).workerRange(), (1, 500))
        self.assertEqual(HttpOutputConfig(t, workers=0, workersMin=3, workersMax=7).workerRange(), (3, 7))


class NeverConnecting(HttpOutput):
    """
    An output whose connections never complete (a black hole at connect time).
    """

    def connect(self, worker: Any) -> Deferred[Any]:
        self.stats.increment("connections")
        return Deferred(lambda d: None)


def request(i: int) -> Message:
    """
    A small GET.
    """
    return Message(1, b"%024x" % i, 0, -1, b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)


class OutputTests(SynchronousTestCase):
    """
    Queue, backpressure, timeouts, shutdown.
    """

    def makeOutput(self, **kw: Any) -> tuple[NeverConnecting, Clock, RecordingBackpressure]:
        """
        A started output on a Clock.
        """
        clock = Clock()
        config = HttpOutputConfig(parseTarget("127.0.0.1:1"), **kw)
        output = NeverConnecting(config, clock)
        bp = RecordingBackpressure()
        output.setBackpressure(bp)
        output.startService()
        return output, clock, bp

    def test_interfaces(self) -> None:
        """
        The output is an IOutput and an IResponseSource accepting type 1 only,
        and its config has trackResponse.
        """
        output, _, _ = self.makeOutput()
        verifyObject(IOutput, output)
        verifyObject(IResponseSource, output)
        self.assertEqual(output.acceptedTypes, frozenset({1}))
        self.assertFalse(output.config.trackResponse)

    def test_queueFullAndBackpressure(self) -> None:
        """
        With 2 busy workers and a queue of 8: pause at 6, drops past 8 are
        counted; timeouts (of connects that never complete: counted as
        connect_timeout, not timeout) free the workers, the queue drains,
        resume at 2.
        """
        output, clock, bp = self.makeOutput(workers=2, queueLen=8, timeout=1.0)
        for i in range(20):
            output.write(request(i))
        self.assertEqual(len(output.queue), 8)
        self.assertEqual(output.stats["dropped.queue_full"], 10)
        self.assertEqual(bp.calls, ["pause"])
        for _ in range(60):
            clock.advance(0.1)
        self.assertIn("resume", bp.calls)
        self.assertTrue(output.stats["failed.connect_timeout"] >= 6)
        self.assertEqual(output.stats["failed.timeout"], 0)

    def test_ignoresOtherTypes(self) -> None:
        """
        Responses are not replayed.
        """
        output, _, _ = self.makeOutput(workers=1)
        output.write(Message(2, b"a", 0, -1, b"HTTP/1.1 200 OK\r\n\r\n"))
        self.assertEqual(output.stats["connections"], 0)

    def test_notHttpDropped(self) -> None:
        """
        Payloads that are not HTTP requests are counted, not sent.
        """
        output, _, _ = self.makeOutput(workers=1)
        output.write(Message(1, b"a", 0, -1, b"garbage"))
        self.assertEqual(output.stats["dropped.not_http"], 1)

    def test_shutdownCountsLeftovers(self) -> None:
        """
        stopService waits up to the timeout, then counts what is left.
        """
        output, clock, _ = self.makeOutput(workers=1, queueLen=10, timeout=1.0)
        for i in range(3):
            output.write(request(i))
        d = output.stopService()
        self.assertNoResult(d)
        clock.advance(1.0)
        clock.advance(0.6)
        self.successResultOf(d)
        self.assertEqual(output.stats["dropped.shutdown"] + output.stats["failed.connect_timeout"], 3)

    def test_prepare(self) -> None:
        """
        Host set to the target, base path prefixed, Authorization replaced;
        --http-original-host keeps Host.
        """
        config = HttpOutputConfig(parseTarget("http://u:p@h:81/base"))
        output = HttpOutput(config, Clock())
        sent = output._prepare(b"GET /x?y HTTP/1.1\r\nHost: prod\r\nAuthorization: Bearer z\r\n\r\n")
        self.assertEqual(sent, b"GET /base/x?y HTTP/1.1\r\nHost: h:81\r\nAuthorization: Basic dTpw\r\n\r\n")
        config = HttpOutputConfig(parseTarget("h"), originalHost=True)
        self.assertEqual(HttpOutput(config, Clock())._prepare(b"GET / HTTP/1.1\r\nHost: prod\r\n\r\n"), b"GET / HTTP/1.1\r\nHost: prod\r\n\r\n")

    def test_prepareConnectAndAbsolute(self) -> None:
        """
        CONNECT is skipped (counted); an absolute-form target gets the
        target's scheme and authority, its Host header is left alone.
        """
        output = HttpOutput(HttpOutputConfig(parseTarget("h:81")), Clock())
        self.assertIsNone(output._prepare(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"))
        self.assertEqual(output.stats["skipped.connect"], 1)
        sent = output._prepare(b"GET https://prod/x HTTP/1.1\r\nHost: prod\r\n\r\n")
        self.assertEqual(sent, b"GET http://h:81/x HTTP/1.1\r\nHost: prod\r\n\r\n")

    def test_conflictingContentLength(self) -> None:
        """
        Differing Content-Length headers are a bad response; equal duplicates
        and odd case/spacing are fine.
        """
        self.assertRaises(
            BadResponse, ResponseParser().feed, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab"
        )
        p = ResponseParser()
        p.feed(b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  2 \r\ncontent-length:2\r\n\r\nab")
        self.assertEqual((p.done, p.size, p.status), (True, 60, 200))
        # RFC 9112 6.3: Transfer-Encoding overrides Content-Length; not
        # ending in chunked, a response is read until the connection closes.
        p = ResponseParser()
        p.feed(b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  2 \r\ncontent-length:2\r\nTransfer-Encoding: gzip\r\n\r\nab")
        self.assertEqual((p.done, p.closeAfter), (False, True))
        self.assertTrue(p.finishOnClose())
        self.assertEqual((p.size, p.status, p.flags), (85, 200, ("te_and_cl",)))


class StatsTests(SynchronousTestCase):
    """
    The seed's stats line.
    """

    def test_line(self) -> None:
        """
        latest,mean,max,count,count/second, then reset.
        """
        clock = Clock()
        s = QueueStats("output_http", clock, 5.0)
        s.start()
        for n in (0, 4, 2):
            s.sample(n)
        clock.advance(5.0)
        clock.advance(5.0)
        s.stop()
        self.assertEqual(
            s.lines,
            ["output_http:latest,mean,max,count,count/second", "output_http:2,2,4,3,0", "output_http:0,0,0,0,0"],
        )
        s = QueueStats("output_http", clock, 0.2)
        for _ in range(3):
            s.sample(1)
        self.assertEqual(s.line(), "output_http:1,1,1,3,15")


class LocalConnecting(HttpOutput):
    """
    An output whose connections complete at once, over in-memory transports
    the test answers on.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        HttpOutput.__init__(self, *args, **kw)
        self.clients: list[HttpClientProtocol] = []

    def connect(self, worker: Any) -> Deferred[Any]:
        self.stats.increment("connections")
        client = _ClientFactory(worker).buildProtocol(None)
        client.makeConnection(StringTransport())
        self.clients.append(client)
        return succeed(client)


@implementer(IMessageReceiver)
class RecordingReceiver:
    """
    An L{IMessageReceiver} appending to a list.
    """

    def __init__(self, received: list[Message]) -> None:
        self.received = received

    def messageReceived(self, message: Message) -> None:
        self.received.append(message)


class ResponseBudgetTests(SynchronousTestCase):
    """
    C{responseBudget}: one budget of kept response bytes for all the workers.
    """

    BUFFER = 100
    BUDGET = 250

    def makeOutput(self) -> tuple[LocalConnecting, Clock, list[Message]]:
        """
        A started, tracking output of 4 workers on a Clock: each reserves up
        to 100 bytes of a 250 byte budget.
        """
        clock = Clock()
        config = HttpOutputConfig(
            parseTarget("127.0.0.1:1"),
            workers=4,
            timeout=1.0,
            trackResponse=True,
            responseBuffer=self.BUFFER,
            responseBudget=self.BUDGET,
        )
        output = LocalConnecting(config, clock)
        received: list[Message] = []
        output.setResponseReceiver(RecordingReceiver(received))
        output.startService()
        for i in range(4):
            output.write(request(i))
        return output, clock, received

    def reservations(self, output: HttpOutput) -> list[int]:
        return sorted(w.reserved for w in output.workers)

    def assertAllFree(self, output: HttpOutput) -> None:
        self.assertEqual(output.budgetFree, self.BUDGET)
        self.assertEqual(self.reservations(output), [0, 0, 0, 0])

    def test_reserveShares(self) -> None:
        """
        The 4 requests in flight reserve 100, 100, 50 and nothing (the
        last keeps only the floor outside the budget, never 0); the 2 short ones are counted as
        C{responses.budget_limited}; the budget is never exceeded.
        """
        output, _, _ = self.makeOutput()
        self.assertEqual(self.reservations(output), [0, 50, 100, 100])
        self.assertEqual(output.budgetFree, 0)
        self.assertEqual(output.stats["responses.budget_limited"], 2)
        keeps = sorted(c._parser.keepTotal for c in output.clients if c._parser is not None)
        # the floor (64 KiB, capped at the buffer) keeps 100 of each here
        self.assertEqual(keeps, [100, 100, 100, 100])

    def test_success(self) -> None:
        """
        Answered responses release their reservations; those cut by the
        budget are still emitted (truncated); the next request reserves what
        was released.
        """
        output, _, received = self.makeOutput()
        body = b"x" * 200
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + body
        for client in list(output.clients):
            client.dataReceived(answer)
        self.assertAllFree(output)
        self.assertEqual(sorted(len(m.payload) for m in received), [100, 100, 100, 100])
        self.assertEqual(output.stats["succeeded"], 4)
        output.write(request(9))
        self.assertEqual(self.reservations(output), [0, 0, 0, 100])
        [busy] = [c for c in output.clients if c._parser is not None]
        busy.dataReceived(answer)
        self.assertAllFree(output)

    def test_failure(self) -> None:
        """
        Bad responses and lost connections release their reservations.
        """
        output, _, _ = self.makeOutput()
        output.clients[0].dataReceived(b"garbage\r\n\r\n")
        for client in output.clients[1:]:
            client.connectionLost(Failure(ConnectionDone()))
        self.assertAllFree(output)
        self.assertEqual(output.stats["sent"], 4)

    def test_timeout(self) -> None:
        """
        Timed-out requests release their reservations (also when their
        connection closes later).
        """
        output, clock, _ = self.makeOutput()
        clock.advance(1.5)
        self.assertEqual(output.stats["failed.timeout"], 4)
        self.assertAllFree(output)
        for client in output.clients:
            client.connectionLost(Failure(ConnectionDone()))
        self.assertAllFree(output)

    def test_stop(self) -> None:
        """
        Shutdown (requests abandoned after the grace period) releases every
        reservation.
        """
        output, clock, _ = self.makeOutput()
        d = output.stopService()
        clock.advance(1.6)
        self.successResultOf(d)
        self.assertAllFree(output)
        self.assertEqual(output.stats["failed.timeout"] + output.stats["dropped.shutdown"], 4)

    def test_redirect(self) -> None:
        """
        A followed redirect reserves afresh for the next response, without
        holding two reservations.
        """
        clock = Clock()
        config = HttpOutputConfig(
            parseTarget("127.0.0.1:1"), workers=1, redirects=2, responseBuffer=self.BUFFER, responseBudget=self.BUDGET
        )
        output = LocalConnecting(config, clock)
        output.startService()
        output.write(request(0))
        client = output.clients[0]
        client.dataReceived(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual((output.stats["redirects"], output.budgetFree), (1, self.BUDGET - self.BUFFER))
        client.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(output.budgetFree, self.BUDGET)
