# -*- test-case-name: tests.test_relay_unit -*-
"""
C{--input-tcp}: a server that many gor listeners (C{--output-tcp}) connect to.

Each connection carries gor records framed as in a C{.gor} file (meta line,
payload, separator); every connection has its own L{RecordDecoder}. Bad input
never takes the server down: malformed records are skipped, counted and logged,
oversized records are discarded without being buffered, and idle connections
are closed. Pausing the input pauses every connection's transport, so a slow
replay slows the senders through TCP flow control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import RecordDecoder
from twisted_gor.limiter import Limit
from twisted_gor.message import Message

DEFAULT_MAX_RECORD_SIZE = 16 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 1024
_LOGGED_PER_CONNECTION = 3
WARNINGS_PER_WINDOW = 10
WARNING_WINDOW = 10.0


def _skipReason(reason: str) -> str:
    if reason.startswith("record larger"):
        return "skipped.oversize"
    if reason.startswith("truncated"):
        return "skipped.truncated"
    return "skipped.malformed"


class RelayServerProtocol(Protocol, TimeoutMixin):
    """
    One connection from a sender: decode records and emit them.
    """

    log = Logger()

    def __init__(self, input: "TCPInput") -> None:
        self.input = input
        self.peer = "?"
        self.malformed = 0
        self.held: list[Message] = []
        self.decoder = RecordDecoder(self._malformed, input.maxRecordSize)

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
        self.resetTimeout()
        input = self.input
        stats = input.stats
        stats.increment("bytes", len(data))
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

    def _emitHeld(self) -> None:
        input = self.input
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
        Nothing arrived for the idle timeout: close (a stalled client).
        """
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
        self.setTimeout(self.input.idleTimeout or None)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        """
        Count what was left unfinished and unregister.
        """
        self.setTimeout(None)
        self.decoder.finish()
        if self.held:
            # the connection is gone but what it sent is complete: deliver it
            if self.input.running:
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


class _RelayFactory(Factory):
    noisy = False

    def __init__(self, input: "TCPInput") -> None:
        self.input = input

    def buildProtocol(self, addr: Any) -> RelayServerProtocol | None:
        input = self.input
        if input.maxConnections and len(input.connections) >= input.maxConnections:
            input.stats.increment("refused.max_connections")
            return None
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
    ) -> None:
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
        Stop listening and close every connection.
        """
        InputBase.stopService(self)
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
                if self.paused:
                    protocol.transport.resumeProducing()  # type: ignore[union-attr]
                protocol.transport.loseConnection()  # type: ignore[union-attr]
        if not waits:
            return succeed(None)
        return DeferredList(waits, consumeErrors=True)


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
        )
