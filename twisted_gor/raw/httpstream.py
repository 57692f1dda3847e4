# -*- test-case-name: tests.test_raw_reassembly -*-
"""
Incremental HTTP/1.x message boundary detection on one direction of a TCP
stream.

The parser is fed the stream's bytes in order (by L{twisted_gor.raw.reassembly})
and reports each message as soon as its last byte arrives: Content-Length
bodies, chunked bodies (chunk lines split anywhere), bodies absent by method or
status (HEAD, 1xx, 204, 304), read-until-close responses, keep-alive and
pipelined messages. It never copies a body more than once (the final join).
"""

from __future__ import annotations

import re
from typing import Callable, Optional, Union

IDLE = 0
HEADERS = 1
FIXED = 2
CHUNK_LINE = 3
CHUNK_DATA = 4
CHUNK_END = 5
TRAILERS = 6
UNTIL_CLOSE = 7
SKIP = 8
UPGRADED = 9

MAX_HEADER = 256 * 1024
MAX_LINE = 64 * 1024

_REQUEST_START = re.compile(rb"[A-Z][A-Z_-]{0,19} [^ \r\n]")
_FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)

Info = Union[bytes, int]
MessageCallback = Callable[[bytes, int, int, int, int, Info, bool], None]
"""C{(payload, firstTs, lastTs, startSeq, startAck, methodOrStatus, complete)}."""


def looksLikeRequest(data: bytes) -> bool:
    """
    Whether C{data} starts like a request line (C{METHOD target...}).
    """
    return _REQUEST_START.match(data) is not None


def looksLikeResponse(data: bytes) -> bool:
    """
    Whether C{data} starts like a status line.
    """
    return data[:7] == b"HTTP/1."


class HTTPStreamParser:
    """
    Boundary detector for the messages of one direction of a connection.

    @ivar isRequest: parse requests (client side) or responses (server side).
    @ivar state: the current state (module constants).
    """

    __slots__ = (
        "isRequest",
        "state",
        "_onMessage",
        "_onUnparsable",
        "_methodFor",
        "_maxStore",
        "_parts",
        "_size",
        "_hdr",
        "_line",
        "_remaining",
        "firstTs",
        "lastTs",
        "startSeq",
        "startAck",
        "info",
        "truncated",
    )

    def __init__(
        self,
        isRequest: bool,
        onMessage: MessageCallback,
        onUnparsable: Callable[[], None],
        methodFor: Callable[[int], Optional[bytes]] = lambda seq: None,
        maxStore: int = 0,
    ) -> None:
        """
        @param onMessage: called with each complete message.
        @param onUnparsable: called when bytes that are not HTTP are skipped.
        @param methodFor: for responses, the method of the request that the
            response starting at this sequence number answers.
        @param maxStore: keep at most this many bytes of a message (0 = all);
            the boundary is still found and L{truncated} set.
        """
        self.isRequest = isRequest
        self.state = IDLE
        self._onMessage = onMessage
        self._onUnparsable = onUnparsable
        self._methodFor = methodFor
        self._maxStore = maxStore
        self._parts: list[bytes] = []
        self._size = 0
        self._hdr: Optional[bytearray] = None
        self._line = b""
        self._remaining = 0
        self.firstTs = 0
        self.lastTs = 0
        self.startSeq = 0
        self.startAck = 0
        self.info: Info = b""
        self.truncated = False

    def looksLikeStart(self, data: bytes) -> bool:
        """
        Whether C{data} starts like a message of this direction.
        """
        return looksLikeRequest(data) if self.isRequest else looksLikeResponse(data)

    def hasPartial(self) -> bool:
        """
        Whether part of a message is buffered.
        """
        return self.state not in (IDLE, SKIP, UPGRADED)

    def _append(self, data: bytes, pos: int, take: int) -> None:
        self._size += take
        maxStore = self._maxStore
        if maxStore and self._size > maxStore:
            keep = take - (self._size - maxStore)
            self.truncated = True
            if keep <= 0:
                return
            take = keep
        if pos == 0 and take == len(data):
            self._parts.append(data)
        else:
            self._parts.append(data[pos : pos + take])

    def _bad(self) -> None:
        self._reset(SKIP)
        self._onUnparsable()

    def _reset(self, state: int) -> None:
        self.state = state
        self._parts = []
        self._size = 0
        self._hdr = None
        self._line = b""
        self.truncated = False

    def _complete(self, ts: int) -> None:
        parts = self._parts
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        info = self.info
        firstTs, seq, ack = self.firstTs, self.startSeq, self.startAck
        upgraded = info == 101 and not self.isRequest
        self._reset(UPGRADED if upgraded else IDLE)
        self._onMessage(payload, firstTs, ts, seq, ack, info, True)

    def _headersDone(self, block: bytes) -> bool:
        """
        Decide the body framing from a complete header block.
        """
        firstEnd = block.find(b"\r\n")
        length: Optional[bytes] = None
        chunked = False
        if firstEnd + 4 < len(block):
            for name, value in _FRAMING.findall(block, firstEnd):
                if len(name) == 17:  # transfer-encoding
                    chunked = value.rstrip().lower().endswith(b"chunked")
                elif length is None:
                    length = value.rstrip()
        if self.isRequest:
            sp1 = block.find(b" ", 0, firstEnd)
            sp2 = block.rfind(b" ", 0, firstEnd)
            if sp1 <= 0 or sp2 <= sp1 or not block.startswith(b"HTTP/1.", sp2 + 1, firstEnd):
                return False
            self.info = block[:sp1]
            if chunked:
                self.state = CHUNK_LINE
                return True
            if length:
                return self._fixed(length)
            self.state = IDLE
            return True
        digits = block[9:12]
        if firstEnd < 12 or not block.startswith(b"HTTP/1.") or not digits.isdigit():
            return False
        status = int(digits)
        self.info = status
        if status < 200 or status == 204 or status == 304:
            self.state = IDLE
            return True
        if self._methodFor(self.startSeq) == b"HEAD":
            self.state = IDLE
            return True
        if chunked:
            self.state = CHUNK_LINE
            return True
        if length is not None:
            return self._fixed(length)
        self.state = UNTIL_CLOSE
        return True

    def _fixed(self, text: bytes) -> bool:
        try:
            length = int(text)
        except ValueError:
            return False
        if length < 0:
            return False
        self._remaining = length
        self.state = FIXED if length else IDLE
        return True

    def feed(self, data: bytes, ts: int, seq: int, ack: int, segmentStart: bool = True) -> None:
        """
        Parse the next in-order bytes of the stream.

        @param seq: the sequence number of C{data[0]}.
        @param ack: the acknowledgement number of the segment carrying C{data}.
        @param segmentStart: C{data} starts a segment (used to resynchronise).
        """
        self.lastTs = ts
        n = len(data)
        if self.state == IDLE and self.isRequest and data.find(b"\r\n\r\n") + 4 == n:
            # The common case: a request without a body, alone in the data.
            firstEnd = data.find(b"\r\n")
            if firstEnd + 4 == n or _FRAMING.search(data, firstEnd) is None:
                sp1 = data.find(b" ", 0, firstEnd)
                sp2 = data.rfind(b" ", 0, firstEnd)
                if sp1 > 0 and sp2 > sp1 and data.startswith(b"HTTP/1.", sp2 + 1, firstEnd):
                    self._onMessage(data, ts, ts, seq, ack, data[:sp1], True)
                    return
        pos = 0
        while pos < n:
            state = self.state
            if state == IDLE:
                while pos < n and data[pos] in (13, 10):
                    pos += 1
                if pos >= n:
                    return
                self.firstTs = ts
                self.startSeq = (seq + pos) & 0xFFFFFFFF
                self.startAck = ack
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._hdr = bytearray(data[pos:]) if pos else bytearray(data)
                    self.state = HEADERS
                    if len(self._hdr) > MAX_HEADER:
                        self._bad()
                    return
                end += 4
                block = data[pos:end]
                if not self._headersDone(block):
                    self._bad()
                    return
                state = self.state
                if state == IDLE and (self.isRequest or self.info != 101):
                    # The whole message is this header block: nothing to buffer.
                    pos = end
                    self._onMessage(block, ts, ts, self.startSeq, ack, self.info, True)
                    continue
                if state == FIXED and not self._maxStore and self._remaining <= n - end:
                    # Headers and body in this data: one slice, no join.
                    stop = end + self._remaining
                    self.state = IDLE
                    message = data[pos:stop]
                    pos = stop
                    self._onMessage(message, ts, ts, self.startSeq, ack, self.info, True)
                    continue
                self._size = len(block)
                self._parts.append(block)
                pos = end
                if state == IDLE:
                    self._complete(ts)
            elif state == HEADERS:
                hdr = self._hdr
                assert hdr is not None
                prev = len(hdr)
                hdr += data[pos:] if pos else data
                end = hdr.find(b"\r\n\r\n", prev - 3 if prev > 3 else 0)
                if end < 0:
                    if len(hdr) > MAX_HEADER:
                        self._bad()
                    return
                end += 4
                pos += end - prev
                block = bytes(hdr[:end])
                self._hdr = None
                if not self._headersDone(block):
                    self._bad()
                    return
                self._size = len(block)
                self._parts.append(block)
                if self.state == IDLE:
                    self._complete(ts)
            elif state == FIXED or state == CHUNK_DATA:
                take = self._remaining
                if take > n - pos:
                    take = n - pos
                self._append(data, pos, take)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state == FIXED:
                        self._complete(ts)
                    else:
                        self.state = CHUNK_END
            elif state == CHUNK_LINE or state == CHUNK_END or state == TRAILERS:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self._line += data[pos:]
                    self._append(data, pos, n - pos)
                    if len(self._line) > MAX_LINE:
                        self._bad()
                    return
                line = self._line + data[pos:nl] if self._line else data[pos:nl]
                self._line = b""
                self._append(data, pos, nl + 1 - pos)
                pos = nl + 1
                if state == CHUNK_LINE:
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        self._bad()
                        return
                    if size < 0:
                        self._bad()
                        return
                    if size == 0:
                        self.state = TRAILERS
                    else:
                        self._remaining = size
                        self.state = CHUNK_DATA
                elif state == CHUNK_END:
                    if line.strip():
                        self._bad()
                        return
                    self.state = CHUNK_LINE
                elif not line.strip():
                    self._complete(ts)
            elif state == UNTIL_CLOSE:
                self._append(data, pos, n - pos)
                return
            elif state == SKIP:
                if segmentStart and pos == 0 and self.looksLikeStart(data):
                    self.state = IDLE
                    continue
                return
            else:  # UPGRADED
                return

    def close(self, ts: int) -> bool:
        """
        The direction ended (FIN): complete a read-until-close message.

        @return: whether an incomplete message is still buffered (see L{abort}).
        """
        if self.state == UNTIL_CLOSE:
            self._complete(ts)
            return False
        return self.hasPartial()

    def abort(self, allowIncomplete: bool) -> bool:
        """
        Give up the partial message (a gap or an expiry), emitting it marked
        incomplete when C{allowIncomplete}; the parser then waits for a
        segment that starts a message.

        @return: whether a partial message was given up.
        """
        if not self.hasPartial():
            if self.state == IDLE:
                self.state = SKIP
            return False
        if allowIncomplete:
            parts = self._parts
            if self._hdr is not None:
                parts = parts + [bytes(self._hdr)]
            payload = b"".join(parts)
            info = self.info if self.state != HEADERS else (b"" if self.isRequest else 0)
            firstTs, lastTs, seq, ack = self.firstTs, self.lastTs, self.startSeq, self.startAck
            self._reset(SKIP)
            if payload:
                self._onMessage(payload, firstTs, lastTs, seq, ack, info, False)
        else:
            self._reset(SKIP)
        return True

    def upgrade(self) -> None:
        """
        The connection switched protocols: ignore everything from now on.
        """
        self._reset(UPGRADED)
