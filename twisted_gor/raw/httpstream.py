# -*- test-case-name: tests.test_raw_reassembly,tests.test_http1 -*-
"""
HTTP/1.x message boundaries on one direction of a captured TCP stream.

The framing itself is the shared L{twisted_gor._http1.Framer}; this module
adds what capture needs on top of it: the timestamps, sequence and
acknowledgement numbers of each message's first byte, the request method a
response answers (looked up by sequence number), resynchronisation after lost
bytes, and the callback contract with L{twisted_gor.raw.reassembly}. Payloads
are the captured bytes, byte-exact.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from twisted_gor._http1 import (
    CLOSE_DELIMITED,
    HEAD,
    IDLE,
    LENGTH,
    MAX_HEAD,
    NO_BODY,
    SKIP,
    TUNNEL,
    Frame,
    Framer,
    FramingError,
    looksLikeRequest,
    looksLikeResponse,
    bodilessRequestMethod,
    parseHead,
)

UPGRADED = TUNNEL

Info = Union[bytes, int]
MessageCallback = Callable[[bytes, int, int, int, int, Info, bool], None]
"""C{(payload, firstTs, lastTs, startSeq, startAck, methodOrStatus, complete)}."""

_MASK = 0xFFFFFFFF


class HTTPStreamParser(Framer):
    """
    Boundary detector for the messages of one direction of a connection.

    @ivar firstTs: the timestamp of the first byte of the message in progress.
    @ivar lastTs: the timestamp of the latest bytes fed.
    @ivar startSeq: the sequence number of the first byte of the message in
        progress.
    @ivar startAck: the acknowledgement number of the segment carrying it.
    @ivar truncated: the last message emitted was cut at C{maxStore}.
    @ivar switched: the last response switched the connection to a tunnel
        (101, or a 2xx answering C{CONNECT}).
    """

    __slots__ = (
        "_onMessage",
        "_onUnparsable",
        "_onFlagged",
        "_methodFor",
        "_seq",
        "_ack",
        "firstTs",
        "lastTs",
        "startSeq",
        "startAck",
        "truncated",
        "switched",
    )

    def __init__(
        self,
        isRequest: bool,
        onMessage: MessageCallback,
        onUnparsable: Callable[[str], None],
        methodFor: Callable[[int], Optional[bytes]] = lambda seq: None,
        maxStore: int = 0,
        onFlagged: Callable[[str], None] = lambda flag: None,
    ) -> None:
        """
        @param onMessage: called with each message.
        @param onUnparsable: called with the L{twisted_gor._http1} error kind
            when bytes that cannot be framed are skipped.
        @param methodFor: for responses, the method of the request that the
            response starting at this sequence number answers.
        @param maxStore: keep at most this many bytes of a message (0 = all);
            the boundary is still found and L{truncated} set.
        @param onFlagged: called with each framing flag of a message
            (L{twisted_gor._http1.TE_AND_CL}).
        """
        Framer.__init__(self, isRequest, maxStore)
        self._onMessage = onMessage
        self._onUnparsable = onUnparsable
        self._onFlagged = onFlagged
        self._methodFor = methodFor
        self._seq = 0
        self._ack = 0
        self.firstTs = 0
        self.lastTs = 0
        self.startSeq = 0
        self.startAck = 0
        self.truncated = False
        self.switched = False

    def looksLikeStart(self, data: bytes) -> bool:
        """
        Whether C{data} starts like a message of this direction.
        """
        return looksLikeRequest(data) if self.isRequest else looksLikeResponse(data)

    def methodAt(self, startPos: int) -> Optional[bytes]:
        return self._methodFor((self._seq + startPos) & _MASK if startPos >= 0 else self.startSeq)

    def frameReceived(self, frame: Frame) -> None:
        if frame.start >= 0:
            firstTs, seq, ack = self.lastTs, (self._seq + frame.start) & _MASK, self._ack
        else:
            firstTs, seq, ack = self.firstTs, self.startSeq, self.startAck
        if frame.truncated or self.truncated:
            self.truncated = frame.truncated
        if frame.flags:
            for flag in frame.flags:
                self._onFlagged(flag)
        if self.isRequest:
            self._onMessage(frame.raw, firstTs, self.lastTs, seq, ack, frame.method, frame.complete)
        else:
            self.switched = frame.tunnel
            self._onMessage(frame.raw, firstTs, self.lastTs, seq, ack, frame.status, frame.complete)

    def frameError(self, error: FramingError) -> None:
        self._onUnparsable(error.kind)

    def feed(self, data: bytes, ts: int, seq: int, ack: int, segmentStart: bool = True) -> int:  # type: ignore[override]
        """
        Parse the next in-order bytes of the stream.

        @param seq: the sequence number of C{data[0]}.
        @param ack: the acknowledgement number of the segment carrying C{data}.
        @param segmentStart: C{data} starts a segment (used to resynchronise).
        @return: the number of bytes framed.
        """
        self.lastTs = ts
        self._seq = seq
        self._ack = ack
        state = self.state
        keep = self.keep
        if state == IDLE and (not keep or len(data) <= keep) and data[:1] > b" ":
            # Fast path: a segment that is exactly one whole message (most
            # GETs, small responses, POSTs with their body). The framing is
            # still decided by parseHead; anything else takes Framer.feed.
            e = data.find(b"\r\n\r\n")
            if 0 < e < MAX_HEAD and data.find(b"\n\n", 0, e + 2) < 0:
                isRequest = self.isRequest
                end = e + 4
                if isRequest and end == len(data):
                    method = bodilessRequestMethod(data)
                    if method is not None:
                        self.startPos = 0
                        self.truncated = False
                        self._onMessage(data, ts, ts, seq, ack, method, True)
                        return end
                try:
                    frame = parseHead(
                        data[:end] if end != len(data) else data,
                        isRequest,
                        None if isRequest else self._methodFor(seq),
                    )
                except FramingError:
                    frame = None
                if (
                    frame is not None
                    and not frame.tunnel
                    and not frame.flags
                    and (
                        (frame.bodyKind == NO_BODY and end == len(data))
                        or (frame.bodyKind == LENGTH and end + frame.length == len(data))
                    )
                ):
                    self.startPos = 0
                    self.truncated = False
                    if isRequest:
                        self._onMessage(data, ts, ts, seq, ack, frame.method, True)
                    else:
                        self.switched = False
                        self._onMessage(data, ts, ts, seq, ack, frame.status, True)
                    return len(data)
        if state == SKIP:
            if not (segmentStart and self.looksLikeStart(data)):
                return 0
            self.state = IDLE
        used = Framer.feed(self, data)
        if self.startPos >= 0 and HEAD <= self.state <= CLOSE_DELIMITED:
            self.firstTs = ts
            self.startSeq = (seq + self.startPos) & _MASK
            self.startAck = ack
        return used

    def close(self, ts: int) -> bool:  # type: ignore[override]
        """
        The direction ended (FIN): complete a read-until-close message.

        @return: whether an incomplete message is still buffered (see L{abort}).
        """
        self.lastTs = ts
        return Framer.close(self)

    def abort(self, allowIncomplete: bool) -> bool:  # type: ignore[override]
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
        frame = Framer.abort(self)
        if allowIncomplete and frame is not None and frame.raw:
            info: Info = frame.method if self.isRequest else frame.status
            self.truncated = frame.truncated
            self._onMessage(frame.raw, self.firstTs, self.lastTs, self.startSeq, self.startAck, info, False)
        return True

    def upgrade(self) -> None:
        """
        The connection switched protocols: ignore everything from now on.
        """
        self.tunnel()


__all__ = ["HTTPStreamParser", "IDLE", "SKIP", "UPGRADED", "Info", "looksLikeRequest", "looksLikeResponse"]
