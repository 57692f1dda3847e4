"""
Unit tests of the relay area: addresses, flags, --input-tcp protocol logic,
--output-tcp queueing and flow control, queue stats.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_gor._interfaces import IInput, IOutput, ITakenReporter
from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.message import Message
from twisted_gor.relay.address import parseHostPort
from twisted_gor.relay import BANNER_BUSY, BANNER_OK, CLOSING, END_RECORD, HELLO_PREFIX
from twisted_gor.relay.input import ACK_DELAY, RelayServerProtocol, TCPInput, TCPInputConfig
from twisted_gor.relay.output import RelayClientProtocol, TCPOutput, TCPOutputConfig, fnv1a32
from twisted_gor.testing import MessageCollector, RecordingBackpressure
from twisted_gor.queuestats import QueueStats
from twisted_gor.cli.tap import Options


def request(i: int, size: int = 0) -> Message:
    """
    A request with a distinct id and payload.
    """
    body = b"x" * size
    return Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n%s" % (i, body))


class AddressTests(SynchronousTestCase):
    """
    L{parseHostPort}.
    """

    def test_forms(self) -> None:
        """
        C{:PORT}, C{HOST:PORT}, C{[v6]:PORT} and C{tcp://} are understood.
        """
        self.assertEqual(parseHostPort(":28020", False), ("", 28020))
        self.assertEqual(parseHostPort("replay.local:28020", True), ("replay.local", 28020))
        self.assertEqual(parseHostPort("[::1]:80", True), ("::1", 80))
        self.assertEqual(parseHostPort("tcp://10.0.0.1:9", True), ("10.0.0.1", 9))

    def test_errors(self) -> None:
        """
        A missing port, a bad port or a missing client host is rejected.
        """
        for bad, requireHost in (("host", True), ("host:x", True), (":80", True), ("h:70000", True), ("::1:80", True)):
            self.assertRaises(ValueError, parseHostPort, bad, requireHost)


def parse(*args: str) -> Any:
    """
    Parse a gor command line into its config.
    """
    options = Options()
    options.parseOptions(list(args))
    return options.config


def parseError(*args: str) -> str:
    """
    The usage error message of a rejected gor command line.
    """
    from twisted.python import usage

    options = Options()
    try:
        usage.Options.parseOptions(options, options.normalizeArguments(list(args)))
    except usage.UsageError as e:
        return str(e)
    raise AssertionError("accepted")


class FlagTests(SynchronousTestCase):
    """
    The relay flags become input and output configs.
    """

    def test_inputAndOutput(self) -> None:
        """
        --input-tcp and repeated --output-tcp with their options.
        """
        config = parse(
            "--input-tcp",
            ":28020",
            "--output-tcp",
            "a:1",
            "--output-tcp",
            "b:2|10",
            "--output-tcp-workers",
            "3",
            "--output-tcp-sticky",
            "--input-tcp-max-record-size",
            "1mb",
            "--input-tcp-idle-timeout",
            "30s",
        )
        [inp] = [c for c in config.inputs if isinstance(c, TCPInputConfig)]
        self.assertEqual((inp.host, inp.port, inp.maxRecordSize, inp.idleTimeout), ("", 28020, 1 << 20, 30.0))
        outs = [c for c in config.outputs if isinstance(c, TCPOutputConfig)]
        self.assertEqual([(o.host, o.port, o.workers, o.sticky) for o in outs], [("a", 1, 3, True), ("b", 2, 3, True)])
        self.assertIsNone(outs[0].limit)
        self.assertIsNotNone(outs[1].limit)

    def test_secureNeedsCertificate(self) -> None:
        """
        --input-tcp-secure without certificate files is a usage error naming the flag.
        """
        self.assertIn("--input-tcp-secure", parseError("--input-tcp", ":1", "--input-tcp-secure", "--output-null"))

    def test_badAddress(self) -> None:
        """
        An --output-tcp without host is rejected with the flag's name.
        """
        self.assertIn("--output-tcp", parseError("--input-dummy", "x", "--output-tcp", ":80"))

    def test_profiles(self) -> None:
        """
        --cpuprofile and --memprofile set the config's profile paths.
        """
        config = parse("--input-dummy", "x", "--output-null", "--cpuprofile", "/tmp/c.prof", "--memprofile", "/tmp/m")
        self.assertEqual((config.cpuProfile, config.memProfile), ("/tmp/c.prof", "/tmp/m"))

    def test_elasticsearchObservesHTTP(self) -> None:
        """
        --output-http-elasticsearch requires replay results: built by the
        service, the exporter takes nothing from the pipeline and is connected
        to every HTTP output's replay channel, whatever the order of flags.
        """
        from twisted.internet.testing import MemoryReactorClock

        from twisted_gor.export.elasticsearch import ElasticsearchOutput
        from twisted_gor.http.output import HttpOutput
        from twisted_gor.service import makeGorService
        from twisted_gor.cli.tap import Options

        for args in (
            ["--output-http-elasticsearch", "h:1/i", "--output-http", "http://a", "--output-http", "http://b"],
            ["--output-http", "http://a", "--output-http", "http://b", "--output-http-elasticsearch", "h:1/i"],
        ):
            options = Options()
            options.parseOptions(["--input-dummy", "x", *args])
            assert options.config is not None
            service = makeGorService(options.config, MemoryReactorClock())
            [es] = [o for o in service.outputs if isinstance(o, ElasticsearchOutput)]
            https = [o for o in service.outputs if isinstance(o, HttpOutput)]
            self.assertEqual(es.acceptedTypes, frozenset())
            self.assertEqual(es.target.index, "i")
            self.assertEqual([h.observers for h in https], [[es], [es]])
            self.assertEqual([h.config.trackResponse for h in https], [False, False])

    def test_elasticsearchNeedsHTTP(self) -> None:
        """
        Without an --output-http there is nothing to export: a usage error.
        """
        self.assertIn(
            "--output-http-elasticsearch",
            parseError("--input-dummy", "x", "--output-null", "--output-http-elasticsearch", "h:1/i"),
        )


def makeInput(**kw: Any) -> tuple[TCPInput, Clock, MessageCollector]:
    clock = Clock()
    inp = TCPInput("", 0, clock, **kw)
    receiver = MessageCollector()
    inp.setReceiver(receiver)
    return inp, clock, receiver


def connect(inp: TCPInput) -> tuple[RelayServerProtocol, StringTransport]:
    protocol = RelayServerProtocol(inp)
    protocol.callLater = inp.reactor.callLater  # type: ignore[method-assign]
    transport = StringTransport(peerAddress=IPv4Address("TCP", "10.0.0.1", 5555))
    protocol.makeConnection(transport)
    return protocol, transport


class InputTests(SynchronousTestCase):
    """
    L{TCPInput} and its connection protocol, without sockets.
    """

    def test_interface(self) -> None:
        """
        L{TCPInput} provides L{IInput} and is endless.
        """
        inp, _, _ = makeInput()
        self.assertTrue(verifyObject(IInput, inp))
        self.assertIsNone(inp.whenExhausted())

    def test_recordsAcrossReads(self) -> None:
        """
        Records split at any byte boundary are reassembled and emitted unchanged.
        """
        inp, _, receiver = makeInput()
        protocol, _ = connect(inp)
        data = b"".join(encodeMessage(request(i)) for i in range(20))
        for i in range(0, len(data), 7):
            protocol.dataReceived(data[i : i + 7])
        self.assertEqual(receiver.messages, [request(i) for i in range(20)])
        self.assertEqual(inp.stats["read"], 20)
        self.assertEqual(inp.stats["connections.active"], 1)

    def test_malformedSkipped(self) -> None:
        """
        Garbage and a broken meta line are skipped and counted; the next good
        record on the same connection is still emitted.
        """
        inp, _, receiver = makeInput()
        protocol, _ = connect(inp)
        protocol.dataReceived(b"garbage without meta" + SEPARATOR)
        protocol.dataReceived(b"1 onlytwo\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR)
        protocol.dataReceived(encodeMessage(request(1)))
        self.assertEqual(receiver.messages, [request(1)])
        self.assertEqual(inp.stats["skipped.malformed"], 2)
        self.flushLoggedErrors()

    def test_oversizeBounded(self) -> None:
        """
        An endless record beyond the maximum record size is discarded without
        being buffered, then the stream recovers at its separator.
        """
        inp, _, receiver = makeInput(maxRecordSize=1000)
        protocol, _ = connect(inp)
        protocol.dataReceived(b"1 abc 1 1\n")
        for _ in range(100):
            protocol.dataReceived(b"y" * 1000)
            self.assertLess(protocol.decoder.pending, 2100)
        protocol.dataReceived(SEPARATOR + encodeMessage(request(2)))
        self.assertEqual(receiver.messages, [request(2)])
        self.assertEqual(inp.stats["skipped.oversize"], 1)

    def test_idleTimeout(self) -> None:
        """
        A connection that sends nothing for the idle timeout is aborted and counted.
        """
        inp, clock, _ = makeInput(idleTimeout=10.0)
        protocol, transport = connect(inp)
        clock.advance(9)
        protocol.dataReceived(b"1 a")
        clock.advance(9)
        self.assertFalse(transport.disconnecting)
        clock.advance(2)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inp.stats["closed.idle_timeout"], 1)

    def test_pauseStopsIdleTimer(self) -> None:
        """
        Pausing the input pauses every transport and suspends the idle timer;
        new connections start paused; resuming resumes them.
        """
        inp, clock, _ = makeInput(idleTimeout=10.0)
        protocol, transport = connect(inp)
        inp.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        other, otherTransport = connect(inp)
        self.assertEqual(otherTransport.producerState, "paused")
        clock.advance(100)
        self.assertFalse(transport.disconnecting)
        inp.resumeProducing()
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(otherTransport.producerState, "producing")

    def test_pauseWhileEmittingHoldsTheRest(self) -> None:
        """
        When the pipeline pauses the input in the middle of one read's records,
        the rest is held (not emitted) and emitted on resume, in order.
        """
        inp, _, receiver = makeInput()

        class PausingReceiver(MessageCollector):
            def messageReceived(self, message: Message) -> None:
                MessageCollector.messageReceived(self, message)
                if len(self.messages) == 3:
                    inp.pauseProducing()

        pausing = PausingReceiver()
        inp.setReceiver(pausing)
        protocol, transport = connect(inp)
        protocol.dataReceived(b"".join(encodeMessage(request(i)) for i in range(10)))
        self.assertEqual(len(pausing.messages), 3)
        self.assertEqual(transport.producerState, "paused")
        protocol.dataReceived(encodeMessage(request(10)))
        self.assertEqual(len(pausing.messages), 3)
        inp.resumeProducing()
        self.assertEqual(pausing.messages, [request(i) for i in range(11)])
        self.assertEqual(transport.producerState, "producing")

    def test_truncatedAtClose(self) -> None:
        """
        A connection closed mid-record counts the truncated record.
        """
        inp, _, _ = makeInput()
        protocol, _ = connect(inp)
        protocol.dataReceived(b"1 abc 1 1\nGET /")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(inp.stats["skipped.truncated"], 1)
        self.assertEqual(inp.stats["connections.active"], 0)


def makeOutput(**kw: Any) -> tuple[TCPOutput, RecordingBackpressure]:
    kw.setdefault("ackWait", 0)
    output = TCPOutput("127.0.0.1", 1, Clock(), **kw)
    backpressure = RecordingBackpressure()
    output.setBackpressure(backpressure)
    return output, backpressure


def attach(output: TCPOutput, index: int) -> tuple[RelayClientProtocol, StringTransport]:
    protocol = RelayClientProtocol(output.workers[index])
    transport = StringTransport(hostAddress=IPv4Address("TCP", "127.0.0.1", 40000 + index))
    protocol.makeConnection(transport)
    return protocol, transport


class OutputTests(SynchronousTestCase):
    """
    L{TCPOutput} queueing, worker choice and flow control, without sockets.
    """

    def test_interface(self) -> None:
        """
        L{TCPOutput} provides L{IOutput} and never takes replayed responses.
        """
        output, _ = makeOutput()
        self.assertTrue(verifyObject(IOutput, output))
        self.assertEqual(output.acceptedTypes, frozenset({1, 2}))
        output.write(Message(3, b"a", 1, 1, b"HTTP/1.1 200 OK\r\n\r\n"))
        self.assertEqual(output.stats["dropped.type"], 1)

    def test_fnv(self) -> None:
        """
        FNV-1a-32 of known inputs.
        """
        self.assertEqual(fnv1a32(b""), 0x811C9DC5)
        self.assertEqual(fnv1a32(b"a"), 0xE40C292C)
        self.assertEqual(fnv1a32(b"foobar"), 0xBF9CF968)

    def test_framing(self) -> None:
        """
        What is written is exactly GoReplay's framing.
        """
        output, _ = makeOutput(workers=1)
        _, transport = attach(output, 0)
        output.write(request(1))
        self.assertEqual(transport.value(), encodeMessage(request(1)))
        self.assertEqual(output.stats["written"], 1)

    def test_selfPortsRegistered(self) -> None:
        """
        A connection's local endpoint is in the output's self-ports registry
        while open.
        """
        output, _ = makeOutput(workers=1)
        protocol, _ = attach(output, 0)
        self.assertIn(("127.0.0.1", 40000), output.selfPorts)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(output.stats["connections.active"], 0)

    def test_roundRobin(self) -> None:
        """
        Without stickiness successive messages go to workers 1, 2, ..., n-1, 0.
        """
        output, _ = makeOutput(workers=4)
        transports = [attach(output, i)[1] for i in range(4)]
        for i in range(8):
            output.write(request(i))
        received = [[m for m in range(8) if b"GET /%d " % m in t.value()] for t in transports]
        self.assertEqual(received, [[3, 7], [0, 4], [1, 5], [2, 6]])

    def test_sticky(self) -> None:
        """
        Sticky: one id always maps to the same worker, and 10,000 random ids
        spread evenly (800 to 1,200 per worker of 10).
        """
        output, _ = makeOutput(workers=10, sticky=True)
        counts = [0] * 10
        rng = random.Random(5)
        for _ in range(10_000):
            id_ = rng.randbytes(12).hex().encode()
            counts[fnv1a32(id_) % 10] += 1
        for count in counts:
            self.assertTrue(800 <= count <= 1200, counts)
        transports = [attach(output, i)[1] for i in range(10)]
        m = request(7)
        output.write(m)
        output.write(m.replace(type=2, payload=b"HTTP/1.1 200 OK\r\n\r\n"))
        [t] = [t for t in transports if t.value()]
        self.assertEqual(t.value().count(SEPARATOR), 2)

    def test_bufferWhileDisconnected(self) -> None:
        """
        With no connection, messages are queued up to the bound, the pipeline is
        paused near it, overflow is dropped and counted; a connection delivers
        the queue in order and resumes the pipeline.
        """
        output, backpressure = makeOutput(workers=2, queueLen=10)
        for i in range(15):
            output.write(request(i))
        self.assertEqual(output.queued, 10)
        self.assertEqual(output.stats["dropped.queue_full"], 5)
        self.assertEqual(backpressure.calls, ["pause"])
        _, transport = attach(output, 1)
        self.assertEqual(transport.value(), b"".join(encodeMessage(request(i)) for i in range(10)))
        self.assertEqual(backpressure.calls, ["pause", "resume"])
        self.assertEqual(output.stats["written"], 10)

    def test_flowControl(self) -> None:
        """
        When the transport pauses its producer, writes queue instead of growing
        the transport buffer; resuming flushes them.
        """
        output, backpressure = makeOutput(workers=1, queueLen=100)
        protocol, transport = attach(output, 0)
        self.assertIs(transport.producer, protocol)
        protocol.pauseProducing()
        for i in range(95):
            output.write(request(i))
        self.assertEqual(transport.value(), b"")
        self.assertEqual(backpressure.calls, ["pause"])
        protocol.resumeProducing()
        self.assertEqual(transport.value().count(SEPARATOR), 95)
        self.assertEqual(backpressure.calls, ["pause", "resume"])

    def test_queueBytesBound(self) -> None:
        """
        The byte bound applies as well as the message bound.
        """
        output, _ = makeOutput(workers=1, queueLen=1000, queueBytes=10_000)
        for i in range(20):
            output.write(request(i, size=1000))
        self.assertLessEqual(output.queuedBytes, 10_000)
        self.assertGreater(output.stats["dropped.queue_full"], 0)

    def test_tlsWaitsForHandshake(self) -> None:
        """
        Over TLS nothing is written before the handshake completes; a
        connection lost before it counts a handshake failure.
        """
        output, _ = makeOutput(workers=1, tlsCreator=object())
        protocol, transport = attach(output, 0)
        output.write(request(1))
        self.assertEqual(transport.value(), b"")
        protocol.handshakeCompleted()
        self.assertEqual(transport.value(), encodeMessage(request(1)))
        other = RelayClientProtocol(output.workers[0])
        other.makeConnection(StringTransport(hostAddress=IPv4Address("TCP", "127.0.0.1", 40001)))
        other.connectionLost(Failure(ConnectionDone()))
        # closed cleanly before the handshake: not a TLS failure
        self.assertEqual((output.stats["failed.tls_handshake"], output.stats["closed.before_ready"]), (0, 1))

    def test_stopWhileConnecting(self) -> None:
        """
        Messages queued while connecting are delivered when the connection
        completes during the stop: the finished connect attempt is not
        cancelled (cancelling it would abort the connection and its unsent
        buffer), and the connection is closed gracefully after the write.
        """
        from twisted.internet.defer import Deferred

        output, _ = makeOutput(workers=1, stopTimeout=5.0)
        output.running = True
        cancelled: list[bool] = []
        output.workers[0].attempt = Deferred(lambda d: cancelled.append(True))
        for i in range(3):
            output.write(request(i))
        d = output.stopService()
        self.assertNoResult(d)
        _, transport = attach(output, 0)
        self.assertEqual(transport.value(), b"".join(encodeMessage(request(i)) for i in range(3)))
        self.assertEqual(cancelled, [])
        self.assertTrue(transport.disconnecting)

    def test_stopTimeoutCounts(self) -> None:
        """
        At stop, what cannot be delivered within the stop timeout is counted.
        """
        output, _ = makeOutput(workers=1, stopTimeout=2.0)
        output.running = True
        for i in range(3):
            output.write(request(i))
        d = output.stopService()
        self.assertNoResult(d)
        output.reactor.advance(2.0)
        self.successResultOf(d)
        self.assertEqual(output.stats["dropped.stop_timeout"], 3)


class QueueStatsTests(SynchronousTestCase):
    """
    The seed's C{output_tcp:latest,mean,max,count,count/second} line.
    """

    def test_lines(self) -> None:
        """
        A header, then one line per period with samples reset each time.
        """
        clock = Clock()
        stats = QueueStats("output_tcp", clock, 5.0)
        stats.start()
        for n in (1, 1, 2, 0):
            stats.sample(n)
        clock.advance(5)
        clock.advance(5)
        stats.stop()
        self.assertEqual(
            stats.lines,
            ["output_tcp:latest,mean,max,count,count/second", "output_tcp:0,1,2,4,0", "output_tcp:0,0,0,0,0"],
        )

    def test_outputSamples(self) -> None:
        """
        --output-tcp-stats with --stats makes the output sample its queue.
        """
        from twisted_gor.config import BuildContext, GorConfig

        clock = Clock()
        config = GorConfig(stats=True)
        output = TCPOutputConfig("127.0.0.1", 1, showStats=True).build(BuildContext(clock, config))
        assert output.queueStats is not None
        output.write(request(1))
        output.write(request(2))
        self.assertEqual(output.queueStats.line(), "output_tcp:1,0,1,2,0")


@implementer(ITakenReporter)
class _ControlledReceiver(MessageCollector):
    """
    A receiver whose messages are taken when the test says so.
    """

    def __init__(self) -> None:
        MessageCollector.__init__(self)
        self.pending: list[Any] = []

    def whenTaken(self) -> Any:
        from twisted.internet.defer import Deferred

        d: Any = Deferred()
        self.pending.append(d)
        return d


def tagged(seq: int | str, message: Message) -> bytes:
    return b"#%s\n" % str(seq).encode() + encodeMessage(message)


class AckSenderTests(SynchronousTestCase):
    """
    The sender's side of the acknowledgement extension, without sockets.
    """

    def ackOutput(self, **kw: Any) -> tuple[TCPOutput, RelayClientProtocol, StringTransport]:
        output, _ = makeOutput(workers=1, ackWait=1.0, **kw)
        protocol, transport = attach(output, 0)
        return output, protocol, transport

    def test_negotiated(self) -> None:
        """
        The hello record first, then nothing before the banner, then the
        records, framed as GoReplay frames them; a record counts as C{sent} (and leaves the queue) only when
        acknowledged.
        """
        output, protocol, transport = self.ackOutput()
        output.write(request(1))
        output.write(request(2))
        hello = HELLO_PREFIX + output.session + b" 1" + SEPARATOR
        self.assertEqual(transport.value(), hello)
        protocol.dataReceived(BANNER_OK)
        self.assertEqual(transport.value(), hello + encodeMessage(request(1)) + encodeMessage(request(2)))
        self.assertEqual((output.stats["sent"], output.queued), (0, 2))
        protocol.dataReceived(b"ACK 1\nAC")
        self.assertEqual((output.stats["sent"], output.queued), (1, 1))
        protocol.dataReceived(b"K 2\n")
        self.assertEqual((output.stats["sent"], output.queued), (2, 0))
        self.assertEqual(output.stats["connections.ack"], 1)

    def test_resentAfterBreak(self) -> None:
        """
        Records not acknowledged when the connection breaks are sent again
        on the next connection, marked with their delivery ids.
        """
        output, protocol, transport = self.ackOutput()
        protocol.dataReceived(BANNER_OK)
        for i in range(3):
            output.write(request(i))
        protocol.dataReceived(b"ACK 1\n")
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(output.queued, 2)
        protocol, transport = attach(output, 0)
        protocol.dataReceived(BANNER_OK)
        hello = HELLO_PREFIX + output.session + b" 2" + SEPARATOR
        self.assertEqual(transport.value(), hello + tagged("R1:2", request(1)) + tagged("R1:3", request(2)))
        self.assertEqual(output.stats["resent"], 2)
        protocol.dataReceived(b"ACK 2\n")
        self.assertEqual((output.stats["sent"], output.queued), (3, 0))

    def test_deliveryIds(self) -> None:
        """
        A record's delivery id is the connection and its rank among the
        fresh records there; resent records keep theirs, across breaks and
        however many records were acknowledged (and forgotten) before.
        """
        output, protocol, _ = self.ackOutput(queueLen=20_000)
        protocol.dataReceived(BANNER_OK)
        for i in range(5000):
            output.write(request(i))
        protocol.dataReceived(b"ACK 4999\n")
        self.assertLess(len(protocol.inflight), 5000)
        output.write(request(5000))
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual([mark for mark, _ in output.workers[0].queue], [b"1:5000", b"1:5001"])
        protocol, transport = attach(output, 0)
        protocol.dataReceived(BANNER_OK)
        output.write(request(5001))
        protocol.dataReceived(b"ACK 1\n")
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual([mark for mark, _ in output.workers[0].queue], [b"1:5001", b"2:1"])
        self.assertEqual((output.stats["sent"], output.queued), (5000, 2))

    def test_silenceMeansPlain(self) -> None:
        """
        No banner within the wait (a GoReplay receiver): plain framing,
        counted as C{written}.
        """
        output, protocol, transport = self.ackOutput()
        output.write(request(1))
        output.reactor.advance(1.0)
        hello = HELLO_PREFIX + output.session + b" 1" + SEPARATOR
        self.assertEqual(transport.value(), hello + encodeMessage(request(1)))
        self.assertEqual((output.stats["written"], output.stats["sent"], output.queued), (1, 0, 0))
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(output.stats["lost.in_flight"], 1)

    def test_busy(self) -> None:
        """
        A busy receiver: counted, the connection closed, the record kept.
        """
        output, protocol, transport = self.ackOutput()
        output.write(request(1))
        protocol.dataReceived(BANNER_BUSY)
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(output.stats["refused.busy"], 1)
        self.assertEqual(output.queued, 1)
        self.assertNotIn("failed", output.stats.format())
        self.assertIsNotNone(output.workers[0].retryCall)

    def test_closing(self) -> None:
        """
        C{CLOSING}: the end marker and nothing more is written there.
        """
        output, protocol, transport = self.ackOutput()
        protocol.dataReceived(BANNER_OK)
        transport.clear()
        protocol.dataReceived(CLOSING)
        output.write(request(1))
        self.assertEqual(transport.value(), END_RECORD)
        self.assertEqual(output.queued, 1)

    def test_unacknowledgedAtStop(self) -> None:
        """
        At stop the output waits for acknowledgements (within its timeout);
        what was sent but never acknowledged is counted apart from what was
        never sent.
        """
        output, protocol, transport = self.ackOutput(stopTimeout=2.0)
        output.running = True
        protocol.dataReceived(BANNER_OK)
        output.write(request(1))
        protocol.pauseProducing()
        output.write(request(2))
        d = output.stopService()
        self.assertNoResult(d)
        output.reactor.advance(2.0)
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.successResultOf(d)
        self.assertEqual(output.stats["unacknowledged.stop_timeout"], 1)
        self.assertEqual(output.stats["dropped.stop_timeout"], 1)
        self.assertEqual(output.queued, 0)

    def test_tlsCutByStopNotAFailure(self) -> None:
        """
        A TLS handshake cut by a stop (ours or the receiver's) is not a
        failed handshake; a TLS error is.
        """
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        output, _ = makeOutput(workers=1, tlsCreator=object())
        protocol, _ = attach(output, 0)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(output.stats["failed.tls_handshake"], 0)
        self.assertEqual(output.stats["closed.before_ready"], 1)
        protocol, _ = attach(output, 0)
        output.running = True
        output.stopService()
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(output.stats["failed.tls_handshake"], 0)
        self.assertEqual(output.stats["closed.before_ready"], 1)


class AckReceiverTests(SynchronousTestCase):
    """
    The receiver's side of the acknowledgement extension, without sockets.
    """

    def test_bannerAndPlain(self) -> None:
        """
        Bytes that are not a hello are plain framing, even one byte at a
        time, and such a peer is never written to; a hello is answered.
        """
        inp, _, receiver = makeInput()
        protocol, transport = connect(inp)
        for byte in encodeMessage(request(1)):
            protocol.dataReceived(bytes([byte]))
        self.assertEqual(receiver.messages, [request(1)])
        self.assertEqual(protocol.mode, "plain")
        self.assertEqual(transport.value(), b"")
        protocol, transport = connect(inp)
        for byte in HELLO_PREFIX + b"s 1" + SEPARATOR:
            protocol.dataReceived(bytes([byte]))
        self.assertEqual((protocol.mode, transport.value()), ("ack", BANNER_OK))

    def test_ackAfterTaken(self) -> None:
        """
        Records are acknowledged (cumulatively, skipped and repeated ones
        included) only once the pipeline says they are taken; a resent
        record taken before is dropped and counted.
        """
        inp = TCPInput("", 0, Clock())
        receiver = _ControlledReceiver()
        inp.setReceiver(receiver)
        protocol, transport = connect(inp)
        transport.clear()
        stream = HELLO_PREFIX + b"abc 1" + SEPARATOR + encodeMessage(request(1)) + tagged("R1:1", request(1))
        stream += b"broken\n" + SEPARATOR + tagged("R9:1", request(3)) + tagged("R9:1", request(3))
        protocol.dataReceived(stream[:20])
        protocol.dataReceived(stream[20:])
        self.assertEqual(receiver.messages, [request(1), request(3)])
        self.assertEqual(inp.stats["dropped.duplicate"], 2)
        inp.reactor.advance(ACK_DELAY)
        self.assertEqual(transport.value(), BANNER_OK)
        receiver.pending.pop().callback(None)
        self.assertEqual(transport.value(), BANNER_OK + b"ACK 5\n")

    def test_resendOnAnotherConnection(self) -> None:
        """
        What a broken connection took is recognised when resent on another
        connection of the same session (and only of that session).
        """
        inp, _, receiver = makeInput()
        first, _ = connect(inp)
        first.dataReceived(HELLO_PREFIX + b"s 1" + SEPARATOR + b"".join(encodeMessage(request(i)) for i in range(3)))
        first.connectionLost(None)  # type: ignore[arg-type]
        second, _ = connect(inp)
        other, _ = connect(inp)
        second.dataReceived(HELLO_PREFIX + b"s 2" + SEPARATOR + tagged("R1:3", request(2)) + tagged("R1:4", request(3)))
        other.dataReceived(HELLO_PREFIX + b"t 1" + SEPARATOR + tagged("R1:3", request(2)))
        self.assertEqual(receiver.messages, [request(i) for i in range(3)] + [request(3), request(2)])
        self.assertEqual(inp.stats["dropped.duplicate"], 1)

    def test_gracefulStop(self) -> None:
        """
        At stop an ack-mode sender is told C{CLOSING}; what it sends up to
        its end marker is delivered and acknowledged, then the connection
        closes and the stop completes.
        """
        inp, clock, receiver = makeInput()
        inp.running = True
        protocol, transport = connect(inp)
        protocol.dataReceived(HELLO_PREFIX + b"s 1" + SEPARATOR)
        transport.clear()
        stopped = inp.stopService()
        self.assertEqual(transport.value(), CLOSING)
        protocol.dataReceived(encodeMessage(request(1)) + END_RECORD)
        self.assertEqual(receiver.messages, [request(1)])
        self.assertEqual(transport.value(), CLOSING + b"ACK 1\n")
        self.assertTrue(transport.disconnecting)
        self.assertNoResult(stopped)
        protocol.connectionLost(None)  # type: ignore[arg-type]
        self.successResultOf(stopped)

    def test_busyBanner(self) -> None:
        """
        Beyond the connection limit: a hello is answered with the busy
        banner (then the peer closes, or is closed after a while); a plain
        sender is closed at once, never written to.
        """
        from twisted_gor.relay.input import _RelayFactory

        inp, _, _ = makeInput(maxConnections=1)
        connect(inp)
        busy = _RelayFactory(inp).buildProtocol(None)
        assert busy is not None
        transport = StringTransport()
        busy.makeConnection(transport)
        self.assertEqual(transport.value(), b"")
        busy.dataReceived(HELLO_PREFIX[:5])
        busy.dataReceived(HELLO_PREFIX[5:] + b"s 1" + SEPARATOR)
        self.assertEqual(transport.value(), BANNER_BUSY)
        busy.dataReceived(b"more")
        self.assertFalse(transport.disconnecting)
        inp.reactor.advance(2.0)
        self.assertTrue(transport.disconnecting)
        plain = _RelayFactory(inp).buildProtocol(None)
        assert plain is not None
        transport = StringTransport()
        plain.makeConnection(transport)
        plain.dataReceived(encodeMessage(request(1)))
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inp.stats["refused.max_connections"], 2)


class TakenTests(SynchronousTestCase):
    """
    The core's "taken" hook as the relay uses it.
    """

    def test_fileOutputFlushes(self) -> None:
        """
        A file output's C{whenTaken} fires once what was written before is in
        the file (not in a buffer).
        """
        import os

        from twisted_gor._blockingio import SynchronousWorker
        from twisted_gor.files.output import FileOutput, FileOutputConfig

        path = os.path.abspath(self.mktemp())
        out = FileOutput(FileOutputConfig(pathTemplate=path, flushInterval=3600), Clock())
        out.workerFactory = SynchronousWorker
        out.startService()
        out.write(request(1))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"")
        self.successResultOf(out.whenTaken())
        with open(path, "rb") as f:
            self.assertEqual(f.read(), encodeMessage(request(1)))
