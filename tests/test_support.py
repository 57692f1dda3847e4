"""
Tests for the test helpers in L{tests.support} that tests rely on to wait:
L{waitUntil} and L{GorProcess.counters}.
"""

from __future__ import annotations

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support import GorProcess, WaitTimeout, waitUntil


class WaitUntilTests(SynchronousTestCase):
    """
    L{waitUntil} polls on the given clock and fails clearly at the deadline.
    """

    def test_alreadyTrue(self) -> None:
        """
        A predicate that holds at once: no waiting at all.
        """
        self.successResultOf(waitUntil(lambda: True, 1, clock=Clock()))

    def test_becomesTrue(self) -> None:
        """
        Polled every interval until it holds.
        """
        clock = Clock()
        calls: list[float] = []

        def predicate() -> bool:
            calls.append(clock.seconds())
            return clock.seconds() >= 0.3

        d = waitUntil(predicate, 5, interval=0.1, clock=clock)
        clock.pump([0.1, 0.1])
        self.assertNoResult(d)
        clock.advance(0.1)
        self.successResultOf(d)
        self.assertEqual(len(calls), 4)

    def test_deferredPredicate(self) -> None:
        """
        A predicate returning a Deferred counts by that Deferred's result.
        """
        clock = Clock()
        answers = iter([False, True])
        d = waitUntil(lambda: succeed(next(answers)), 5, interval=1, clock=clock)
        self.assertNoResult(d)
        clock.advance(1)
        self.successResultOf(d)

    def test_timeout(self) -> None:
        """
        Still false at the deadline: a L{WaitTimeout} (a test failure) with
        the description, computed when it is raised.
        """
        clock = Clock()
        state = {"seen": 0}

        def describe() -> str:
            return f"seen {state['seen']}"

        d = waitUntil(lambda: False, 1, interval=0.25, describe=describe, clock=clock)
        state["seen"] = 7
        clock.pump([0.25] * 4)
        failure = self.failureResultOf(d, WaitTimeout)
        self.assertIsInstance(failure.value, AssertionError)
        self.assertIn("within 1s: seen 7", str(failure.value))


class CountersTests(SynchronousTestCase):
    """
    L{GorProcess.counters} reads the last stats line of a component.
    """

    def test_lastLine(self) -> None:
        """
        The last C{stats:} line of the component whose name starts with the
        prefix; other components, other kinds and non-numbers are ignored.
        """
        process = GorProcess(Clock(), ["gor"])
        process.errReceived(
            b"t [x] stats: output_tcp(h:1): paused=0 sent=3\n"
            b"t [x] stats: input_file(a): emitted=9\n"
            b"t [x] stats: output_tcp(h:1): paused=1 sent=5 name=x\n"
            b"t [x] summary: output_tcp(h:1): paused=9\n"
        )
        self.assertEqual(process.counters("output_tcp"), {"paused": 1, "sent": 5})
        self.assertEqual(process.counters("output_tcp", "summary"), {"paused": 9})
        self.assertEqual(process.counters("output_http"), {})
