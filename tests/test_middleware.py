"""
Unit tests of the middleware area's logic (fakes for the child process and
the clock): the ledger, the hex line reader, the byte budget toward the
child, the pipeline's pausing with a stage, the in-process stage, the flags.
The real thing, with child processes, is in L{tests.test_middleware_e2e}.
"""

from __future__ import annotations

import binascii
import os
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.internet.interfaces import IPushProducer
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_gor import GorConfig, IMiddleware, makeGorService
from twisted_gor._interfaces import IMiddlewareStage
from twisted_gor.cli.tap import Options
from twisted_gor.message import Message
from twisted_gor.middleware.external import ExternalMiddleware, ExternalMiddlewareConfig, maxLineFor, splitCommand
from twisted_gor.middleware.inprocess import InProcessMiddleware, PythonMiddlewareConfig
from twisted_gor.middleware.stage import Ledger
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryInput, MemoryOutput, MessageCollector, Prebuilt, RecordingBackpressure


def line(message: Message) -> bytes:
    return binascii.hexlify(message.meta() + b"\n" + message.payload)


REQ = Message(1, b"a" * 24, 1_000, -1, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")


class LedgerTests(SynchronousTestCase):
    """
    L{Ledger} tells echoed messages from injected and dropped ones.
    """

    def test_matchByTypeAndId(self) -> None:
        """
        A pair given once comes back once; again, or another type, is not
        pending.
        """
        ledger = Ledger(Clock())
        ledger.sent(1, b"x")
        ledger.sent(1, b"x")
        self.assertEqual(ledger.pending, 2)
        self.assertFalse(ledger.returned(2, b"x"))
        self.assertTrue(ledger.returned(1, b"x"))
        self.assertTrue(ledger.returned(1, b"x"))
        self.assertFalse(ledger.returned(1, b"x"))
        self.assertEqual((ledger.pending, ledger.close()), (0, 0))

    def test_expiry(self) -> None:
        """
        After at most the TTL a pending message counts as expired (dropped);
        within half of it, it does not.
        """
        clock = Clock()
        ledger = Ledger(clock, ttl=10)
        ledger.sent(1, b"old")
        clock.advance(4)
        ledger.sent(1, b"young")
        self.assertEqual((ledger.pending, ledger.expired), (2, 0))
        clock.advance(2)
        ledger.sent(1, b"new")  # rotates: old and young are the older generation
        self.assertTrue(ledger.returned(1, b"young"))
        clock.advance(5)
        ledger.sent(1, b"newer")  # rotates again: old is given up on
        self.assertEqual((ledger.pending, ledger.expired), (2, 1))
        self.assertFalse(ledger.returned(1, b"old"))
        self.assertTrue(ledger.returned(1, b"new"))
        self.assertEqual(ledger.close(), 1)

    def test_bounded(self) -> None:
        """
        At most C{maxEntries} pairs; the oldest are given up on.
        """
        ledger = Ledger(Clock(), maxEntries=4)
        for i in range(7):
            ledger.sent(1, b"%d" % i)
        self.assertLessEqual(ledger.pending, 4)
        self.assertEqual(ledger.pending + ledger.expired, 7)
        self.assertFalse(ledger.returned(1, b"0"))
        self.assertTrue(ledger.returned(1, b"6"))


class FakeProcess:
    """
    The parts of a process transport and of the child's pipes the stage uses.
    """

    pid = 4242

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.producer: Any = None
        self.stdinClosed = False
        self.readingPaused = False
        self.signals: list[str] = []
        self.connected = True

    # the stdin pipe
    def writeSequence(self, data: Any) -> None:
        self.written.append(b"".join(data))

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def loseConnection(self) -> None:
        self.stdinClosed = True
        self.connected = False

    # the stdout pipe
    def stopReading(self) -> None:
        self.readingPaused = True

    def startReading(self) -> None:
        self.readingPaused = False

    # the process
    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class FakeReactor(Clock):
    """
    A clock, and the fake process of the stages started with it.
    """

    def __init__(self) -> None:
        Clock.__init__(self)
        self.process = FakeProcess()
        self.spawned: list[Any] = []


class FakeChildStage(ExternalMiddleware):
    """
    The stage with a fake child (no process, no pipes).
    """

    def startChild(self) -> None:
        reactor = self.reactor
        reactor.spawned.append((self.argv[0], self.argv))
        self.transport = self.stdin = self.stdout = reactor.process


def stage(bufferSize: int = 1000, maxMessageSize: int = 0) -> tuple[ExternalMiddleware, FakeReactor, MessageCollector]:
    reactor = FakeReactor()
    config = ExternalMiddlewareConfig(argv=["mw", "--x"], bufferSize=bufferSize, maxMessageSize=maxMessageSize)
    s = FakeChildStage(config, reactor, copyBufferSize=1024)
    out = MessageCollector()
    s.setReceiver(out)
    s.startService()
    return s, reactor, out


class LineReaderTests(SynchronousTestCase):
    """
    What the child writes: hex lines of any length up to the budget,
    however the reads split them; malformed lines counted and skipped.
    """

    def test_interface(self) -> None:
        """
        The stage provides L{IMiddlewareStage}, and spawns the program with
        its arguments.
        """
        s, reactor, _ = stage()
        verifyObject(IMiddlewareStage, s)
        self.assertEqual(reactor.spawned, [("mw", ["mw", "--x"])])

    def test_splitAnywhere(self) -> None:
        """
        Lines split across reads, one byte at a time or several per read,
        decode to the same messages (meta line kept byte for byte).
        """
        s, _, out = stage()
        other = Message(2, b"b" * 24, 5, 7, b"HTTP/1.1 200 OK\r\n\r\n")
        data = line(REQ) + b"\n" + line(other) + b"\n"
        for i in range(len(data)):
            s.linesReceived(data[i : i + 1])
        s.linesReceived(data)
        self.assertEqual(out.messages, [REQ, other, REQ, other])
        self.assertEqual(out.messages[0].rawMeta, REQ.meta())
        self.assertEqual(s.stats["injected"], 4)

    def test_upperCase(self) -> None:
        """
        Upper-case hex is accepted back.
        """
        s, _, out = stage()
        s.linesReceived(line(REQ).upper() + b"\n")
        self.assertEqual(out.messages, [REQ])

    def test_malformed(self) -> None:
        """
        Not hex, odd length, CRLF ending, no meta line, bad meta line, no
        payload, empty: each counted, none emitted, the next good line is.
        """
        s, _, out = stage()
        bad = [
            b"zz",
            b"abc",
            line(REQ) + b"\r",
            binascii.hexlify(b"no meta"),
            binascii.hexlify(b"1 x\npayload"),
            binascii.hexlify(REQ.meta() + b"\n"),
            b"",
        ]
        s.linesReceived(b"\n".join(bad) + b"\n" + line(REQ) + b"\n")
        self.assertEqual(s.stats["malformed"], len(bad))
        self.assertEqual(out.messages, [REQ])

    def test_tooLong(self) -> None:
        """
        A line over the budget is skipped whole (counted once), whatever the
        reads; the next line is read.
        """
        s, _, out = stage(maxMessageSize=100)
        self.assertEqual(s.maxLine, 201)
        long = binascii.hexlify(REQ.meta() + b"\n" + b"x" * 500)
        for i in range(0, len(long), 64):
            s.linesReceived(long[i : i + 64])
        s.linesReceived(b"\n" + line(REQ) + b"\n")
        s.linesReceived(long + b"\n")
        self.assertEqual(s.stats["malformed"], 2)
        self.assertEqual(out.messages, [REQ])

    def test_maxLineDefault(self) -> None:
        """
        By default: twice the copy buffer, at least 1 MiB, as hex.
        """
        self.assertEqual(maxLineFor(0, 5 << 20), 2 * (10 << 20) + 1)
        self.assertEqual(maxLineFor(0, 10), 2 * (1 << 20) + 1)

    def test_stderr(self) -> None:
        """
        stderr is logged line by line; a partial line waits for its end.
        """
        s, _, _ = stage()
        logged: list[str] = []
        from typing import cast

        from twisted.logger import ILogObserver, Logger

        s.log = Logger(observer=cast(ILogObserver, lambda e: logged.append(e.get("line", ""))))
        s.stderrReceived(b"one\ntw")
        s.stderrReceived(b"o\n")
        self.assertEqual([x for x in logged if x], ["one", "two"])


class BudgetTests(SynchronousTestCase):
    """
    Toward the child: written at once while the pipe has room, else queued
    within the byte budget, pausing pausable inputs; live overflow dropped.
    """

    def test_backpressure(self) -> None:
        """
        Pipe full: lines queue; past half the budget the inputs are paused;
        past the budget lines are dropped as C{dropped.queue_full}; once the
        pipe drains everything queued is written and the inputs resume.
        """
        s, reactor, _ = stage(bufferSize=1000)
        bp = RecordingBackpressure()
        s.setBackpressure(bp)
        process = reactor.process

        def lines() -> int:
            return b"".join(process.written).count(b"\n")

        s.messageReceived(REQ)
        s.messageReceived(REQ)
        self.assertEqual(lines(), 0)
        reactor.advance(0)
        self.assertEqual(process.written, [(line(REQ) + b"\n") * 2])
        process.producer.pauseProducing()
        size = len(line(REQ)) + 1
        for _ in range(20):
            s.messageReceived(REQ)
        reactor.advance(0)
        fit = -(-1000 // size)  # taken while under the budget
        self.assertEqual(bp.calls, ["pause"])
        self.assertEqual(s.stats["dropped.queue_full"], 20 - fit)
        self.assertEqual(s.stats["sent"], 2 + fit)
        self.assertEqual(lines(), 2)
        process.producer.resumeProducing()
        self.assertEqual(lines(), 2 + fit)
        self.assertEqual(bp.calls, ["pause", "resume"])
        self.assertEqual(s.ledger.pending, 2 + fit)

    def test_bigMessageWhenEmpty(self) -> None:
        """
        A message bigger than the budget is still taken while the budget
        is not used up.
        """
        s, reactor, _ = stage(bufferSize=10)
        reactor.process.producer.pauseProducing()
        s.messageReceived(REQ)
        s.messageReceived(REQ)
        self.assertEqual((s.stats["sent"], s.stats["dropped.queue_full"]), (1, 1))
        s2, reactor2, _ = stage(bufferSize=200)
        reactor2.process.producer.pauseProducing()
        s2.messageReceived(REQ)
        s2.messageReceived(REQ.replace(payload=b"x" * 1000))
        self.assertEqual((s2.stats["sent"], s2.stats["dropped.queue_full"]), (2, 0))

    def test_truncated(self) -> None:
        """
        Payloads over C{--copy-buffer-size} are cut before the middleware.
        """
        s, reactor, _ = stage()
        s.messageReceived(REQ.replace(payload=b"x" * 5000))
        reactor.advance(0)
        self.assertEqual(s.stats["truncated"], 1)
        self.assertEqual(len(reactor.process.written[0]), 2 * (len(REQ.meta()) + 1 + 1024) + 1)

    def test_stopDrains(self) -> None:
        """
        Stopping writes what is queued, then closes stdin, and fires once the
        child exited; what never came back is dropped by the middleware.
        """
        from twisted.internet.error import ProcessDone
        from twisted.python.failure import Failure

        s, reactor, out = stage()
        reactor.process.producer.pauseProducing()
        s.messageReceived(REQ)
        d = s.stopService()
        self.assertFalse(reactor.process.stdinClosed)
        s.messageReceived(REQ)
        self.assertEqual(s.stats["dropped.stopped"], 1)
        reactor.process.producer.resumeProducing()
        self.assertTrue(reactor.process.stdinClosed)
        self.assertNoResult(d)
        s.protocol.processEnded(Failure(ProcessDone(0)))
        self.assertNoResult(d)
        s.stdoutClosed()
        self.successResultOf(d)
        self.assertEqual(s.stats["dropped_by_middleware"], 1)
        self.assertIsNone(s.failure)

    def test_stopKillsAfterTimeout(self) -> None:
        """
        A child that does not exit after its stdin closed is killed.
        """
        from twisted.internet.error import ProcessTerminated
        from twisted.python.failure import Failure

        s, reactor, _ = stage()
        d = s.stopService()
        reactor.advance(5)
        self.assertEqual(reactor.process.signals, ["KILL"])
        s.protocol.processEnded(Failure(ProcessTerminated(signal=9)))
        s.stdoutClosed()
        self.successResultOf(d)
        self.assertIsNone(s.failure)

    def test_stdoutHeldOpen(self) -> None:
        """
        A child that exited while something holds its stdout open: after
        the timeout gor stops reading it and finishes.
        """
        from twisted.internet.error import ProcessDone
        from twisted.python.failure import Failure

        s, reactor, _ = stage()
        closed: list[bool] = []

        def connectionLost(reason: object) -> None:
            closed.append(True)
            s.stdoutClosed()

        reactor.process.connectionLost = connectionLost  # type: ignore[attr-defined]
        d = s.stopService()
        s.protocol.processEnded(Failure(ProcessDone(0)))
        self.assertNoResult(d)
        reactor.advance(5)
        self.successResultOf(d)
        self.assertEqual(closed, [True])

    def test_exitWhileRunning(self) -> None:
        """
        A child exiting while gor runs is a failure naming it.
        """
        from twisted.internet.error import ProcessTerminated
        from twisted.python.failure import Failure

        s, reactor, _ = stage()
        s.protocol.processEnded(Failure(ProcessTerminated(exitCode=3)))
        self.assertIsNone(s.failure)
        s.stdoutClosed()
        self.assertEqual(s.failure, "middleware 'mw --x' exited with status 3")
        s.messageReceived(REQ)
        self.assertEqual(s.stats["dropped.stopped"], 1)

    def test_outputsPauseReading(self) -> None:
        """
        The stage's own pause (outputs saturated) stops reading the child.
        """
        s, reactor, _ = stage()
        s.pauseProducing()
        self.assertTrue(reactor.process.readingPaused)
        s.resumeProducing()
        self.assertFalse(reactor.process.readingPaused)


class PipelineStageTests(SynchronousTestCase):
    """
    L{Pipeline.setStage}: inputs feed the stage, the stage feeds the
    routing; who pauses whom.
    """

    def test_wiring(self) -> None:
        """
        An input's messages go through the stage, then to the outputs; an
        output's pause pauses the input and the stage; the stage's pause
        pauses only the input.
        """
        reactor = FakeReactor()
        out = MemoryOutput()
        pipeline = Pipeline([(out, None)], clock=reactor)
        s = FakeChildStage(ExternalMiddlewareConfig(argv=["mw"]), reactor)
        pipeline.setStage(s)
        source = MemoryInput()
        pipeline.connectInput(source)
        s.startService()
        source.push(REQ)
        reactor.advance(0)
        self.assertEqual(reactor.process.written, [line(REQ) + b"\n"])
        s.linesReceived(line(REQ) + b"\n")
        self.assertEqual(out.messages, [REQ])
        pipeline.pause(out)
        self.assertTrue(source.paused)
        self.assertTrue(reactor.process.readingPaused)
        pipeline.pause(s)
        pipeline.resume(out)
        self.assertTrue(source.paused)
        self.assertFalse(reactor.process.readingPaused)
        pipeline.resume(s)
        self.assertFalse(source.paused)


@implementer(IMiddleware)
class _Scripted:
    def __init__(self) -> None:
        self.results: list[Any] = []

    def handleMessage(self, message: Message) -> Any:
        return self.results.pop(0)


class InProcessTests(SynchronousTestCase):
    """
    The in-process stage.
    """

    def make(self) -> tuple[InProcessMiddleware, _Scripted, MessageCollector, Clock]:
        clock = Clock()
        mw = _Scripted()
        s = InProcessMiddleware(PythonMiddlewareConfig(mw, bufferSize=100), clock)
        out = MessageCollector()
        s.setReceiver(out)
        s.startService()
        return s, mw, out, clock

    def test_semantics(self) -> None:
        """
        Returned as is or changed: received; nothing: dropped by the
        middleware (at the end); extra: injected; an exception: errors.
        """
        s, mw, out, _ = self.make()
        changed = REQ.replace(payload=b"GET /x HTTP/1.1\r\n\r\n")
        extra = Message(1, b"new", 1, -1, b"GET /new HTTP/1.1\r\n\r\n")
        mw.results = [[changed, extra], [], ValueError]

        def boom(message: Message) -> Any:
            raise ValueError("boom")

        s.messageReceived(REQ)
        s.messageReceived(REQ.replace(id=b"dropped"))
        s.handle = boom
        s.messageReceived(REQ.replace(id=b"failing"))
        self.assertEqual(out.messages, [changed, extra])
        self.successResultOf(s.stopService())
        self.assertEqual(
            {k: s.stats[k] for k in ("sent", "received", "injected", "dropped_by_middleware", "errors")},
            {"sent": 3, "received": 1, "injected": 1, "dropped_by_middleware": 1, "errors": 1},
        )
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_deferredBudget(self) -> None:
        """
        Pending Deferreds count against the budget: past it, messages are
        dropped (C{dropped.queue_full}); a failed Deferred is an error;
        stopping waits, then cancels what is left.
        """
        s, mw, out, clock = self.make()
        bp = RecordingBackpressure()
        s.setBackpressure(bp)
        waiting: list[Deferred[Any]] = [Deferred() for _ in range(4)]
        mw.results = [*waiting, fail(RuntimeError("no"))]
        for _ in range(5):
            s.messageReceived(REQ)
        self.assertEqual(s.stats["dropped.queue_full"], 1)
        self.assertEqual(bp.calls, ["pause"])
        waiting[0].callback([REQ])
        self.assertEqual(out.messages, [REQ])
        s.messageReceived(REQ)
        self.assertEqual(s.stats["errors"], 1)
        d = s.stopService()
        self.assertNoResult(d)
        clock.advance(5)
        self.successResultOf(d)
        self.assertEqual(s.stats["errors"], 4)
        self.flushLoggedErrors()


class FlagTests(SynchronousTestCase):
    """
    The flags build the configuration; bad values are refused.
    """

    def parse(self, *args: str) -> GorConfig:
        options = Options()
        options.parseOptions(["--input-dummy", "x", "--output-null", *args])
        assert options.config is not None
        return options.config

    def test_external(self) -> None:
        """
        C{--middleware} is split on spaces (empty pieces dropped).
        """
        config = self.parse("--middleware", "cat  -u", "--middleware-buffer-size", "1mb", "--middleware-timeout", "2s")
        mw = config.middleware
        assert isinstance(mw, ExternalMiddlewareConfig)
        self.assertEqual((mw.argv, mw.bufferSize, mw.stopTimeout), (["cat", "-u"], 1 << 20, 2.0))

    def test_python(self) -> None:
        """
        C{--middleware-python MODULE:NAME} loads a class (called) or an object.
        """
        config = self.parse("--middleware-python", "tests.mw_inprocess:DropInject")
        mw = config.middleware
        assert isinstance(mw, PythonMiddlewareConfig)
        self.assertTrue(IMiddleware.providedBy(mw.middleware))

    def test_prettify(self) -> None:
        """
        C{--prettify-http} turns the prettifier on.
        """
        self.assertFalse(self.parse().prettifyHttp)
        self.assertTrue(self.parse("--prettify-http").prettifyHttp)

    def test_splitCommand(self) -> None:
        """
        The program must exist.
        """
        self.assertEqual(splitCommand(" cat -u "), ["cat", "-u"])
        self.assertRaises(ValueError, splitCommand, "   ")
        self.assertRaises(ValueError, splitCommand, "/no/such/program")
        self.assertRaises(ValueError, splitCommand, "no-such-program-xyz")


class EmbedTests(SynchronousTestCase):
    """
    Embedders put an L{IMiddleware} into a L{GorConfig}.
    """

    def test_gorConfig(self) -> None:
        """
        C{GorConfig(middleware=PythonMiddlewareConfig(obj))}: the service
        routes every input message through it, and its counters are shown.
        """
        clock = Clock()
        mw = _Scripted()
        mw.results = [[REQ, REQ.replace(id=b"extra")]]
        source = MemoryInput()
        out = MemoryOutput()
        config = GorConfig(inputs=[Prebuilt(source)], outputs=[Prebuilt(out)], middleware=PythonMiddlewareConfig(mw))
        service = makeGorService(config, clock)
        service.startService()
        source.push(REQ)
        self.assertEqual([m.id for m in out.messages], [REQ.id, b"extra"])
        self.assertIn(service.middleware, service.components())
        self.successResultOf(service.stopService())

    def test_bareMiddleware(self) -> None:
        """
        An L{IMiddleware} given as it is runs in process.
        """
        clock = Clock()
        mw = _Scripted()
        mw.results = [[]]
        source = MemoryInput()
        out = MemoryOutput()
        service = makeGorService(GorConfig(inputs=[Prebuilt(source)], outputs=[Prebuilt(out)], middleware=mw), clock)
        self.assertIsInstance(service.middleware, InProcessMiddleware)
        service.startService()
        source.push(REQ)
        self.assertEqual(out.messages, [])
        self.successResultOf(service.stopService())
        assert service.middleware is not None
        self.assertEqual(service.middleware.stats["dropped_by_middleware"], 1)


class PipeTests(TestCase):
    """
    L{twisted_gor.middleware.pipes} on real pipes in the reactor.
    """

    def test_roundTrip(self) -> Deferred[None]:
        """
        What the writer writes (more than the pipe holds, with a streaming
        producer paused and resumed) the reader reads, in order; closing the
        writer ends the reader.
        """
        from twisted.internet import reactor

        from twisted_gor.middleware.pipes import PipeReader, PipeWriter, makePipe

        r, w = makePipe()
        got: list[bytes] = []
        done: Deferred[None] = Deferred()
        writerClosed: list[bool] = []
        reader = PipeReader(reactor, r, got.append, lambda: done.callback(None))
        writer = PipeWriter(reactor, w, lambda: writerClosed.append(True))
        events: list[str] = []

        @implementer(IPushProducer)
        class Producer:
            def pauseProducing(self) -> None:
                events.append("pause")

            def resumeProducing(self) -> None:
                events.append("resume")

            def stopProducing(self) -> None:
                events.append("stop")

        writer.registerProducer(Producer(), True)
        data = os.urandom(3 * 1024 * 1024)
        for i in range(0, len(data), 100_000):
            writer.write(data[i : i + 100_000])
        writer.unregisterProducer()
        writer.loseConnection()
        reader.startReading()

        def check(_: object) -> None:
            self.assertEqual(b"".join(got), data)
            self.assertEqual(writerClosed, [True])
            self.assertEqual(events[:1], ["pause"])
            self.assertEqual(reader.fileno(), -1)

        return done.addCallback(check)
