"""
Tests for L{twisted_gor.pipeline}.
"""

from zope.interface import implementer
from zope.interface.verify import verifyObject
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor._interfaces import IBackpressure, IInput, IMessageFilter, IMessageReceiver, IOutput
from twisted_gor.limiter import AbsoluteLimit, PercentageLimit
from twisted_gor.message import Message
from twisted_gor.pipeline import Pipeline
from twisted_gor.stats import Counters
from twisted_gor.testing import MemoryInput, MemoryOutput


def req(i: int, path: bytes = b"/") -> Message:
    return Message(1, b"id%d" % i, i, -1, b"GET " + path + b" HTTP/1.1\r\n\r\n")


def resp(i: int) -> Message:
    return Message(2, b"id%d" % i, i, 1, b"HTTP/1.1 200 OK\r\n\r\n")


@implementer(IMessageFilter)
class OnlyGet:
    """
    Drops requests whose payload does not start with GET.
    """

    name = "only_get"

    def __init__(self) -> None:
        self.stats = Counters()

    def filterMessage(self, message: Message) -> Message | None:
        if message.payload.startswith(b"GET"):
            return message.replace(payload=message.payload.replace(b"HTTP/1.1", b"HTTP/1.1\r\nX-Seen: 1"))
        self.stats.increment("dropped.method")
        return None


class PipelineTests(SynchronousTestCase):
    """
    Routing, filters, limits and backpressure.
    """

    def setUp(self) -> None:
        self.clock = Clock()

    def test_interfaces(self) -> None:
        """
        The pipeline and the memory components provide their interfaces.
        """
        out = MemoryOutput()
        pipeline = Pipeline([(out, None)], clock=self.clock)
        self.assertTrue(verifyObject(IMessageReceiver, pipeline))
        self.assertTrue(verifyObject(IBackpressure, pipeline))
        self.assertTrue(verifyObject(IOutput, out))
        self.assertTrue(verifyObject(IInput, MemoryInput()))

    def test_broadcast(self) -> None:
        """
        By default every output gets every message it accepts.
        """
        a, b = MemoryOutput(), MemoryOutput(frozenset({1}))
        pipeline = Pipeline([(a, None), (b, None)], clock=self.clock)
        source = MemoryInput()
        pipeline.connectInput(source)
        for i in range(1000):
            source.push(req(i))
        source.push(resp(1))
        self.assertEqual(len(a.messages), 1001)
        self.assertEqual(len(b.messages), 1000)

    def test_split(self) -> None:
        """
        With split-output, 1000 messages are shared 500/500.
        """
        a, b = MemoryOutput(), MemoryOutput()
        pipeline = Pipeline([(a, None), (b, None)], splitOutput=True, clock=self.clock)
        source = MemoryInput()
        pipeline.connectInput(source)
        for i in range(1000):
            source.push(req(i))
        self.assertEqual((len(a.messages), len(b.messages)), (500, 500))

    def test_observerOutsideSplit(self) -> None:
        """
        With split-output, an observing output (a comparison) still gets every
        message, and the others share them as before.
        """
        a, b, watcher = MemoryOutput(), MemoryOutput(), MemoryOutput()
        watcher.observesAll = True
        pipeline = Pipeline([(a, None), (watcher, None), (b, None)], splitOutput=True, clock=self.clock)
        for i in range(100):
            pipeline.messageReceived(req(i))
        self.assertEqual((len(a.messages), len(b.messages), len(watcher.messages)), (50, 50, 100))

    def test_inputLimit(self) -> None:
        """
        An input's C{|10} lets 10 of 100 messages through in a second and counts
        the rest on the input.
        """
        out = MemoryOutput()
        pipeline = Pipeline([(out, None)], clock=self.clock)
        source = MemoryInput()
        pipeline.connectInput(source, AbsoluteLimit(10))
        for i in range(100):
            source.push(req(i))
        self.assertEqual(len(out.messages), 10)
        self.assertEqual(source.stats["dropped.limit"], 90)

    def test_outputLimit(self) -> None:
        """
        An output's C{|0%} drops all, counted on that output only.
        """
        a, b = MemoryOutput(), MemoryOutput()
        pipeline = Pipeline([(a, PercentageLimit(0)), (b, None)], clock=self.clock)
        for i in range(10):
            pipeline.messageReceived(req(i))
        self.assertEqual((len(a.messages), len(b.messages)), (0, 10))
        self.assertEqual(a.stats["dropped.limit"], 10)

    def test_filterDropsRequestAndItsResponse(self) -> None:
        """
        A filtered request is dropped with its response (GoReplay's E2), a kept
        one passes modified, with its response.
        """
        out = MemoryOutput()
        pipeline = Pipeline([(out, None)], [OnlyGet()], clock=self.clock)
        post = Message(1, b"A", 1, -1, b"POST / HTTP/1.1\r\n\r\n")
        for m in (post, resp(0).replace(id=b"A"), req(1), resp(1)):
            pipeline.messageReceived(m)
        self.assertEqual([m.id for m in out.messages], [b"id1", b"id1"])
        self.assertIn(b"X-Seen: 1", out.messages[0].payload)
        self.assertEqual(pipeline.stats["dropped.filtered"], 1)
        self.assertEqual(pipeline.stats["dropped.filtered_response"], 1)

    def test_truncation(self) -> None:
        """
        Payloads over the copy buffer size are cut to exactly that size.
        """
        out = MemoryOutput()
        pipeline = Pipeline([(out, None)], copyBufferSize=10, clock=self.clock)
        pipeline.messageReceived(req(1, b"/" + b"x" * 100))
        self.assertEqual(len(out.messages[0].payload), 10)
        self.assertEqual(pipeline.stats["truncated"], 1)

    def test_noOutputForType(self) -> None:
        """
        A message no output accepts is counted, not silently lost.
        """
        out = MemoryOutput(frozenset({1}))
        pipeline = Pipeline([(out, None)], clock=self.clock)
        pipeline.messageReceived(resp(1))
        self.assertEqual(pipeline.stats["dropped.no_output"], 1)

    def test_backpressure(self) -> None:
        """
        Inputs pause while any output is paused and resume when all resumed.
        """
        a, b = MemoryOutput(), MemoryOutput()
        pipeline = Pipeline([(a, None), (b, None)], clock=self.clock)
        source = MemoryInput()
        pipeline.connectInput(source)
        pipeline.pause(a)
        pipeline.pause(b)
        self.assertTrue(source.paused)
        pipeline.resume(a)
        self.assertTrue(source.paused)
        pipeline.resume(b)
        self.assertFalse(source.paused)
        late = MemoryInput()
        pipeline.pause(a)
        pipeline.connectInput(late)
        self.assertTrue(late.paused)
