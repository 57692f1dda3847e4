# -*- test-case-name: tests.test_middleware,tests.test_middleware_e2e -*-
"""
C{--middleware "CMD ARGS"}: GoReplay's middleware protocol with a child
process started by C{reactor.spawnProcess}.

Each message is one line on the child's stdin: the lowercase hex of the
meta line, C{\\n} and the payload, then C{\\n}. Each hex line the child
writes on its stdout is decoded the same way and goes on to the filters and
outputs. The child's stderr is logged line by line.
"""

from __future__ import annotations

import binascii
import os
import shutil
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone, ProcessDone, ProcessTerminated
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor.base import resolveReactor
from twisted_gor.config import BuildContext, Capabilities
from twisted_gor.message import MalformedMeta, Message, parseMeta
from twisted_gor.middleware.pipes import PipeReader, PipeWriter, makePipe
from twisted_gor.middleware.stage import StageBase

DEFAULT_BUFFER_SIZE = 16 * 1024 * 1024
"""Bytes of hex lines queued toward the middleware (C{--middleware-buffer-size})."""

DEFAULT_STOP_TIMEOUT = 5.0
"""Seconds the middleware has, once its stdin is closed at exit, to finish (C{--middleware-timeout})."""

WRITE_BATCH = 256 * 1024
"""Bytes of hex lines handed to the stdin pipe's buffer at a time."""

STDERR_LINE = 4096
"""Longest stderr line logged whole; longer ones are logged in pieces."""

STDERR_LINES_PER_SECOND = 50
"""Stderr lines logged per second at most; the rest are counted (C{stderr_lines_not_logged})."""


def splitCommand(value: str) -> list[str]:
    """
    The argv of a C{--middleware} value: split on spaces, no shell, no
    quoting (GoReplay splits on single spaces; empty pieces are dropped).

    @raise ValueError: empty, or the program is not found or not executable.
    """
    argv = [part for part in value.split(" ") if part]
    if not argv:
        raise ValueError("empty command")
    program = argv[0]
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise ValueError(f"not an executable file: {program!r}")
    elif shutil.which(program) is None:
        raise ValueError(f"command not found: {program!r}")
    return argv


def maxLineFor(maxMessageSize: int, copyBufferSize: int) -> int:
    """
    The longest hex line read back, in bytes: twice the largest message
    (C{maxMessageSize}, or when 0 twice C{copyBufferSize} and at least
    1 MiB) plus its newline.
    """
    size = maxMessageSize or max(2 * copyBufferSize, 1024 * 1024)
    return 2 * size + 1


@dataclass
class ExternalMiddlewareConfig(Capabilities):
    """
    Configuration of C{--middleware}: an external program speaking
    GoReplay's hex line protocol.

    @ivar argv: the program and its arguments (see L{splitCommand}).
    @ivar bufferSize: bytes of hex lines queued toward it; over half of it
        pausable inputs pause; once all of it is queued, live inputs'
        messages are dropped (C{dropped.queue_full}). A message is taken
        while less than all of it is queued, so at most C{bufferSize} plus
        one message is queued.
    @ivar maxMessageSize: largest message accepted back (decoded bytes);
        0 = twice C{--copy-buffer-size}, at least 1 MiB. Longer lines are
        skipped as malformed.
    @ivar stopTimeout: at exit, seconds the program has to answer and exit
        once its stdin is closed, before it is killed.
    """

    argv: list[str] = field(default_factory=list)
    bufferSize: int = DEFAULT_BUFFER_SIZE
    maxMessageSize: int = 0
    stopTimeout: float = DEFAULT_STOP_TIMEOUT
    label: ClassVar[str] = "--middleware"

    def build(self, context: BuildContext) -> "ExternalMiddleware":
        """
        Build the stage.
        """
        return ExternalMiddleware(self, context.reactor, context.config.copyBufferSize, context.prettifier)


class _ChildProtocol(ProcessProtocol):
    def __init__(self, stage: "ExternalMiddleware") -> None:
        self.stage = stage

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        # stdout is our own pipe (twisted_gor.middleware.pipes); only
        # stderr comes through the process transport.
        if childFD == 2:
            self.stage.stderrReceived(data)

    def childConnectionLost(self, childFD: int) -> None:
        if childFD == 2:
            self.stage.stderrClosed()

    def processEnded(self, reason: Failure) -> None:
        self.stage.childEnded(reason)


class ExternalMiddleware(StageBase):
    """
    The C{--middleware} stage: a child process, its stdin fed in batches
    (the pipe's writer pauses the stage's producer when its buffer is
    full), its stdout read as hex lines with no limit but L{maxLineFor}.

    Memory: at most C{bufferSize} bytes queued here plus one message, plus
    the stdin writer's buffer (256 KiB plus one batch of L{WRITE_BATCH}, or
    the one big line being written) and the pipes' kernel buffers (1 MiB
    each), plus one partial line read back (at most L{maxLineFor} bytes)
    and one partial stderr line (L{STDERR_LINE}).
    """

    def __init__(
        self,
        config: ExternalMiddlewareConfig,
        reactor: Any = None,
        copyBufferSize: int = 5 * 1024 * 1024,
        prettifier: Any = None,
    ) -> None:
        reactor = resolveReactor(reactor)
        StageBase.__init__(self, " ".join(config.argv), reactor, config.bufferSize, copyBufferSize, prettifier)
        self.config = config
        self.argv = list(config.argv)
        self.maxLine = maxLineFor(config.maxMessageSize, copyBufferSize)
        self.transport: Any = None
        self.stdin: Any = None
        self.stdout: Any = None
        self.stdoutDone = False
        self._endReason: Failure | None = None
        self.protocol = _ChildProtocol(self)
        self.queue: deque[tuple[bytes, bytes]] = deque()
        self._flushCall: Any = None
        self.writerPaused = False
        self.readerPaused = False
        self.stdinOpen = False
        self.ended = False
        self.stopping = False
        self.exitDescription = ""
        self._partial: list[bytes] = []
        self._partialSize = 0
        self._skipping = False
        self._errPartial = b""
        self._errWindow = 0.0
        self._errLogged = 0
        self._ended: list[Deferred[None]] = []
        self._killCall: Any = None
        self._abandonCall: Any = None
        self.killedByUs = False

    # --- lifecycle ------------------------------------------------------
    def startService(self) -> None:
        """
        Start the child.
        """
        StageBase.startService(self)
        try:
            self.startChild()
        except Exception as e:
            self.ended = self.stdoutDone = True
            self.exitDescription = f"could not be started: {e}"
            self.log.error("middleware {label}: {what}", label=self.label, what=self.exitDescription)
            self.reportFailure(f"middleware {self.label!r} {self.exitDescription}")
            return
        self.stdinOpen = True
        self.accepting = True
        self.stdin.registerProducer(_StdinProducer(self), True)
        self.log.info("middleware {label}: started (pid {pid})", label=self.label, pid=self.transport.pid)

    def startChild(self) -> None:
        """
        Spawn the program with our own pipes as its stdin and stdout (see
        L{twisted_gor.middleware.pipes}); Twisted's for its stderr. Sets
        C{transport}, C{stdin} and C{stdout}.
        """
        inR, inW = makePipe()
        outR, outW = makePipe()
        try:
            self.transport = self.reactor.spawnProcess(
                self.protocol, self.argv[0], self.argv, env=dict(os.environ), path=None,
                childFDs={0: inR, 1: outW, 2: "r"},
            )  # fmt: skip
        except BaseException:
            os.close(inW)
            os.close(outR)
            raise
        finally:
            os.close(inR)
            os.close(outW)
        self.stdin = PipeWriter(self.reactor, inW, self.stdinClosed)
        self.stdout = PipeReader(self.reactor, outR, self.linesReceived, self.stdoutClosed)
        self.stdout.startReading()

    def stopService(self) -> Deferred[None]:
        """
        Write what is queued, close the child's stdin, read what it still
        writes until it exits (killed after C{stopTimeout} seconds).
        """
        StageBase.stopService(self)
        self.accepting = False
        self.stopping = True
        self.flow.stop()
        self.resumeProducing()
        if self.ended and self.stdoutDone:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._ended.append(d)
        self._killCall = self.reactor.callLater(self.config.stopTimeout, self._kill)
        self.flush()
        return d

    def _kill(self) -> None:
        self._killCall = None
        if self.ended:
            return
        dropped = self._dropQueue()
        self.log.warn(
            "middleware {label}: still running {timeout}s after its stdin was closed; killing it"
            "{queued}",
            label=self.label,
            timeout=self.config.stopTimeout,
            queued=f" ({dropped} messages not yet written, counted as dropped.stopped)" if dropped else "",
        )
        self.killedByUs = True
        try:
            self.transport.signalProcess("KILL")
        except Exception:
            pass

    # --- toward the child -----------------------------------------------
    def submit(self, message: Message) -> None:
        """
        Queue one hex line for the child, written at the end of this reactor
        turn (with the others queued in it) while the pipe has room; a line
        that does not fit the budget is dropped.
        """
        if not self.stdinOpen:
            self.stats.increment("dropped.stopped")
            return
        head = binascii.hexlify(message.meta() + b"\n")
        body = binascii.hexlify(message.payload)
        size = len(head) + len(body) + 1
        flow = self.flow
        if flow.bytes >= flow.maxBytes:
            self.stats.increment("dropped.queue_full")
            return
        self.ledger.sent(message.type, message.id)
        self.sent += 1
        self.queue.append((head, body))
        flow.add(size)
        if not self.writerPaused:
            if flow.bytes >= WRITE_BATCH:
                self.flush()
            elif self._flushCall is None:
                self._flushCall = self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """
        Write queued lines while the pipe has room, in batches of about
        L{WRITE_BATCH} bytes; once stopping and empty, close the child's
        stdin.
        """
        if self._flushCall is not None:
            if self._flushCall.active():
                self._flushCall.cancel()
            self._flushCall = None
        queue = self.queue
        flow = self.flow
        popleft = queue.popleft
        while queue and not self.writerPaused and self.stdinOpen:
            batch: list[bytes] = []
            size = 0
            count = 0
            while queue and size < WRITE_BATCH:
                head, body = popleft()
                batch += (head, body, b"\n")
                size += len(head) + len(body) + 1
                count += 1
            flow.remove(size, count)
            self.stdin.writeSequence(batch)
        if not queue and self.stopping and self.stdinOpen:
            self.stdinOpen = False
            self.stdin.unregisterProducer()
            self.stdin.loseConnection()

    def _dropQueue(self) -> int:
        left = len(self.queue)
        for head, body in self.queue:
            meta = binascii.unhexlify(head)[:-1]
            try:
                kind, id_, _, _ = parseMeta(meta)
            except MalformedMeta:
                continue
            self.ledger.returned(kind, id_)
        if left:
            self.sent -= left
            self.stats.increment("dropped.stopped", left)
        self.queue.clear()
        self.flow.release()
        return left

    # IMiddlewareStage: the outputs are saturated
    def pauseProducing(self) -> None:
        """
        The pipeline's outputs are saturated: stop reading the child's
        stdout (and stderr) until they have room.
        """
        if not self.readerPaused and self.stdout is not None and not self.stdoutDone:
            self.readerPaused = True
            self.stdout.stopReading()

    def resumeProducing(self) -> None:
        """
        See L{pauseProducing}.
        """
        if self.readerPaused and self.stdout is not None and not self.stdoutDone:
            self.readerPaused = False
            self.stdout.startReading()

    # --- from the child -------------------------------------------------
    def linesReceived(self, data: bytes) -> None:
        """
        Bytes from the child's stdout: complete lines are decoded and
        emitted; a partial line is kept, up to L{maxLine} bytes.
        """
        start = 0
        find = data.find
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                break
            if self._partial:
                self._partial.append(data[start:nl])
                line = b"".join(self._partial)
                self._partial = []
                self._partialSize = 0
            else:
                line = data[start:nl]
            start = nl + 1
            if self._skipping:
                self._skipping = False
                continue
            self.lineReceived(line)
        if start < len(data) and not self._skipping:
            rest = data[start:]
            self._partialSize += len(rest)
            if self._partialSize > self.maxLine:
                self._partial = []
                self._partialSize = 0
                self._skipping = True
                self.malformed(f"line longer than {self.maxLine} bytes", rest[:60])
            else:
                self._partial.append(rest)

    def lineReceived(self, line: bytes) -> None:
        """
        One hex line from the child.
        """
        if len(line) > self.maxLine:
            self.malformed(f"line longer than {self.maxLine} bytes", line[:60])
            return
        try:
            data = binascii.unhexlify(line)
        except (binascii.Error, ValueError):
            self.malformed("odd length" if len(line) % 2 else "not hex", line)
            return
        nl = data.find(b"\n")
        if nl < 0:
            self.malformed("no meta line", data)
            return
        meta = data[:nl]
        try:
            kind, id_, timestamp, latency = parseMeta(meta)
        except MalformedMeta as e:
            self.malformed(f"bad meta line: {e}", data)
            return
        if nl + 1 >= len(data):
            self.malformed("no payload", data)
            return
        self.emitted(Message(kind, id_, timestamp, latency, data[nl + 1 :], rawMeta=meta))

    def stderrReceived(self, data: bytes) -> None:
        """
        Log the child's stderr line by line (bounded, rate-limited).
        """
        data = self._errPartial + data
        lines = data.split(b"\n")
        self._errPartial = lines.pop()
        while len(self._errPartial) > STDERR_LINE:
            lines.append(self._errPartial[:STDERR_LINE])
            self._errPartial = self._errPartial[STDERR_LINE:]
        for line in lines:
            self._logStderr(line)

    def _logStderr(self, line: bytes) -> None:
        now = self.reactor.seconds()
        if now - self._errWindow >= 1.0:
            if self._errLogged > STDERR_LINES_PER_SECOND:
                self.log.warn(
                    "middleware {label}: {n} stderr lines not logged",
                    label=self.label,
                    n=self._errLogged - STDERR_LINES_PER_SECOND,
                )
            self._errWindow = now
            self._errLogged = 0
        self._errLogged += 1
        if self._errLogged > STDERR_LINES_PER_SECOND:
            self.stats.increment("stderr_lines_not_logged")
            return
        self.log.info(
            "middleware {label} stderr: {line}",
            label=self.label,
            line=line.rstrip(b"\r").decode("utf-8", "replace"),
        )

    def stdinClosed(self) -> None:
        """
        The child's stdin is closed (by us at exit, or the child went away).
        """
        self.stdinOpen = False

    def stdoutClosed(self) -> None:
        """
        The child's stdout reached its end.
        """
        self.stdoutDone = True
        if self._partial:
            self.malformed("unterminated last line", self._partial[0][:60])
            self._partial = []
            self._partialSize = 0
        self._maybeFinished()

    def stderrClosed(self) -> None:
        """
        The child's stderr is closed: log its last partial line.
        """
        if self._errPartial:
            self._logStderr(self._errPartial)
            self._errPartial = b""

    def childEnded(self, reason: Failure) -> None:
        """
        The child exited (and its stderr is closed); done once its stdout
        is read to the end too.
        """
        self.ended = True
        self._endReason = reason
        self.accepting = False
        if not self.stdoutDone:
            # Its stdout is read to the end (what it wrote is delivered),
            # unless something else holds it open that long.
            self._abandonCall = self.reactor.callLater(self.config.stopTimeout, self._abandonStdout)
        self._maybeFinished()

    def _abandonStdout(self) -> None:
        self._abandonCall = None
        if not self.stdoutDone and self.stdout is not None:
            self.log.warn(
                "middleware {label}: exited {timeout}s ago but its stdout is still open; no longer reading it",
                label=self.label,
                timeout=self.config.stopTimeout,
            )
            self.stdout.connectionLost(Failure(ConnectionDone()))

    def _maybeFinished(self) -> None:
        if not (self.ended and self.stdoutDone) or self._endReason is None:
            return
        reason, self._endReason = self._endReason, None
        self.stdinOpen = False
        if self.stdin is not None and self.stdin.connected:
            self.stdin.unregisterProducer()
            self.stdin.loseConnection()
        for call in (self._killCall, self._abandonCall):
            if call is not None and call.active():
                call.cancel()
        value = reason.value
        clean = isinstance(value, ProcessDone)
        if clean:
            self.exitDescription = "exited with status 0"
        elif isinstance(value, ProcessTerminated) and value.signal is not None:
            self.exitDescription = f"was killed by signal {value.signal}"
        else:
            self.exitDescription = f"exited with status {getattr(value, 'exitCode', '?')}"
        dropped = self._dropQueue()
        self.settle()
        if self.stopping and (clean or self.killedByUs):
            self.log.info("middleware {label}: {what}", label=self.label, what=self.exitDescription)
        elif self.stopping:
            # It got its end of input and crashed: gor exits 1 for it.
            self.log.error("middleware {label}: {what} at exit (exit 1)", label=self.label, what=self.exitDescription)
            self.reportFailure(f"middleware {self.label!r} {self.exitDescription}")
        else:
            self.log.error(
                "middleware {label}: {what} while gor was running; stopping (exit 1){lost}",
                label=self.label,
                what=self.exitDescription,
                lost=f"; {dropped} queued messages counted as dropped.stopped" if dropped else "",
            )
            self.reportFailure(f"middleware {self.label!r} {self.exitDescription}")
        ended, self._ended = self._ended, []
        for d in ended:
            d.callback(None)


@implementer(IPushProducer)
class _StdinProducer:
    """
    The producer registered on the child's stdin: it tells the stage the
    pipe is full or has room (the stage's own C{pauseProducing} means the
    outputs are saturated).
    """

    def __init__(self, stage: ExternalMiddleware) -> None:
        self.stage = stage

    def pauseProducing(self) -> None:
        """
        The pipe is full: queue from now on.
        """
        self.stage.writerPaused = True

    def resumeProducing(self) -> None:
        """
        The pipe drained: write what is queued.
        """
        self.stage.writerPaused = False
        self.stage.flush()

    def stopProducing(self) -> None:
        """
        The child's stdin is gone.
        """
        self.stage.stdinOpen = False


__all__ = ["ExternalMiddlewareConfig", "ExternalMiddleware", "splitCommand", "maxLineFor"]
