# -*- test-case-name: tests.test_relay_unit -*-
"""
C{--input-tcp}: a server that many gor listeners (C{--output-tcp}) connect to.

Each connection carries gor records framed as in a C{.gor} file (meta line,
payload, separator); every connection has its own L{RecordDecoder}. Bad input
never takes the server down: malformed records are skipped, counted and logged,
oversized records are discarded without being buffered, and idle connections
are closed. Incomplete records are bounded across connections too: past
the listener's byte budget the connection holding the most is closed
(C{dropped.buffer_budget}), and a record that makes no progress to its
separator for the record timeout closes its connection
(C{dropped.record_timeout}). Pausing the input pauses every connection's transport, so a slow
replay slows the senders through TCP flow control.

A twisted-gor sender opens with a hello record (which GoReplay drops, as it
has no payload); it is answered with L{BANNER_OK} and the connection is in
I{ack mode}: records are acknowledged,
cumulatively and in batches (every L{ACK_EVERY} records of a connection, or
L{ACK_DELAY} seconds after the first unacknowledged one), once the pipeline
says they are I{taken} (L{ITakenReporter}: for a file output, written to the
OS). A record resent after a connection broke is dropped (counted
C{dropped.duplicate}) if it was taken before (see L{takenBefore}).
Anything else (a GoReplay sender) is read as plain framing and never written
to (a sender that never reads would reset the connection when closing it,
losing its last bytes). At the connection limit the answer is
L{BANNER_BUSY}, then the connection closes. See L{twisted_gor.relay} for the bytes.

Stopping is graceful: stop accepting, tell ack-mode senders L{CLOSING} and
read (and deliver, and acknowledge) until their end marker, read plain
connections until they are quiet for L{PLAIN_DRAIN_IDLE} seconds, then close;
all within the drain timeout.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from twisted_gor._interfaces import ITakenReporter
from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import SEPARATOR, MalformedCallback, RecordDecoder
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.relay import ACK_PREFIX, BANNER_BUSY, BANNER_OK, CLOSING, END_TAG, HELLO_PREFIX, MAX_LINE

DEFAULT_MAX_RECORD_SIZE = 16 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_DEDUP_WINDOW = 20_000
MAX_SESSIONS = 256
"""Sender sessions whose connections are remembered for recognising resends."""
DEFAULT_DRAIN_TIMEOUT = 5.0
DEFAULT_BUFFER_SIZE = 64 * 1024 * 1024
"""Bytes of incomplete records held across all connections of one listener."""
DEFAULT_RECORD_TIMEOUT = 30.0
"""Seconds a connection's incomplete record may go without reaching its separator."""
ACK_EVERY = 500
"""Acknowledge as soon as a connection has this many records not yet acknowledged."""
ACK_DELAY = 0.01
"""Otherwise acknowledge this many seconds after the first unacknowledged record."""
PLAIN_DRAIN_IDLE = 0.2
"""At stop, a plain connection is closed once quiet this long."""
BUSY_LINGER = 2.0
"""A refused connection is aborted after this long if the peer keeps it open."""

SILENT_EVICT_AFTER = 5.0
"""At the connection limit, a connection that has sent nothing for this long
since it opened is closed to make room for a new one (counted
C{dropped.silent_connections}): idle sockets cannot lock a sender out."""
_LOGGED_PER_CONNECTION = 3
WARNINGS_PER_WINDOW = 10
WARNING_WINDOW = 10.0


def _skipReason(reason: str) -> str:
    if reason.startswith("record larger"):
        return "skipped.oversize"
    if reason.startswith("truncated"):
        return "skipped.truncated"
    return "skipped.malformed"


SKIPPED = b""
"""The mark of a skipped (malformed, oversize) record."""

Entry = tuple[bytes, "Message | None"]
"""
An ack-mode record: C{(mark, message)}. The mark is C{b""} for a record sent
for the first time, C{b"R<conn>:<k>"} for a resend, L{SKIPPED} with no
message for a skipped record, L{END_TAG} with no message for the end marker.
"""


class AckDecoder(RecordDecoder):
    """
    The ack-mode stream: plain records, resent records prefixed with a
    C{#R<conn>:<k>\\n} line, and the end marker C{#E}.

    The common case costs what L{RecordDecoder} costs: records without a
    prefix are only counted in C{marks} when something unusual (a resend, a
    skipped record, the end marker) happened in the same read.

    @ivar marks: C{(index, mark)} of the unusual records of the last read,
        C{index} being the number of messages decoded before it in that read.
    """

    def __init__(self, onMalformed: MalformedCallback, maxRecordSize: int = 0) -> None:
        RecordDecoder.__init__(self, self._skipped, maxRecordSize)
        self._onSkipped = onMalformed
        self._out: list[Message] | None = None
        self.marks: list[tuple[int, bytes]] = []

    def feed(self, data: bytes) -> list[Message]:
        """
        See L{RecordDecoder.feed}; C{marks} says where the unusual records are.
        """
        self._out = None
        self.marks = []
        return RecordDecoder.feed(self, data)

    def _skipped(self, offset: int, reason: str) -> None:
        if not reason.startswith("truncated"):
            self.marks.append((len(self._out) if self._out is not None else 0, SKIPPED))
        self._onSkipped(offset, reason)

    def _decodeOne(self, buffer: bytes, start: int, end: int, out: list[Message]) -> None:
        self._out = out
        if buffer[start] == 35:  # "#": a resend or the end marker
            newline = buffer.find(b"\n", start, end)
            if newline < 0:
                mark, start = buffer[start + 1 : end], end
            else:
                mark, start = buffer[start + 1 : newline], newline + 1
            if start >= end or not mark or mark == END_TAG:
                self.marks.append((len(out), mark if mark == END_TAG else SKIPPED))
                return
            count = len(out)
            RecordDecoder._decodeOne(self, buffer, start, end, out)
            if len(out) > count:
                self.marks.append((count, mark))
            return
        RecordDecoder._decodeOne(self, buffer, start, end, out)


def withMarks(messages: list[Message], marks: list[tuple[int, bytes]]) -> list[Entry]:
    """
    The records of one read in order, as entries.
    """
    entries: list[Entry] = []
    position = 0
    for index, mark in marks:
        entries.extend((b"", m) for m in messages[position:index])
        if mark == SKIPPED or mark == END_TAG:
            entries.append((mark, None))
            position = index
        else:
            entries.append((mark, messages[index]))
            position = index + 1
    entries.extend((b"", m) for m in messages[position:])
    return entries


class RelayServerProtocol(Protocol, TimeoutMixin):
    """
    One connection from a sender: decode records and emit them.

    @ivar mode: L{None} until the first bytes tell, then C{"plain"} or C{"ack"}.
    @ivar done: ack mode: records of this connection taken by the pipeline so far.
    @ivar fresh: ack mode: how many of them were sent for the first time
        (record C{k} of those is C{<conn>:<k>} if it is ever resent).
    @ivar ackSent: the last count acknowledged.
    @ivar pendingBytes: bytes of an incomplete record held, as last counted
        in the input's total (L{TCPInput.pendingTotal}).
    @ivar dropped: closed by the input for its budget or record timeout:
        whatever still arrives is ignored.
    """

    log = Logger()

    def __init__(self, input: "TCPInput") -> None:
        self.input = input
        self.peer = "?"
        self.heard = False
        self.openedAt = input.reactor.seconds()
        self.malformed = 0
        self.held: list[Message] = []
        self.heldEntries: list[Entry] = []
        self.decoder = RecordDecoder(self._malformed, input.maxRecordSize)
        self.tagged: AckDecoder | None = None
        self.mode: str | None = None
        self.preamble = b""
        self.session = b""
        self.conn = b""
        self.fresh = 0
        self.done = 0
        self.ackSent = 0
        self.ended = False
        self.closing = False
        self.finished = False
        self.gone = False
        self.pendingBytes = 0
        self.dropped = False
        self._recordTimer: Any = None

    def logPrefix(self) -> str:
        """
        Prefix of Twisted's own log lines about this connection.
        """
        return "input_tcp"

    def connectionMade(self) -> None:
        """
        Register with the input; start paused if the input is paused.
        """
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        self.peer = f"{getattr(peer, 'host', '?')}:{getattr(peer, 'port', '?')}"
        self.input._opened(self)
        if self.input.paused:
            self.transport.pauseProducing()  # type: ignore[union-attr]
        else:
            self.setTimeout(self.input.idleTimeout or None)

    def dataReceived(self, data: bytes) -> None:
        """
        Decode and emit the complete records.
        """
        self.heard = True
        if self.dropped:
            return
        self.resetTimeout()
        input = self.input
        stats = input.stats
        stats.increment("bytes", len(data))
        if self.mode is None:
            data = self._negotiate(data)
            if not data:
                return
        if self.tagged is not None:
            self._ackData(data)
            return
        decoder = self.decoder
        before = self.pendingBytes
        messages = decoder.feed(data)
        self._fed(decoder, before + len(data))
        stats.increment("read", len(messages))
        if self.held:
            self.held.extend(messages)
            return
        for index, message in enumerate(messages):
            if input.paused:
                # paused by an output while emitting this read: keep the rest
                # (at most one read's worth) until resumed, never overshoot
                self.held.extend(messages[index:])
                return
            input.emit(message)

    def _negotiate(self, data: bytes) -> bytes:
        """
        Tell a twisted-gor sender's hello from plain framing; return the
        bytes left to decode (none while undecided).
        """
        buffer = self.preamble + data
        if buffer.startswith(HELLO_PREFIX):
            end = buffer.find(SEPARATOR)
            if end < 0 and len(buffer) <= MAX_LINE + len(SEPARATOR):
                self.preamble = buffer
                return b""
            if 0 <= end <= MAX_LINE:
                self.preamble = b""
                self.session, _, self.conn = buffer[len(HELLO_PREFIX) : end].partition(b" ")
                self.mode = "ack"
                self.tagged = AckDecoder(self._malformed, self.input.maxRecordSize)
                self.input.ackOpened(self)
                self.input.stats.increment("connections.ack")
                # only a twisted-gor sender is ever written to
                self.transport.write(BANNER_OK)  # type: ignore[union-attr]
                if self.input.draining:
                    self.beginClose()
                return buffer[end + len(SEPARATOR) :]
        elif len(buffer) < len(HELLO_PREFIX) and HELLO_PREFIX.startswith(buffer):
            self.preamble = buffer
            return b""
        self.preamble = b""
        self.mode = "plain"
        self.input.stats.increment("connections.plain")
        return buffer

    def _ackData(self, data: bytes) -> None:
        tagged = self.tagged
        assert tagged is not None
        before = self.pendingBytes
        messages = tagged.feed(data)
        self._fed(tagged, before + len(data))
        input = self.input
        input.stats.increment("read", len(messages))
        marks = tagged.marks
        if marks or self.heldEntries:
            entries = withMarks(messages, marks)
            if self.heldEntries:
                self.heldEntries.extend(entries)
                return
            self._take(entries)
            return
        # the common case: records sent for the first time, nothing unusual
        emit = input.emit
        for index, message in enumerate(messages):
            if input.paused:
                self.heldEntries.extend((b"", m) for m in messages[index:])
                self.done += index
                self.fresh += index
                break
            emit(message)
        else:
            self.done += len(messages)
            self.fresh += len(messages)
        input.wantAck(self)

    def _fed(self, decoder: RecordDecoder, unconsumed: int) -> None:
        """
        Account for a read the decoder took: update the input's total of
        incomplete-record bytes (which may close the connection holding the
        most, see L{TCPInput.pendingChanged}) and the record timer.

        @param unconsumed: what would be pending had the read completed no
            record (held before plus the read).
        """
        pending = decoder.pending
        discarding = decoder.discarding
        previous, self.pendingBytes = self.pendingBytes, pending
        timeout = self.input.recordTimeout
        if timeout:
            timer = self._recordTimer
            if not pending and not discarding:
                if timer is not None:
                    timer.cancel()
                    self._recordTimer = None
            elif timer is None:
                self._recordTimer = self.input.reactor.callLater(timeout, self._recordTimedOut)
            elif pending < unconsumed and not discarding:
                timer.reset(timeout)  # a record reached its separator: progress
        if pending != previous:
            self.input.pendingChanged(self, pending - previous)

    def _stopRecordTimer(self) -> None:
        if self._recordTimer is not None:
            if self._recordTimer.active():
                self._recordTimer.cancel()
            self._recordTimer = None

    def _recordTimedOut(self) -> None:
        """
        The incomplete record made no progress for the record timeout: close.
        """
        self._recordTimer = None
        if self.dropped or self.gone:
            return
        input = self.input
        input.stats.increment("dropped.record_timeout")
        input.stats.increment("dropped.record_timeout_bytes", self.pendingBytes)
        input.warnLimited(
            "input_tcp: closing {peer}: its record made no progress for {t}s ({n} bytes held)",
            peer=self.peer,
            t=input.recordTimeout,
            n=self.pendingBytes,
        )
        self.drop()

    def drop(self) -> None:
        """
        Close the connection at once, giving up its incomplete record
        (released from the input's total now, not when the close completes).
        """
        if self.dropped:
            return
        self.dropped = True
        self._stopRecordTimer()
        self.setTimeout(None)
        if self.pendingBytes:
            self.input.pendingChanged(self, -self.pendingBytes)
            self.pendingBytes = 0
        # free the incomplete record now; counted here, not as truncated
        if self.tagged is not None:
            self.tagged = AckDecoder(self._malformed, self.input.maxRecordSize)
        else:
            self.decoder = RecordDecoder(self._malformed, self.input.maxRecordSize)
        self.transport.abortConnection()  # type: ignore[union-attr]

    def _take(self, entries: list[Entry]) -> None:
        """
        Emit ack-mode records in order (holding the rest if paused meanwhile),
        dropping resent records taken already; then ask for an
        acknowledgement.
        """
        input = self.input
        for index, (mark, message) in enumerate(entries):
            if input.paused:
                self.heldEntries.extend(entries[index:])
                break
            if message is None:
                if mark == END_TAG:
                    self.ended = True
                    continue
                self.fresh += 1  # skipped (almost always a fresh record)
            elif not mark:
                self.fresh += 1
                input.emit(message)
            elif input.takenBefore(self.session, mark):
                input.stats.increment("dropped.duplicate")
            else:
                input.emit(message)
            self.done += 1
        input.wantAck(self)

    def sendAck(self, count: int) -> None:
        """
        Acknowledge the first C{count} records (taken); close once the
        sender's end marker was taken and acknowledged.
        """
        if self.gone:
            return
        if count > self.ackSent:
            self.ackSent = count
            self.transport.write(ACK_PREFIX + b"%d\n" % count)  # type: ignore[union-attr]
        if self.ended and not self.finished and not self.heldEntries and self.ackSent == self.done:
            self.finished = True
            self.transport.loseConnection()  # type: ignore[union-attr]

    def beginClose(self) -> None:
        """
        The input stops: an ack-mode sender is told L{CLOSING} (this closes
        after its end marker); a plain or undecided one once it is quiet.
        """
        if self.closing or self.gone:
            return
        if self.mode == "ack":
            self.closing = True
            self.transport.write(CLOSING)  # type: ignore[union-attr]
            if self.input.paused:
                self.resumeReading()
            return
        if self.mode is None and not self.preamble:
            self.transport.loseConnection()  # type: ignore[union-attr]
            return
        self.setTimeout(PLAIN_DRAIN_IDLE)

    def resumeReading(self) -> None:
        """
        Read again even though the input is paused (draining at stop): what
        arrives is held, never emitted past the pause.
        """
        self.transport.resumeProducing()  # type: ignore[union-attr]

    def _emitHeld(self) -> None:
        input = self.input
        if self.heldEntries:
            entries, self.heldEntries = self.heldEntries, []
            self._take(entries)
        while self.held and not input.paused:
            input.emit(self.held.pop(0))

    def _malformed(self, offset: int, reason: str) -> None:
        self.input.stats.increment(_skipReason(reason))
        self.malformed += 1
        if self.malformed <= _LOGGED_PER_CONNECTION:
            self.input.warnLimited(
                "input_tcp: skipped a record from {peer} at byte {offset}: {reason}",
                peer=self.peer,
                offset=offset,
                reason=reason,
            )

    def timeoutConnection(self) -> None:
        """
        Nothing arrived for the idle timeout: close (a stalled client); at
        stop, a quiet plain connection is closed gracefully.
        """
        if self.input.draining:
            self.transport.loseConnection()  # type: ignore[union-attr]
            return
        self.input.stats.increment("closed.idle_timeout")
        self.input.warnLimited("input_tcp: closing idle connection from {peer}", peer=self.peer)
        self.transport.abortConnection()  # type: ignore[union-attr]

    def pause(self) -> None:
        """
        Stop reading (and stop the idle and record timers: a paused
        connection is not idle, nor is its record stuck).
        """
        self.setTimeout(None)
        self._stopRecordTimer()
        self.transport.pauseProducing()  # type: ignore[union-attr]

    def resume(self) -> None:
        """
        Emit what was held back, then read again (unless paused again meanwhile).
        """
        self._emitHeld()
        if self.input.paused or self.dropped:
            return
        self.transport.resumeProducing()  # type: ignore[union-attr]
        if self.pendingBytes and self.input.recordTimeout and self._recordTimer is None:
            self._recordTimer = self.input.reactor.callLater(self.input.recordTimeout, self._recordTimedOut)
        if self.input.draining:
            if self.mode != "ack":
                self.setTimeout(PLAIN_DRAIN_IDLE)
            return
        self.setTimeout(self.input.idleTimeout or None)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        """
        Count what was left unfinished and unregister.
        """
        self.setTimeout(None)
        self._stopRecordTimer()
        self.gone = True
        if self.pendingBytes:
            self.input.pendingChanged(self, -self.pendingBytes)
            self.pendingBytes = 0
        (self.tagged or self.decoder).finish()
        if self.tagged is not None:
            held: list[Message] = []
            for mark, message in self.heldEntries:
                if message is None:
                    continue
                if not mark:
                    self.fresh += 1
                elif self.input.takenBefore(self.session, mark):
                    self.input.stats.increment("dropped.duplicate")
                    continue
                held.append(message)
            self.held, self.heldEntries = held, []
            self.input.ackClosed(self)
        if self.held:
            # the connection is gone but what it sent is complete: deliver it
            # (unacknowledged: a repeat is recognised by its tag)
            if self.input.running or self.input.draining:
                held, self.held = self.held, []
                for message in held:
                    self.input.emit(message)
            else:
                self.input.stats.increment("dropped.stopped", len(self.held))
                self.held = []
        if self.malformed > _LOGGED_PER_CONNECTION:
            self.input.warnLimited(
                "input_tcp: {count} malformed records from {peer} in all",
                count=self.malformed,
                peer=self.peer,
            )
        self.input._closed(self)


class BusyProtocol(Protocol):
    """
    A connection beyond the limit. A twisted-gor sender (its hello) is
    answered L{BANNER_BUSY}: it counts C{refused.busy}, keeps its records,
    backs off and closes; what it sends meanwhile is discarded, and the
    connection is aborted after L{BUSY_LINGER} seconds if it does not close.
    Reading until the peer closes keeps its close clean (a reset could
    discard the banner). Any other peer (a GoReplay sender) is closed at its
    first bytes, without a word, as before.
    """

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.timer: Any = None
        self.first = b""
        self.answered = False

    def connectionMade(self) -> None:
        self.timer = self.reactor.callLater(BUSY_LINGER, self.transport.abortConnection)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        """
        Answer a hello; close on anything else; discard.
        """
        if self.answered:
            return
        self.first = (self.first + data)[: len(HELLO_PREFIX)]
        if self.first == HELLO_PREFIX:
            self.answered = True
            self.transport.write(BANNER_BUSY)  # type: ignore[union-attr]
        elif not HELLO_PREFIX.startswith(self.first):
            self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self.timer is not None and self.timer.active():
            self.timer.cancel()


class _RelayFactory(Factory):
    noisy = False

    def __init__(self, input: "TCPInput") -> None:
        self.input = input

    def buildProtocol(self, addr: Any) -> Protocol | None:
        input = self.input
        if input.maxConnections and len(input.connections) >= input.maxConnections:
            deadline = input.reactor.seconds() - SILENT_EVICT_AFTER
            silent = [p for p in input.connections if not p.heard and p.openedAt <= deadline]
            if silent:
                victim = min(silent, key=lambda p: p.openedAt)
                input.stats.increment("dropped.silent_connections")
                input.connections.discard(victim)
                transport: Any = victim.transport
                if transport is not None:
                    transport.abortConnection()
                return self._relayProtocol()
            input.stats.increment("refused.max_connections")
            busy = BusyProtocol(input.reactor)
            busy.factory = self
            return busy
        return self._relayProtocol()

    def _relayProtocol(self) -> RelayServerProtocol:
        protocol = RelayServerProtocol(self.input)
        protocol.factory = self
        protocol.callLater = self.input.reactor.callLater  # type: ignore[method-assign]
        return protocol


_Session = tuple["OrderedDict[bytes, RelayServerProtocol | int]", set[bytes], deque[bytes]]
"""Per sender session: connections (live, or what they took), resent marks taken, their order."""


class TCPInput(InputBase):
    """
    The C{--input-tcp} server.

    @ivar connections: the open connections.
    @ivar port: the listening port once started.
    """

    log = Logger()

    def __init__(
        self,
        host: str,
        port: int,
        reactor: Any = None,
        maxRecordSize: int = DEFAULT_MAX_RECORD_SIZE,
        idleTimeout: float = DEFAULT_IDLE_TIMEOUT,
        maxConnections: int = DEFAULT_MAX_CONNECTIONS,
        tlsOptions: Any = None,
        dedupWindow: int = DEFAULT_DEDUP_WINDOW,
        drainTimeout: float = DEFAULT_DRAIN_TIMEOUT,
        bufferSize: int = DEFAULT_BUFFER_SIZE,
        recordTimeout: float = DEFAULT_RECORD_TIMEOUT,
    ) -> None:
        """
        @param dedupWindow: per sender session, how many connections and
            resent records are remembered to recognise resends taken before
            (0: none).
        @param drainTimeout: at stop, how long connections may take to
            deliver what they hold before they are aborted.
        @param bufferSize: bytes of incomplete records held across all
            connections; past it the connection holding the most is closed
            (0: no budget).
        @param recordTimeout: seconds an incomplete record may go without
            reaching its separator before its connection is closed (0: none).
        """
        InputBase.__init__(self, f"input_tcp({host}:{port})")
        self.host = host
        self.portNumber = port
        self.reactor = resolveReactor(reactor)
        self.maxRecordSize = maxRecordSize
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.tlsOptions = tlsOptions
        self.connections: set[RelayServerProtocol] = set()
        self.stats.gauge("connections.active")
        self.port: IListeningPort | None = None
        self._lost: list[Deferred[None]] = []
        self._warnWindow = 0.0
        self._warned = 0
        self._suppressed = 0
        self.dedupWindow = dedupWindow
        self.drainTimeout = drainTimeout
        self.draining = False
        self._sessions: OrderedDict[bytes, _Session] = OrderedDict()
        self._ackTimer: Any = None
        self._ackInFlight = False
        self._drainTimer: Any = None
        self.bufferSize = bufferSize
        self.recordTimeout = recordTimeout
        self.pendingTotal = 0

    # -- the budget of incomplete records ----------------------------------

    def pendingChanged(self, protocol: RelayServerProtocol, delta: int) -> None:
        """
        C{protocol} holds C{delta} more bytes of an incomplete record. Past
        the budget, close the connections holding the most (usually the
        offender; counted C{dropped.buffer_budget}, and the bytes given up
        C{dropped.buffer_budget_bytes}) until back within it.
        """
        self.pendingTotal += delta
        if not self.bufferSize or delta <= 0:
            return
        while self.pendingTotal > self.bufferSize:
            victim = max(self.connections, key=lambda p: p.pendingBytes, default=None)
            if victim is None or not victim.pendingBytes:
                break
            self.stats.increment("dropped.buffer_budget")
            self.stats.increment("dropped.buffer_budget_bytes", victim.pendingBytes)
            self.warnLimited(
                "input_tcp: closing {peer}: {n} bytes of an incomplete record,"
                " {total} held in all, over the {budget}-byte budget",
                peer=victim.peer,
                n=victim.pendingBytes,
                total=self.pendingTotal,
                budget=self.bufferSize,
            )
            victim.drop()

    # -- acknowledgements ------------------------------------------------

    def ackOpened(self, protocol: RelayServerProtocol) -> None:
        """
        An ack-mode connection C{<session> <conn>} opened: its fresh records
        count from here (see L{takenBefore}).
        """
        self._sessionOf(protocol.session)[0][protocol.conn] = protocol

    def ackClosed(self, protocol: RelayServerProtocol) -> None:
        """
        An ack-mode connection is gone: remember how many fresh records it
        took (the prefix of its stream), for resends on other connections.
        """
        connections = self._sessionOf(protocol.session)[0]
        connections[protocol.conn] = protocol.fresh
        while len(connections) > self.dedupWindow:
            connections.popitem(last=False)

    def _sessionOf(self, session: bytes) -> "_Session":
        sessions = self._sessions
        known = sessions.get(session)
        if known is None:
            known = sessions[session] = (OrderedDict(), set(), deque())
            while len(sessions) > MAX_SESSIONS:
                sessions.popitem(last=False)
        else:
            sessions.move_to_end(session)
        return known

    def takenBefore(self, session: bytes, mark: bytes) -> bool:
        """
        Whether the resent record C{mark} (C{R<conn>:<k>}) was taken already:
        C{k} is within what connection C{conn} took (records are taken in
        order), or it was resent and taken before. Remembers it otherwise.
        Bounded: per session the last C{dedupWindow} connections and resent
        records; at most L{MAX_SESSIONS} sessions.
        """
        if not self.dedupWindow:
            return False
        connections, resent, order = self._sessionOf(session)
        conn, _, index = mark[1:].partition(b":")
        owner = connections.get(conn)
        if owner is not None:
            taken = owner if isinstance(owner, int) else owner.fresh
            try:
                if int(index) <= taken:
                    return True
            except ValueError:
                pass
        if mark in resent:
            return True
        resent.add(mark)
        order.append(mark)
        while len(order) > self.dedupWindow:
            resent.discard(order.popleft())
        return False

    def wantAck(self, protocol: RelayServerProtocol) -> None:
        """
        C{protocol} took records: acknowledge them soon (now past L{ACK_EVERY}).
        """
        pending = protocol.done - protocol.ackSent
        if pending >= ACK_EVERY or protocol.ended and not protocol.finished and not protocol.heldEntries:
            self._ackNow()
        elif pending > 0 and self._ackTimer is None and not self._ackInFlight:
            self._ackTimer = self.reactor.callLater(ACK_DELAY, self._ackNow)

    def _ackNow(self) -> None:
        if self._ackTimer is not None:
            if self._ackTimer.active():
                self._ackTimer.cancel()
            self._ackTimer = None
        if self._ackInFlight:
            return
        due = [
            (p, p.done)
            for p in self.connections
            if p.tagged is not None and (p.done > p.ackSent or p.ended and not p.finished)
        ]
        if not due:
            return
        self._ackInFlight = True
        reporter = ITakenReporter(self.receiver, None)
        taken: Deferred[None] = reporter.whenTaken() if reporter is not None else succeed(None)
        taken.addCallback(self._acked, due)

    def _acked(self, _: Any, due: list[tuple[RelayServerProtocol, int]]) -> None:
        self._ackInFlight = False
        for protocol, count in due:
            protocol.sendAck(count)
        for protocol in list(self.connections):
            if protocol.tagged is not None:
                self.wantAck(protocol)

    def warnLimited(self, format: str, **kw: Any) -> None:
        """
        Log a warning about bad input, at most L{WARNINGS_PER_WINDOW} per
        L{WARNING_WINDOW} seconds (a flood of bad clients must not flood the
        log); the counters keep the full picture.
        """
        now = self.reactor.seconds()
        if now - self._warnWindow >= WARNING_WINDOW:
            if self._suppressed:
                self.log.warn(
                    "input_tcp: {n} more warnings about bad input suppressed (see the counters)",
                    n=self._suppressed,
                )
            self._warnWindow = now
            self._warned = 0
            self._suppressed = 0
        if self._warned < WARNINGS_PER_WINDOW:
            self._warned += 1
            self.log.warn(format, **kw)
        else:
            self._suppressed += 1

    def privilegedStartService(self) -> None:
        """
        Listen (possibly on a privileged port) before dropping privileges.
        """
        InputBase.privilegedStartService(self)
        self._listen()

    def startService(self) -> None:
        """
        Start listening if not done by L{privilegedStartService}.
        """
        InputBase.startService(self)
        if self.port is None:
            self._listen()

    def _listen(self) -> None:
        factory = _RelayFactory(self)
        if self.tlsOptions is not None:
            self.port = self.reactor.listenSSL(self.portNumber, factory, self.tlsOptions, interface=self.host)
        else:
            self.port = self.reactor.listenTCP(self.portNumber, factory, interface=self.host)
        address = self.port.getHost()
        self.log.info(
            "input_tcp: listening on {host}:{port}{tls}",
            host=getattr(address, "host", self.host),
            port=getattr(address, "port", self.portNumber),
            tls=" (TLS)" if self.tlsOptions is not None else "",
        )

    def _opened(self, protocol: RelayServerProtocol) -> None:
        self.connections.add(protocol)
        self.stats.increment("connections.opened")
        self.stats.set("connections.active", len(self.connections))
        self.log.debug("input_tcp: connection from {peer}", peer=protocol.peer)

    def _closed(self, protocol: RelayServerProtocol) -> None:
        self.connections.discard(protocol)
        self.stats.increment("connections.closed")
        self.stats.set("connections.active", len(self.connections))
        if not self.connections:
            lost, self._lost = self._lost, []
            for d in lost:
                d.callback(None)

    def pauseProducing(self) -> None:
        """
        Pause every connection's transport: senders slow down by TCP flow control.
        """
        if self.paused:
            return
        InputBase.pauseProducing(self)
        for protocol in list(self.connections):
            protocol.pause()

    def resumeProducing(self) -> None:
        """
        Resume every connection.
        """
        if not self.paused:
            return
        InputBase.resumeProducing(self)
        for protocol in list(self.connections):
            protocol.resume()

    def stopService(self) -> Deferred[Any]:
        """
        Stop accepting; let every connection deliver what it holds and close
        (ack mode: up to the sender's end marker, acknowledged; plain: until
        quiet); abort what is left after the drain timeout.
        """
        InputBase.stopService(self)
        self.draining = True
        waits: list[Deferred[Any]] = []
        if self.port is not None:
            stopped = self.port.stopListening()
            if isinstance(stopped, Deferred):
                waits.append(stopped)
            self.port = None
        if self.connections:
            d: Deferred[None] = Deferred()
            self._lost.append(d)
            waits.append(d)
            for protocol in list(self.connections):
                protocol.beginClose()
            if self.connections:
                self._drainTimer = self.reactor.callLater(self.drainTimeout, self._drainTimedOut)
                d.addBoth(self._drained)
        if not waits:
            return succeed(None)
        return DeferredList(waits, consumeErrors=True)

    def _drained(self, result: Any) -> Any:
        if self._drainTimer is not None and self._drainTimer.active():
            self._drainTimer.cancel()
        self._drainTimer = None
        self.draining = False
        return result

    def _drainTimedOut(self) -> None:
        self._drainTimer = None
        if self.connections:
            self.stats.increment("closed.stop_timeout", len(self.connections))
            self.log.warn(
                "input_tcp: {n} connections still open {t}s after the stop; aborting them",
                n=len(self.connections),
                t=self.drainTimeout,
            )
        for protocol in list(self.connections):
            protocol.transport.abortConnection()  # type: ignore[union-attr]


def loadTLSOptions(certificate: str, key: str) -> Any:
    """
    Server TLS options from PEM files (a certificate, possibly with its chain, and a key).
    """
    from twisted.internet import ssl

    with open(certificate, "rb") as f:
        certData = f.read()
    with open(key, "rb") as f:
        keyData = f.read()
    return ssl.PrivateCertificate.loadPEM(certData + b"\n" + keyData).options()


@dataclass
class TCPInputConfig:
    """
    Configuration of one C{--input-tcp} listener.
    """

    host: str
    port: int
    limit: Limit | None = None
    maxRecordSize: int = DEFAULT_MAX_RECORD_SIZE
    idleTimeout: float = DEFAULT_IDLE_TIMEOUT
    maxConnections: int = DEFAULT_MAX_CONNECTIONS
    certificate: str | None = None
    certificateKey: str | None = None
    dedupWindow: int = DEFAULT_DEDUP_WINDOW
    bufferSize: int = DEFAULT_BUFFER_SIZE
    recordTimeout: float = DEFAULT_RECORD_TIMEOUT

    def build(self, context: BuildContext) -> TCPInput:
        """
        Build the listener (TLS when a certificate is configured).
        """
        tls = None
        if self.certificate is not None and self.certificateKey is not None:
            tls = loadTLSOptions(self.certificate, self.certificateKey)
        return TCPInput(
            self.host,
            self.port,
            context.reactor,
            maxRecordSize=self.maxRecordSize,
            idleTimeout=self.idleTimeout,
            maxConnections=self.maxConnections,
            tlsOptions=tls,
            dedupWindow=self.dedupWindow,
            bufferSize=self.bufferSize,
            recordTimeout=self.recordTimeout,
        )
