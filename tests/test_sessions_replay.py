"""
Unit tests of L{twisted_gor.http.sessions.SessionScheduler}'s logic, with a
fake clock and fake workers (the real connections are tested through the
C{gor} command in L{tests.test_sessions_e2e}).
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.flow import FlowControl
from twisted_gor.http.sessions import ReplaySession, SessionScheduler
from twisted_gor.message import Message, sessionEnd
from twisted_gor.stats import Counters


class FakeWorker:
    """
    Records what it is asked to send; the test answers.
    """

    def __init__(self, log: list[tuple[bytes, bytes, float]], session: ReplaySession, clock: Clock) -> None:
        self.log = log
        self.session = session
        self.clock = clock
        self.message: Message | None = None
        self.startedAt = 0.0
        self.finished = False
        self.timedOutCalls = 0

    def take(self, message: Message, payload: bytes) -> None:
        self.message = message
        self.startedAt = self.clock.seconds()
        self.log.append((self.session.sid, payload, self.clock.seconds()))

    def finishSession(self) -> None:
        self.finished = True

    def timedOut(self) -> None:
        self.timedOutCalls += 1


def get(path: bytes, session: bytes) -> Message:
    return Message(1, b"id", 0, -1, b"GET " + path + b" HTTP/1.1\r\n\r\n", session=session)


class SchedulerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.stats = Counters()
        self.flow = FlowControl(cast(Any, None), self.stats, highMessages=1000, lowMessages=10, maxMessages=1000)
        self.log: list[tuple[bytes, bytes, float]] = []
        self.workers: dict[bytes, FakeWorker] = {}

    def scheduler(self, maxActive: int = 2, maxWaitingBytes: int = 1 << 20, idle: float = 60.0) -> SessionScheduler:
        def make(session: ReplaySession) -> Any:
            worker = self.workers[session.sid] = FakeWorker(self.log, session, self.clock)
            return worker

        return SessionScheduler(
            self.clock, self.stats, self.flow, make, lambda payload: payload, maxActive, maxWaitingBytes, idle, 5.0
        )

    def answer(self, s: SessionScheduler, sid: bytes) -> None:
        worker = self.workers[sid]
        worker.message = None
        s.answered(worker.session)

    def test_waitsForAnswerAndKeepsThinkTime(self) -> None:
        """
        The second request waits for the first answer; once late, the third
        keeps its recorded gap after the second.
        """
        s = self.scheduler()
        s.write(get(b"/1", b"a:1"), b"a:1")
        self.clock.advance(0.1)
        s.write(get(b"/2", b"a:2"), b"a:2")
        self.assertEqual(len(self.log), 1)
        self.clock.advance(0.4)  # the answer comes 0.5 s after /1
        self.answer(s, b"a")
        self.assertEqual(self.log[1][2], 0.5)
        self.clock.advance(0.5)  # /3 arrives 0.9 s after /2 did (recorded gap)
        s.write(get(b"/3", b"a:3"), b"a:3")
        self.answer(s, b"a")
        self.assertEqual(len(self.log), 2)
        self.clock.advance(0.39)
        self.assertEqual(len(self.log), 2)
        self.clock.advance(0.01)
        self.assertEqual(len(self.log), 3)
        # sent 0.9 s after /2 was: the recorded gap, kept from the late start
        self.assertAlmostEqual(self.log[2][2] - self.log[1][2], 0.9, places=6)

    def test_beyondMaxWaits(self) -> None:
        """
        A session beyond the maximum waits until one ends.
        """
        s = self.scheduler(maxActive=1)
        s.write(get(b"/a", b"a:1"), b"a:1")
        s.write(get(b"/b", b"b:1"), b"b:1")
        self.assertEqual([sid for sid, _, _ in self.log], [b"a"])
        self.assertEqual(self.stats["sessions.waiting"], 1)
        s.write(sessionEnd(b"a", 1, 0), b"a:1:end")
        self.answer(s, b"a")
        self.assertTrue(self.workers[b"a"].finished)
        self.assertEqual([sid for sid, _, _ in self.log], [b"a", b"b"])
        self.assertEqual(self.stats["sessions.completed"], 1)

    def test_waitingOverflow(self) -> None:
        """
        Waiting sessions beyond the byte bound are dropped, with their later
        requests, and counted.
        """
        s = self.scheduler(maxActive=1, maxWaitingBytes=1500)
        s.write(get(b"/a", b"a:1"), b"a:1")
        s.write(get(b"/b", b"b:1"), b"b:1")
        s.write(get(b"/c", b"c:1"), b"c:1")
        s.write(get(b"/c2", b"c:2"), b"c:2")
        self.assertEqual(self.stats["dropped.session_queue_full"], 2)
        self.assertEqual(self.stats["sessions.dropped"], 1)
        self.assertEqual(list(s.waiting), [b"b"])

    def test_idleCut(self) -> None:
        """
        A session idle past the timeout is cut and its worker closed.
        """
        s = self.scheduler(idle=10)
        s.write(get(b"/a", b"a:1"), b"a:1")
        self.answer(s, b"a")
        self.clock.advance(11)
        s.sweep(self.clock.seconds())
        self.assertTrue(self.workers[b"a"].finished)
        self.assertEqual(self.stats["sessions.cut"], 1)
        self.assertFalse(s.busy)

    def test_timeoutThenContinue(self) -> None:
        """
        A request in flight past the request timeout is timed out by the
        sweep; the session goes on.
        """
        s = self.scheduler()
        s.write(get(b"/a", b"a:1"), b"a:1")
        s.write(get(b"/b", b"a:2"), b"a:2")
        self.clock.advance(6)
        s.sweep(self.clock.seconds())
        self.assertEqual(self.workers[b"a"].timedOutCalls, 1)
        self.answer(s, b"a")  # the worker reports the failure as done
        self.assertEqual(len(self.log), 2)

    def test_drainStopsWithoutProgress(self) -> None:
        """
        Draining ends idle sessions at once; a request never answered makes
        it give up after the timeout and a half, counted.
        """
        s = self.scheduler()
        s.write(get(b"/a", b"a:1"), b"a:1")
        s.write(get(b"/b", b"b:1"), b"b:1")
        self.answer(s, b"b")
        d = s.drain()
        self.assertEqual(self.stats["sessions.cut"], 1)
        self.assertNoResult(d)
        self.clock.advance(5.6)
        self.successResultOf(d)
        self.assertEqual(self.stats["dropped.shutdown"], 1)
        self.assertEqual(self.flow.messages, 0)

    def test_malformed(self) -> None:
        """
        An unreadable session field is refused (replayed without a session).
        """
        s = self.scheduler()
        self.assertFalse(s.write(get(b"/a", b"zz"), b"zz"))
        self.assertEqual(self.stats["sessions.malformed"], 1)


class StickySplitTests(SynchronousTestCase):
    """
    C{--split-output --recognize-tcp-sessions}: FNV-1a-32 of the session
    (or id) picks the output.
    """

    def test_goreplayE4(self) -> None:
        """
        GoReplay PRO's E4: 200 requests with 20-byte ids C{a}+19 NULs and
        C{b}+19 NULs alternating go 100/100, all C{a...} to output 0 and all
        C{b...} to output 1.
        """
        from twisted_gor.pipeline import Pipeline
        from twisted_gor.testing import MemoryOutput

        a, b = MemoryOutput(), MemoryOutput()
        pipeline = Pipeline([(a, None), (b, None)], splitOutput=True, clock=Clock(), stickySessions=True)
        for i in range(200):
            rid = (b"a" if i % 2 == 0 else b"b") + b"\0" * 19
            pipeline.messageReceived(Message(1, rid, i, -1, b"GET / HTTP/1.1\r\n\r\n"))
        self.assertEqual({m.id[:1] for m in a.messages}, {b"a"})
        self.assertEqual({m.id[:1] for m in b.messages}, {b"b"})
        self.assertEqual((len(a.messages), len(b.messages)), (100, 100))

    def test_sessionSticks(self) -> None:
        """
        The requests and the close record of one session, with distinct
        ids, all go to the same output.
        """
        from twisted_gor.pipeline import Pipeline
        from twisted_gor.testing import MemoryOutput

        outputs = [MemoryOutput() for _ in range(3)]
        pipeline = Pipeline([(o, None) for o in outputs], splitOutput=True, clock=Clock(), stickySessions=True)
        for s in range(20):
            sid = b"%024x" % (s * 7919,)
            for n in range(1, 5):
                pipeline.messageReceived(get(b"/%d" % n, sid + b":%d" % n).replace(id=b"%d-%d" % (s, n)))
            pipeline.messageReceived(sessionEnd(sid, 4, 9))
        for output in outputs:
            sids: dict[bytes, int] = {}
            for m in output.messages:
                sid = (m.session or b"").split(b":")[0]
                sids[sid] = sids.get(sid, 0) + 1
            self.assertTrue(all(count == 5 for count in sids.values()), sids)
        self.assertEqual(sum(len(o.messages) for o in outputs), 100)
        self.assertTrue(all(o.messages for o in outputs))


class ObserverTests(SynchronousTestCase):
    def test_closeRecordNotObserved(self) -> None:
        """
        A close record goes to outputs, not to observers (comparisons,
        exports), which would take it for an unanswered request.
        """
        from twisted_gor.pipeline import Pipeline
        from twisted_gor.testing import MemoryOutput

        out, watcher = MemoryOutput(), MemoryOutput()
        watcher.observesAll = True
        pipeline = Pipeline([(out, None), (watcher, None)], clock=Clock())
        pipeline.messageReceived(get(b"/a", b"s:1"))
        pipeline.messageReceived(sessionEnd(b"s", 1, 5))
        self.assertEqual(len(out.messages), 2)
        self.assertEqual(len(watcher.messages), 1)
