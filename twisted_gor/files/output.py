# -*- test-case-name: tests.test_fileoutput -*-
"""
C{--output-file}: write messages in .gor framing, optionally gzip-compressed,
rotated by size or record count, with C{%} name patterns.

Records are buffered on the reactor thread and written, flushed and rotated in
order by a worker thread; only whole records are ever written, so a stopped
gor leaves whole records only. A disk slower than the input pauses pausable
inputs; past a hard backlog, records are dropped and counted.

A failed write (a full disk) cuts the file back to its last whole record,
counts C{written} only for what the OS took and the rest as
C{dropped.write_failed}, logs one error and closes this output for good
(L{twisted_gor.base.Failing}: gor exits 1). Files are created with
C{FileOutputConfig.mode} (0600).
"""

from __future__ import annotations

import gzip
import os
import stat
from dataclasses import dataclass
from typing import IO, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._blockingio import SerialWorker
from twisted_gor._interfaces import IBatchWriter
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.files.names import expandName, hasTokens, nextChunkIndex, withChunkIndex
from twisted_gor.framing import encodeMessage, encodeRecords
from twisted_gor.limiter import Limit
from twisted_gor.message import Message

WRITE_THRESHOLD = 256 * 1024
"""Buffered bytes that trigger a write without waiting for the flush timer."""


def _iovMax() -> int:
    try:
        return max(16, os.sysconf("SC_IOV_MAX"))
    except (AttributeError, ValueError, OSError):
        return 1024


IOV_MAX = _iovMax()
"""Pieces given to one C{writev} call (the system's limit)."""


class WriteFailed(Exception):
    """
    Writing a batch failed; the file was cut back to its last whole record.

    @ivar written: records of the batch that are in the file.
    @ivar error: the OS error.
    """

    def __init__(self, written: int, error: OSError) -> None:
        Exception.__init__(self, written, error)
        self.written = written
        self.error = error

    def __str__(self) -> str:
        return self.error.strerror or str(self.error)


class _FdWriter:
    """
    An unbuffered file descriptor writer that writes everything it is given
    (looping over short writes) and knows its offset: what it returned from
    is with the OS.
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.offset = os.lseek(fd, 0, os.SEEK_END)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            self.offset += n
            view = view[n:]
        return len(data)

    def writePieces(self, records: list[bytes]) -> int:
        """
        Write C{records} in order with C{writev} (at most L{IOV_MAX} a call,
        looping over short writes), without joining them into one copy
        first; return how many bytes were written.
        """
        if len(records) == 1:
            return self.write(records[0])
        pieces: list[bytes | memoryview] = list(records)
        total = 0
        first = 0
        count = len(pieces)
        while first < count:
            n = os.writev(self.fd, pieces[first : first + IOV_MAX])
            self.offset += n
            total += n
            while first < count and n >= len(pieces[first]):
                n -= len(pieces[first])
                first += 1
            if n:
                # a short write ended inside a piece: the rest of it first
                pieces = [memoryview(pieces[first])[n:], *pieces[first + 1 :]]
                count = len(pieces)
                first = 0
        return total

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


class _OpenFile:
    """
    A file as the worker thread sees it (only touched on that thread).

    Records are written in batches; after each batch the file ends on a
    record boundary (a gzip stream is sync-flushed), and that offset is kept,
    so a failed write (disk full) cuts the file back to it: the file never
    holds part of a record.
    """

    def __init__(self, path: str, append: bool, mode: int) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | getattr(os, "O_CLOEXEC", 0)
        appended = append and os.path.exists(path)
        fd = os.open(path, flags, mode)
        if not appended and stat.S_ISREG(os.fstat(fd).st_mode):
            # Exactly the mode asked for, whatever the umask, on the regular
            # files created or truncated here; a file appended to keeps its
            # mode, and devices (/dev/null) are never touched.
            os.fchmod(fd, mode)
        self.raw = _FdWriter(fd, path)
        self.stream: Any = (
            gzip.GzipFile(filename=os.path.basename(path), fileobj=self.raw, mode="wb")
            if path.endswith(".gz")
            else self.raw
        )
        self.whole = self.raw.offset

    def writeRecords(self, records: list[bytes], sizes: list[int] | None = None) -> int:
        """
        Write C{records} (pieces of whole records, of C{sizes} bytes each
        when given, else one record a piece); return how many bytes reached
        the file.

        @raise WriteFailed: after cutting the file back to its last whole
            record (of this batch, when some fit).
        """
        start = self.raw.offset
        try:
            if self.stream is self.raw:
                self.raw.writePieces(records)
            else:
                self.stream.write(b"".join(records))
                self.stream.flush()
        except OSError as e:
            written = 0
            if self.stream is self.raw:
                # The bytes the OS took: keep the whole records among them.
                took = self.raw.offset - start
                size = 0
                for length in map(len, records) if sizes is None else sizes:
                    if size + length > took:
                        break
                    size += length
                    written += 1
                self.whole = start + size
            self._cutBack()
            raise WriteFailed(written, e) from None
        self.whole = self.raw.offset
        return self.raw.offset - start

    def _cutBack(self) -> None:
        try:
            os.ftruncate(self.raw.fd, self.whole)
        except OSError:
            pass

    def flush(self) -> None:
        """
        Nothing is buffered here: each batch went to the OS when written.
        """

    def close(self) -> None:
        """
        Close (writing the gzip trailer); on a failure cut back to the last
        whole record and close anyway.
        """
        try:
            if self.stream is not self.raw:
                self.stream.close()
        except OSError:
            self._cutBack()
            raise
        finally:
            self.raw.close()

    def abandon(self) -> None:
        """
        Close after a failure, without writing anything more.
        """
        self._cutBack()
        try:
            self.raw.close()
        except OSError:
            pass


class _AlreadyFailed(Exception):
    """
    A job submitted after the file failed; its records are counted as lost.
    """


@implementer(IBatchWriter)
class FileOutput(OutputBase):
    """
    Writes records to a file (or a series of files).
    """

    log = Logger()
    workerFactory: Any = SerialWorker
    pauseBacklog = 32 * 1024 * 1024
    dropBacklog = 64 * 1024 * 1024

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
        self._sizes: list[int] = []
        """The size of each record in C{_buffer} (a piece may hold many)."""
        self._buffered = 0
        self.flow.highBytes = self.pauseBacklog
        self.flow.lowBytes = self.pauseBacklog // 2
        self.flow.maxBytes = self.dropBacklog
        self._fileBytes = 0
        self._fileRecords = 0
        self._total = 0
        self._failed = False
        self._dead = False
        """Set on the worker thread once the file cannot be written."""
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
        flow = self.flow
        if flow.bytes + buffered > flow.maxBytes:
            # (buffered records count towards the bound; the flow itself
            # is told per batch, when they are submitted)
            self.stats.increment("dropped.backlog")
            return
        if self._naming or self._name is None:
            name = self._targetName(message)
            if name != self._name:
                self._switchTo(name)
                buffered = size
        self._buffer.append(data)
        self._sizes.append(size)
        self._buffered = buffered
        self._fileBytes += size
        self._fileRecords += 1
        self._total += size
        if buffered >= WRITE_THRESHOLD:
            self._submitBuffer()

    def writeMany(self, messages: list[Message]) -> None:
        """
        Buffer a batch as one piece when nothing applies per record (one
        file, no rotation, within the bounds); else record by record.
        """
        if not messages:
            return
        data, sizes = encodeRecords(messages)
        size = len(data)
        buffered = self._buffered + size
        if (
            self._failed
            or self._worker is None
            or self._naming
            or self._name is None
            or (self.config.maxSize and self._total + size > self.config.maxSize)
            or self.flow.bytes + buffered > self.flow.maxBytes
        ):
            for message in messages:
                self.write(message)
            return
        self._buffer.append(data)
        self._sizes.extend(sizes)
        self._buffered = buffered
        self._fileBytes += size
        self._fileRecords += len(messages)
        self._total += size
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

        mode = self.config.mode

        def reopen() -> None:
            if self._dead:
                raise _AlreadyFailed()
            old, self._file = self._file, None
            if old is not None:
                try:
                    old.close()
                except OSError:
                    self._dead = True
                    raise
            try:
                self._file = _OpenFile(name, append, mode)
            except OSError:
                self._dead = True
                raise

        self._worker.submit(reopen).addErrback(self._writeFailed)

    def _submitBuffer(self) -> None:
        if not self._buffer or self._worker is None:
            return
        records, sizes = self._buffer, self._sizes
        self.flow.add(self._buffered, len(sizes))
        self._buffer = []
        self._sizes = []
        self._buffered = 0
        self._worker.submit(self._writeData, records, sizes).addCallbacks(
            self._written, self._writeFailed, callbackArgs=(len(sizes),), errbackArgs=(len(sizes),)
        )

    def _writeData(self, records: list[bytes], sizes: list[int] | None = None) -> int:
        """
        On the worker thread: write one batch, or give up on the file after
        the first failure (cut back to its last whole record).
        """
        if self._dead or self._file is None:
            raise _AlreadyFailed()
        try:
            self._file.writeRecords(records, sizes)
        except WriteFailed:
            self._dead = True
            self._file.abandon()
            self._file = None
            raise
        return sum(map(len, records))

    def _written(self, size: int, count: int) -> None:
        self.written += count
        self.flow.remove(size, count)

    def _writeFailed(self, failure: Failure, count: int = 0) -> None:
        """
        A batch (of C{count} records), an open, a rotation or the close
        failed: count what was lost, log once, close this output for good.
        """
        lost = count
        if isinstance(failure.value, WriteFailed):
            self.written += failure.value.written
            lost = count - failure.value.written
        if lost:
            self.stats.increment("dropped.write_failed", lost)
        if failure.check(_AlreadyFailed):
            return
        first = not self._failed
        self._failed = True
        self.stats.increment("failed.write")
        # Nothing more will be written: whatever paused the inputs is gone.
        self.flow.release()
        if not first:
            return
        if failure.check(WriteFailed, OSError):
            error = failure.value
            reason = f"cannot write {self._name}: {error}"
            self.log.error(
                "{name}: {reason}; the file ends with its last whole record; "
                "this output is closed, the others go on, gor will exit 1",
                name=self.name,
                reason=reason,
            )
        else:
            reason = f"writing failed: {failure.getErrorMessage()}"
            self.log.failure("{name}: writing failed; this output is closed", failure, name=self.name)
        self.reportFailure(reason)

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
                f, self._file = self._file, None
                f.close()

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
    @ivar mode: permission bits of the files this output creates (or
        truncates), applied exactly, whatever the umask; 0600 because
        recordings hold production traffic (cookies, tokens, personal data).
    """

    pathTemplate: str
    limit: Limit | None = None
    append: bool = False
    flushInterval: float = 1.0
    sizeLimit: int = 0
    queueLimit: int = 0
    maxSize: int = 0
    mode: int = 0o600

    def build(self, context: BuildContext) -> FileOutput:
        """
        Build the output.
        """
        return FileOutput(self, context.reactor)
