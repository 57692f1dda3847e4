# -*- test-case-name: tests.test_pipeline -*-
"""
In-memory inputs and outputs for testing code that embeds or extends gor.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from twisted_gor._interfaces import IBackpressure, IMessageReceiver
from twisted_gor.base import InputBase, OutputBase
from twisted_gor.config import Prebuilt
from twisted_gor.message import Message


class MemoryInput(InputBase):
    """
    An input driven by the test: call L{push} to emit, L{exhaust} to end it.
    """

    def __init__(self, finite: bool = False) -> None:
        InputBase.__init__(self, "input_memory")
        self._exhausted: Deferred[None] | None = Deferred() if finite else None

    def push(self, message: Message) -> None:
        """
        Emit C{message} now.
        """
        self.emit(message)

    def exhaust(self) -> None:
        """
        Declare that nothing more will be emitted.
        """
        if self._exhausted is not None and not self._exhausted.called:
            self._exhausted.callback(None)

    def whenExhausted(self) -> Deferred[None] | None:
        return self._exhausted


class MemoryOutput(OutputBase):
    """
    Records every message written to it in L{messages}.
    """

    def __init__(self, acceptedTypes: frozenset[int] = frozenset({1, 2, 3})) -> None:
        OutputBase.__init__(self, "output_memory")
        self.acceptedTypes = acceptedTypes
        self.messages: list[Message] = []

    def write(self, message: Message) -> None:
        """
        Record the message.
        """
        self.stats.increment("written")
        self.messages.append(message)

    def stopService(self) -> Deferred[None]:
        OutputBase.stopService(self)
        return succeed(None)


class MemoryConfig(Prebuilt):
    """
    L{twisted_gor.Prebuilt} under its older name: a config that builds a
    given, pre-made input or output.
    """


@implementer(IMessageReceiver)
class MessageCollector:
    """
    A receiver that keeps every message pushed into it.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def messageReceived(self, message: Message) -> None:
        """
        Keep the message.
        """
        self.messages.append(message)


@implementer(IBackpressure)
class RecordingBackpressure:
    """
    Records the C{"pause"} and C{"resume"} calls an output makes.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self, output: Any) -> None:
        """
        Record a pause.
        """
        self.calls.append("pause")

    def resume(self, output: Any) -> None:
        """
        Record a resume.
        """
        self.calls.append("resume")
