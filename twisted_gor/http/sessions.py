# -*- test-case-name: tests.test_sessions_replay,tests.test_sessions_e2e -*-
"""
Session-faithful replay for C{--output-http} (C{--recognize-tcp-sessions}).

A request whose meta line carries session data (the fifth field, see
L{twisted_gor.message}) belongs to one captured client connection. Every
session gets a worker of its own, that is one target connection:

 - its requests go over that connection in the order they arrive (the
   captured order: capture numbers them, files are read in timestamp order);
 - each one is sent only after the previous one's answer (or failure), and
   not before its due time: the time the input delivered it plus the
   session's lag. The input paces records at the recorded timing (and
   C{|N%} speed), so a session starts when it started in the recording and
   its think times are kept; when an answer comes later than the recorded
   next request (a slower target), the session falls behind by that much
   (its lag grows) and the rest of it keeps its recorded gaps from there.
   A request is never sent earlier than the recording allows, nor before
   the previous answer;
 - the session's close record closes the connection (FIN), again after the
   last answer and at its due time.

Sessions run concurrently, each on its own connection, up to the output's
maximum workers (C{--output-http-workers}, or C{--output-http-workers-max}
when dynamic). A session beyond that waits, with its requests, in a queue
bounded in bytes (C{--output-http-queue-size}, each waiting session counted
as 1 KiB plus its requests); what does not fit is dropped and counted
C{dropped.session_queue_full}, and so are the later requests of a session
that lost its first one (remembered for the last 10,000 such sessions).
Requests of a running session count in the output's flow control (they
drain as answers come), so a file replay slows down instead of dropping;
waiting sessions do not (they drain only when a running session ends, which
needs its close record from the input).

Decisions where the issue left a choice:

 - A request filtered or rate-limited out of a session never reaches the
   output: the rest of the session keeps its order on the same connection
   and nothing waits for the missing one (counted C{sessions.gaps} when the
   positions skip).
 - A target that closes the connection (C{Connection: close}, an idle
   timeout, a reset): the session's next request opens a new connection,
   counted C{sessions.reconnected}.
 - A target that is down: the output's circuit (L{twisted_gor.http.circuit})
   applies as without sessions; requests refused by it are counted
   C{failed.target_down} and their sessions go on.
 - A response that never comes: the request fails after
   C{--output-http-timeout} (C{failed.timeout}), its connection is dropped,
   and the session continues with its next request on a new connection
   (so one lost answer does not lose the rest of the session).
 - A session whose close record never comes (a capture stopped with the
   connection open, records lost in transit, a middleware that drops
   empty messages) is closed when idle for C{--output-http-session-timeout}
   (default 60 s), or when the output stops; counted C{sessions.cut}.
 - Messages without session data (files from GoReplay, synthetic inputs)
   are replayed as without C{--recognize-tcp-sessions}.

Counters: C{sessions.started}, C{sessions.completed} (reached its recorded
close), C{sessions.cut} (ended otherwise), C{sessions.requests} (requests
sent in sessions; divided by C{sessions.started} it is the mean requests per
session), C{sessions.requests_max}, C{sessions.reconnected},
C{sessions.gaps}, C{sessions.out_of_order}, C{sessions.malformed}
(an unreadable session field: replayed without a session),
C{sessions.unknown_end} (a close record of no known session), and the
gauges C{sessions.active} and C{sessions.waiting}.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall

from twisted_gor.message import MalformedMeta, Message, parseSession
from twisted_gor.stats import Counters

if TYPE_CHECKING:
    from twisted_gor.flow import FlowControl
    from twisted_gor.http.output import _Worker

SESSION_OVERHEAD = 1024
"""Bytes a waiting session is counted as, besides its requests."""

MAX_DROPPED_SESSIONS = 10_000
"""Sessions remembered as dropped (their later requests are dropped too)."""

DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds a session may stay idle (answered, nothing pending) before it is cut."""


class ReplaySession:
    """
    One captured connection being replayed.

    @ivar pending: C{(message, arrival)} not sent yet, in order.
    @ivar lag: how far (seconds) the session is behind its recorded timing.
    @ivar established: connections made for it so far.
    """

    __slots__ = (
        "sid",
        "pending",
        "pendingBytes",
        "worker",
        "lag",
        "position",
        "requests",
        "established",
        "timer",
        "idleSince",
        "active",
        "inFlight",
    )

    def __init__(self, sid: bytes) -> None:
        self.sid = sid
        self.pending: deque[tuple[Message, float]] = deque()
        self.pendingBytes = 0
        self.worker: Optional["_Worker"] = None
        self.lag = 0.0
        self.position = 0
        self.requests = 0
        self.established = 0
        self.timer: Optional[IDelayedCall] = None
        self.idleSince = 0.0
        self.active = False
        self.inFlight = False


class SessionScheduler:
    """
    The sessions of one C{--output-http} (see the module docstring).
    """

    def __init__(
        self,
        reactor: Any,
        stats: Counters,
        flow: "FlowControl",
        makeWorker: Callable[[ReplaySession], "_Worker"],
        prepare: Callable[[bytes], Optional[bytes]],
        maxActive: int,
        maxWaitingBytes: int,
        idleTimeout: float = DEFAULT_IDLE_TIMEOUT,
        requestTimeout: float = 5.0,
        allow: Callable[[], bool] = lambda: True,
    ) -> None:
        """
        @param allow: whether a request may be sent now (the output's
            circuit: a target known to be down gets no socket per request;
            such a request is counted C{failed.target_down} and the session
            goes on).
        """
        self.allow = allow
        self.reactor = reactor
        self.stats = stats
        self.flow = flow
        self.makeWorker = makeWorker
        self.prepare = prepare
        self.maxActive = max(1, maxActive)
        self.maxWaitingBytes = maxWaitingBytes
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.active: dict[bytes, ReplaySession] = {}
        self.waiting: OrderedDict[bytes, ReplaySession] = OrderedDict()
        self.waitingBytes = 0
        self.dropped: OrderedDict[bytes, None] = OrderedDict()
        self.requestsMax = 0
        self.progress = 0
        self.draining = False
        self._drained: list[Deferred[None]] = []
        self._watchdog: Optional[IDelayedCall] = None
        self._lastProgress = 0

    # --- arrivals ------------------------------------------------------
    def write(self, message: Message, field: bytes) -> bool:
        """
        Take a message with session field C{field}.

        @return: False when the field is unreadable (the caller replays the
            message without a session).
        """
        try:
            sid, position, end = parseSession(field)
        except MalformedMeta:
            self.stats.increment("sessions.malformed")
            return False
        stats = self.stats
        if sid in self.dropped:
            if not end:
                stats.increment("dropped.session_queue_full")
            return True
        session = self.active.get(sid)
        if session is None:
            session = self.waiting.get(sid)
        if session is None:
            if end:
                stats.increment("sessions.unknown_end")
                return True
            session = ReplaySession(sid)
            if len(self.active) < self.maxActive and not self.waiting:
                self._start(session)
            else:
                if self.waitingBytes + SESSION_OVERHEAD + len(message.payload) > self.maxWaitingBytes:
                    self._drop(sid)
                    return True
                self.waiting[sid] = session
                self.waitingBytes += SESSION_OVERHEAD
                stats.set("sessions.waiting", len(self.waiting))
        if not end:
            if position <= session.position:
                stats.increment("sessions.out_of_order")
            elif position > session.position + 1 and session.position:
                stats.increment("sessions.gaps", position - session.position - 1)
            session.position = max(position, session.position)
        size = len(message.payload)
        if session.active:
            if not self.flow.fits(size):
                stats.increment("dropped.queue_full")
                return True
            self.flow.add(size)
        else:
            if self.waitingBytes + size > self.maxWaitingBytes:
                stats.increment("dropped.session_queue_full")
                return True
            self.waitingBytes += size
        session.pending.append((message, self.reactor.seconds()))
        session.pendingBytes += size
        if session.active:
            self._advance(session)
        return True

    def _drop(self, sid: bytes) -> None:
        self.stats.increment("dropped.session_queue_full")
        self.stats.increment("sessions.dropped")
        dropped = self.dropped
        dropped[sid] = None
        while len(dropped) > MAX_DROPPED_SESSIONS:
            dropped.popitem(last=False)

    def _start(self, session: ReplaySession) -> None:
        session.active = True
        session.worker = self.makeWorker(session)
        session.idleSince = self.reactor.seconds()
        self.active[session.sid] = session
        self.stats.increment("sessions.started")
        self.stats.set("sessions.active", len(self.active))

    def _startWaiting(self) -> None:
        while self.waiting and len(self.active) < self.maxActive:
            sid, session = self.waiting.popitem(last=False)
            self.waitingBytes -= SESSION_OVERHEAD + session.pendingBytes
            if session.pendingBytes:
                self.flow.add(session.pendingBytes, len(session.pending))
            self._start(session)
            self._advance(session)
        self.stats.set("sessions.waiting", len(self.waiting))

    # --- sending -------------------------------------------------------
    def _advance(self, session: ReplaySession) -> None:
        """
        Send the session's next request (or close it) if its previous one
        is answered and its due time has come; else wait for that.
        """
        if session.inFlight or session.timer is not None or not session.active:
            return
        reactor = self.reactor
        pending = session.pending
        while pending:
            message, arrival = pending[0]
            now = reactor.seconds()
            due = arrival + session.lag
            if due > now + 0.0005:
                session.timer = reactor.callLater(due - now, self._due, session)
                return
            pending.popleft()
            size = len(message.payload)
            session.pendingBytes -= size
            self.flow.remove(size)
            if now - arrival > session.lag:
                session.lag = now - arrival
            if message.isSessionEnd:
                self._end(session, completed=True)
                return
            payload = self.prepare(message.payload)
            if payload is None:
                continue
            if not self.allow():
                self.stats.increment("sent")
                self.stats.increment("failed.target_down")
                continue
            worker = session.worker
            assert worker is not None
            session.inFlight = True
            self.progress += 1
            worker.take(message, payload)
            return
        session.idleSince = reactor.seconds()
        if self.draining:
            self._end(session, completed=False)

    def _due(self, session: ReplaySession) -> None:
        session.timer = None
        self._advance(session)

    def answered(self, session: ReplaySession) -> None:
        """
        The session's request in flight is done (answered or failed).
        """
        session.inFlight = False
        session.requests += 1
        self.progress += 1
        self.stats.increment("sessions.requests")
        if session.requests > self.requestsMax:
            self.requestsMax = session.requests
            self.stats.set("sessions.requests_max", session.requests)
        self._advance(session)

    # --- ending --------------------------------------------------------
    def _end(self, session: ReplaySession, completed: bool) -> None:
        if not session.active:
            return
        session.active = False
        if session.timer is not None:
            if session.timer.active():
                session.timer.cancel()
            session.timer = None
        if session.pending:
            count = sum(1 for m, _ in session.pending if not m.isSessionEnd)
            self.flow.remove(session.pendingBytes, len(session.pending))
            if count:
                self.stats.increment("dropped.session_cut", count)
            session.pending.clear()
            session.pendingBytes = 0
        worker, session.worker = session.worker, None
        if worker is not None:
            worker.finishSession()
        del self.active[session.sid]
        self.stats.increment("sessions.completed" if completed else "sessions.cut")
        self.stats.set("sessions.active", len(self.active))
        self._startWaiting()
        self._checkDrained()

    def sweep(self, now: float) -> None:
        """
        Time out requests in flight, and cut sessions idle too long.
        """
        deadline = now - self.requestTimeout
        idleDeadline = now - self.idleTimeout
        for session in list(self.active.values()):
            worker = session.worker
            if worker is not None and worker.message is not None and worker.startedAt < deadline:
                worker.timedOut()
            elif (
                not session.inFlight
                and not session.pending
                and session.timer is None
                and session.idleSince < idleDeadline
            ):
                self._end(session, completed=False)

    # --- stopping ------------------------------------------------------
    @property
    def busy(self) -> bool:
        """
        Whether any session runs or waits.
        """
        return bool(self.active or self.waiting)

    def drain(self) -> Deferred[None]:
        """
        No more input: let the sessions finish what they hold (sessions
        that hold nothing are closed now, counted cut); fires once none is
        left. Gives up (L{stop}) when no request was sent or answered for
        the request timeout and a half.
        """
        self.draining = True
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        for session in list(self.active.values()):
            self._advance(session)
        self._startWaiting()
        self._checkDrained()
        if self._drained and self._watchdog is None:
            self._lastProgress = self.progress
            self._watchdog = self.reactor.callLater(self.requestTimeout + 0.5, self._watch)
        return d

    def _watch(self) -> None:
        self._watchdog = None
        if not self.busy:
            return
        if self.progress == self._lastProgress:
            self.stop()
            return
        self._lastProgress = self.progress
        self._watchdog = self.reactor.callLater(self.requestTimeout + 0.5, self._watch)

    def stop(self) -> None:
        """
        End every session now: what they still hold is counted
        C{dropped.shutdown}.
        """
        left = 0
        for session in list(self.waiting.values()):
            left += sum(1 for m, _ in session.pending if not m.isSessionEnd)
            self.stats.increment("sessions.cut")
        self.waiting.clear()
        self.waitingBytes = 0
        self.stats.set("sessions.waiting", 0)
        for session in list(self.active.values()):
            left += sum(1 for m, _ in session.pending if not m.isSessionEnd)
            left += 1 if session.inFlight else 0
            self.flow.remove(session.pendingBytes, len(session.pending))
            session.pending.clear()
            session.pendingBytes = 0
            self._end(session, completed=False)
        if left:
            self.stats.increment("dropped.shutdown", left)
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None
        self._checkDrained()

    def _checkDrained(self) -> None:
        if self._drained and not self.busy:
            drained, self._drained = self._drained, []
            if self._watchdog is not None and self._watchdog.active():
                self._watchdog.cancel()
            self._watchdog = None
            for d in drained:
                d.callback(None)
