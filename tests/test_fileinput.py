"""
Tests for L{twisted_gor.files.input}: replay timing with a fake clock.
"""

import gzip

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor._blockingio import SynchronousWorker
from twisted_gor.files.input import FileInput, FileInputConfig
from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.message import Message
from twisted_gor.testing import MemoryOutput
from twisted_gor.pipeline import Pipeline

MS = 1_000_000


def record(i: int, ts: int) -> bytes:
    return encodeMessage(Message(1, b"r%d" % i, ts, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i))


class TimedOutput(MemoryOutput):
    """
    A memory output that also notes, for each message, when (on C{clock},
    relative to C{origin}) it was written.
    """

    def __init__(self, clock: Clock, origin: float) -> None:
        MemoryOutput.__init__(self)
        self.clock = clock
        self.origin = origin
        self.times: list[float] = []

    def write(self, message: Message) -> None:
        """
        Note the time, then record the message.
        """
        self.times.append(self.clock.seconds() - self.origin)
        MemoryOutput.write(self, message)


class Replay:
    """
    A file input on a fake clock, recording when each message was emitted.
    """

    def __init__(self, test: SynchronousTestCase, paths: list[str], **kw: object) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        config = FileInputConfig(pattern=paths[0], paths=paths, **kw)  # type: ignore[arg-type]
        self.input = FileInput(config, self.clock)
        self.input.workerFactory = SynchronousWorker
        self.out = TimedOutput(self.clock, 1000)
        self.times = self.out.times
        Pipeline([(self.out, None)], clock=self.clock).connectInput(self.input)
        self.exhausted = self.input.whenExhausted()

    def run(self, seconds: float, step: float = 0.0005) -> None:
        self.input.startService()
        elapsed = 0.0
        while elapsed < seconds:
            self.clock.advance(step)
            elapsed += step


class FileInputTests(SynchronousTestCase):
    """
    Gaps, speed, max wait, merging, bad data.
    """

    def write(self, data: bytes, name: str = "f.gor") -> str:
        path = self.mktemp() + name
        with open(path, "wb") as f:
            f.write(data)
        return path

    def spaced(self, count: int, gapMs: int) -> str:
        return self.write(b"".join(record(i, 5_000 * MS + i * gapMs * MS) for i in range(count)))

    def assertNear(self, value: float, expected: float, delta: float) -> None:
        self.assertTrue(abs(value - expected) <= delta, f"{value} not within {delta} of {expected}")

    def assertGaps(self, times: list[float], expected: float) -> None:
        gaps = [b - a for a, b in zip(times, times[1:])]
        for g in gaps:
            self.assertNear(g, expected, 0.0011)

    def test_originalGaps(self) -> None:
        """
        At 100% the 100 ms gaps between records are kept, and the first record
        is emitted at once.
        """
        r = Replay(self, [self.spaced(5, 100)])
        r.run(1.0)
        self.assertEqual(len(r.out.messages), 5)
        self.assertLess(r.times[0], 0.002)
        self.assertGaps(r.times, 0.1)
        assert r.exhausted is not None, "without --input-file-loop the input is finite"
        self.successResultOf(r.exhausted)

    def test_doubleSpeed(self) -> None:
        """
        C{|200%} halves the gaps.
        """
        r = Replay(self, [self.spaced(5, 100)], speed=2.0)
        r.run(1.0)
        self.assertGaps(r.times, 0.05)

    def test_halfSpeed(self) -> None:
        """
        C{|50%} doubles the gaps.
        """
        r = Replay(self, [self.spaced(4, 100)], speed=0.5)
        r.run(1.0)
        self.assertGaps(r.times, 0.2)

    def test_maxWait(self) -> None:
        """
        A 10 s gap is capped by max-wait to 0.3 s; short gaps are unchanged.
        """
        data = record(0, 0) + record(1, 10_000 * MS) + record(2, 10_050 * MS)
        r = Replay(self, [self.write(data)], maxWait=0.3)
        r.run(1.0)
        self.assertEqual(len(r.times), 3)
        self.assertNear(r.times[1] - r.times[0], 0.3, 0.0011)
        self.assertNear(r.times[2] - r.times[1], 0.05, 0.0011)

    def test_noDrift(self) -> None:
        """
        Deadlines are absolute: after 200 records 10 ms apart the last one is
        emitted within 2 ms of 1.99 s, whatever the clock granularity.
        """
        r = Replay(self, [self.spaced(200, 10)])
        r.run(2.5, step=0.0007)
        self.assertNear(r.times[-1] - r.times[0], 1.99, 0.002)

    def test_mergeFilesByTimestamp(self) -> None:
        """
        Two files' records come out in timestamp order (GoReplay's I4).
        """
        a = self.write(record(1, 1) + record(3, 3), "a.gor")
        b = self.write(record(2, 2) + record(4, 4), "b.gor")
        r = Replay(self, [a, b])
        r.run(0.1)
        self.assertEqual([m.timestamp for m in r.out.messages], [1, 2, 3, 4])

    def test_outOfOrderWithinWindow(self) -> None:
        """
        Records out of order within the read-ahead window are reordered.
        """
        r = Replay(self, [self.write(record(2, 20) + record(1, 10) + record(3, 30))])
        r.run(0.1)
        self.assertEqual([m.timestamp for m in r.out.messages], [10, 20, 30])

    def test_gzip(self) -> None:
        """
        A .gz file is decompressed.
        """
        path = self.mktemp() + ".gor.gz"
        with gzip.open(path, "wb") as f:
            f.write(record(1, 1) + record(2, 2))
        r = Replay(self, [path])
        r.run(0.1)
        self.assertEqual(len(r.out.messages), 2)

    def test_corruptRecordsSkipped(self) -> None:
        """
        A malformed record is skipped and counted, and a truncated tail is
        counted; the good records are replayed.
        """
        data = record(1, 1) + b"garbage without meta" + SEPARATOR + record(2, 2) + b"1 x 3 -1\nGET / HT"
        r = Replay(self, [self.write(data)])
        r.run(0.1)
        self.assertEqual(len(r.out.messages), 2)
        self.assertEqual(r.input.stats["skipped.malformed"], 1)
        self.assertEqual(r.input.stats["skipped.truncated"], 1)
        self.flushLoggedErrors()

    def test_loop(self) -> None:
        """
        With loop, the file starts again and the input is endless: its
        exhaustion (which would only fire if the loop could not go on) does
        not fire.
        """
        r = Replay(self, [self.spaced(2, 10)], loop=True)
        r.run(0.5)
        self.assertGreater(len(r.out.messages), 10)
        assert r.exhausted is not None
        self.assertFalse(r.exhausted.called)
        self.assertIsNone(r.input.failure)

    def test_pause(self) -> None:
        """
        A paused input emits nothing until resumed.
        """
        r = Replay(self, [self.spaced(10, 10)])
        r.input.startService()
        r.clock.advance(0.0)
        r.input.pauseProducing()
        count = len(r.out.messages)
        r.clock.advance(1.0)
        self.assertEqual(len(r.out.messages), count)
        r.input.resumeProducing()
        for _ in range(200):
            r.clock.advance(0.01)
        self.assertEqual(len(r.out.messages), 10)

    def test_fullSpeed(self) -> None:
        """
        Infinite speed emits everything without waiting, in batches.
        """
        r = Replay(self, [self.spaced(5000, 1000)], speed=float("inf"))
        r.input.startService()
        for _ in range(10):
            r.clock.advance(0)
        self.assertEqual(len(r.out.messages), 5000)
