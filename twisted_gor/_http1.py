# -*- test-case-name: tests.test_http1 -*-
"""
The one HTTP/1.x message framer (RFC 9112), shared by capture
(L{twisted_gor.raw.httpstream}), the replay client (L{twisted_gor.http.client}),
the comparison (L{twisted_gor.compare.decode}), C{--input-http}
(L{twisted_gor.http.input}) and the Elasticsearch export.

L{Framer} is an incremental state machine for one direction of a connection:
it is fed bytes in order, however they are segmented, and reports each
message through L{Framer.frameReceived} as a L{Frame} carrying the message's
bytes exactly as received (optionally only the first C{keep} of them), its
parsed head and where it ended in the data being fed. Every byte is looked at
a bounded number of times: the head is searched incrementally from where the
previous search stopped, partial lines are kept in a C{bytearray}, the raw
message is assembled once per fed chunk with one final join. A response split
into 1-byte reads costs the same per byte as a large read, up to a constant.

Body length follows RFC 9112 section 6.3, in this order:

  1. a response to C{HEAD}, a 1xx, 204 or 304 response has no body (a 1xx
     other than 101 is I{interim}: the final response follows it);
  2. a 2xx response to C{CONNECT} and a 101 response switch the connection to
     a tunnel (L{Frame.tunnel}): nothing after them is HTTP;
  3. C{Transfer-Encoding} whose last coding is C{chunked}: chunked (chunk
     extensions ignored, trailers read); with C{Content-Length} as well the
     chunked coding wins, the frame is flagged L{TE_AND_CL} and the
     connection must be closed after it;
  4. C{Transfer-Encoding} without C{chunked} last: a response is read until
     the connection closes, a request is L{BAD_TRANSFER_ENCODING};
  5. C{Content-Length}: one or more headers, each a comma-separated list,
     whose values must all be the same decimal number
     (L{CONFLICTING_LENGTH} when they differ, L{BAD_LENGTH} when one is not
     a number);
  6. otherwise a request has no body and a response is read until close.

Malformed framing has one named outcome per kind (the module's C{str}
constants, carried by L{FramingError.kind}); each user counts them under its
own prefix. Line endings may be CRLF or a bare LF (RFC 9112 section 2.2);
empty lines before a message are skipped.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

from twisted_gor._httphead import getHeaders, headersEnd as headEnd

MAX_HEAD = 256 * 1024
"""Largest accepted start line + header block (and trailer block)."""

MAX_LINE = 64 * 1024
"""Largest accepted chunk-size line."""

BAD_START_LINE = "bad_start_line"
"""The first line is not an HTTP/1.x request line or status line."""
BAD_HEADER = "bad_header"
"""A framing header (C{Content-Length}, C{Transfer-Encoding}) has whitespace
before its colon (RFC 9112 section 5.1)."""
HEAD_TOO_LONG = "head_too_long"
"""The head (or a trailer block) is longer than L{MAX_HEAD}."""
BAD_LENGTH = "bad_length"
"""A C{Content-Length} value is not a decimal number."""
CONFLICTING_LENGTH = "conflicting_length"
"""C{Content-Length} values differ."""
BAD_TRANSFER_ENCODING = "bad_transfer_encoding"
"""A request's C{Transfer-Encoding} does not end with C{chunked}."""
BAD_CHUNK = "bad_chunk"
"""A chunk-size line is not hexadecimal, is too long, or chunk data is not
followed by a line end."""

ERROR_KINDS = (
    BAD_START_LINE,
    BAD_HEADER,
    HEAD_TOO_LONG,
    BAD_LENGTH,
    CONFLICTING_LENGTH,
    BAD_TRANSFER_ENCODING,
    BAD_CHUNK,
)
"""Every named outcome of malformed framing."""

TE_AND_CL = "te_and_cl"
"""Flag: both C{Transfer-Encoding} and C{Content-Length}; the former won."""

# Body kinds.
NO_BODY = 0
LENGTH = 1
CHUNKED = 2
UNTIL_CLOSE = 3

# Framer states.
IDLE = 0
HEAD = 1
BODY = 2
CHUNK_SIZE = 3
CHUNK_DATA = 4
CHUNK_END = 5
TRAILERS = 6
CLOSE_DELIMITED = 7
TUNNEL = 8
SKIP = 9
STOPPED = 10

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^ \x00-\x20\x7f]+) HTTP/(1\.[0-9])\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/(1\.[0-9]) ([0-9]{3})(?: ([^\r\n]*?))?\r?\n")
_FRAMING = re.compile(rb"\n(content-length|transfer-encoding)([ \t]*):[ \t]*([^\r\n]*)", re.IGNORECASE)
_CONNECTION = re.compile(rb"\nconnection:([^\r\n]*)", re.IGNORECASE)
# A response's framing headers and Connection in one scan (closeAfter needs it).
_RESPONSE_FRAMING = re.compile(
    rb"\n(content-length|transfer-encoding|connection)([ \t]*):[ \t]*([^\r\n]*)", re.IGNORECASE
)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?")
_REQUEST_START = re.compile(rb"[A-Z][A-Z_-]{0,19} [^ \r\n]")


class FramingError(Exception):
    """
    Bytes that cannot be framed as HTTP/1.x.

    @ivar kind: one of L{ERROR_KINDS}.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        Exception.__init__(self, kind + (": " + detail if detail else ""))
        self.kind = kind


def looksLikeRequest(data: bytes) -> bool:
    """
    Whether C{data} starts like a request line (C{METHOD target...}); used to
    find a message start after lost bytes.
    """
    return _REQUEST_START.match(data) is not None


def looksLikeResponse(data: bytes) -> bool:
    """
    Whether C{data} starts like a status line.
    """
    return data[:7] == b"HTTP/1."


class Frame:
    """
    One HTTP/1.x message: its head as parsed and, once framed, its bytes.

    @ivar isRequest: a request (else a response).
    @ivar method: the request method (requests), or b"".
    @ivar target: the request-target (requests), or b"".
    @ivar version: C{b"1.1"}, C{b"1.0"}...
    @ivar status: the status code (responses), or 0.
    @ivar head: the head bytes (start line to the empty line, inclusive).
    @ivar bodyKind: L{NO_BODY}, L{LENGTH}, L{CHUNKED} or L{UNTIL_CLOSE}.
    @ivar length: the Content-Length for L{LENGTH}, else -1.
    @ivar flags: framing oddities tolerated (L{TE_AND_CL}).
    @ivar forceClose: the framing forbids reusing the connection after this
        message (TE and CL, a close-delimited body, a tunnel); see
        L{closeAfter}.
    @ivar tunnel: the connection leaves HTTP after this message (101, or a 2xx
        answering C{CONNECT}).
    @ivar interim: a 1xx response other than 101 (the final one follows).
    @ivar raw: the message bytes as received (the first C{keep} of them).
    @ivar size: the number of bytes of the message (all of them).
    @ivar truncated: C{raw} holds fewer than C{size} bytes.
    @ivar complete: the message ended as framed (not cut by a close or abort).
    @ivar body: the body with the transfer coding undone, when the framer
        was asked to decode (else empty).
    @ivar start: where the message began in the data of the L{Framer.feed}
        that completed it, or -1 when it began in earlier data.
    @ivar end: where it ended in that data (the next message starts there).
    """

    # No __slots__: the defaults are class attributes, so making a frame sets
    # only what differs (one is made per message on the capture hot path).
    method = b""
    target = b""
    version = b"1.1"
    status = 0
    bodyKind = NO_BODY
    length = -1
    flags: tuple[str, ...] = ()
    forceClose = False
    tunnel = False
    interim = False
    truncated = False
    complete = True
    body = b""
    start = -1
    end = 0
    _headers: Optional[list[tuple[bytes, bytes]]] = None
    _connection: Optional[bytes] = None  # the Connection values, when parseHead saw them

    def __init__(self, isRequest: bool, head: bytes) -> None:
        self.isRequest = isRequest
        self.head = head
        self.raw = head
        self.size = len(head)

    @property
    def closeAfter(self) -> bool:
        """
        The connection is not reusable after this message.
        """
        if self.forceClose:
            return True
        connection = self._connection
        if connection is None:
            connection = b",".join(_CONNECTION.findall(self.head)).lower()
        if self.version == b"1.0":
            return b"keep-alive" not in connection
        return b"close" in connection

    @property
    def expectContinue(self) -> bool:
        """
        A request with C{Expect: 100-continue}.
        """
        value = self.get(b"Expect")
        return self.isRequest and value is not None and value.lower() == b"100-continue"

    @property
    def upgrade(self) -> Optional[bytes]:
        """
        The C{Upgrade} header's value, or L{None}.
        """
        return self.get(b"Upgrade")

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """
        Every C{(name, trimmed value)} of the head, in order, names as sent.
        """
        if self._headers is None:
            self._headers = getHeaders(self.head)
        return self._headers

    def get(self, name: bytes) -> Optional[bytes]:
        """
        The value of the first header called C{name} (case-insensitive), or
        L{None}.
        """
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def getAll(self, name: bytes) -> list[bytes]:
        """
        The values of every header called C{name} (case-insensitive), in order.
        """
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


_newFrame = object.__new__


def _noBodyResponse(frame: Frame, status: int, requestMethod: Optional[bytes]) -> Optional[Frame]:
    """
    Rules 1 and 2 of RFC 9112 section 6.3: C{frame} when the response has no
    body whatever its headers say (HEAD, 1xx, 204, 304; 101 and a 2xx to
    CONNECT also switch to a tunnel), else L{None}.
    """
    if status < 200 or status == 204 or status == 304 or requestMethod == b"HEAD":
        if status == 101:
            frame.tunnel = frame.forceClose = True
        elif status < 200:
            frame.interim = True
        return frame
    if requestMethod == b"CONNECT" and status < 300:
        frame.tunnel = frame.forceClose = True
        return frame
    return None


def bodilessRequestMethod(head: bytes) -> Optional[bytes]:
    """
    The method of a well-formed request head that has no framing header
    (no Content-Length, no Transfer-Encoding: so no body, RFC 9112 section
    6.3), or L{None} for any other head (then L{parseHead} decides). The
    capture's per-message fast path; L{parseHead} applies the same rule.
    """
    m = _REQUEST_LINE.match(head)
    if m is None or _FRAMING.search(head, m.end() - 1) is not None:
        return None
    return m.group(1)


def parseHead(head: bytes, isRequest: bool, requestMethod: Optional[bytes] = None) -> Frame:
    """
    Parse a complete head (start line to the empty line, inclusive) and
    decide how the body is framed.

    @param requestMethod: for a response, the method of the request it
        answers (C{HEAD} and C{CONNECT} change the framing), if known.
    @raise FramingError: on a malformed head or contradictory framing.
    """
    # Frame(isRequest, head), without the cost of a Python-level __init__.
    frame = _newFrame(Frame)
    frame.isRequest = isRequest
    frame.head = frame.raw = head
    frame.size = len(head)
    if isRequest:
        m = _REQUEST_LINE.match(head)
        if m is None:
            raise FramingError(BAD_START_LINE, repr(head[:60]))
        frame.method, frame.target, version = m.group(1, 2, 3)
    else:
        m = _STATUS_LINE.match(head)
        if m is None:
            raise FramingError(BAD_START_LINE, repr(head[:60]))
        version = m.group(1)
        frame.status = status = int(m.group(2))
    if version != b"1.1":
        frame.version = version
    if isRequest:
        found = _FRAMING.findall(head, m.end() - 1)
    else:
        found = _RESPONSE_FRAMING.findall(head, m.end() - 1)
        connection: Optional[list[bytes]] = None
        for entry in found:
            if len(entry[0]) == 10:  # connection
                if connection is None:
                    connection = []
                if not entry[1]:  # "Connection :" is no Connection header
                    connection.append(entry[2])
        if connection is None:
            frame._connection = b""
        else:
            frame._connection = b",".join(connection).lower()
            found = [entry for entry in found if len(entry[0]) != 10]
    if not found:
        # No framing header (most requests, many small responses).
        if isRequest:
            return frame
        if status < 200 or status == 204 or status == 304 or requestMethod is not None:
            done = _noBodyResponse(frame, status, requestMethod)
            if done is not None:
                return done
        frame.bodyKind = UNTIL_CLOSE
        frame.forceClose = True
        return frame
    lengths: Optional[list[bytes]] = None
    codings: Optional[bytes] = None
    for name, space, value in found:
        if space:
            raise FramingError(BAD_HEADER, "space before colon")
        if len(name) == 14:  # content-length
            if lengths is None:
                lengths = [value]
            else:
                lengths.append(value)
        else:
            codings = value if codings is None else codings + b"," + value
    if not isRequest and (status < 200 or status == 204 or status == 304 or requestMethod is not None):
        done = _noBodyResponse(frame, status, requestMethod)
        if done is not None:
            return done
    if codings is not None:
        parts = [c.strip() for c in codings.split(b",")]
        parts = [c for c in parts if c]
        if parts and parts[-1].lower() == b"chunked":
            frame.bodyKind = CHUNKED
        elif isRequest:
            raise FramingError(BAD_TRANSFER_ENCODING, repr(codings[:60]))
        else:
            frame.bodyKind = UNTIL_CLOSE
        if lengths is not None:
            frame.flags = (TE_AND_CL,)
        if lengths is not None or frame.bodyKind == UNTIL_CLOSE:
            frame.forceClose = True
        return frame
    if lengths is not None:
        if len(lengths) == 1 and lengths[0].isdigit():
            length = int(lengths[0])
        else:
            length = _parseLengths(lengths)
        frame.length = length
        if length:
            frame.bodyKind = LENGTH
        return frame
    if not isRequest:
        frame.bodyKind = UNTIL_CLOSE
        frame.forceClose = True
    return frame


def _parseLengths(values: list[bytes]) -> int:
    """
    The one length that C{Content-Length} values (each a comma-separated
    list) agree on.

    @raise FramingError: L{BAD_LENGTH} or L{CONFLICTING_LENGTH}.
    """
    length = -1
    for value in values:
        for item in value.split(b","):
            item = item.strip()
            if not item.isdigit():
                raise FramingError(BAD_LENGTH, repr(item[:30]))
            number = int(item)
            if length < 0:
                length = number
            elif number != length:
                raise FramingError(CONFLICTING_LENGTH, f"{length} and {number}")
    return length


def _startLineBad(buffer: bytes | bytearray, isRequest: bool, nl: int) -> bool:
    """
    Whether an incomplete head already cannot be a message start, C{nl}
    being the index of its first C{LF} (or -1).
    """
    if not isRequest:
        n = len(buffer)
        if n < 5:
            return b"HTTP/"[:n] != buffer
        if buffer[:5] != b"HTTP/":
            return True
    if nl < 0:
        return False
    line = bytes(buffer[: nl + 1])
    return (_REQUEST_LINE if isRequest else _STATUS_LINE).match(line) is None


class Framer:
    """
    Incremental framer of the HTTP/1.x messages of one direction of a
    connection. Subclasses override L{frameReceived} (and L{frameError}).

    @ivar isRequest: frame requests (else responses).
    @ivar state: the current state (module constants; L{IDLE} between
        messages, L{SKIP} after an error, L{TUNNEL} after a protocol switch).
    @ivar keep: keep at most this many bytes of each message (0 = all, -1 =
        none: only sizes are counted).
    @ivar decodeBody: collect the de-chunked body in L{Frame.body}.
    @ivar requestMethod: for responses: the method of the request answered
        (set by the user, or see L{methodAt}).
    @ivar startPos: where the message in progress began in the data being
        fed, -1 when it began in earlier data.
    @ivar frame: the head of the message in progress, once parsed.
    """

    __slots__ = (
        "isRequest",
        "state",
        "keep",
        "decodeBody",
        "requestMethod",
        "startPos",
        "frame",
        "_hdr",
        "_line",
        "_cr",
        "_remaining",
        "_parts",
        "_size",
        "_body",
        "_truncated",
        "_lineOK",
    )

    def __init__(self, isRequest: bool, keep: int = 0, decodeBody: bool = False) -> None:
        self.isRequest = isRequest
        self.state = IDLE
        self.keep = keep
        self.decodeBody = decodeBody
        self.requestMethod: Optional[bytes] = None
        self.startPos = -1
        self.frame: Optional[Frame] = None
        self._hdr: Optional[bytearray] = None
        self._line: Optional[bytearray] = None
        self._cr = False
        self._remaining = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._body: list[bytes] = []
        self._truncated = False
        self._lineOK = False

    # Hooks.

    def frameReceived(self, frame: Frame) -> None:
        """
        A message was framed (override). The callee may call L{stop}, L{tunnel}
        or L{reset}.
        """

    def frameError(self, error: FramingError) -> None:
        """
        The bytes cannot be framed (override). The partial message is still
        available (L{abort}); afterwards the framer is in L{SKIP} state until
        L{reset}.
        """

    def methodAt(self, startPos: int) -> Optional[bytes]:
        """
        For responses: the method of the request answered by the response
        that began at C{startPos} of the data being fed (-1: earlier data).
        By default L{requestMethod}.
        """
        return self.requestMethod

    # Control.

    def reset(self) -> None:
        """
        Forget any partial message and expect a message start.
        """
        self._clear(IDLE)

    def stop(self) -> None:
        """
        Stop framing: L{feed} returns at once, before the bytes that follow.
        """
        self._clear(STOPPED)

    def tunnel(self) -> None:
        """
        The connection switched protocols: ignore everything from now on.
        """
        self._clear(TUNNEL)

    def hasPartial(self) -> bool:
        """
        Whether part of a message is buffered.
        """
        return HEAD <= self.state <= CLOSE_DELIMITED

    def partial(self) -> bytes:
        """
        The bytes of the message in progress received so far (as kept).
        """
        parts = self._parts
        if self._hdr is not None:
            parts = parts + [bytes(self._hdr)]
        return b"".join(parts)

    def _clear(self, state: int) -> None:
        self.state = state
        self.frame = None
        self._hdr = None
        self._line = None
        self._cr = False
        self._parts = []
        self._size = 0
        self._body = []
        self._truncated = False
        self._lineOK = False

    def _store(self, piece: bytes) -> None:
        size = self._size + len(piece)
        keep = self.keep
        if keep and size > keep:
            room = keep - self._size
            if room > 0:
                self._parts.append(piece[:room])
            self._truncated = True
        elif piece:
            self._parts.append(piece)
        self._size = size

    def _fail(self, error: FramingError) -> None:
        self.frameError(error)
        self._clear(SKIP)

    def _emit(self, frame: Frame, start: int, end: int, complete: bool = True) -> None:
        parts = self._parts
        frame.raw = parts[0] if len(parts) == 1 else b"".join(parts)
        frame.size = self._size
        if self._truncated:
            frame.truncated = True
        if not complete:
            frame.complete = False
        if self.decodeBody:
            body = self._body
            frame.body = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
        frame.start = start
        frame.end = end
        # What _clear() does, minus what is already clear after a message.
        self.state = TUNNEL if frame.tunnel else IDLE
        self.frame = None
        self._parts = []
        self._size = 0
        self._truncated = False
        self.frameReceived(frame)

    def _headDone(self, block: bytes) -> Optional[Frame]:
        try:
            frame = parseHead(block, self.isRequest, None if self.isRequest else self.methodAt(self.startPos))
        except FramingError as e:
            self._fail(e)
            return None
        self.frame = frame
        kind = frame.bodyKind
        if kind == LENGTH:
            self.state = BODY
            self._remaining = frame.length
        elif kind == CHUNKED:
            self.state = CHUNK_SIZE
        elif kind == UNTIL_CLOSE:
            self.state = CLOSE_DELIMITED
        else:
            self.state = IDLE
        return frame

    def feed(self, data: bytes) -> int:
        """
        Frame the next bytes of the stream.

        @return: how many bytes of C{data} were consumed (all of them unless
            the framer was stopped, switched to a tunnel or hit an error).
        """
        n = len(data)
        pos = 0
        frame: Optional[Frame]
        mark = 0  # where this data's bytes of the message in progress begin
        self.startPos = -1
        while pos < n:
            state = self.state
            if state == IDLE:
                c = data[pos]
                while c == 13 or c == 10:
                    pos += 1
                    if pos == n:
                        return n
                    c = data[pos]
                self.startPos = mark = pos
                # headEnd(), inlined: this is the per-message hot path.
                end = data.find(b"\n\r\n", pos)
                j = data.find(b"\n\n", pos, end + 2 if end >= 0 else n)
                end = j + 2 if j >= 0 else (end + 3 if end >= 0 else -1)
                if end < 0:
                    self._hdr = bytearray(data[pos:]) if pos else bytearray(data)
                    self.state = HEAD
                    if n - pos > MAX_HEAD:
                        self._fail(FramingError(HEAD_TOO_LONG))
                        return pos
                    nl = data.find(b"\n", pos)
                    if _startLineBad(self._hdr, self.isRequest, nl - pos if nl >= 0 else -1):
                        self._fail(FramingError(BAD_START_LINE, repr(data[pos : pos + 60])))
                        return pos
                    self._lineOK = nl >= 0
                    return n
                if end - pos > MAX_HEAD:
                    self._fail(FramingError(HEAD_TOO_LONG))
                    return pos
                isRequest = self.isRequest
                try:
                    frame = parseHead(
                        data[pos:end] if pos or end != n else data,
                        isRequest,
                        None if isRequest else self.methodAt(pos),
                    )
                except FramingError as e:
                    self._fail(e)
                    return pos
                kind = frame.bodyKind
                if kind == NO_BODY:
                    # The whole message is its head.
                    keep = self.keep
                    if keep and frame.size > keep:
                        frame.raw = frame.head[:keep] if keep > 0 else b""
                        frame.truncated = True
                    frame.start = pos
                    frame.end = pos = end
                    if frame.tunnel:
                        self.state = TUNNEL
                    self.frameReceived(frame)
                    continue
                if kind == LENGTH and frame.length <= n - end and not self.keep and not self.decodeBody:
                    # Head and body in this data: one slice.
                    stop = end + frame.length
                    frame.raw = data[pos:stop] if pos or stop != n else data
                    frame.size = stop - pos
                    frame.start = pos
                    frame.end = pos = stop
                    self.frameReceived(frame)
                    continue
                self.frame = frame
                if kind == LENGTH:
                    self.state = BODY
                    self._remaining = frame.length
                elif kind == CHUNKED:
                    self.state = CHUNK_SIZE
                else:
                    self.state = CLOSE_DELIMITED
                if self.keep:
                    # Account for the head now so the keep limit applies in order.
                    self._store(frame.head)
                    mark = end
                pos = end
            elif state == HEAD:
                hdr = self._hdr
                assert hdr is not None
                prev = len(hdr)
                hdr += data[pos:] if pos else data
                end = headEnd(hdr, prev - 2 if prev > 2 else 0)
                if end < 0:
                    if len(hdr) > MAX_HEAD:
                        self._fail(FramingError(HEAD_TOO_LONG))
                        return pos
                    if not self._lineOK:
                        nl = hdr.find(b"\n", prev)
                        if _startLineBad(hdr, self.isRequest, nl):
                            self._fail(FramingError(BAD_START_LINE, repr(bytes(hdr[:60]))))
                            return pos
                        self._lineOK = nl >= 0
                    return n
                if end > MAX_HEAD:
                    self._fail(FramingError(HEAD_TOO_LONG))
                    return pos
                pos += end - prev
                block = bytes(hdr[:end])
                self._hdr = None
                frame = self._headDone(block)
                if frame is None:
                    return pos
                self._store(block)
                mark = pos
                if self.state == IDLE:
                    self._emit(frame, -1, pos)
            elif state == BODY or state == CHUNK_DATA:
                take = self._remaining
                if take > n - pos:
                    take = n - pos
                if self.decodeBody:
                    self._body.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == BODY:
                        frame = self.frame
                        assert frame is not None
                        self._store(data[mark:pos] if mark or pos != n else data)
                        self._emit(frame, self.startPos, pos)
                        mark = pos
                    else:
                        self.state = CHUNK_END
            elif state == CHUNK_SIZE or state == TRAILERS:
                nl = data.find(b"\n", pos)
                line = self._line
                if nl < 0:
                    if line is None:
                        self._line = line = bytearray()
                    line += data[pos:] if pos else data
                    if len(line) > (MAX_LINE if state == CHUNK_SIZE else MAX_HEAD):
                        self._fail(FramingError(BAD_CHUNK if state == CHUNK_SIZE else HEAD_TOO_LONG, "line too long"))
                        return pos
                    pos = n
                    break
                if line is not None:
                    line += data[pos:nl]
                    text = bytes(line)
                    self._line = None
                else:
                    text = data[pos:nl]
                pos = nl + 1
                if state == CHUNK_SIZE:
                    m = _CHUNK_SIZE.fullmatch(text)
                    if m is None:
                        self._fail(FramingError(BAD_CHUNK, repr(text[:30])))
                        return pos
                    size = int(m.group(1), 16)
                    if size:
                        self._remaining = size
                        self.state = CHUNK_DATA
                    else:
                        self.state = TRAILERS
                        self._remaining = 0  # trailer bytes seen
                elif text == b"" or text == b"\r":
                    frame = self.frame
                    assert frame is not None
                    self._store(data[mark:pos] if mark or pos != n else data)
                    self._emit(frame, self.startPos, pos)
                    mark = pos
                else:
                    self._remaining += len(text)
                    if self._remaining > MAX_HEAD:
                        self._fail(FramingError(HEAD_TOO_LONG, "trailers"))
                        return pos
            elif state == CHUNK_END:
                c = data[pos]
                if c == 10:
                    pos += 1
                    self._cr = False
                    self.state = CHUNK_SIZE
                elif c == 13 and not self._cr:
                    pos += 1
                    self._cr = True
                else:
                    self._fail(FramingError(BAD_CHUNK, "no line end after chunk data"))
                    return pos
            elif state == CLOSE_DELIMITED:
                if self.decodeBody:
                    self._body.append(data[pos:] if pos else data)
                pos = n
            else:  # TUNNEL, SKIP, STOPPED
                return pos
        if mark < n and HEAD < self.state <= CLOSE_DELIMITED:
            self._store(data[mark:] if mark else data)
        return pos

    def close(self) -> bool:
        """
        The direction ended: complete a close-delimited message.

        @return: whether an incomplete message is still buffered.
        """
        if self.state == CLOSE_DELIMITED:
            frame = self.frame
            assert frame is not None
            self._emit(frame, -1, 0)
            return False
        return self.hasPartial()

    def abort(self) -> Optional[Frame]:
        """
        Give up the message in progress (the stream is cut): the framer then
        skips until L{reset}.

        @return: the partial message, marked incomplete, if any bytes of it
            were received.
        """
        if not self.hasPartial():
            self._clear(SKIP)
            return None
        frame = self.frame
        if frame is None:
            frame = Frame(self.isRequest, b"")
        payload = self.partial()
        size = self._size + (len(self._hdr) if self._hdr is not None else 0)
        truncated = self._truncated
        body = b"".join(self._body)
        self._clear(SKIP)
        frame.raw = payload
        frame.size = size
        frame.truncated = truncated
        frame.complete = False
        frame.body = body
        frame.start = -1
        return frame


class _One(Framer):
    """
    Frames the first final message of a recording.
    """

    def __init__(self, isRequest: bool) -> None:
        Framer.__init__(self, isRequest, decodeBody=True)
        self.got: Optional[Frame] = None
        self.error: Optional[FramingError] = None

    def frameReceived(self, frame: Frame) -> None:
        if not frame.interim:
            self.got = frame
            self.stop()

    def frameError(self, error: FramingError) -> None:
        self.error = error
        self.got = self.abort()


def frameOne(
    payload: bytes, isRequest: bool, requestMethod: Optional[bytes] = None
) -> tuple[Optional[Frame], Optional[FramingError]]:
    """
    Frame the first message of a recording C{payload} (interim responses
    skipped), decoding its body: C{(frame, error)}. A payload that ends early
    yields the partial frame (C{complete} false); a close-delimited body ends
    with the payload; on malformed framing the error comes with whatever
    partial frame was read (L{None} when the head itself is bad).
    """
    one = _One(isRequest)
    one.requestMethod = requestMethod
    one.feed(payload)
    if one.got is None and one.error is None and one.close():
        one.got = one.abort()
    got = one.got
    if got is not None and not got.head:
        got = None
    return got, one.error


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """
    Undo the chunked transfer coding of a body (chunk lines, data, trailers).

    @return: the body and whether the chunked framing was complete (a
        truncated or malformed body yields what could be read, and C{False}).
    """
    one = _One(False)
    one.frame = Frame(False, b"")
    one.state = CHUNK_SIZE
    one.feed(data)
    got = one.got
    if got is None:
        got = one.abort()
        return (got.body if got is not None else b""), False
    return got.body, got.complete and one.error is None


__all__ = [
    "dechunk",
    "MAX_HEAD",
    "MAX_LINE",
    "ERROR_KINDS",
    "BAD_START_LINE",
    "BAD_HEADER",
    "HEAD_TOO_LONG",
    "BAD_LENGTH",
    "CONFLICTING_LENGTH",
    "BAD_TRANSFER_ENCODING",
    "BAD_CHUNK",
    "TE_AND_CL",
    "FramingError",
    "Frame",
    "Framer",
    "parseHead",
    "frameOne",
    "looksLikeRequest",
    "looksLikeResponse",
]
