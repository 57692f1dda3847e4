# -*- test-case-name: tests.test_http_e2e -*-
"""
C{--input-http}: an HTTP server that answers every request at once and emits
it as a type-1 message.

Built on twisted.web. The header lines are recorded as received (names keep
their case and order, duplicates are kept) by a small L{HTTPChannel}
subclass, so the emitted request is what the client sent: request line, raw
header lines, blank line, body. A chunked upload is emitted with its headers
unchanged and the (de-chunked) body re-encoded as a single chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web import http

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


class _RecordingRequest(http.Request):
    """
    A request that, once complete, hands its raw bytes to the input and
    answers C{200 OK} with an empty body.
    """

    rawHeaderLines: list[bytes]
    gorInput: "HttpInput"
    startedAt: float

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        channel: Any = self.channel
        lines = getattr(self, "rawHeaderLines", [])
        headers = b"".join(line + b"\r\n" for line in lines)
        content: Any = self.content
        body = b""
        if content is not None:
            content.seek(0)
            body = content.read()
        chunked = any(
            line.split(b":", 1)[0].strip().lower() == b"transfer-encoding" and b"chunked" in line.lower()
            for line in lines
        )
        if chunked:
            body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
        payload = command + b" " + path + b" " + version + b"\r\n" + headers + b"\r\n" + body
        factory = channel.gorInput
        factory.requestArrived(payload, getattr(self, "startedAt", factory.reactor.seconds()))
        http.Request.requestReceived(self, command, path, version)

    def process(self) -> None:
        self.setResponseCode(200)
        self.setHeader(b"content-length", b"0")
        self.finish()


class _RecordingChannel(http.HTTPChannel):
    """
    An HTTP channel that keeps each request's header lines as received.
    """

    gorInput: "HttpInput"

    def lineReceived(self, line: bytes) -> None:
        before = len(self.requests)
        http.HTTPChannel.lineReceived(self, line)
        if len(self.requests) > before:
            request = self.requests[-1]
            request.rawHeaderLines = []
            request.startedAt = self.gorInput.reactor.seconds()

    def headerReceived(self, line: bytes) -> bool:
        if self.requests:
            lines = getattr(self.requests[-1], "rawHeaderLines", None)
            if lines is not None:
                lines.append(line)
        return bool(http.HTTPChannel.headerReceived(self, line))


class _Factory(http.HTTPFactory):
    noisy = False

    def __init__(self, input: "HttpInput") -> None:
        http.HTTPFactory.__init__(self, reactor=input.reactor)
        self.gorInput = input
        self.protocol = self._makeChannel  # type: ignore[method-assign, assignment]

    def _makeChannel(self) -> _RecordingChannel:
        channel = _RecordingChannel()
        channel.requestFactory = _RecordingRequest
        channel.gorInput = self.gorInput
        return channel

    def log(self, request: Any) -> None:
        """
        No access log: every request is already counted.
        """


class HttpInput(InputBase):
    """
    The C{--input-http} listener.

    @ivar port: the listening port once started.
    """

    log = Logger()

    def __init__(self, host: str, port: int, reactor: Any = None) -> None:
        InputBase.__init__(self, f"input_http({host}:{port})")
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
        return HttpInput(self.host, self.port, context.reactor)
