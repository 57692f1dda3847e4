# -*- test-case-name: tests.test_flow -*-
"""
Flow control of an output's backlog: one mechanism for every output.

An output counts what it holds (messages and bytes not yet delivered) in its
L{FlowControl}; crossing a high watermark (in bytes or in messages) asks the
pipeline to pause pausable inputs, and falling back under both low watermarks
resumes them. A transport that says it is full can block the flow directly
(L{FlowControl.block}). L{FlowControl.release} (a failed write, a lost destination,
giving up at shutdown) forgets everything held and resumes;
L{FlowControl.stop} resumes for good. No pause outlives the reason for it.

Live inputs cannot pause; an output still bounds what it holds and drops (and
counts) what does not fit, checking L{FlowControl.fits} first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twisted_gor._interfaces import IBackpressure, IOutput
    from twisted_gor.stats import Counters


class FlowControl:
    """
    Watermarks over one output's backlog.

    @ivar messages: messages held now.
    @ivar bytes: bytes held now.
    @ivar paused: whether this output has asked the pipeline to pause.
    @ivar pauses: how many times it did (each one matched by a resume or a
        release).
    """

    __slots__ = (
        "_output",
        "_backpressure",
        "_stats",
        "highBytes",
        "lowBytes",
        "highMessages",
        "lowMessages",
        "maxBytes",
        "maxMessages",
        "messages",
        "bytes",
        "paused",
        "pauses",
        "_blocked",
        "_stopped",
    )

    def __init__(
        self,
        output: "IOutput",
        stats: "Counters",
        highBytes: int = 0,
        highMessages: int = 0,
        lowBytes: int | None = None,
        lowMessages: int | None = None,
        maxBytes: int = 0,
        maxMessages: int = 0,
    ) -> None:
        """
        @param highBytes: pause at this many bytes held (0: never by bytes).
        @param highMessages: pause at this many messages held (0: never by count).
        @param lowBytes: resume at or below this (default: half of C{highBytes}).
        @param lowMessages: resume at or below this (default: half of C{highMessages}).
        @param maxBytes: L{fits} refuses what would hold more (0: no bound).
        @param maxMessages: L{fits} refuses more messages than this (0: no bound).
        """
        self._output = output
        self._stats = stats
        self._backpressure: IBackpressure | None = None
        self.highBytes = highBytes
        self.highMessages = highMessages
        self.lowBytes = highBytes // 2 if lowBytes is None else lowBytes
        self.lowMessages = highMessages // 2 if lowMessages is None else lowMessages
        self.maxBytes = maxBytes
        self.maxMessages = maxMessages
        self.messages = 0
        self.bytes = 0
        self.paused = False
        self.pauses = 0
        self._blocked = False
        self._stopped = False

    def setBackpressure(self, backpressure: "IBackpressure | None") -> None:
        """
        Where pauses and resumes go (the pipeline).
        """
        self._backpressure = backpressure

    def fits(self, size: int) -> bool:
        """
        Whether one more message of C{size} bytes stays within the hard bounds.
        """
        if self.maxMessages and self.messages >= self.maxMessages:
            return False
        return not self.maxBytes or self.bytes + size <= self.maxBytes

    def add(self, size: int, count: int = 1) -> None:
        """
        The output now holds C{count} more messages of C{size} bytes in all.
        """
        self.messages += count
        self.bytes += size
        if not self.paused and (
            (self.highBytes and self.bytes >= self.highBytes)
            or (self.highMessages and self.messages >= self.highMessages)
        ):
            self._pause()

    def remove(self, size: int, count: int = 1) -> None:
        """
        C{count} messages of C{size} bytes in all were delivered (or given up on).
        """
        self.messages = max(0, self.messages - count)
        self.bytes = max(0, self.bytes - size)
        if self.paused and self._below():
            self._resume()

    def block(self) -> None:
        """
        The output's transport is full (an L{IPushProducer}'s pause): pause
        until L{unblock}, whatever the watermarks say.
        """
        self._blocked = True
        if not self.paused:
            self._pause()

    def unblock(self) -> None:
        """
        The transport drained.
        """
        self._blocked = False
        if self.paused and self._below():
            self._resume()

    def release(self) -> None:
        """
        Forget everything held (a stop, a failed write, a lost destination)
        and resume if paused.
        """
        self.messages = 0
        self.bytes = 0
        self._blocked = False
        if self.paused:
            self._resume()

    def stop(self) -> None:
        """
        The output is stopping (its inputs are stopped): resume if paused and
        never pause again; what it holds stays counted while it drains.
        """
        self._stopped = True
        self._blocked = False
        if self.paused:
            self._resume()

    def _below(self) -> bool:
        return (
            not self._blocked
            and (not self.highBytes or self.bytes <= self.lowBytes)
            and (not self.highMessages or self.messages <= self.lowMessages)
        )

    def _pause(self) -> None:
        if self._stopped:
            return
        self.paused = True
        self.pauses += 1
        self._stats.increment("paused")
        if self._backpressure is not None:
            self._backpressure.pause(self._output)

    def _resume(self) -> None:
        self.paused = False
        if self._backpressure is not None:
            self._backpressure.resume(self._output)
