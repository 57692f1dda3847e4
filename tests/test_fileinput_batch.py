"""
Tests for the batched path of L{twisted_gor.files.input} at full speed
(C{FILE|max}, one file): records in order go out in batches, through the
pipeline's batch route, and in exactly the order and with the counters of
the reordering window (the path used at any other speed).
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.test_fileinput import Replay
from twisted_gor._interfaces import IBatchWriter
from twisted_gor.files import input as fileinput
from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.message import Message
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryOutput

INF = float("inf")


def record(i: int, ts: int, kind: int = 1) -> bytes:
    return encodeMessage(Message(kind, b"r%d" % i, ts, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i))


@implementer(IBatchWriter)
class BatchOutput(MemoryOutput):
    """
    A memory output that takes batches and notes their sizes.
    """

    def __init__(self) -> None:
        MemoryOutput.__init__(self)
        self.batches: list[int] = []
        self.pauseAfter = 0
        self.onBatch: Callable[[], None] | None = None

    def writeMany(self, messages: list[Message]) -> None:
        """
        Note the batch, then record its messages; pause the pipeline once
        C{pauseAfter} (when set) are recorded.
        """
        self.batches.append(len(messages))
        for m in messages:
            MemoryOutput.write(self, m)
        if self.onBatch is not None:
            self.onBatch()
        if self.pauseAfter and len(self.messages) >= self.pauseAfter and self.backpressure is not None:
            self.backpressure.pause(self)


class PausingEvery(MemoryOutput):
    """
    Takes messages one by one; every C{every} messages it pauses the
    pipeline for 10 ms (of C{clock}).
    """

    def __init__(self, clock: Clock, every: int) -> None:
        MemoryOutput.__init__(self)
        self.clock = clock
        self.every = every
        self.paused: list[int] = []
        self.whilePaused = 0
        self._pausedNow = False

    def write(self, message: Message) -> None:
        if self._pausedNow:
            self.whilePaused += 1
        MemoryOutput.write(self, message)
        if len(self.messages) % self.every == 0 and self.backpressure is not None:
            self.paused.append(len(self.messages))
            self._pausedNow = True
            self.backpressure.pause(self)
            self.clock.callLater(0.01, self._resume)

    def _resume(self) -> None:
        self._pausedNow = False
        assert self.backpressure is not None
        self.backpressure.resume(self)


class LaterWorker:
    """
    Runs each job at once but fires its Deferred on a later turn of the
    clock, as a worker thread does: reads never complete inside the call
    that asked for them.
    """

    def __init__(self, reactor: Clock, name: str = "later") -> None:
        self.clock = reactor
        self.pending = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        Run C{fn(*args)}; deliver its result on the next turn.
        """
        d: Deferred[Any] = Deferred()
        try:
            result = fn(*args)
        except BaseException:
            failure = Failure()
            self.clock.callLater(0, d.errback, failure)
        else:
            self.clock.callLater(0, d.callback, result)
        return d

    def stop(self) -> Deferred[None]:
        """
        Nothing to wait for.
        """
        return succeed(None)


class SlowWorker(LaterWorker):
    """
    A L{LaterWorker} whose reads complete one clock step (0.5 ms) later:
    reading lags behind a replay that emits everything due.
    """

    def submit(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        Run C{fn(*args)}; deliver its result 0.5 ms later.
        """
        d: Deferred[Any] = Deferred()
        result = fn(*args)
        self.clock.callLater(0.0005, d.callback, result)
        return d



class BatchReplay(Replay):
    """
    L{Replay} into a L{BatchOutput}, reads delivered on later turns.
    """

    def __init__(self, test: SynchronousTestCase, paths: list[str], **kw: object) -> None:
        Replay.__init__(self, test, paths, **kw)
        self.input.workerFactory = LaterWorker
        self.batch = BatchOutput()
        Pipeline([(self.batch, None)], clock=self.clock).connectInput(self.input)

    def drain(self, turns: int = 2000) -> None:
        self.input.startService()
        for _ in range(turns):
            self.clock.advance(0.0005)


class OrderedBatchTests(SynchronousTestCase):
    """
    C{FILE|max} from one file.
    """

    def setUp(self) -> None:
        # small reads: many chunks, records split across them
        self.patch(fileinput, "CHUNK_SIZE", 777)

    def write(self, data: bytes) -> str:
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        return path

    def compare(self, data: bytes, worker: Any = LaterWorker, **kw: object) -> BatchReplay:
        """
        Replay C{data} at full speed and at a speed so high every record is
        due at once but paced record by record, each on the path for records
        in order, and paced through the reordering window: the same messages
        in the same order, the same counters.
        """
        path = self.write(data)
        replays = []
        for speed, ordered in [(INF, True), (1e15, True), (1e15, False)]:
            patched = self.patch(fileinput.FileInput, "orderedPath", ordered)
            replay = BatchReplay(self, [path], speed=speed, **kw)
            replay.input.workerFactory = worker
            replay.drain(4000)
            patched.restore()
            replays.append(replay)
        fast, paced, window = replays
        for name, replay in [("full speed", fast), ("paced", paced)]:
            self.assertEqual([m.id for m in replay.batch.messages], [m.id for m in window.batch.messages], name)
            for key in ("read", "emitted", "negative_wait", "skipped.malformed", "skipped.truncated", "bytes"):
                self.assertEqual(replay.input.stats[key], window.input.stats[key], f"{name}: {key}")
            self.assertTrue(replay.exhausted is not None and replay.exhausted.called, name)
            self.assertEqual(replay.input._heldBytes, 0, name)
        return fast

    def test_inOrderInBatches(self) -> None:
        """
        Records in order are emitted in file order, in batches of more than
        one record, and written through the output's C{writeMany}.
        """
        data = b"".join(record(i, 1000 + i // 3) for i in range(3000))
        path = self.write(b"".join(record(i, 1000 + i) for i in range(20000)))
        # never more than the window would let out: each record only once
        # readDepth records from it on are read (or the file ended)
        # (a depth close to what the input reads ahead: the rule binds)
        held = BatchReplay(self, [path], speed=INF, readDepth=3000)
        ahead: list[int] = []

        def check() -> None:
            if not held.input._streams[0].eof:
                ahead.append(held.input.stats["read"] - len(held.batch.messages))

        held.batch.onBatch = check
        held.drain()
        self.assertEqual(len(held.batch.messages), 20000)
        self.assertGreater(len(ahead), 3)
        self.assertGreaterEqual(min(ahead), 3000 - 1)
        fast = self.compare(data, readDepth=10)
        self.assertEqual([m.id for m in fast.batch.messages], [b"r%d" % i for i in range(3000)])
        self.assertGreater(max(fast.batch.batches), 100)
        self.assertEqual(sum(fast.batch.batches), 3000)
        self.assertEqual(fast.input.stats["negative_wait"], 0)

    def test_pacedRecordByRecord(self) -> None:
        """
        At any other speed records go one by one (the pipeline's per-message
        route): the batch path is only taken at full speed.
        """
        path = self.write(b"".join(record(i, 1000 + i) for i in range(50)))
        paced = BatchReplay(self, [path], speed=1e15)
        paced.drain()
        self.assertEqual((len(paced.batch.messages), paced.batch.batches), (50, []))

    def test_outOfOrderLater(self) -> None:
        """
        Records out of order after many in order: from there on the window
        reorders them, exactly as if it had been used from the start
        (counters of out-of-order records included).
        """
        # (more in order than the input reads ahead: some go out in order)
        head = [record(i, 10_000 + i) for i in range(6000)]
        shuffled = [record(6000 + i, 16_600 + (i * 37) % 50) for i in range(200)]
        late = [record(6200, 10_100)]  # older than records already emitted
        tail = [record(6201 + i, 20_000 + i) for i in range(300)]
        fast = self.compare(b"".join(head + shuffled + late + tail), readDepth=20)
        self.assertGreater(fast.input.stats["negative_wait"], 0)
        self.assertGreater(max(fast.batch.batches), 1)

    def test_outOfOrderWithinDepth(self) -> None:
        """
        A record older than the last few read before it (within the read
        depth): the records after it in time were still held, so it goes out
        before them, as the window would have sorted it.
        """
        # (a depth close to what the input reads ahead, and more records in
        # order than it: the rule binds, and some go out before the late
        # record is read; with slow reads, what is read is all due at once)
        records = [record(i, 100_000 + i) for i in range(20_000)] + [record(20_000, 100_000 + 18_000)]
        records += [record(20_001 + i, 200_000 + i) for i in range(100)]
        for worker in (LaterWorker, SlowWorker):
            fast = self.compare(b"".join(records), worker, readDepth=3000)
            ids = [m.id for m in fast.batch.messages]
            self.assertEqual(ids.index(b"r20000"), 18_001)
        self.assertEqual(fast.input.stats["negative_wait"], 0)

    def test_malformedAndMixedTypes(self) -> None:
        """
        Malformed records, a truncated tail and responses among the
        requests: the same messages and counters on both paths.
        """
        records = []
        for i in range(400):
            records.append(record(i, 5000 + i, kind=1 + i % 3))
            if i % 50 == 7:
                records.append(b"garbage" + SEPARATOR)
        self.compare(b"".join(records) + b"1 x 9 -1\nGET / HT", readDepth=15)

    def test_readAheadBound(self) -> None:
        """
        With a read-ahead budget of a few records the window is not full
        when the budget is spent: records still go out, in order, and what
        is held stays within the budget and one read.
        """
        data = b"".join(record(i, 1000 + i) for i in range(2000))
        path = self.write(data)
        fast = BatchReplay(self, [path], speed=INF, readDepth=500, readAheadSize=2000)
        held: list[int] = []
        original = fast.input._gotChunk

        def gotChunk(chunk: bytes, stream: fileinput._FileStream) -> None:
            original(chunk, stream)
            held.append(fast.input._heldBytes)

        fast.input._gotChunk = gotChunk  # type: ignore[method-assign, assignment]
        fast.drain()
        self.assertEqual([m.id for m in fast.batch.messages], [b"r%d" % i for i in range(2000)])
        self.assertLessEqual(max(held), 2000 + 777)

    def test_pauseStopsABatchRun(self) -> None:
        """
        An output that pauses the pipeline stops the emission after the
        batch that made it pause; nothing more goes out until it resumes.
        """
        path = self.write(b"".join(record(i, 1000 + i) for i in range(5000)))
        fast = BatchReplay(self, [path], speed=INF)
        pipeline = fast.input.receiver
        assert isinstance(pipeline, Pipeline)
        fast.input.startService()
        fast.clock.advance(0)
        self.assertGreater(len(fast.batch.messages), 0)
        pipeline.pause(fast.batch)
        count = len(fast.batch.messages)
        for _ in range(100):
            fast.clock.advance(0.01)
        self.assertEqual(len(fast.batch.messages), count)
        pipeline.resume(fast.batch)
        for _ in range(100):
            fast.clock.advance(0.01)
        self.assertEqual([m.id for m in fast.batch.messages], [b"r%d" % i for i in range(5000)])

    def test_pauseInsideABatch(self) -> None:
        """
        An output that takes messages one by one and pauses the pipeline
        in the middle of a batch: the input keeps the rest and emits it,
        in order and once, when resumed.
        """
        path = self.write(b"".join(record(i, 1000 + i) for i in range(5000)))
        fast = Replay(self, [path], speed=INF)
        fast.input.workerFactory = LaterWorker
        out = PausingEvery(fast.clock, 777)
        Pipeline([(out, None)], clock=fast.clock).connectInput(fast.input)
        fast.input.startService()
        for _ in range(500):
            fast.clock.advance(0.005)
        self.assertEqual([m.id for m in out.messages], [b"r%d" % i for i in range(5000)])
        self.assertEqual(out.paused, [777 * k for k in range(1, 7)])
        self.assertEqual(out.whilePaused, 0)
        self.assertEqual((fast.input.emitted, fast.input._heldBytes), (5000, 0))

    def test_loop(self) -> None:
        """
        Looping at full speed replays the file again and again, in order
        (the output pauses the pipeline after 90 records: on a fake clock
        an endless full-speed replay never lets time pass).
        """
        path = self.write(b"".join(record(i, 1000 + i) for i in range(30)))
        fast = BatchReplay(self, [path], speed=INF, loop=True)
        fast.batch.pauseAfter = 90
        fast.drain(50)
        ids = [m.id for m in fast.batch.messages]
        self.assertEqual(ids, [b"r%d" % i for i in range(30)] * 3)
        self.assertEqual(fast.input.stats["loops"], 3)

    def test_dryRunNotBatched(self) -> None:
        """
        A dry run at full speed counts every record and emits none.
        """
        path = self.write(b"".join(record(i, 1000 + i) for i in range(100)))
        fast = BatchReplay(self, [path], speed=INF, dryRun=True)
        fast.drain(50)
        self.assertEqual((fast.batch.messages, fast.input.stats["dry_run"]), ([], 100))
