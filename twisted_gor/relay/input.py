# -*- test-case-name: tests.test_relay_unit -*-
"""
C{--input-tcp}: a server that many gor listeners (C{--output-tcp}) connect to.

Each connection carries gor records framed as in a C{.gor} file (meta line,
payload, separator); every connection has its own L{RecordDecoder}. Bad input
never takes the server down: malformed records are skipped, counted and logged,
oversized records are discarded without being buffered, and idle connections
are closed. Pausing the input pauses every connection's transport, so a slow
replay slows the senders through TCP flow control.

Every connection is greeted with L{BANNER_OK} (or L{BANNER_BUSY} and closed at
the connection limit). A twisted-gor sender answers with a hello and tags
every record; such a connection is in I{ack mode}: records are acknowledged,
cumulatively and in batches (every L{ACK_EVERY} records of a connection, or
L{ACK_DELAY} seconds after the first unacknowledged one), once the pipeline
says they are I{taken} (L{ITakenReporter}: for a file output, written to the
OS). Repeats of a recent delivery tag are dropped (C{dropped.duplicate}).
Anything else (a GoReplay sender) is read as plain framing and never written
to again. See L{twisted_gor.relay} for the bytes.

Stopping is graceful: stop accepting, tell ack-mode senders L{CLOSING} and
read (and deliver, and acknowledge) until their end marker, read plain
connections until they are quiet for L{PLAIN_DRAIN_IDLE} seconds, then close;
all within the drain timeout.
"""

from __future__ import annotations

from collections import deque
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
from twisted_gor.framing import MalformedCallback, RecordDecoder
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.relay import ACK_PREFIX, BANNER_BUSY, BANNER_OK, CLOSING, END_TAG, HELLO_PREFIX, MAX_LINE

DEFAULT_MAX_RECORD_SIZE = 16 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_DEDUP_WINDOW = 100_000
DEFAULT_DRAIN_TIMEOUT = 5.0
ACK_EVERY = 500
"""Acknowledge as soon as a connection has this many records not yet acknowledged."""
ACK_DELAY = 0.005
"""Otherwise acknowledge this many seconds after the first unacknowledged record."""
PLAIN_DRAIN_IDLE = 0.2
"""At stop, a plain connection is closed once quiet this long."""
_LOGGED_PER_CONNECTION = 3
WARNINGS_PER_WINDOW = 10
WARNING_WINDOW = 10.0


def _skipReason(reason: str) -> str:
    if reason.startswith("record larger"):
        return "skipped.oversize"
    if reason.startswith("truncated"):
        return "skipped.truncated"
    return "skipped.malformed"


Entry = tuple[bytes, "Message | None"]
"""An ack-mode record: its delivery tag and the message (L{None}: skipped, or the end marker)."""


class TaggedDecoder(RecordDecoder):
    """
    The ack-mode stream: every record starts with a C{#<tag>\\n} line.

    Besides the messages, C{entries} lists every record in stream order, the
    skipped ones (malformed, oversize) included, so that acknowledgements
    count the sender's records exactly.

    @ivar entries: C{(tag, message or None)} decoded and not yet taken.
    """

    def __init__(self, onMalformed: MalformedCallback, maxRecordSize: int = 0) -> None:
        RecordDecoder.__init__(self, self._skipped, maxRecordSize)
        self._onSkipped = onMalformed
        self.entries: list[Entry] = []

    def _skipped(self, offset: int, reason: str) -> None:
        if not reason.startswith("truncated"):
            self.entries.append((b"", None))
        self._onSkipped(offset, reason)

    def _decodeOne(self, buffer: bytes, start: int, end: int, out: list[Message]) -> None:
        tag = b""
        if buffer.startswith(b"#", start):
            newline = buffer.find(b"\n", start, end)
            if newline < 0:
                tag, start = buffer[start + 1 : end], end
            else:
                tag, start = buffer[start + 1 : newline], newline + 1
        if start >= end:
            self.entries.append((tag, None))
            return
        count = len(out)
        RecordDecoder._decodeOne(self, buffer, start, end, out)
        if len(out) > count:
            self.entries.append((tag, out[-1]))


class RelayServerProtocol(Protocol, TimeoutMixin):
    """
    One connection from a sender: decode records and emit them.

    @ivar mode: L{None} until the first bytes tell, then C{"plain"} or C{"ack"}.
    @ivar done: ack mode: records of this connection taken by the pipeline so far.
    @ivar ackSent: the last count acknowledged.
    """

    log = Logger()

    def __init__(self, input: "TCPInput") -> None:
        self.input = input
        self.peer = "?"
        self.malformed = 0
        self.held: list[Message] = []
        self.heldEntries: list[Entry] = []
        self.decoder = RecordDecoder(self._malformed, input.maxRecordSize)
        self.tagged: TaggedDecoder | None = None
        self.mode: str | None = None
        self.preamble = b""
        self.session = b""
        self.done = 0
        self.ackSent = 0
        self.ended = False
        self.closing = False
        self.finished = False
        self.gone = False

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
        self.transport.write(BANNER_OK)  # type: ignore[union-attr]
        self.input._opened(self)
        if self.input.paused:
            self.transport.pauseProducing()  # type: ignore[union-attr]
        else:
            self.setTimeout(self.input.idleTimeout or None)

    def dataReceived(self, data: bytes) -> None:
        """
        Decode and emit the complete records.
        """
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
        messages = self.decoder.feed(data)
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
            newline = buffer.find(b"\n")
            if newline < 0 and len(buffer) <= MAX_LINE:
                self.preamble = buffer
                return b""
            if 0 <= newline <= MAX_LINE:
                self.preamble = b""
                self.session = buffer[len(HELLO_PREFIX) : newline]
                self.mode = "ack"
                self.tagged = TaggedDecoder(self._malformed, self.input.maxRecordSize)
                self.input.stats.increment("connections.ack")
                if self.input.draining:
                    self.beginClose()
                return buffer[newline + 1 :]
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
        messages = tagged.feed(data)
        self.input.stats.increment("read", len(messages))
        entries, tagged.entries = tagged.entries, []
        if self.heldEntries:
            self.heldEntries.extend(entries)
            return
        self._take(entries)

    def _take(self, entries: list[Entry]) -> None:
        """
        Emit ack-mode records in order (holding the rest if paused meanwhile),
        dropping repeated delivery tags; then ask for an acknowledgement.
        """
        input = self.input
        session = self.session
        for index, (tag, message) in enumerate(entries):
            if input.paused:
                self.heldEntries.extend(entries[index:])
                break
            if message is None:
                if tag == END_TAG:
                    self.ended = True
                    continue
            elif tag and input.isDuplicate(session + b" " + tag):
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
        Stop reading (and stop the idle timer: a paused connection is not idle).
        """
        self.setTimeout(None)
        self.transport.pauseProducing()  # type: ignore[union-attr]

    def resume(self) -> None:
        """
        Emit what was held back, then read again (unless paused again meanwhile).
        """
        self._emitHeld()
        if self.input.paused:
            return
        self.transport.resumeProducing()  # type: ignore[union-attr]
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
        self.gone = True
        (self.tagged or self.decoder).finish()
        if self.tagged is not None:
            self.held = [m for tag, m in self.heldEntries if m is not None and not (
                tag and self.input.isDuplicate(self.session + b" " + tag))]
            self.heldEntries = []
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
    A connection beyond the limit: say L{BANNER_BUSY} and close (a
    twisted-gor sender counts C{refused.busy}, keeps its records and backs
    off; a GoReplay sender sees the close).
    """

    def connectionMade(self) -> None:
        self.transport.write(BANNER_BUSY)  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]


class _RelayFactory(Factory):
    noisy = False

    def __init__(self, input: "TCPInput") -> None:
        self.input = input

    def buildProtocol(self, addr: Any) -> Protocol | None:
        input = self.input
        if input.maxConnections and len(input.connections) >= input.maxConnections:
            input.stats.increment("refused.max_connections")
            busy = BusyProtocol()
            busy.factory = self
            return busy
        protocol = RelayServerProtocol(input)
        protocol.factory = self
        protocol.callLater = input.reactor.callLater  # type: ignore[method-assign]
        return protocol


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
    ) -> None:
        """
        @param dedupWindow: how many recent delivery tags are remembered to
            drop repeats (0: none).
        @param drainTimeout: at stop, how long connections may take to
            deliver what they hold before they are aborted.
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
        self.port: IListeningPort | None = None
        self._lost: list[Deferred[None]] = []
        self._warnWindow = 0.0
        self._warned = 0
        self._suppressed = 0
        self.dedupWindow = dedupWindow
        self.drainTimeout = drainTimeout
        self.draining = False
        self._seen: set[bytes] = set()
        self._seenOrder: deque[bytes] = deque()
        self._ackTimer: Any = None
        self._ackInFlight = False
        self._drainTimer: Any = None

    # -- acknowledgements ------------------------------------------------

    def isDuplicate(self, key: bytes) -> bool:
        """
        Whether the delivery tag C{key} (session and sequence) was taken
        recently; remembers it otherwise (bounded by the dedup window).
        """
        seen = self._seen
        if key in seen:
            return True
        if self.dedupWindow:
            seen.add(key)
            order = self._seenOrder
            order.append(key)
            if len(order) > self.dedupWindow:
                seen.discard(order.popleft())
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
        )
