# -*- test-case-name: tests.test_basic -*-
"""
Base classes for inputs and outputs: the bookkeeping every one of them needs.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from twisted_gor._interfaces import IBackpressure, IBatchReceiver, IInput, IMessageReceiver, IOutput, ITakenReporter
from twisted_gor.flow import FlowControl
from twisted_gor.message import Message
from twisted_gor.stats import Counters


def resolveReactor(reactor: Any) -> Any:
    """
    C{reactor}, or the global reactor imported now (never at module import).
    """
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        return globalReactor
    return reactor


class Failing:
    """
    How a component says it failed for good (an output that can no longer
    write, an input that cannot read its source): it logs its own error, then
    calls L{reportFailure}. The service makes gor exit 1 when any component
    failed, and stops once every output failed.

    Components that do not inherit this (your own L{twisted_gor.Prebuilt}
    ones) simply never fail in this sense.

    @ivar failure: why it failed, or L{None}.
    @ivar failureObserver: called with the component when it fails (set by
        the service).
    """

    failure: str | None = None
    failureObserver: Callable[[Any], None] | None = None

    def reportFailure(self, reason: str) -> None:
        """
        Record the first failure and tell the observer.
        """
        if self.failure is not None:
            return
        self.failure = reason
        if self.failureObserver is not None:
            self.failureObserver(self)


@implementer(IInput)
class InputBase(Service, Failing):
    """
    An endless, non-pausable input; subclasses call L{emit}.

    @ivar receiver: where messages go (set by the pipeline).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = Counters()
        self.emitted = 0
        self.stats.track("emitted", lambda: self.emitted)
        self.receiver: IMessageReceiver | None = None
        self.paused = False

    def setReceiver(self, receiver: IMessageReceiver) -> None:
        """
        See L{IInput.setReceiver}.
        """
        self.receiver = receiver

    def emit(self, message: Message) -> None:
        """
        Push one message to the receiver and count it.
        """
        self.emitted += 1
        self.receiver.messageReceived(message)  # type: ignore[union-attr]

    def emitMany(self, messages: list[Message]) -> int:
        """
        Push messages, in order, and count them: in one call to a receiver
        that takes batches (L{IBatchReceiver}), else one by one. Stops early
        when this input is paused on the way (backpressure), as emitting
        one at a time would.

        @return: how many were taken (the caller keeps the others).
        """
        receiver = self.receiver
        if IBatchReceiver.providedBy(receiver):
            taken = receiver.messagesReceived(messages)
        else:
            taken = 0
            receive = receiver.messageReceived  # type: ignore[union-attr]
            for message in messages:
                receive(message)
                taken += 1
                if self.paused:
                    break
        self.emitted += taken
        return taken

    def pauseProducing(self) -> None:
        """
        See L{IInput.pauseProducing}.
        """
        self.paused = True

    def resumeProducing(self) -> None:
        """
        See L{IInput.resumeProducing}.
        """
        self.paused = False

    def whenExhausted(self) -> Deferred[None] | None:
        """
        Endless by default.
        """
        return None


@implementer(IOutput, ITakenReporter)
class OutputBase(Service, Failing):
    """
    An output that accepts every type; subclasses implement L{write}.

    @ivar flow: the backlog's watermarks (L{FlowControl}); an output that
        holds messages sets its bounds and calls C{flow.add}/C{flow.remove}.
        Stopping the output releases it.
    """

    acceptedTypes: frozenset[int] = frozenset({1, 2, 3})
    observesAll: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = Counters()
        self.backpressure: IBackpressure | None = None
        self.flow = FlowControl(self, self.stats)
        flow = self.flow
        self.stats.gauge("queue.depth", lambda: flow.messages)
        self.stats.gauge("queue.bytes", lambda: flow.bytes)

    def setBackpressure(self, backpressure: IBackpressure) -> None:
        """
        See L{IOutput.setBackpressure}.
        """
        self.backpressure = backpressure
        self.flow.setBackpressure(backpressure)

    def write(self, message: Message) -> None:
        """
        See L{IOutput.write}.
        """
        raise NotImplementedError()

    def whenTaken(self) -> Deferred[None]:
        """
        See L{ITakenReporter.whenTaken}: by default a message is taken once
        L{write} returned (queued or counted), so this has fired already.
        """
        return succeed(None)

    def stopService(self) -> Deferred[None]:
        """
        Nothing to drain by default; releases the flow (resumes what this
        output paused). Subclasses that drain call this first.
        """
        Service.stopService(self)
        self.flow.stop()
        return succeed(None)
