"""
Tests for L{twisted_gor.flow}: the one flow-control mechanism, and that every
output the command line can build matches each pause with a resume or a stop.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from twisted.internet import reactor as _reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor import FlowControl, Message, OutputBase, REQUEST
from twisted_gor.basic.components import StdoutOutput
from twisted_gor.files.output import FileOutput, FileOutputConfig
from twisted_gor.framing import encodeMessage, iterMessages
from twisted_gor.http.output import HttpOutput, HttpOutputConfig, parseTarget
from twisted_gor.relay.output import TCPOutput
from twisted_gor.stats import Counters
from twisted_gor.testing import RecordingBackpressure

from tests.support import freePort, runGor

reactor: Any = _reactor


def request(i: int, size: int = 100) -> Message:
    body = b"x" * size
    return Message(REQUEST, b"%024x" % i, 1_000_000_000 + i, -1, b"POST /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i + body)


async def waitFor(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """
    Wait until C{predicate()} is true (checked every 10 ms), or fail.
    """
    deadline = reactor.seconds() + timeout
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await deferLater(reactor, 0.01, lambda: None)


class FlowControlTests(SynchronousTestCase):
    """
    L{FlowControl}'s watermarks, blocking and release.
    """

    def setUp(self) -> None:
        self.backpressure = RecordingBackpressure()
        self.stats = Counters()

    def make(self, **kw: Any) -> FlowControl:
        flow = FlowControl(OutputBase("o"), self.stats, **kw)
        flow.setBackpressure(self.backpressure)
        return flow

    def test_bytes(self) -> None:
        """
        Pause at the high byte watermark, resume at or below the low one.
        """
        flow = self.make(highBytes=100, lowBytes=40)
        flow.add(99)
        self.assertEqual(self.backpressure.calls, [])
        flow.add(1)
        self.assertEqual(self.backpressure.calls, ["pause"])
        flow.add(50)
        flow.remove(100)
        self.assertEqual(self.backpressure.calls, ["pause"])
        flow.remove(10)
        self.assertEqual(self.backpressure.calls, ["pause", "resume"])
        self.assertEqual((flow.bytes, flow.messages, self.stats["paused"]), (40, 1, 1))

    def test_messages(self) -> None:
        """
        Pause at the high message watermark; the default low one is half.
        """
        flow = self.make(highMessages=4)
        for _ in range(4):
            flow.add(1)
        self.assertTrue(flow.paused)
        flow.remove(1)
        self.assertTrue(flow.paused)
        flow.remove(1)
        self.assertFalse(flow.paused)
        self.assertEqual(self.backpressure.calls, ["pause", "resume"])

    def test_bothWatermarksToResume(self) -> None:
        """
        Resuming needs both bytes and messages below their low watermarks.
        """
        flow = self.make(highBytes=100, highMessages=10)
        flow.add(100, 1)
        flow.remove(0, 0)
        flow.add(0, 9)
        flow.remove(60, 0)
        self.assertTrue(flow.paused)
        flow.remove(0, 5)
        self.assertFalse(flow.paused)

    def test_fits(self) -> None:
        """
        L{FlowControl.fits} applies the hard bounds (0: none).
        """
        flow = self.make(maxBytes=10, maxMessages=2)
        self.assertTrue(flow.fits(10))
        self.assertFalse(flow.fits(11))
        flow.add(5)
        flow.add(1)
        self.assertFalse(flow.fits(1))
        self.assertTrue(self.make().fits(10**12))

    def test_blockUnblock(self) -> None:
        """
        A transport's block pauses whatever the watermarks; unblocking resumes
        only once the watermarks allow it.
        """
        flow = self.make(highBytes=100)
        flow.block()
        flow.block()
        self.assertEqual(self.backpressure.calls, ["pause"])
        flow.add(100)
        flow.unblock()
        self.assertTrue(flow.paused)
        flow.remove(60)
        self.assertEqual(self.backpressure.calls, ["pause", "resume"])

    def test_release(self) -> None:
        """
        Release forgets what is held and resumes; the flow works on after it.
        """
        flow = self.make(highBytes=10)
        flow.add(20, 3)
        flow.release()
        self.assertEqual((flow.bytes, flow.messages, flow.paused), (0, 0, False))
        flow.add(10)
        self.assertEqual(self.backpressure.calls, ["pause", "resume", "pause"])

    def test_stop(self) -> None:
        """
        Stop resumes for good and keeps the counts (a draining output still
        knows what it holds).
        """
        flow = self.make(highBytes=10)
        flow.add(20)
        flow.stop()
        flow.add(100)
        flow.block()
        self.assertEqual(self.backpressure.calls, ["pause", "resume"])
        self.assertEqual(flow.bytes, 120)

    def test_removeNeverNegative(self) -> None:
        """
        Removing after a release (late write callbacks) never goes below zero.
        """
        flow = self.make(highBytes=10)
        flow.add(5)
        flow.release()
        flow.remove(5)
        self.assertEqual((flow.bytes, flow.messages), (0, 0))


def balanced(calls: list[str]) -> bool:
    return calls.count("pause") == calls.count("resume") and calls[-1:] != ["pause"]


class _Silent(Protocol):
    """
    Accepts, reads, never answers.
    """


class EveryOutputResumesTests(TestCase):
    """
    Each output that can pause is driven into a pause by a real destination
    that does not keep up, then the destination fails or the output stops:
    every pause is matched by a resume.
    """

    timeout = 30

    def attach(self, output: Any) -> RecordingBackpressure:
        backpressure = RecordingBackpressure()
        output.setBackpressure(backpressure)
        return backpressure

    async def test_httpBlackHole(self) -> None:
        """
        C{--output-http} to a target that accepts and never answers: the queue
        pauses the inputs; the stop gives up on the queue and resumes.
        """
        port = reactor.listenTCP(0, Factory.forProtocol(_Silent), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        target = parseTarget(f"http://127.0.0.1:{port.getHost().port}")
        output = HttpOutput(HttpOutputConfig(target, workers=1, queueLen=8, timeout=0.3), reactor)
        backpressure = self.attach(output)
        output.startService()
        for i in range(20):
            output.write(request(i))
        self.assertEqual(backpressure.calls, ["pause"])
        await output.stopService()
        self.assertTrue(balanced(backpressure.calls), backpressure.calls)
        self.assertEqual(output.stats["dropped.queue_full"], 11)

    async def test_tcpNobodyListening(self) -> None:
        """
        C{--output-tcp} to a closed port: the queue pauses; the stop timeout
        drops the queue (counted) and resumes.
        """
        output = TCPOutput("127.0.0.1", freePort(), reactor, workers=1, queueLen=10, stopTimeout=0.2)
        backpressure = self.attach(output)
        output.startService()
        for i in range(12):
            output.write(request(i))
        self.assertEqual(backpressure.calls, ["pause"])
        await output.stopService()
        self.assertTrue(balanced(backpressure.calls), backpressure.calls)
        self.assertEqual(output.stats["dropped.stop_timeout"], 10)

    async def test_fileFailsWhilePaused(self) -> None:
        """
        C{--output-file} on a full disk (C{/dev/full}) while paused: the failed
        write releases the flow, so pausable inputs go on.
        """

        class SmallBacklog(FileOutput):
            pauseBacklog = 256 * 1024

        output = SmallBacklog(FileOutputConfig("/dev/full"), reactor)
        backpressure = self.attach(output)
        output.startService()
        for i in range(10):
            output.write(request(i, 100_000))
        self.assertEqual(backpressure.calls, ["pause"])
        await waitFor(lambda: output.stats["failed.write"] > 0, "the write to fail")
        self.assertEqual(backpressure.calls, ["pause", "resume"])
        await output.stopService()
        self.assertEqual(backpressure.calls, ["pause", "resume"])
        self.assertIn("No space left on device", output.failure or "")

    async def test_stdoutReaderAway(self) -> None:
        """
        C{--output-stdout} into a pipe nobody reads: the descriptor's pause
        pauses the inputs; stopping resumes them.
        """
        r, w = os.pipe()
        self.addCleanup(os.close, w)
        output = StdoutOutput(reactor, fd=w)
        backpressure = self.attach(output)
        output.startService()
        for i in range(20):
            output.write(request(i, 100_000))
        self.assertEqual(backpressure.calls[:1], ["pause"])
        stopped = output.stopService()
        self.assertTrue(balanced(backpressure.calls), backpressure.calls)
        os.close(r)  # the reader goes away: the writer sees the pipe break
        await stopped

    def test_neverPausing(self) -> None:
        """
        Outputs without a backlog of their own never pause.
        """
        from twisted_gor.basic.components import NullOutput

        output = NullOutput()
        backpressure = self.attach(output)
        for i in range(10_000):
            output.write(request(i))
        self.assertEqual(backpressure.calls, [])


class FailedOutputDoesNotStallTests(TestCase):
    """
    Through the real command: a file output that fails while the input is
    paused no longer stops the replay for good.
    """

    timeout = 60

    async def test_fullDiskWhilePaused(self) -> None:
        """
        48 records of 1 MiB, one output on C{/dev/full} (fails after the
        pause, at 32 MiB held) and one on a real file: gor stops on its own,
        the real file has every record, the failure is counted, and gor exits
        1 because an output failed.
        """
        path = os.path.abspath(self.mktemp())
        out = os.path.abspath(self.mktemp())
        body = b"x" * (1 << 20)
        with open(path, "wb") as f:
            for i in range(48):
                m = request(i, 0)
                f.write(encodeMessage(m.replace(payload=m.payload + body)))
        result = await runGor(
            "--input-file", path + "|max", "--output-file", "/dev/full", "--output-file", out,
            "--copy-buffer-size", "2mb", timeout=45,
        )
        self.assertEqual(result.rc, 1, result.errText)
        with open(out, "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 48)
        self.assertIn("output_file(/dev/full): ", result.errText)
        self.assertRegex(result.errText, r"output_file\(/dev/full\):.*failed\.write=[1-9]")
        self.assertIn("every input is exhausted", result.errText)
