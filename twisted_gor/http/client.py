# -*- test-case-name: tests.test_http_output,tests.test_http_tls,tests.test_http_e2e,tests.test_http1 -*-
"""
A raw HTTP/1.1 client connection that sends captured request bytes verbatim.

twisted.web's Agent (and treq) re-serialise requests: header names are
canonicalised, C{Accept-Encoding}/C{User-Agent}/cookies may be added and
idempotent requests retried on a stale pooled connection. A replay must send
what production received, so this protocol writes the given bytes as they are
and only parses the response, with the shared framer L{twisted_gor._http1}
(status line, headers, then a body delimited by C{Content-Length}, chunked
encoding or the end of the connection, RFC 9112 section 6.3). One request
is outstanding at a time per connection; nothing is ever retried.
"""

from __future__ import annotations

from typing import Any, Protocol as TypingProtocol

from twisted.internet import tcp
from twisted.internet.endpoints import _WrappingProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor._writenow import WriteBatch, WriteNow
from twisted_gor._http1 import IDLE, STOPPED, Frame, Framer, FramingError
from twisted_gor.http.fastpath import frameResponse
from twisted_gor.selfports import SelfPorts

try:
    from OpenSSL.SSL import Error as _TLSError
except ImportError:  # pragma: no cover - pyOpenSSL is a Twisted[tls] dependency
    _TLSError = None  # type: ignore[assignment,misc]

_newParser = object.__new__


class BadResponse(FramingError):
    """
    The bytes received are not an HTTP/1.x response (L{FramingError.kind}
    says why: one of L{twisted_gor._http1.ERROR_KINDS}).
    """


class ResponseParser(Framer):
    """
    Incremental parser of one HTTP/1.x response, on the shared framer: interim
    (1xx) responses are kept in C{raw} and skipped, the final one completes it.

    @ivar status: the status code once the head is parsed.
    @ivar done: the response is complete.
    @ivar closeAfter: the connection cannot be reused after this response.
    @ivar raw: the bytes received, up to C{keep} bytes (head and body as sent).
    @ivar size: the total number of bytes of the response.
    @ivar truncated: more than C{keep} bytes were received.
    @ivar flags: framing oddities of the final response (L{TE_AND_CL}).
    """

    status = 0
    done = False
    closeAfter = False
    size = 0
    truncated = False
    flags: tuple[str, ...] = ()
    _error: FramingError | None = None

    def __init__(self, isHead: bool = False, keep: int = 0) -> None:
        Framer.__init__(self, False, keep if keep > 0 else -1)
        if isHead:
            self.requestMethod = b"HEAD"
        self.isHead = isHead
        self.keepTotal = keep
        self.raw: list[bytes] = []

    def rawBytes(self) -> bytes:
        """
        The kept bytes of the response.
        """
        return b"".join(self.raw)

    @classmethod
    def quick(cls, data: bytes, isHead: bool, keep: int) -> "ResponseParser | None":
        """
        A done parser for the response at the start of C{data} when one read
        holds all of it and its head alone frames it (L{frameResponse}),
        without running the incremental framer; else L{None}. The same as
        C{ResponseParser(isHead, keep).feed(data)} for those responses.
        """
        found = frameResponse(data, isHead)
        if found is None:
            return None
        parser: ResponseParser = _newParser(cls)
        parser.isHead = isHead
        parser.keepTotal = keep
        if keep > 0:
            parser.keep = keep
            parser.raw = []
            parser._complete(data, *found)
            return parser
        # nothing kept (the usual replay): _complete without the raw bytes
        parser.keep = -1
        parser.raw = []
        parser.size, parser.status, parser.closeAfter = found
        parser.done = True
        return parser

    def _complete(self, data: bytes, total: int, status: int, closeAfter: bool) -> None:
        keep = self.keepTotal
        if keep > 0:
            if total > keep:
                self.raw.append(data[:keep])
                self.truncated = True
            else:
                self.raw.append(data[:total] if total < len(data) else data)
        self.size = total
        self.status = status
        self.closeAfter = closeAfter
        self.done = True

    def frameReceived(self, frame: Frame) -> None:
        self.size += frame.size
        if self.keepTotal > 0:
            if frame.raw:
                self.raw.append(frame.raw)
            if frame.truncated:
                self.truncated = True
        if frame.interim:
            if self.keepTotal > 0:
                room = self.keepTotal - self.size
                self.keep = room if room > 0 else -1
                if room <= 0:
                    self.truncated = True
            return
        self.status = frame.status
        self.closeAfter = frame.closeAfter
        self.flags = frame.flags
        self.done = True
        self.stop()

    def frameError(self, error: FramingError) -> None:
        self._error = error

    def feed(self, data: bytes) -> bytes:  # type: ignore[override]
        """
        Consume C{data}; return what follows the end of the response (bytes
        the server sent beyond it), empty when not done yet.

        @raise BadResponse: on anything that is not HTTP/1.x.
        """
        if self.done:
            return data
        if self.state == IDLE and not self.size:
            # Fast path: the whole response in this read, framed by its
            # head alone (Content-Length, or no body): see fastpath.
            quick = frameResponse(data, self.isHead)
            if quick is not None:
                self._complete(data, *quick)
                self.state = STOPPED  # stop(): nothing is buffered on this path
                total = quick[0]
                return data[total:] if total < len(data) else b""
        used = Framer.feed(self, data)
        if self.done:
            return data[used:] if used < len(data) else b""
        error = self._error
        if error is not None:
            raise BadResponse(error.kind, str(error)[len(error.kind) + 2 :])
        if not self.status:
            frame = self.frame
            if frame is not None and not frame.interim:
                self.status = frame.status
                self.closeAfter = frame.closeAfter
        return b""

    def finishOnClose(self) -> bool:
        """
        The connection closed: whether that completes the response (a body
        delimited by the end of the connection).
        """
        if not self.done:
            Framer.close(self)
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


def _unwrap(transport: Any, protocol: Protocol) -> None:
    """
    Make a plain TCP C{transport} deliver straight to C{protocol} instead of
    through the endpoint's L{_WrappingProtocol}, whose only work after the
    connection is made is forwarding each C{dataReceived} and the final
    C{connectionLost} (one Python call per read saved). The wrapper stays
    in place for anything else (TLS, another transport or wrapper), and the
    protocol sees the same calls in the same order either way.
    """
    wrapper = getattr(transport, "protocol", None)
    if (
        type(wrapper) is _WrappingProtocol
        and getattr(wrapper, "_wrappedProtocol", None) is protocol
        and isinstance(transport, tcp.Connection)
    ):
        transport.protocol = protocol


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
    batch: WriteBatch | None = None
    """Where requests on a plain TCP connection are gathered until the end
    of the reactor turn (L{twisted_gor._writenow.WriteBatch}); L{None}: sent
    at once."""

    def __init__(self, listener: IClientListener, keep: int = 0) -> None:
        self.listener = listener
        self.keep = keep
        self.busy = False
        self.connected = False
        self._parser: ResponseParser | None = None
        self._isHead = False
        self._keepNext = keep
        self._local: tuple[str, int] | None = None
        self._failed = False
        self._writer: WriteNow | None = None

    def connectionMade(self) -> None:
        self.connected = True
        transport: Any = self.transport
        self._writer = WriteNow(transport)
        _unwrap(transport, self)
        try:
            host = transport.getHost()
            self._local = (host.host, host.port)
            if self.selfPorts is not None:
                self.selfPorts.add(host.host, host.port)
        except Exception:
            self._local = None
        self.listener.clientConnected(self)

    def sendRequest(self, payload: bytes, isHead: bool = False, keep: int | None = None) -> None:
        """
        Write C{payload} exactly as given and start waiting for its response.

        @param keep: bytes of the response to keep (> 0), none (-1); the
            protocol's C{keep} when L{None}.
        """
        self.busy = True
        self._isHead = isHead
        keep = self.keep if keep is None else keep
        self._keepNext = keep
        # Without bytes to keep, the parser is made when the first bytes of
        # the response come (most arrive whole: ResponseParser.quick).
        self._parser = ResponseParser(isHead, keep) if keep > 0 else None
        writer = self._writer
        if writer is not None:
            batch = self.batch
            if batch is not None and writer.direct:
                batch.write(writer, payload)
            else:
                writer.write(payload)
        else:
            assert self.transport is not None
            self.transport.write(payload)

    def dataReceived(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            if not self.busy:
                # Bytes while no request is outstanding: the connection is unusable.
                self.abort()
                return
            parser = ResponseParser.quick(data, self._isHead, self._keepNext)
            if parser is None:
                parser = self._parser = ResponseParser(self._isHead, self._keepNext)
            else:
                self.busy = False
                if parser.closeAfter:
                    self.abort()
                self.listener.responseDone(self, parser)
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

    def close(self) -> None:
        """
        Close the connection gracefully (FIN after what is written), as a
        client ending its session does.
        """
        self.connected = False
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

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
        if parser is None and self.busy:
            # nothing of the response came yet
            parser = ResponseParser(self._isHead, self._keepNext)
        if parser is not None:
            self._parser = None
            self.busy = False
            if parser.finishOnClose():
                self.listener.responseDone(self, parser)
            else:
                self.listener.requestFailed(self, lostReason(reason), reason)
        self.listener.clientDisconnected(self)
