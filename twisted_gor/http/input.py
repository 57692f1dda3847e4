# -*- test-case-name: tests.test_http_e2e,tests.test_http1 -*-
"""
C{--input-http}: an HTTP server that answers every request at once and emits
it as a type-1 message.

A small protocol on the shared framer L{twisted_gor._http1}: each request is
emitted byte-exact, exactly as the client sent it (request line, header
lines, blank line, body; a chunked upload keeps its chunks and trailers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure

from twisted_gor._http1 import Frame, Framer, FramingError
from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.limiter import Limit
from twisted_gor.message import REQUEST, Message, newRequestId


def parseListenAddress(value: str) -> tuple[str, int]:
    """
    C{[host]:port} (host empty = all interfaces).

    @raise ValueError: when there is no valid port.
    """
    host, colon, port = value.strip().rpartition(":")
    if not colon:
        host, port = "", value.strip()
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"invalid address {value!r} (example: :28019)") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return host, number


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

IDLE_TIMEOUT = 60.0
"""Seconds a connection may stay silent before it is closed."""


class _RequestFramer(Framer):
    """
    The request framer of one L{HttpInputProtocol}.
    """

    def __init__(self, protocol: "HttpInputProtocol", keep: int = 0) -> None:
        Framer.__init__(self, True, keep)
        self.protocol = protocol

    def frameReceived(self, frame: Frame) -> None:
        self.protocol.requestReceived(frame)

    def frameError(self, error: FramingError) -> None:
        self.protocol.badRequest(error)


class HttpInputProtocol(Protocol, TimeoutMixin):
    """
    One C{--input-http} connection: requests are framed by the shared
    L{twisted_gor._http1} framer (pipelined ones too), each is recorded
    byte-exact and answered C{200 OK} with an empty body at once.
    C{Expect: 100-continue} is answered C{100 Continue}; a request that cannot
    be framed is answered C{400} and the connection closed (counted as
    C{dropped.unparsable} and C{dropped.unparsable.<kind>}).
    """

    def __init__(self, input: "HttpInput") -> None:
        self.input = input
        self.framer = _RequestFramer(self, input.maxStore)
        self._startedAt = 0.0
        self._now = 0.0
        self._continued = False
        self.callLater = input.reactor.callLater  # type: ignore[method-assign]

    def connectionMade(self) -> None:
        self.setTimeout(IDLE_TIMEOUT)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        self._now = self.input.reactor.seconds()
        framer = self.framer
        framer.feed(data)
        if framer.startPos >= 0 and framer.hasPartial():
            self._startedAt = self._now
        frame = framer.frame
        if frame is not None and frame.expectContinue and not self._continued and self.transport is not None:
            self._continued = True
            self.transport.write(_CONTINUE)

    def requestReceived(self, frame: Frame) -> None:
        """
        A request was framed: emit it and answer it.
        """
        self._continued = False
        startedAt = self._now if frame.start >= 0 else self._startedAt
        self.input.requestArrived(frame.raw, startedAt)
        transport = self.transport
        if transport is None:
            return
        if frame.closeAfter:
            transport.write(_OK_CLOSE)
            self.framer.stop()
            transport.loseConnection()
        else:
            transport.write(_OK)
            if frame.method == b"CONNECT":
                self.framer.tunnel()

    def badRequest(self, error: FramingError) -> None:
        """
        The bytes cannot be framed: answer 400 and close.
        """
        stats = self.input.stats
        stats.increment("dropped.unparsable")
        stats.increment("dropped.unparsable." + error.kind)
        if self.transport is not None:
            self.transport.write(_BAD)
            self.transport.loseConnection()

    def timeoutConnection(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.setTimeout(None)


class _Factory(Factory):
    noisy = False

    def __init__(self, input: "HttpInput") -> None:
        self.gorInput = input

    def buildProtocol(self, addr: Any) -> HttpInputProtocol:
        protocol = HttpInputProtocol(self.gorInput)
        protocol.factory = self
        return protocol


class HttpInput(InputBase):
    """
    The C{--input-http} listener.

    @ivar port: the listening port once started.
    """

    log = Logger()

    def __init__(self, host: str, port: int, reactor: Any = None, maxStore: int = 0) -> None:
        """
        @param maxStore: keep at most this many bytes of each request (0:
            all); the rest of a longer body is framed and discarded as it
            arrives, so a huge upload costs no memory. The service passes
            C{copyBufferSize + 1}: the pipeline then cuts the request to
            C{--copy-buffer-size} and counts it as C{truncated}.
        """
        InputBase.__init__(self, f"input_http({host}:{port})")
        self.maxStore = maxStore
        self.host = host
        self.portNumber = port
        self.reactor = resolveReactor(reactor)
        self.port: Any = None

    def startService(self) -> None:
        InputBase.startService(self)
        self.port = self.reactor.listenTCP(self.portNumber, _Factory(self), interface=self.host)
        self.log.info("input-http listening on {addr}", addr=self.port.getHost())

    def stopService(self) -> Deferred[None] | None:
        InputBase.stopService(self)
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return None

    def requestArrived(self, payload: bytes, startedAt: float) -> None:
        """
        A complete request arrived: emit it (or count it while paused: a
        listener cannot pause its clients, it only stops emitting).
        """
        self.stats.increment("read")
        if self.receiver is None:
            self.stats.increment("dropped.no_receiver")
            return
        self.emit(Message(REQUEST, newRequestId(), int(startedAt * 1e9), -1, payload))


@dataclass
class HttpInputConfig:
    """
    Configuration of one C{--input-http}.
    """

    host: str
    port: int
    limit: Limit | None = None

    def build(self, context: BuildContext) -> HttpInput:
        """
        Build the input.
        """
        return HttpInput(self.host, self.port, context.reactor, maxStore=context.config.copyBufferSize + 1)
