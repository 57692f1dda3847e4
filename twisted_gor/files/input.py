# -*- test-case-name: tests.test_fileinput -*-
"""
C{--input-file}: replay .gor files (or globs of them, .gz included) with the
original gaps between records.

Records of all files are merged by timestamp (each file reordered within a
read-ahead window of C{readDepth} records). What is read ahead is bounded in
records and in bytes (C{readAheadSize} across all files: a file with nothing
buffered may still read one chunk, so the merge never waits for a file that
is not allowed to read); nothing is read while the input is paused.
Emission times are absolute deadlines, C{start + (timestamp - first
timestamp) / speed}, so errors do not accumulate over a long replay;
C{maxWait} caps one gap. File reads happen on a worker thread, never on the
reactor thread. One file whose records come in order skips the window's heap
(the head of what is read is then the oldest record), emitting exactly what
the window would; its first record out of order hands everything held to the
window.
"""

from __future__ import annotations

import glob
import gzip
import heapq
import math
import operator
import os
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from zope.interface import implementer

from twisted_gor._blockingio import SerialWorker
from twisted_gor._interfaces import IProgressSource
from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import RecordDecoder
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.pacing import DueCall, Pacer

CHUNK_SIZE = 1 << 20
MAX_RECORD_SIZE = 256 << 20
BATCH = 2000
"""Most messages emitted in one reactor turn before yielding."""

_payloadOf = operator.attrgetter("payload")
_timestampOf = operator.attrgetter("timestamp")


def expandInputFiles(pattern: str) -> list[str]:
    """
    The files a C{--input-file} value names: a path or a glob, sorted.
    """
    if any(c in pattern for c in "*?["):
        return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    return [pattern] if os.path.isfile(pattern) else []


class _Corrupt(Exception):
    def __init__(self, salvaged: bytes, error: zlib.error) -> None:
        Exception.__init__(self, error)
        self.salvaged = salvaged
        self.error = error


def _salvage(before: Any, data: bytes) -> bytes:
    """
    What the longest cleanly decompressible prefix of C{data} yields, from
    the decompressor state C{before} (bisected on copies of it).
    """
    lo, hi, best = 0, len(data), b""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            out = before.copy().decompress(data[:mid])
        except zlib.error:
            hi = mid
        else:
            lo, best = mid, out
    return best


class GzipReader:
    """
    Decompress a gzip file (of one or more members) so that an error loses
    nothing decompressed before it.

    C{GzipFile.read(n)} discards everything it decompressed in that call when
    it meets corrupt data; here the data before the error is returned first
    (the last piece of input is bisected to find how much of it decompresses
    cleanly), and the error is raised by the next L{read}.
    """

    piece = 64 * 1024
    """Compressed bytes fed at a time."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0
        """Compressed bytes read so far (progress)."""
        self._decompressor = self._new()
        self._error: BaseException | None = None
        self._started = False
        self._eof = False

    @staticmethod
    def _new() -> Any:
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def read(self, size: int) -> bytes:
        """
        Up to about C{size} decompressed bytes; C{b""} at the end.

        @raise gzip.BadGzipFile: corrupt data, once everything before it was
            returned.
        @raise EOFError: the file ends inside a gzip member (a recording cut
            short), likewise.
        """
        if self._error is not None:
            error, self._error = self._error, None
            self._eof = True
            raise error
        out: list[bytes] = []
        have = 0
        while have < size and not self._eof:
            data = self._raw.read(self.piece)
            self.consumed += len(data)
            if not data:
                self._eof = True
                if self._started and not self._decompressor.eof:
                    self._error = EOFError("compressed file ended before the end-of-stream marker was reached")
                break
            try:
                chunk = self._feed(data)
            except _Corrupt as e:
                chunk = e.salvaged
                self._error = gzip.BadGzipFile(f"corrupt gzip data: {e.error}")
                self._eof = True
            out.append(chunk)
            have += len(chunk)
        if not out and self._error is not None:
            return self.read(size)
        return b"".join(out)

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._started = True
            before = self._decompressor.copy()
            try:
                out.append(self._decompressor.decompress(data))
            except zlib.error as e:
                out.append(_salvage(before, data))
                raise _Corrupt(b"".join(out), e) from None
            if not self._decompressor.eof:
                break
            # Another member may follow (gzip files can be concatenated).
            data = self._decompressor.unused_data.lstrip(b"\x00")
            self._decompressor = self._new()
            self._started = False
        return b"".join(out)

    def close(self) -> None:
        """
        Close the file.
        """
        self._raw.close()


def _openFile(path: str) -> IO[bytes]:
    raw = open(path, "rb")
    magic = raw.read(2)
    raw.seek(0)
    if path.endswith(".gz") or magic == b"\x1f\x8b":
        return GzipReader(raw)  # type: ignore[return-value]
    return raw


def _readChunk(f: IO[bytes]) -> bytes:
    return f.read(CHUNK_SIZE)


class _FileStream:
    """
    One file being read: decoded records waiting in a timestamp-ordered window.
    """

    def __init__(self, path: str, owner: "FileInput", ordered: bool = False) -> None:
        self.path = path
        self.owner = owner
        # In order (every record so far at or after the one before): the
        # window would give them back as read, so they stay in ``pending``
        # and go out in batches (L{FileInput._emitOrdered}); the first
        # record out of order moves them into the window for good.
        self.ordered = ordered
        self.lastTimestamp = -(1 << 63)
        self.file: IO[bytes] | None = None
        self.decoder = RecordDecoder(self._malformed, MAX_RECORD_SIZE)
        self.pending: deque[Message] = deque()
        self.window: list[tuple[int, int, Message]] = []
        self.seq = 0
        self.reading = False
        self.eof = False
        self.size: int | None = None
        self.bytesRead = 0

    @property
    def consumed(self) -> int:
        """
        Bytes of the file on disk read so far (compressed ones for gzip).
        """
        if isinstance(self.file, GzipReader):
            return self.file.consumed
        return self.bytesRead

    def _malformed(self, offset: int, reason: str) -> None:
        self.owner.skipped(self.path, offset, reason)

    def fill(self, depth: int) -> None:
        """
        Move decoded records into the window up to C{depth}.
        """
        if self.ordered:
            return
        window, pending = self.window, self.pending
        while len(window) < depth and pending:
            m = pending.popleft()
            self.seq += 1
            heapq.heappush(window, (m.timestamp, self.seq, m))

    @property
    def ready(self) -> bool:
        """
        Whether the head of the window is this file's next record: certainly
        (the window is full or the file ended), or as far as the read-ahead
        budget lets us know (it is spent: reading on would not come).
        """
        return bool(self.window) and (
            self.eof or len(self.window) >= self.owner.readDepth or self.owner.readAheadFull
        )

    @property
    def done(self) -> bool:
        """
        Fully read and emitted.
        """
        return self.eof and not self.window and not self.pending


@implementer(IProgressSource)
class FileInput(InputBase):
    """
    Replays records from files at their recorded pace (times C{speed}).
    """

    log = Logger()
    workerFactory: Any = SerialWorker
    orderedPath = True
    """Whether one file whose records come in order skips the reordering
    window (L{_emitOrdered}, L{_emitOrderedPaced}); the tests turn it off to
    get the window's path as the reference."""

    def __init__(self, config: "FileInputConfig", reactor: Any = None) -> None:
        InputBase.__init__(self, f"input_file({config.pattern})")
        self.config = config
        self.readDepth = config.readDepth
        self._reactor = resolveReactor(reactor)
        self._worker: Any = None
        self._streams: list[_FileStream] = []
        self._due = DueCall(self._reactor, self._emitDue)
        self._exhausted: Deferred[None] = Deferred()
        self._running = False
        self._pacer = Pacer(config.speed, config.maxWait)
        self._startedAt = 0.0
        self._malformedLogged = 0
        self._lookahead = max(4096, config.readDepth * 2)
        self._heldBytes = 0
        self._readAheadSize = config.readAheadSize if config.readAheadSize > 0 else FileInputConfig.readAheadSize

    # -- lifecycle --

    def startService(self) -> None:
        InputBase.startService(self)
        self._worker = self.workerFactory(self._reactor, "gor-input-file")
        self._running = True
        self._startedAt = self._reactor.seconds()
        self._openAll()

    def stopService(self) -> Deferred[None]:
        InputBase.stopService(self)
        self._running = False
        self._cancel()
        worker, self._worker = self._worker, None
        streams, self._streams = self._streams, []
        if worker is None:
            from twisted.internet.defer import succeed

            return succeed(None)
        for s in streams:
            if s.file is not None:
                worker.submit(s.file.close)
        return worker.stop()

    def whenExhausted(self) -> Deferred[None] | None:
        """
        Fires when every file was replayed; when looping, only if the loop
        cannot go on (nothing valid to replay, no file left): gor then stops
        and exits 1 (L{twisted_gor.base.Failing}).
        """
        return self._exhausted

    def progress(self) -> tuple[int, int] | None:
        """
        See L{IProgressSource.progress}: bytes of the files replayed of
        their size on disk (records read ahead but not yet emitted are not
        done); L{None} before the files are open, or when looping.
        """
        streams = self._streams
        if self.config.loop or not streams or any(s.size is None for s in streams):
            return None
        total = sum(s.size or 0 for s in streams)
        consumed = sum(s.consumed for s in streams)
        # Records read ahead are not done yet: the share of the records read
        # that still wait (records of a recording are of similar sizes).
        read = self.stats["read"]
        waiting = sum(len(s.window) + len(s.pending) for s in streams)
        done = int(consumed * max(0.0, 1.0 - waiting / read)) if read else 0
        if all(s.done for s in streams):
            done = total
        return min(done, total), total

    def pauseProducing(self) -> None:
        InputBase.pauseProducing(self)
        self._cancel()

    def resumeProducing(self) -> None:
        InputBase.resumeProducing(self)
        for stream in self._streams:
            if self._wantsMore(stream):
                self._readMore(stream)
        self._schedule(0)

    # -- read-ahead --

    @property
    def readAheadFull(self) -> bool:
        """
        Whether the records read ahead (of all files) hold C{readAheadSize}
        bytes or more.
        """
        return self._heldBytes >= self._readAheadSize

    def _wantsMore(self, stream: _FileStream) -> bool:
        """
        Whether C{stream} should read another chunk now: not paused, and
        within the record and byte bounds (or holding nothing at all).
        """
        if stream.eof or stream.reading or self.paused or not self._running:
            return False
        if not stream.window and not stream.pending:
            return True
        return len(stream.pending) + len(stream.window) < self._lookahead and not self.readAheadFull

    # -- reading --

    def _openAll(self) -> None:
        paths = expandInputFiles(self.config.pattern) if self.stats["loops"] else self.config.paths
        if not paths:
            self.log.warn("{name}: no file matches any more", name=self.name)
        # One file skips the window while its records come in order: at full
        # speed (|max) they go in batches, at any other speed one by one.
        ordered = len(paths) == 1 and not self.config.dryRun and self.orderedPath
        self._streams = [_FileStream(p, self, ordered) for p in paths]
        self._heldBytes = 0
        self._pacer.restart()
        for stream in self._streams:
            self._readMore(stream)
        if not self._streams:
            self._finish()

    def _readMore(self, stream: _FileStream) -> None:
        if stream.reading or stream.eof or self._worker is None:
            return
        stream.reading = True
        if stream.file is None:
            d = self._worker.submit(self._openAndRead, stream)
        else:
            d = self._worker.submit(_readChunk, stream.file)
        d.addCallbacks(self._gotChunk, self._readFailed, (stream,), errbackArgs=(stream,))

    @staticmethod
    def _openAndRead(stream: _FileStream) -> bytes:
        stream.size = os.path.getsize(stream.path)
        stream.file = _openFile(stream.path)
        return _readChunk(stream.file)

    def _gotChunk(self, data: bytes, stream: _FileStream) -> None:
        stream.reading = False
        if not self._running:
            return
        if data:
            stream.bytesRead += len(data)
            self.stats.increment("bytes", len(data))
            messages = stream.decoder.feed(data)
            self.stats.increment("read", len(messages))
            size = sum(map(len, map(_payloadOf, messages)))
            self._heldBytes += size
            if stream.ordered and messages:
                timestamps = list(map(_timestampOf, messages))
                if timestamps[0] >= stream.lastTimestamp and sorted(timestamps) == timestamps:
                    stream.lastTimestamp = timestamps[-1]
                else:
                    # out of order: the window from now on, as if it had
                    # been used all along (it would hold these same records)
                    stream.ordered = False
            stream.pending.extend(messages)
        else:
            self._endOfFile(stream)
        stream.fill(self.readDepth)
        if self._wantsMore(stream):
            self._readMore(stream)
        self._schedule(0)

    def _readFailed(self, failure: Any, stream: _FileStream) -> None:
        stream.reading = False
        if not self._running:
            return
        self.stats.increment("skipped.read_error")
        self.log.error(
            "{name}: cannot read {path}: {error}", name=self.name, path=stream.path, error=failure.getErrorMessage()
        )
        self._endOfFile(stream)
        self._schedule(0)

    def _endOfFile(self, stream: _FileStream) -> None:
        stream.eof = True
        if stream.decoder.finish():
            self.stats.increment("skipped.truncated")
        if stream.file is not None and self._worker is not None:
            self._worker.submit(stream.file.close)
            stream.file = None

    def skipped(self, path: str, offset: int, reason: str) -> None:
        """
        A malformed record was skipped: count it; log the first ones.
        """
        if reason.startswith("truncated"):
            self.log.warn("{path}: {reason} at byte {offset}", path=path, reason=reason, offset=offset)
            return
        self.stats.increment("skipped.malformed")
        self._malformedLogged += 1
        if self._malformedLogged <= 20:
            self.log.warn(
                "{path}: skipped malformed record at byte {offset}: {reason}", path=path, offset=offset, reason=reason
            )
        elif self._malformedLogged == 21:
            self.log.warn("{path}: more malformed records; counting them without logging", path=path)

    # -- emitting --

    def _cancel(self) -> None:
        self._due.cancel()

    def _schedule(self, delay: float) -> None:
        if self._running and not self.paused:
            self._due.schedule(delay)

    def _next(self) -> _FileStream | None:
        """
        The stream holding the earliest next record, or None when one must be
        waited for.
        """
        best: _FileStream | None = None
        for stream in self._streams:
            if stream.done:
                continue
            if not stream.ready:
                return None
            if best is None or stream.window[0][:2] < best.window[0][:2]:
                best = stream
        return best

    def _emitDue(self) -> None:
        if not self._running:
            return
        pacer = self._pacer
        dryRun = self.config.dryRun
        now = self._reactor.seconds()
        budget = BATCH
        streams = self._streams
        single = streams[0] if len(streams) == 1 else None
        if single is not None and single.ordered:
            if self._pacer.speed == math.inf:
                self._emitOrdered(single, now)
            else:
                self._emitOrderedPaced(single, now)
            return
        if single is not None and not dryRun:
            budget = self._emitSingle(single, now, budget)
            if budget <= 0:
                return
        while not self.paused:
            if single is not None:
                stream: _FileStream | None = single if single.ready else None
            else:
                stream = self._next()
            if stream is None:
                if all(s.done for s in streams):
                    self._finish()
                    return
                # Waiting for a file that stopped reading at the budget,
                # which emitting the others has freed since.
                for s in streams:
                    if not s.ready and self._wantsMore(s):
                        self._readMore(s)
                return
            timestamp = stream.window[0][0]
            deadline = pacer.deadline(timestamp, now)
            if deadline > now and not dryRun:
                self._schedule(deadline - now)
                return
            if pacer.advance(timestamp, deadline):
                self.stats.increment("negative_wait")
            message = heapq.heappop(stream.window)[2]
            size = len(message.payload)
            self._heldBytes -= size
            if stream.pending:
                stream.fill(self.readDepth)
            if (
                not stream.eof
                and not stream.reading
                and (len(stream.pending) < self._lookahead // 2 or not stream.window)
                and self._wantsMore(stream)
            ):
                self._readMore(stream)
            if dryRun:
                self.stats.increment("dry_run")
            else:
                self.emit(message)
            budget -= 1
            if budget == 0:
                self._schedule(0)
                return

    def _emitOrdered(self, stream: _FileStream, now: float) -> None:
        """
        L{_emitDue} for one file at full speed whose records came in order:
        what the window would emit (each record once C{readDepth} records
        from it on are read, or the file ended, or the read-ahead budget is
        spent), in batches of up to L{BATCH} records.
        """
        pending = stream.pending
        depth = self.readDepth
        popleft = pending.popleft
        budget = BATCH
        while budget > 0 and self._running and not self.paused and stream.ordered:
            count = len(pending) if stream.eof else len(pending) - depth + 1
            if count <= 0:
                if not pending or self._heldBytes < self._readAheadSize:
                    break
                count = 1
            if count > budget:
                count = budget
            batch = [popleft() for _ in range(count)]
            self._heldBytes -= sum(map(len, map(_payloadOf, batch)))
            taken = self.emitMany(batch)
            if taken < count:
                # paused on the way: the rest waits, in order
                rest = batch[taken:]
                pending.extendleft(reversed(rest))
                self._heldBytes += sum(map(len, map(_payloadOf, rest)))
            if taken:
                self._pacer.advance(batch[taken - 1].timestamp, now)
            budget -= count
            if not stream.reading and not stream.eof and len(pending) < self._lookahead // 2 and self._wantsMore(stream):
                self._readMore(stream)
        self._afterOrdered(stream, budget)

    def _emitOrderedPaced(self, stream: _FileStream, now: float) -> None:
        """
        L{_emitDue} for one file at a recorded pace whose records came in
        order: what the window would emit, each record once it is due, one
        by one, without the window's heap (in order, its head is the
        oldest record read).
        """
        pending = stream.pending
        depth = self.readDepth
        half = self._lookahead // 2
        readAheadSize = self._readAheadSize
        pacer = self._pacer
        receive = self.receiver.messageReceived  # type: ignore[union-attr]
        budget = BATCH
        while budget > 0 and pending and self._running and not self.paused and stream.ordered:
            # stream.ready: depth records from this one on are read, or the
            # file ended, or the read-ahead budget is spent
            if not (stream.eof or len(pending) >= depth or self._heldBytes >= readAheadSize):
                break
            message = pending[0]
            timestamp = message.timestamp
            deadline = pacer.deadline(timestamp, now)
            if deadline > now:
                self._schedule(deadline - now)
                return
            if pacer.advance(timestamp, deadline):
                self.stats.increment("negative_wait")
            pending.popleft()
            self._heldBytes -= len(message.payload)
            if not stream.reading and not stream.eof and len(pending) < half and self._wantsMore(stream):
                self._readMore(stream)
            self.emitted += 1
            receive(message)
            budget -= 1
        self._afterOrdered(stream, budget)

    def _afterOrdered(self, stream: _FileStream, budget: int) -> None:
        """
        What follows a turn of L{_emitOrdered} or L{_emitOrderedPaced} that
        did not schedule the next itself.
        """
        if not self._running:
            return
        if not stream.ordered:
            # a read turned it over to the window
            stream.fill(self.readDepth)
            self._schedule(0)
        elif budget <= 0:
            self._schedule(0)
        elif stream.done:
            self._finish()
        elif self._wantsMore(stream):
            self._readMore(stream)

    def _emitSingle(self, stream: _FileStream, now: float, budget: int) -> int:
        """
        L{_emitDue}'s loop for one file (the common case), inlined: emit what
        is due, up to C{budget} records. Returns the budget left, or 0 when
        it scheduled the next turn itself; whatever it leaves (a record that
        is not ready, end of file, a pause) the general loop handles.
        """
        window, pending = stream.window, stream.pending
        depth = self.readDepth
        half = self._lookahead // 2
        readAheadSize = self._readAheadSize
        pacer = self._pacer
        stats = self.stats
        receive = self.receiver.messageReceived  # type: ignore[union-attr]
        heappop, heappush = heapq.heappop, heapq.heappush
        while budget > 0 and not self.paused and window:
            # stream.ready, inlined
            if not (stream.eof or len(window) >= depth or self._heldBytes >= readAheadSize):
                break
            timestamp = window[0][0]
            deadline = pacer.deadline(timestamp, now)
            if deadline > now:
                self._schedule(deadline - now)
                return 0
            if pacer.advance(timestamp, deadline):
                stats.increment("negative_wait")
            message = heappop(window)[2]
            self._heldBytes -= len(message.payload)
            if pending:
                # stream.fill, inlined: the window was full, one record in
                while len(window) < depth and pending:
                    m = pending.popleft()
                    stream.seq += 1
                    heappush(window, (m.timestamp, stream.seq, m))
            if (
                not stream.reading
                and not stream.eof
                and (len(pending) < half or not window)
                and self._wantsMore(stream)
            ):
                self._readMore(stream)
            self.emitted += 1
            receive(message)
            budget -= 1
        if budget <= 0:
            self._schedule(0)
        return budget

    def _finish(self) -> None:
        elapsed = self._reactor.seconds() - self._startedAt
        if self.config.dryRun:
            recorded = 0.0
            first, last = self._pacer.firstTimestamp, self._pacer.lastTimestamp
            if first is not None and last is not None:
                recorded = (last - first) / 1e9
            self.log.info(
                "{name}: dry run: {records} records, {files} file(s), {bytes} bytes, "
                "{recorded:.3f}s recorded, {replay:.3f}s at this speed, {negative} out of order",
                name=self.name,
                records=self.stats["dry_run"],
                files=len(self._streams),
                bytes=self.stats["bytes"],
                recorded=recorded,
                replay=recorded / self.config.speed if math.isfinite(self.config.speed) else 0.0,
                negative=self.stats["negative_wait"],
            )
        if self.config.loop and not self.config.dryRun and self._running:
            self.stats.increment("loops")
            reason = None
            if self.stats["read"] == 0:
                reason = "no valid record to replay in a loop (--input-file-loop)"
            elif not self._streams:
                reason = "no file to replay in a loop any more (--input-file-loop)"
            if reason is not None:
                self._running = False
                self.log.error("{name}: {reason}; stopping, gor will exit 1", name=self.name, reason=reason)
                self.reportFailure(reason)
                if not self._exhausted.called:
                    self._exhausted.callback(None)
                return
            self._openAll()
            return
        self._running = False
        self.log.info(
            "{name}: done: read={read} emitted={emitted} skipped={skipped} elapsed={elapsed:.3f}s",
            name=self.name,
            read=self.stats["read"],
            emitted=self.stats["emitted"],
            skipped=self.stats.total("skipped"),
            elapsed=elapsed,
        )
        if not self._exhausted.called:
            self._exhausted.callback(None)


@dataclass
class FileInputConfig:
    """
    Configuration of L{FileInput}.

    @ivar pattern: the path or glob given by the user.
    @ivar paths: the files it matched when configured.
    @ivar speed: replay speed factor (2.0 = twice as fast, C{inf} = no waiting).
    @ivar maxWait: cap of one wait in seconds, or L{None}.
    @ivar readDepth: records per file reordered by timestamp.
    @ivar readAheadSize: bytes of records read ahead across all files, at
        most (one chunk per file beyond it, and a record larger than it is
        still read); 0 means the default.
    """

    pattern: str
    paths: list[str] = field(default_factory=list)
    speed: float = 1.0
    limit: Limit | None = None
    loop: bool = False
    maxWait: float | None = None
    readDepth: int = 100
    dryRun: bool = False
    readAheadSize: int = 16 * 1024 * 1024

    def build(self, context: BuildContext) -> FileInput:
        """
        Build the input.
        """
        if not self.paths:
            self.paths = expandInputFiles(self.pattern)
        return FileInput(self, context.reactor)
