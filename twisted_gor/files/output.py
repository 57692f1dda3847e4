# -*- test-case-name: tests.test_fileoutput -*-
"""
C{--output-file}: write messages in .gor framing, optionally gzip-compressed,
rotated by size or record count, with C{%} name patterns.

Records are buffered on the reactor thread and written, flushed and rotated in
order by a worker thread; only whole records are ever written, so a stopped
gor leaves whole records only. A disk slower than the input pauses pausable
inputs; past a hard backlog, records are dropped and counted.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import IO, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor._blockingio import SerialWorker
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.files.names import expandName, hasTokens, nextChunkIndex, withChunkIndex
from twisted_gor.framing import encodeMessage
from twisted_gor.limiter import Limit
from twisted_gor.message import Message

WRITE_THRESHOLD = 256 * 1024
"""Buffered bytes that trigger a write without waiting for the flush timer."""


class _OpenFile:
    """
    A file as the worker thread sees it (only touched on that thread).
    """

    def __init__(self, path: str, append: bool) -> None:
        self.path = path
        self.raw: IO[bytes] = open(path, "ab" if append else "wb")
        self.stream: Any = gzip.GzipFile(fileobj=self.raw, mode="wb") if path.endswith(".gz") else self.raw

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()
        if self.stream is not self.raw:
            self.raw.flush()

    def close(self) -> None:
        if self.stream is not self.raw:
            self.stream.close()
        self.raw.close()


class FileOutput(OutputBase):
    """
    Writes records to a file (or a series of files).
    """

    log = Logger()
    workerFactory: Any = SerialWorker
    pauseBacklog = 32 * 1024 * 1024
    dropBacklog = 256 * 1024 * 1024

    def __init__(self, config: "FileOutputConfig", reactor: Any = None) -> None:
        OutputBase.__init__(self, f"output_file({config.pathTemplate})")
        self.config = config
        self._reactor = resolveReactor(reactor)
        self._dynamic = hasTokens(config.pathTemplate)
        self._perMessage = "%r" in config.pathTemplate or "%t" in config.pathTemplate
        self._rotating = config.sizeLimit > 0 or config.queueLimit > 0
        self._naming = self._rotating or self._dynamic
        self.written = 0
        self.stats.track("written", lambda: self.written)
        self._worker: Any = None
        self._flusher: LoopingCall | None = None
        self._file: _OpenFile | None = None
        self._name: str | None = None
        self._baseName: str | None = None
        self._chunk = 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.flow.highBytes = self.pauseBacklog
        self.flow.lowBytes = self.pauseBacklog // 2
        self.flow.maxBytes = self.dropBacklog
        self._fileBytes = 0
        self._fileRecords = 0
        self._total = 0
        self._failed = False
        self._maxSizeLogged = False

    def startService(self) -> None:
        OutputBase.startService(self)
        self._worker = self.workerFactory(self._reactor, "gor-output-file")
        self._flusher = LoopingCall(self._flushTick)
        self._flusher.clock = self._reactor
        self._flusher.start(self.config.flushInterval, now=False)

    # -- naming --

    def _targetName(self, message: Message) -> str:
        template = self.config.pathTemplate
        base = expandName(template, message, self._reactor.seconds()) if self._dynamic else template
        if base != self._baseName:
            self._baseName = base
            if self._rotating:
                self._chunk = nextChunkIndex(base)
            self._fileBytes = self._fileRecords = 0
        elif self._rotating and self._fileRecords and (
            (self.config.sizeLimit and self._fileBytes >= self.config.sizeLimit)
            or (self.config.queueLimit and self._fileRecords >= self.config.queueLimit)
        ):
            self._chunk += 1
            self._fileBytes = self._fileRecords = 0
        return withChunkIndex(base, self._chunk) if self._rotating else base

    # -- writing --

    def write(self, message: Message) -> None:
        """
        Buffer one record (rotating first if the name changes).
        """
        if self._failed or self._worker is None:
            self.stats.increment("dropped.closed")
            return
        data = encodeMessage(message)
        size = len(data)
        buffered = self._buffered + size
        if self.config.maxSize and self._total + size > self.config.maxSize:
            self.stats.increment("dropped.max_size")
            if not self._maxSizeLogged:
                self._maxSizeLogged = True
                self.log.warn("{name}: reached --output-file-max-size-limit; dropping", name=self.name)
            return
        if not self.flow.fits(size):
            self.stats.increment("dropped.backlog")
            return
        if self._naming or self._name is None:
            name = self._targetName(message)
            if name != self._name:
                self._switchTo(name)
                buffered = size
        self._buffer.append(data)
        self._buffered = buffered
        self._fileBytes += size
        self._fileRecords += 1
        self._total += size
        self.written += 1
        self.flow.add(size)
        if buffered >= WRITE_THRESHOLD:
            self._submitBuffer()

    def _switchTo(self, name: str) -> None:
        assert self._worker is not None
        self._submitBuffer()
        self._name = name
        append = self.config.append
        self.stats.increment("files")
        if self._perMessage:
            append = True

        def reopen() -> None:
            if self._file is not None:
                self._file.close()
            self._file = _OpenFile(name, append)

        self._worker.submit(reopen).addErrback(self._writeFailed)

    def _submitBuffer(self) -> None:
        if not self._buffer or self._worker is None:
            return
        count = len(self._buffer)
        data = b"".join(self._buffer)
        self._buffer = []
        self._buffered = 0
        self._worker.submit(self._writeData, data).addCallbacks(
            self._written, self._writeFailed, callbackArgs=(count,)
        )

    def _writeData(self, data: bytes) -> int:
        assert self._file is not None
        self._file.write(data)
        return len(data)

    def _written(self, size: int, count: int) -> None:
        self.flow.remove(size, count)

    def _writeFailed(self, failure: Failure) -> None:
        if not self._failed:
            self.log.failure("{name}: writing failed; dropping from now on", failure, name=self.name)
        self._failed = True
        self.stats.increment("failed.write")
        # Nothing more will be written: whatever paused the inputs is gone.
        self.flow.release()

    def _flushTick(self) -> None:
        self._submitBuffer()
        if self._worker is not None and self._file is not None:
            self._worker.submit(self._flushFile).addErrback(self._writeFailed)

    def whenTaken(self) -> Deferred[None]:
        """
        See L{twisted_gor._interfaces.ITakenReporter}: write what is buffered
        and flush the file on the worker thread (jobs run in order, so every
        record accepted before is then in the OS); fires after that. Records
        this output dropped were counted, so they are taken too.
        """
        if self._failed or self._worker is None:
            return succeed(None)
        self._submitBuffer()
        d = self._worker.submit(self._flushFile)
        d.addErrback(self._writeFailed)
        return d

    def _flushFile(self) -> None:
        if self._file is not None:
            self._file.flush()

    def stopService(self) -> Deferred[None]:
        """
        Write what is buffered, flush and close the file.
        """
        OutputBase.stopService(self)
        if self._flusher is not None and self._flusher.running:
            self._flusher.stop()
        worker = self._worker
        if worker is None:
            return succeed(None)
        self._submitBuffer()
        self._worker = None

        def close() -> None:
            if self._file is not None:
                self._file.close()
                self._file = None

        worker.submit(close).addErrback(self._writeFailed)
        return worker.stop()


@dataclass
class FileOutputConfig:
    """
    Configuration of L{FileOutput}.

    @ivar pathTemplate: the path, with optional C{%} tokens.
    @ivar sizeLimit: rotate after this many bytes (0 = never).
    @ivar queueLimit: rotate after this many records (0 = never).
    @ivar maxSize: stop writing after this many bytes in all (0 = no limit).
    """

    pathTemplate: str
    limit: Limit | None = None
    append: bool = False
    flushInterval: float = 1.0
    sizeLimit: int = 0
    queueLimit: int = 0
    maxSize: int = 0

    def build(self, context: BuildContext) -> FileOutput:
        """
        Build the output.
        """
        return FileOutput(self, context.reactor)
