# -*- test-case-name: tests.test_http_output,tests.test_http_tls,tests.test_http_e2e -*-
"""
A raw HTTP/1.1 client connection that sends captured request bytes verbatim.

twisted.web's Agent (and treq) re-serialise requests: header names are
canonicalised, C{Accept-Encoding}/C{User-Agent}/cookies may be added and
idempotent requests retried on a stale pooled connection. A replay must send
what production received, so this protocol writes the given bytes as they are
and only parses the response: status line, headers, then a body delimited by
C{Content-Length}, chunked encoding or the end of the connection. One request
is outstanding at a time per connection; nothing is ever retried.
"""

from __future__ import annotations

from typing import Any, Protocol as TypingProtocol

from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor.selfports import SelfPorts

try:
    from OpenSSL.SSL import Error as _TLSError
except ImportError:  # pragma: no cover - pyOpenSSL is a Twisted[tls] dependency
    _TLSError = None  # type: ignore[assignment,misc]

MAX_HEAD = 256 * 1024
"""Largest accepted response status line + headers."""


class BadResponse(Exception):
    """
    The bytes received are not an HTTP/1.x response.
    """


class ResponseParser:
    """
    Incremental parser of one HTTP/1.x response.

    @ivar status: the status code once the head is parsed.
    @ivar done: the response is complete.
    @ivar closeAfter: the connection cannot be reused after this response.
    @ivar raw: the bytes received, up to C{keep} bytes (head and body as sent).
    @ivar size: the total number of bytes of the response.
    """

    __slots__ = (
        "isHead",
        "keep",
        "status",
        "done",
        "closeAfter",
        "raw",
        "size",
        "truncated",
        "_buf",
        "_mode",
        "_remaining",
        "_chunkState",
    )

    def __init__(self, isHead: bool = False, keep: int = 0) -> None:
        self.isHead = isHead
        self.keep = keep
        self.status = 0
        self.done = False
        self.closeAfter = False
        self.raw: list[bytes] = []
        self.size = 0
        self.truncated = False
        self._buf = b""
        self._mode = "head"
        self._remaining = 0
        self._chunkState = "size"

    def _record(self, data: bytes) -> None:
        self.size += len(data)
        if self.keep:
            kept = self.size - len(data)
            room = self.keep - kept
            if room > 0:
                self.raw.append(data if len(data) <= room else data[:room])
            if len(data) > room:
                self.truncated = True

    def rawBytes(self) -> bytes:
        """
        The kept bytes of the response.
        """
        return b"".join(self.raw)

    def feed(self, data: bytes) -> bytes:
        """
        Consume C{data}; return what follows the end of the response (bytes
        the server sent beyond it), empty when not done yet.

        @raise BadResponse: on anything that is not HTTP/1.x.
        """
        buf = self._buf + data if self._buf else data
        self._buf = b""
        while buf and not self.done:
            mode = self._mode
            if mode == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD or (len(buf) >= 5 and not buf.startswith(b"HTTP/")):
                        raise BadResponse("not an HTTP response" if len(buf) <= MAX_HEAD else "response head too long")
                    self._buf = buf
                    return b""
                self._parseHead(buf, end + 4)
                if self.keep:
                    self._record(buf[: end + 4])
                else:
                    self.size += end + 4
                buf = buf[end + 4 :]
            elif mode == "length":
                n = len(buf)
                if n >= self._remaining:
                    n = self._remaining
                    self.done = True
                if self.keep:
                    self._record(buf[:n])
                else:
                    self.size += n
                self._remaining -= n
                buf = buf[n:] if n < len(buf) else b""
            elif mode == "close":
                self._record(buf)
                buf = b""
            else:
                rest = self._feedChunked(buf)
                if rest is None:
                    return b""
                buf = rest
        if not self.done:
            return b""
        return buf

    def _parseHead(self, buf: bytes, headEnd: int) -> None:
        """
        Parse the response head C{buf[:headEnd]} (which ends with the blank
        line).
        """
        lineEnd = buf.find(b"\r\n")
        line = buf[:lineEnd]
        if not (line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) and line[9:12].isdigit()):
            raise BadResponse(f"bad status line {line[:60]!r}")
        status = int(line[9:12])
        http10 = line[7] == 0x30  # HTTP/1.0
        # One lower-cased copy of the header block, searched at C speed for
        # the three headers that matter (no per-line Python loop): every
        # header line starts right after a "\n".
        lower = buf[lineEnd:headEnd].lower()
        length: int | None = None
        pos = lower.find(b"\ncontent-length:")
        while pos >= 0:
            pos += 16
            nl = lower.find(b"\n", pos)
            try:
                value = int(lower[pos:nl])
            except ValueError:
                raise BadResponse("bad Content-Length") from None
            if value < 0:
                raise BadResponse("negative Content-Length")
            if length is not None and value != length:
                raise BadResponse("conflicting Content-Length headers")
            length = value
            pos = lower.find(b"\ncontent-length:", nl)
        chunked = False
        pos = lower.find(b"\ntransfer-encoding:")
        while pos >= 0:
            nl = lower.find(b"\n", pos + 19)
            if lower.find(b"chunked", pos + 19, nl) >= 0:
                chunked = True
            pos = lower.find(b"\ntransfer-encoding:", nl)
        connection = b""
        pos = lower.find(b"\nconnection:")
        if pos >= 0:
            connection = lower[pos + 12 : lower.find(b"\n", pos + 12)]
        if 100 <= status < 200 and status != 101:
            # Interim response (100 Continue, 103 Early Hints): keep reading.
            return
        self.status = status
        if b"close" in connection or (http10 and b"keep-alive" not in connection) or status == 101:
            self.closeAfter = True
        if self.isHead or status in (204, 304) or status == 101:
            self.done = True
        elif chunked:
            self._mode = "chunked"
            self._chunkState = "size"
        elif length is not None:
            self._mode = "length"
            self._remaining = length
            if length == 0:
                self.done = True
        else:
            self._mode = "close"
            self.closeAfter = True

    def _feedChunked(self, buf: bytes) -> bytes | None:
        """
        Consume chunked-body bytes; L{None} when more are needed.
        """
        while buf:
            state = self._chunkState
            if state == "size":
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > 4096:
                        raise BadResponse("chunk size line too long")
                    self._buf = buf
                    return None
                line = buf[: end + 2]
                sizeText = line[:end].split(b";", 1)[0].strip()
                try:
                    size = int(sizeText, 16)
                except ValueError:
                    raise BadResponse("bad chunk size") from None
                self._record(line)
                buf = buf[end + 2 :]
                if size == 0:
                    self._chunkState = "trailer"
                else:
                    self._remaining = size + 2
                    self._chunkState = "data"
            elif state == "data":
                n = min(self._remaining, len(buf))
                self._record(buf[:n])
                self._remaining -= n
                buf = buf[n:]
                if self._remaining == 0:
                    self._chunkState = "size"
            else:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise BadResponse("trailer too long")
                    self._buf = buf
                    return None
                self._record(buf[: end + 2])
                buf = buf[end + 2 :]
                if end == 0:
                    self.done = True
                    return buf
        return None if not self.done else buf

    def finishOnClose(self) -> bool:
        """
        The connection closed: whether that completes the response (a body
        delimited by the end of the connection).
        """
        if self._mode == "close" and self.status:
            self.done = True
        return self.done


def lostReason(reason: Failure) -> str:
    """
    The failure counter suffix for a connection lost with a request
    outstanding: C{tls} when the TLS handshake or record layer failed
    (untrusted certificate, protocol mismatch), C{reset} otherwise.
    """
    if _TLSError is not None and reason.check(_TLSError):
        return "tls"
    return "reset"


class IClientListener(TypingProtocol):
    """
    What an L{HttpClientProtocol} reports to (a replay worker).
    """

    def clientConnected(self, client: "HttpClientProtocol") -> None:
        """
        The connection is up.
        """

    def responseDone(self, client: "HttpClientProtocol", parser: ResponseParser) -> None:
        """
        The response to the outstanding request is complete.
        """

    def requestFailed(self, client: "HttpClientProtocol", reason: str, failure: Failure | None) -> None:
        """
        The outstanding request failed (C{reason}: reset, tls, bad_response).
        """

    def clientDisconnected(self, client: "HttpClientProtocol") -> None:
        """
        The connection is gone (with or without an outstanding request).
        """


class HttpClientProtocol(Protocol):
    """
    One persistent connection to the replay target.

    @ivar listener: notified of connection, responses and failures.
    @ivar busy: a request is outstanding.
    @ivar connected: the connection is up.
    @ivar selfPorts: where this connection's local endpoint is registered
        (so the service's captures ignore it), if anywhere.
    """

    log = Logger()
    selfPorts: SelfPorts | None = None

    def __init__(self, listener: IClientListener, keep: int = 0) -> None:
        self.listener = listener
        self.keep = keep
        self.busy = False
        self.connected = False
        self._parser: ResponseParser | None = None
        self._local: tuple[str, int] | None = None
        self._failed = False

    def connectionMade(self) -> None:
        self.connected = True
        transport: Any = self.transport
        try:
            host = transport.getHost()
            self._local = (host.host, host.port)
            if self.selfPorts is not None:
                self.selfPorts.add(host.host, host.port)
        except Exception:
            self._local = None
        self.listener.clientConnected(self)

    def sendRequest(self, payload: bytes, isHead: bool = False) -> None:
        """
        Write C{payload} exactly as given and start waiting for its response.
        """
        self.busy = True
        self._parser = ResponseParser(isHead, self.keep)
        assert self.transport is not None
        self.transport.write(payload)

    def dataReceived(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # Bytes while no request is outstanding: the connection is unusable.
            self.abort()
            return
        try:
            parser.feed(data)
        except BadResponse as e:
            self._fail("bad_response", Failure(e))
            return
        if parser.done:
            self._parser = None
            self.busy = False
            if parser.closeAfter:
                self.abort()
            self.listener.responseDone(self, parser)

    def _fail(self, reason: str, failure: Failure | None) -> None:
        self._parser = None
        self.busy = False
        self.abort()
        self.listener.requestFailed(self, reason, failure)

    def cancel(self) -> None:
        """
        Give up on the outstanding request (timeout) and drop the connection,
        without reporting a failure.
        """
        self._parser = None
        self.busy = False
        self.abort()

    def abort(self) -> None:
        """
        Drop the connection now (the listener hears of it through
        L{IClientListener.clientDisconnected}).
        """
        self.connected = False
        transport: Any = self.transport
        if transport is not None:
            transport.abortConnection()

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:
        self.connected = False
        if self._local is not None and self.selfPorts is not None:
            self.selfPorts.remove(*self._local)
            self._local = None
        parser = self._parser
        if parser is not None:
            self._parser = None
            self.busy = False
            if parser.finishOnClose():
                self.listener.responseDone(self, parser)
            else:
                self.listener.requestFailed(self, lostReason(reason), reason)
        self.listener.clientDisconnected(self)
