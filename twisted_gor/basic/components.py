# -*- test-case-name: tests.test_basic -*-
"""
Simple inputs and outputs: C{--input-dummy}, C{--output-null} and
C{--output-stdout} (Gor's C{--output-dummy}).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any

from twisted.internet import abstract, fdesc
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._blockingio import SerialWorker
from twisted_gor._interfaces import IBatchWriter
from twisted_gor.base import InputBase, OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import encodeMessage, encodeRecords
from twisted_gor.limiter import Limit
from twisted_gor.message import REQUEST, Message, newRequestId


class DummyInput(InputBase):
    """
    Emits a C{GET /} request every C{interval} seconds (Gor's C{--input-dummy}).
    """

    payload = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Gor\r\n\r\n"

    def __init__(self, reactor: Any = None, interval: float = 1.0) -> None:
        InputBase.__init__(self, "input_dummy")
        self._reactor = resolveReactor(reactor)
        self._interval = interval
        self._loop: LoopingCall | None = None

    def startService(self) -> None:
        InputBase.startService(self)
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._reactor
        self._loop.start(self._interval, now=True)

    def _tick(self) -> None:
        if self.paused:
            self.stats.increment("skipped.paused")
            return
        now = int(self._reactor.seconds() * 1e9)
        self.emit(Message(REQUEST, newRequestId(), now, -1, self.payload))

    def stopService(self) -> None:
        InputBase.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()


@dataclass
class DummyInputConfig:
    """
    Configuration of L{DummyInput}.
    """

    limit: Limit | None = None
    interval: float = 1.0

    def build(self, context: BuildContext) -> DummyInput:
        """
        Build the input.
        """
        return DummyInput(context.reactor, self.interval)


@implementer(IBatchWriter)
class NullOutput(OutputBase):
    """
    Counts and discards everything (C{--output-null}).

    @ivar written: messages counted (C{written} in its stats).
    """

    def __init__(self) -> None:
        OutputBase.__init__(self, "output_null")
        self.written = 0
        self.stats.track("written", lambda: self.written)

    def write(self, message: Message) -> None:
        """
        Count and drop.
        """
        self.written += 1

    def writeMany(self, messages: list[Message]) -> None:
        """
        Count and drop a batch (L{IBatchWriter}).
        """
        self.written += len(messages)


@dataclass
class NullOutputConfig:
    """
    Configuration of L{NullOutput}.
    """

    limit: Limit | None = None

    def build(self, context: BuildContext) -> NullOutput:
        """
        Build the output.
        """
        return NullOutput()


class _FDWriter(abstract.FileDescriptor):
    """
    Non-blocking writer for a pipe or terminal file descriptor.
    """

    def __init__(self, reactor: Any, fd: int, onLost: Any) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._fd = fd
        self._onLost = onLost
        self.connected = 1
        fdesc.setNonBlocking(fd)

    def fileno(self) -> int:
        return self._fd

    def writeSomeData(self, data: bytes) -> Any:
        return fdesc.writeToFD(self._fd, data)

    def doRead(self) -> None:
        """
        Never reads.
        """

    def connectionLost(self, reason: Failure) -> None:
        abstract.FileDescriptor.connectionLost(self, reason)
        self._onLost(reason)


@implementer(IPushProducer, IBatchWriter)
class StdoutOutput(OutputBase):
    """
    Writes every message in .gor framing to a file descriptor (stdout).

    A pipe or terminal is written without blocking, and a slow reader pauses
    pausable inputs; while it is paused, at most C{maxBacklog} more bytes are
    buffered and the rest dropped and counted. A regular file is written from
    a worker thread.
    """

    log = Logger()
    maxBacklog = 64 * 1024 * 1024

    def __init__(self, reactor: Any = None, fd: int = 1) -> None:
        OutputBase.__init__(self, "output_stdout")
        self._reactor = resolveReactor(reactor)
        self._fd = fd
        self._writer: _FDWriter | None = None
        self._worker: SerialWorker | None = None
        self._closed: Deferred[None] | None = None
        self._broken = False
        self._backlog: int | None = None

    def startService(self) -> None:
        OutputBase.startService(self)
        if stat.S_ISREG(os.fstat(self._fd).st_mode):
            self._worker = SerialWorker(self._reactor, "gor-stdout")
        else:
            self._writer = _FDWriter(self._reactor, self._fd, self._lost)
            self._writer.registerProducer(self, True)

    def write(self, message: Message) -> None:
        """
        Frame and write one message.
        """
        if self._broken:
            self.stats.increment("dropped.closed")
            return
        data = encodeMessage(message)
        sent = self._send(data, 1)
        if sent == "backlog":
            self.stats.increment("dropped.backlog")
        elif sent == "sent":
            self.stats.increment("written")

    def writeMany(self, messages: list[Message]) -> None:
        """
        Frame and write a batch in one write (L{IBatchWriter}); record by
        record when it would cross the backlog bound.
        """
        if self._broken or not messages:
            for message in messages:
                self.write(message)
            return
        sent = self._send(encodeRecords(messages)[0], len(messages))
        if sent == "backlog":
            for message in messages:
                self.write(message)
        elif sent == "sent":
            self.stats.increment("written", len(messages))

    def _send(self, data: bytes, count: int) -> str:
        """
        Hand C{data} (C{count} records) to the pipe writer or the file
        worker: C{"sent"}, C{"backlog"} (it would cross L{maxBacklog} while
        the reader is slow; nothing written) or C{"not started"} (counted).
        """
        if self._writer is not None:
            if self._backlog is not None:
                # The reader is slow and the descriptor asked us to pause;
                # what live inputs keep sending is bounded here.
                if self._backlog + len(data) > self.maxBacklog:
                    return "backlog"
                self._backlog += len(data)
            self._writer.write(data)
        elif self._worker is not None:
            self._worker.submit(os.write, self._fd, data).addErrback(self._failed)
        else:
            self.stats.increment("dropped.not_started", count)
            return "not started"
        return "sent"

    def _failed(self, failure: Failure) -> None:
        if not self._broken:
            self.log.failure("writing to stdout failed", failure)
        self._broken = True
        self.stats.increment("failed.write")
        self.flow.release()

    def _lost(self, reason: Failure) -> None:
        self._broken = True
        self.flow.release()
        if self._closed is not None:
            d, self._closed = self._closed, None
            d.callback(None)

    def pauseProducing(self) -> None:
        """
        The descriptor's buffer is full (it says so again at every write while
        it stays full).
        """
        if self._backlog is None:
            self._backlog = 0
        self.flow.block()

    def resumeProducing(self) -> None:
        """
        The descriptor's buffer drained.
        """
        self._backlog = None
        self.flow.unblock()

    def stopProducing(self) -> None:
        """
        The descriptor is gone.
        """
        self._broken = True
        self.flow.release()

    def stopService(self) -> Deferred[None]:
        OutputBase.stopService(self)
        if self._worker is not None:
            worker, self._worker = self._worker, None
            return worker.stop()
        if self._writer is not None and not self._broken:
            self._closed = Deferred()
            writer, self._writer = self._writer, None
            writer.unregisterProducer()
            writer.loseConnection()
            return self._closed
        return succeed(None)


@dataclass
class StdoutOutputConfig:
    """
    Configuration of L{StdoutOutput}.
    """

    limit: Limit | None = None
    fd: int = 1

    def build(self, context: BuildContext) -> StdoutOutput:
        """
        Build the output.
        """
        return StdoutOutput(context.reactor, self.fd)
