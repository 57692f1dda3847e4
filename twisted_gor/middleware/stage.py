# -*- test-case-name: tests.test_middleware -*-
"""
What both kinds of middleware stage share: the ledger that tells echoed
messages from injected and dropped ones, the byte budget toward the
middleware, truncation and prettifying on the way in, and the counters.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from twisted_gor._interfaces import IBackpressure, IMessageReceiver, IMiddlewareStage, ITakenReporter
from twisted_gor.base import Failing
from twisted_gor.flow import FlowControl
from twisted_gor.message import Message
from twisted_gor.prettify import Prettifier
from twisted_gor.stats import Counters

LEDGER_ENTRIES = 100_000
"""Distinct C{(type, id)} pairs the ledger remembers at most (about 150 bytes each: ~15 MB)."""

LEDGER_TTL = 60.0
"""Seconds after which a message not seen back is counted as dropped by the middleware."""


class Ledger:
    """
    The C{(type, id)} of every message given to the middleware and not seen
    back yet, so that what comes back is told apart: a known C{(type, id)} is
    I{received} (echoed or changed), any other is I{injected}; what never
    comes back is I{dropped by the middleware}: at the end, or once it is
    older than C{ttl} seconds (between C{ttl / 2} and C{ttl}) or more than
    C{maxEntries} newer pairs are pending.

    Two generations of plain dicts (the current one and the one before),
    rotated every C{ttl / 2} seconds or when the current one holds
    C{maxEntries / 2} pairs: a rotation gives up on the older generation.
    Bounded: at most C{maxEntries} distinct pairs.

    @ivar pending: messages given and not seen back (nor given up on).
    @ivar expired: messages given up on (counted as dropped).
    """

    def __init__(self, clock: IReactorTime, maxEntries: int = LEDGER_ENTRIES, ttl: float = LEDGER_TTL) -> None:
        self._clock = clock
        self._current: dict[tuple[int, bytes], int] = {}
        self._previous: dict[tuple[int, bytes], int] = {}
        self._half = max(1, maxEntries // 2)
        self._period = ttl / 2
        self._rotateAt = clock.seconds() + self._period
        self.pending = 0
        self.expired = 0

    def sent(self, kind: int, id_: bytes) -> None:
        """
        A message of this type and id was given to the middleware.
        """
        if len(self._current) >= self._half or self._clock.seconds() >= self._rotateAt:
            self._rotate()
        current = self._current
        key = (kind, id_)
        current[key] = current.get(key, 0) + 1
        self.pending += 1

    def _rotate(self) -> None:
        lost = sum(self._previous.values())
        self.pending -= lost
        self.expired += lost
        self._previous = self._current
        self._current = {}
        self._rotateAt = self._clock.seconds() + self._period

    def returned(self, kind: int, id_: bytes) -> bool:
        """
        A message came back from the middleware: whether one of this type
        and id was pending (then it is no longer).
        """
        key = (kind, id_)
        for entries in (self._current, self._previous):
            count = entries.get(key)
            if count is not None:
                if count > 1:
                    entries[key] = count - 1
                else:
                    del entries[key]
                self.pending -= 1
                return True
        return False

    def close(self) -> int:
        """
        Forget everything; return how many messages were still pending.
        """
        left = self.pending
        self._current = {}
        self._previous = {}
        self.pending = 0
        return left


@implementer(IMiddlewareStage, ITakenReporter)
class StageBase(Service, Failing):
    """
    A middleware stage: subclasses implement L{submit} (give one message to
    the middleware) and call L{emitted} with each message the middleware
    gives back.

    Counters: C{sent} (given to the middleware), C{received} (came back with
    the type and id of a message given), C{injected} (came back with any
    other), C{dropped_by_middleware} (given and never seen back: counted at
    the end, or after L{LEDGER_TTL} seconds), C{malformed} (lines that are
    no message), C{truncated}, C{dropped.queue_full} (a live input's message
    that did not fit the budget), C{dropped.stopped} (arrived after the stage
    stopped or failed), C{errors}.

    @ivar flow: the byte budget toward the middleware (C{bufferSize} bytes;
        pausing pausable inputs at half of it, resuming at a quarter).
    """

    log = Logger()

    def __init__(
        self,
        label: str,
        reactor: Any,
        bufferSize: int,
        copyBufferSize: int,
        prettifier: Prettifier | None = None,
    ) -> None:
        self.name = "middleware"
        self.label = label
        self.reactor = reactor
        self.stats = Counters()
        self.receiver: IMessageReceiver | None = None
        self.ledger = Ledger(reactor)
        # hot counters: plain attributes, read when shown
        self.sent = self.received = self.injected = 0
        self.stats.track("sent", lambda: self.sent)
        self.stats.track("received", lambda: self.received)
        self.stats.track("injected", lambda: self.injected)
        self.stats.track("dropped_by_middleware", lambda: self.ledger.expired)
        self.stats.track("pending", lambda: self.ledger.pending)
        self.flow = FlowControl(
            self,  # type: ignore[arg-type]
            self.stats,
            highBytes=max(1, bufferSize // 2),
            lowBytes=bufferSize // 4,
            maxBytes=bufferSize,
        )
        self.copyBufferSize = copyBufferSize
        self.prettifier = prettifier
        self.accepting = False
        self._lastMalformedLog = -1e9
        self._quietMalformed = 0

    # IMiddlewareStage
    def setReceiver(self, receiver: IMessageReceiver) -> None:
        """
        See L{IMiddlewareStage.setReceiver}.
        """
        self.receiver = receiver

    def setBackpressure(self, backpressure: IBackpressure) -> None:
        """
        See L{IMiddlewareStage.setBackpressure}.
        """
        self.flow.setBackpressure(backpressure)

    def pauseProducing(self) -> None:
        """
        See L{IMiddlewareStage.pauseProducing}; nothing to pause by default.
        """

    def resumeProducing(self) -> None:
        """
        See L{IMiddlewareStage.resumeProducing}.
        """

    def whenTaken(self) -> Deferred[None]:
        """
        A message is taken once the stage has queued it for the middleware
        (or counted it as dropped).
        """
        return succeed(None)

    def messageReceived(self, message: Message) -> None:
        """
        A message from an input (or a replayed response): truncate,
        prettify, give it to the middleware.
        """
        if not self.accepting:
            self.stats.increment("dropped.stopped")
            return
        if len(message.payload) > self.copyBufferSize:
            message = message.replace(payload=message.payload[: self.copyBufferSize])
            self.stats.increment("truncated")
        if self.prettifier is not None:
            message = self.prettifier(message)
        self.submit(message)

    def submit(self, message: Message) -> None:
        """
        Give C{message} to the middleware (override); count it C{sent} and
        tell the ledger, or count why not.
        """
        raise NotImplementedError()

    def emitted(self, message: Message) -> None:
        """
        The middleware gave back C{message}: count it and pass it on.
        """
        if self.ledger.returned(message.type, message.id):
            self.received += 1
        else:
            self.injected += 1
        assert self.receiver is not None
        self.receiver.messageReceived(message)

    def malformed(self, reason: str, sample: bytes) -> None:
        """
        Count a line from the middleware that is no message; log it at most
        once a second.
        """
        self.stats.increment("malformed")
        now = self.reactor.seconds()
        if now - self._lastMalformedLog < 1.0:
            self._quietMalformed += 1
            return
        self._lastMalformedLog = now
        quiet, self._quietMalformed = self._quietMalformed, 0
        self.log.warn(
            "middleware {label}: skipped a malformed line ({reason}): {sample}{more}",
            label=self.label,
            reason=reason,
            sample=repr(sample[:60]) + ("..." if len(sample) > 60 else ""),
            more=f" ({quiet} more not logged)" if quiet else "",
        )

    def settle(self) -> None:
        """
        The middleware is done: what it was given and never gave back is
        dropped by it.
        """
        self.ledger.expired += self.ledger.close()


__all__ = ["Ledger", "StageBase", "LEDGER_ENTRIES", "LEDGER_TTL"]
