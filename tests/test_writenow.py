"""
Tests for L{twisted_gor._writenow}: direct sends on real loopback TCP
connections, and the fall back to C{transport.write}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from twisted_gor._writenow import WriteBatch, WriteNow

reactor: Any = _reactor


class _Collect(Protocol):
    """
    Server side: collects what it receives; fires C{got} at C{expect} bytes.
    """

    def __init__(self) -> None:
        self.data = b""
        self.expect = 0
        self.got: Deferred[bytes] = Deferred()
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        if self.expect and len(self.data) >= self.expect and not self.got.called:
            self.got.callback(self.data)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.lost.callback(None)


class _Client(Protocol):
    def __init__(self) -> None:
        self.made: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self.reason: Failure | None = None

    def connectionMade(self) -> None:
        self.made.callback(None)

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.reason = reason
        self.lost.callback(None)


class WriteNowTests(TestCase):
    """
    L{WriteNow} over a real connection on loopback.
    """

    @inlineCallbacks
    def connect(self) -> Any:
        servers: list[_Collect] = []

        def build(addr: Any) -> _Collect:
            p = _Collect()
            servers.append(p)
            return p

        serverFactory = Factory.forProtocol(_Collect)
        serverFactory.buildProtocol = build  # type: ignore[method-assign]
        port = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = _Client()
        clientFactory = ClientFactory()
        clientFactory.buildProtocol = lambda addr: client  # type: ignore[method-assign]
        reactor.connectTCP("127.0.0.1", port.getHost().port, clientFactory)
        yield client.made
        while not servers:
            d: Deferred[None] = Deferred()
            reactor.callLater(0.01, d.callback, None)
            yield d
        def close() -> Deferred[None]:
            transport: Any = client.transport
            transport.loseConnection()
            return client.lost

        self.addCleanup(close)
        return client, servers[0]

    @inlineCallbacks
    def test_idleTransportSendsAtOnce(self) -> Any:
        """
        With nothing buffered, the bytes leave without being buffered in the
        transport (no write buffer, no write watch).
        """
        client, server = yield self.connect()
        writer = WriteNow(client.transport)
        server.expect = 5
        writer.write(b"hello")
        self.assertEqual(client.transport._tempDataLen, 0)
        self.assertEqual(client.transport.dataBuffer, b"")
        got = yield server.got
        self.assertEqual(got, b"hello")

    @inlineCallbacks
    def test_bufferedTransportKeepsOrder(self) -> Any:
        """
        When the transport already holds bytes, new bytes go behind them
        through C{transport.write}.
        """
        client, server = yield self.connect()
        writer = WriteNow(client.transport)
        client.transport.write(b"first ")
        writer.write(b"second")
        self.assertEqual(client.transport._tempDataLen, len(b"first second"))
        server.expect = len(b"first second")
        got = yield server.got
        self.assertEqual(got, b"first second")

    @inlineCallbacks
    def test_largeWriteRestBuffered(self) -> Any:
        """
        What the socket's send buffer does not take is buffered by the
        transport and arrives complete and in order.
        """
        client, server = yield self.connect()
        writer = WriteNow(client.transport)
        data = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than a socket buffer
        server.expect = len(data)
        writer.write(data)
        writer.write(b"tail")
        server.expect = len(data) + 4
        got = yield server.got
        self.assertEqual(len(got), len(data) + 4)
        self.assertTrue(got == data + b"tail")

    @inlineCallbacks
    def test_errorReportedByReactor(self) -> Any:
        """
        Writing on a connection the peer reset ends in the protocol's
        C{connectionLost}, as with C{transport.write}.
        """
        client, server = yield self.connect()
        writer = WriteNow(client.transport)
        server.transport.abortConnection()
        yield server.lost
        for _ in range(20):
            if not client.transport.connected:
                break
            writer.write(b"x" * 65536)
            d: Deferred[None] = Deferred()
            reactor.callLater(0.01, d.callback, None)
            yield d
        yield client.lost
        self.assertIsInstance(client.reason, Failure)

    def test_otherTransportUsesWrite(self) -> None:
        """
        A transport that is not Twisted's TCP connection is written to as usual.
        """
        transport = StringTransport()
        writer = WriteNow(transport)
        writer.write(b"abc")
        self.assertEqual(transport.value(), b"abc")


class WriteBatchTests(TestCase):
    """
    L{WriteBatch}: the writes of one reactor turn leave together at its end.
    """

    def test_gatheredUntilTurnEnds(self) -> None:
        """
        Writes wait for the reactor's next run of timed calls (one
        C{callLater(0)} per turn), then go out in order through their writers.
        """
        clock = Clock()
        a, b = StringTransport(), StringTransport()
        batch = WriteBatch(clock)
        batch.write(WriteNow(a), b"one ")
        batch.write(WriteNow(b), b"two")
        batch.write(WriteNow(a), b"three")
        self.assertEqual((a.value(), b.value(), batch.pending, len(clock.getDelayedCalls())), (b"", b"", 3, 1))
        clock.advance(0)
        self.assertEqual((a.value(), b.value(), batch.pending, clock.getDelayedCalls()), (b"one three", b"two", 0, []))
        batch.write(WriteNow(b), b"!")
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        batch.flush()
        self.assertEqual((b.value(), clock.getDelayedCalls()), (b"two!", []))

    @inlineCallbacks
    def test_realConnection(self) -> Any:
        """
        On loopback, the batched bytes are sent on the socket at the end of
        the turn (nothing left buffered in the transport).
        """
        client, server = yield WriteNowTests.connect(self)  # type: ignore[arg-type]
        writer = WriteNow(client.transport)
        self.assertTrue(writer.direct)
        batch = WriteBatch(reactor)
        server.expect = 11
        batch.write(writer, b"hello ")
        batch.write(writer, b"world")
        self.assertEqual(server.data, b"")
        got = yield server.got
        self.assertEqual((got, client.transport.dataBuffer, batch.pending), (b"hello world", b"", 0))

    def test_clientSendsOtherTransportsAtOnce(self) -> None:
        """
        The replay client batches only writers that send on the socket: on
        any other transport (TLS, a test's) the request is written at once.
        """
        from twisted_gor.http.client import HttpClientProtocol

        clock = Clock()

        class Listener:
            def clientConnected(self, client: Any) -> None:
                pass

        protocol = HttpClientProtocol(Listener())  # type: ignore[arg-type]
        protocol.batch = WriteBatch(clock)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.sendRequest(b"GET / HTTP/1.1\r\n\r\n")
        self.assertEqual((transport.value(), protocol.batch.pending), (b"GET / HTTP/1.1\r\n\r\n", 0))
