"""
Tests for batches through the pipeline (L{InputBase.emitMany},
L{Pipeline.messagesReceived}, the outputs' C{writeMany}): in every
configuration a batch gives each output the messages, and every component
the counters, that the same messages one by one give.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.test_pipeline import OnlyGet
from twisted_gor._interfaces import IBatchWriter, IOutput
from twisted_gor.basic.components import NullOutput
from twisted_gor.limiter import AbsoluteLimit, Limit
from twisted_gor.message import Message, sessionEnd
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryInput, MemoryOutput


@implementer(IBatchWriter)
class BatchMemoryOutput(MemoryOutput):
    """
    A memory output that takes batches too (and notes them).
    """

    def __init__(self, acceptedTypes: frozenset[int] = frozenset({1, 2, 3})) -> None:
        MemoryOutput.__init__(self, acceptedTypes)
        self.batches = 0

    def writeMany(self, messages: list[Message]) -> None:
        """
        Record each message, as C{write} does.
        """
        self.batches += 1
        for m in messages:
            self.write(m)


class FailingOutput(BatchMemoryOutput):
    """
    Raises on every write, batch or not.
    """

    def write(self, message: Message) -> None:
        raise RuntimeError("broken output")

    def writeMany(self, messages: list[Message]) -> None:
        raise RuntimeError("broken output")


class PausingOutput(MemoryOutput):
    """
    Pauses the pipeline when it has C{pauseAt} messages (C{write} only).
    """

    def __init__(self, pauseAt: int) -> None:
        MemoryOutput.__init__(self)
        self.pauseAt = pauseAt

    def write(self, message: Message) -> None:
        MemoryOutput.write(self, message)
        if len(self.messages) == self.pauseAt and self.backpressure is not None:
            self.backpressure.pause(self)


def traffic() -> list[Message]:
    """
    Requests (GET and POST), responses, replayed responses, a session's
    close and a large request.
    """
    out: list[Message] = []
    for i in range(60):
        method = b"GET" if i % 4 else b"POST"
        out.append(Message(1, b"id%d" % i, i, -1, method + b" /%d HTTP/1.1\r\n\r\n" % i))
        if i % 3 == 0:
            out.append(Message(2, b"id%d" % i, i, 5, b"HTTP/1.1 200 OK\r\n\r\n"))
        if i % 5 == 0:
            out.append(Message(3, b"id%d" % i, i, 7, b"HTTP/1.1 201 OK\r\n\r\n"))
    out.insert(30, sessionEnd(b"s1", 3, 30))
    out.append(Message(1, b"big", 99, -1, b"POST / HTTP/1.1\r\n\r\n" + b"x" * 300))
    return out


Setup = Callable[[], tuple[list[tuple[IOutput, Limit | None]], dict[str, object], Limit | None]]


class BatchEquivalenceTests(SynchronousTestCase):
    """
    One batch against one message at a time.
    """

    def build(self, setup: Setup) -> tuple[Pipeline, list[IOutput], MemoryInput]:
        outputs, options, inputLimit = setup()
        clock = Clock()
        pipeline = Pipeline(outputs, clock=clock, **options)  # type: ignore[arg-type]
        source = MemoryInput()
        pipeline.connectInput(source, inputLimit)
        return pipeline, [o for o, _ in outputs], source

    def assertEquivalent(self, setup: Setup, batched: bool = True) -> list[IOutput]:
        one, oneOutputs, oneSource = self.build(setup)
        for m in traffic():
            oneSource.emit(m)
        many, manyOutputs, manySource = self.build(setup)
        messages = traffic()
        manySource.emitMany(messages[:10])
        manySource.emitMany([])
        manySource.emitMany(messages[10:])
        for a, b in zip(oneOutputs, manyOutputs):
            self.assertEqual(a.stats.items(), b.stats.items())
            if isinstance(a, MemoryOutput):
                assert isinstance(b, MemoryOutput)
                self.assertEqual(a.messages, b.messages)
        self.assertEqual(one.stats.items(), many.stats.items())
        self.assertEqual(oneSource.stats.items(), manySource.stats.items())
        used = any(isinstance(b, BatchMemoryOutput) and b.batches for b in manyOutputs)
        self.assertEqual(used, batched)
        return manyOutputs

    def test_broadcast(self) -> None:
        """
        Outputs of every type that all take batches (the null output among
        them): batches; with one that does not: one by one.
        """
        outputs = self.assertEquivalent(lambda: ([(BatchMemoryOutput(), None), (NullOutput(), None)], {}, None))
        self.assertEqual(outputs[1].stats["written"], len(traffic()))
        self.assertEquivalent(
            lambda: ([(BatchMemoryOutput(), None), (MemoryOutput(), None), (NullOutput(), None)], {}, None),
            batched=False,
        )

    def test_typedOutputs(self) -> None:
        """
        An output of requests only: one by one.
        """
        self.assertEquivalent(
            lambda: ([(BatchMemoryOutput(frozenset({1})), None), (BatchMemoryOutput(), None)], {}, None), batched=False
        )

    def test_filtersAndTruncation(self) -> None:
        """
        Filters (which also drop the responses of filtered requests): one by
        one; a copy buffer size that truncates: a batch holding a longer
        payload one by one (the others whole).
        """
        self.assertEquivalent(lambda: ([(BatchMemoryOutput(), None)], {"filters": [OnlyGet()]}, None), batched=False)
        outputs = self.assertEquivalent(lambda: ([(BatchMemoryOutput(), None)], {"copyBufferSize": 100}, None))
        assert isinstance(outputs[0], BatchMemoryOutput)
        self.assertEqual(outputs[0].batches, 1)
        self.assertEqual(outputs[0].messages[-1].payload, (b"POST / HTTP/1.1\r\n\r\n" + b"x" * 300)[:100])

    def test_nothingToTruncate(self) -> None:
        """
        A copy buffer size above every payload: batches.
        """
        self.assertEquivalent(lambda: ([(BatchMemoryOutput(), None)], {"copyBufferSize": 1000}, None))

    def test_splitLimitsObservers(self) -> None:
        """
        --split-output (sticky or not), an output limit, an observer: one by
        one.
        """
        self.assertEquivalent(
            lambda: ([(BatchMemoryOutput(), None), (BatchMemoryOutput(), None)], {"splitOutput": True}, None),
            batched=False,
        )
        self.assertEquivalent(
            lambda: (
                [(BatchMemoryOutput(), None), (BatchMemoryOutput(), None)],
                {"splitOutput": True, "stickySessions": True},
                None,
            ),
            batched=False,
        )
        self.assertEquivalent(lambda: ([(BatchMemoryOutput(), AbsoluteLimit(5))], {}, None), batched=False)

        def observed() -> tuple[list[tuple[IOutput, Limit | None]], dict[str, object], None]:
            watcher = BatchMemoryOutput()
            watcher.observesAll = True
            return [(BatchMemoryOutput(), None), (watcher, None)], {}, None

        self.assertEquivalent(observed, batched=False)

    def test_inputLimit(self) -> None:
        """
        An input's limit lets the same messages through, and counts the
        same drops (one by one).
        """
        self.assertEquivalent(lambda: ([(BatchMemoryOutput(), None)], {}, AbsoluteLimit(17)), batched=False)

    def test_pauseMidBatch(self) -> None:
        """
        An output that pauses the inputs on the fifth message: the batch
        stops there, as one message at a time would, and says how many it
        took; the input counts only those, and the rest goes later.
        """
        for limit in (None, AbsoluteLimit(1000)):
            out = PausingOutput(5)
            pipeline = Pipeline([(out, None)], clock=Clock())
            source = MemoryInput()
            pipeline.connectInput(source, limit)
            messages = traffic()
            self.assertEqual(source.emitMany(messages), 5)
            self.assertEqual((source.emitted, len(out.messages)), (5, 5))
            self.assertTrue(source.paused)
            pipeline.resume(out)
            out.pauseAt = 0
            self.assertEqual(source.emitMany(messages[5:]), len(messages) - 5)
            self.assertEqual(out.messages, messages)

    def test_failingOutput(self) -> None:
        """
        An output raising in C{writeMany} is counted as an error and logged;
        the other outputs get the batch.
        """
        clock = Clock()
        broken, good = FailingOutput(), BatchMemoryOutput()
        pipeline = Pipeline([(broken, None), (good, None)], clock=clock)
        pipeline.messagesReceived(traffic())
        self.assertEqual(good.messages, traffic())
        self.assertEqual(broken.stats["errors"], 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
