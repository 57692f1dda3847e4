"""
Tests for L{twisted_gor.service}: the gor service built by L{makeGorService}
from a L{GorConfig}, on a memory reactor with a fake clock.

Only what an embedder sees is used: the config, C{whenDone}, C{startService}
and C{stopService}, the log, and the components' own C{stats}.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_gor._interfaces import IMessageReceiver, IResponseSource
from twisted_gor.config import GorConfig
from twisted_gor.message import Message
from twisted_gor.service import GorService, makeGorService
from twisted_gor.testing import MemoryConfig, MemoryInput, MemoryOutput


def request(i: int) -> Message:
    """
    A type-1 message.
    """
    return Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i)


class RecordingInput(MemoryInput):
    """
    A memory input that notes its stop in a shared journal; with C{hold} its
    stop is not finished until the test fires C{stopping}.
    """

    def __init__(self, journal: list[str], label: str, finite: bool = False, hold: bool = False) -> None:
        MemoryInput.__init__(self, finite)
        self.journal = journal
        self.label = label
        self.stopping: Deferred[None] | None = Deferred() if hold else None

    def stopService(self) -> Deferred[None]:
        """
        Note the stop; finish it now or when C{stopping} fires.
        """
        self.journal.append(self.label)
        MemoryInput.stopService(self)
        return self.stopping if self.stopping is not None else succeed(None)


class RecordingOutput(MemoryOutput):
    """
    A memory output that notes its stop in a shared journal; with C{hold} its
    stop is not finished until the test fires C{stopping}.
    """

    def __init__(self, journal: list[str], label: str, hold: bool = False) -> None:
        MemoryOutput.__init__(self)
        self.journal = journal
        self.label = label
        self.stopping: Deferred[None] | None = Deferred() if hold else None

    def stopService(self) -> Deferred[None]:
        """
        Note the stop; finish it now or when C{stopping} fires.
        """
        self.journal.append(self.label)
        MemoryOutput.stopService(self)
        return self.stopping if self.stopping is not None else succeed(None)


@implementer(IResponseSource)
class RecordingReplay(RecordingOutput):
    """
    An output that produces messages (as an HTTP replay does with responses).
    """

    receiver: IMessageReceiver | None = None

    def setResponseReceiver(self, receiver: IMessageReceiver) -> None:
        """
        Keep where produced messages go.
        """
        self.receiver = receiver


class ServiceTestCase(SynchronousTestCase):
    """
    A memory reactor and a journal of log lines.
    """

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.journal: list[str] = []
        self.logged: list[str] = []

        @implementer(ILogObserver)
        def observe(event: LogEvent) -> None:
            text = formatEvent(event)
            self.logged.append(text)
            if text.startswith("summary: read="):
                self.journal.append("summary")
            elif text.startswith("CPU profile written"):
                self.journal.append("profile")

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def service(self, inputs: list[Any], outputs: list[Any], **kw: Any) -> GorService:
        """
        The service for these components, built by L{makeGorService}.
        """
        config = GorConfig(
            inputs=[MemoryConfig(i) for i in inputs], outputs=[MemoryConfig(o) for o in outputs], **kw
        )
        return makeGorService(config, self.reactor)


class StopOrderTests(ServiceTestCase):
    """
    Stopping stops the inputs, then the outputs that produce messages, then
    the other outputs, then the extra services, then logs the summary.
    """

    def test_order(self) -> None:
        """
        Each group is stopped after the previous one, whatever the order the
        components were configured in.
        """
        profile = self.mktemp()
        journal = self.journal
        consumer = RecordingOutput(journal, "consumer")
        replay = RecordingReplay(journal, "producer")
        inputs = [RecordingInput(journal, "input"), RecordingInput(journal, "input")]
        service = self.service(inputs, [consumer, replay, RecordingOutput(journal, "consumer")], cpuProfile=profile)
        service.startService()
        inputs[0].push(request(1))
        self.successResultOf(service.stopService())
        self.assertEqual(journal, ["input", "input", "producer", "consumer", "consumer", "profile", "summary"])
        self.assertTrue(os.path.exists(profile))
        self.assertIn("summary: read=1 emitted=1 skipped=0 dropped=0 failed=0 elapsed=0.000s", self.logged)
        self.assertEqual([m.id for m in consumer.messages], [request(1).id])

    def test_waitsForEachGroup(self) -> None:
        """
        A group is stopped only once every stop of the previous group has
        finished (an input still closing connections, a replay still
        waiting for responses); C{stopService} fires after the summary.
        """
        journal = self.journal
        first, second = RecordingInput(journal, "input", hold=True), RecordingInput(journal, "input")
        replay = RecordingReplay(journal, "producer", hold=True)
        consumer = RecordingOutput(journal, "consumer", hold=True)
        service = self.service([first, second], [consumer, replay])
        service.startService()
        stopped = service.stopService()
        self.assertEqual(journal, ["input", "input"])
        assert first.stopping is not None and replay.stopping is not None and consumer.stopping is not None
        first.stopping.callback(None)
        self.assertEqual(journal, ["input", "input", "producer"])
        replay.stopping.callback(None)
        self.assertEqual(journal, ["input", "input", "producer", "consumer"])
        self.assertNoResult(stopped)
        consumer.stopping.callback(None)
        self.assertEqual(journal, ["input", "input", "producer", "consumer", "summary"])
        self.successResultOf(stopped)

    def test_summaryCounters(self) -> None:
        """
        The summary has a line of counters for each component that counted
        something (here the output's writes), then the totals.
        """
        source, sink = MemoryInput(), MemoryOutput()
        service = self.service([source], [sink])
        service.startService()
        for i in range(3):
            source.push(request(i))
        self.reactor.advance(2.5)
        self.successResultOf(service.stopService())
        self.assertIn("summary: output_memory: written=3", self.logged)
        self.assertEqual(sink.stats["written"], 3)
        self.assertIn("summary: read=3 emitted=3 skipped=0 dropped=0 failed=0 elapsed=2.500s", self.logged)

    def test_stopTwice(self) -> None:
        """
        A second stop does nothing (and logs no second summary).
        """
        service = self.service([MemoryInput()], [MemoryOutput()])
        service.startService()
        self.successResultOf(service.stopService())
        self.successResultOf(service.stopService())
        self.assertEqual(self.journal, ["summary"])


class DoneTests(ServiceTestCase):
    """
    C{whenDone}: after C{exitAfter} on the clock, or once every input is
    finite and exhausted.
    """

    def test_exitAfter(self) -> None:
        """
        With an endless input, C{whenDone} fires exactly C{exitAfter}
        seconds after the start, on the service's reactor.
        """
        service = self.service([MemoryInput()], [MemoryOutput()], exitAfter=5.0)
        done = service.whenDone()
        self.reactor.advance(100)  # not started: no timer yet
        self.assertNoResult(done)
        service.startService()
        self.reactor.advance(4.999)
        self.assertNoResult(done)
        self.reactor.advance(0.001)
        self.successResultOf(done)
        self.successResultOf(service.whenDone())
        self.successResultOf(service.stopService())

    def test_stopCancelsExitAfter(self) -> None:
        """
        Stopped before C{exitAfter}: no timer is left on the reactor.
        """
        service = self.service([MemoryInput()], [MemoryOutput()], exitAfter=5.0)
        service.startService()
        self.successResultOf(service.stopService())
        self.assertEqual([c for c in self.reactor.getDelayedCalls() if c.active()], [])

    def test_finiteInputsExhausted(self) -> None:
        """
        With finite inputs only, C{whenDone} fires once the last of them is
        exhausted.
        """
        first, second = MemoryInput(finite=True), MemoryInput(finite=True)
        service = self.service([first, second], [MemoryOutput()])
        service.startService()
        done = service.whenDone()
        first.exhaust()
        self.assertNoResult(done)
        second.exhaust()
        self.successResultOf(done)

    def test_endlessInputNeverDone(self) -> None:
        """
        An endless input keeps the service going even when the finite one
        is exhausted, for any time on the clock.
        """
        finite = MemoryInput(finite=True)
        service = self.service([finite, MemoryInput()], [MemoryOutput()])
        service.startService()
        done = service.whenDone()
        finite.exhaust()
        self.reactor.advance(10**6)
        self.assertNoResult(done)
        self.successResultOf(service.stopService())

    def test_exhaustionIgnoredWhenAsked(self) -> None:
        """
        With C{exitWhenInputsExhausted=False} (an embedder keeping the
        pipeline up), exhaustion does not finish it.
        """
        finite = MemoryInput(finite=True)
        service = self.service([finite], [MemoryOutput()], exitWhenInputsExhausted=False)
        service.startService()
        done = service.whenDone()
        finite.exhaust()
        self.assertNoResult(done)


class StopReactorTests(ServiceTestCase):
    """
    C{stopReactorWhenDone}: the C{gor} command's behaviour, not the
    embedder's default.
    """

    def test_stopsTheReactor(self) -> None:
        """
        When set, the running reactor is stopped once the service is done.
        """
        source = MemoryInput(finite=True)
        service = self.service([source], [MemoryOutput()])
        service.stopReactorWhenDone = True
        self.reactor.running = True
        service.startService()
        self.assertFalse(self.reactor.hasStopped)
        source.exhaust()
        self.assertTrue(self.reactor.hasStopped)

    def test_defaultLeavesTheReactor(self) -> None:
        """
        By default the reactor keeps running when the service is done.
        """
        source = MemoryInput(finite=True)
        service = self.service([source], [MemoryOutput()], exitAfter=1.0)
        self.reactor.running = True
        service.startService()
        self.reactor.advance(1.0)
        source.exhaust()
        self.successResultOf(service.whenDone())
        self.assertFalse(self.reactor.hasStopped)
