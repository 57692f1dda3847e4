"""
Fuzz target: HTTP/1.x framing, on both sides: the capture's boundary
detector (L{twisted_gor.raw.httpstream.HTTPStreamParser}) and the replay
client's response parser (L{twisted_gor.http.client.ResponseParser}).

Documented errors: the capture parser raises nothing (it skips what is not
HTTP and calls C{onUnparsable}); the response parser raises L{BadResponse}.

The classes under test are imported in the block below and nowhere else: when
the HTTP/1.x framing moves to one module, repoint the imports (and, if their
signatures change, L{streamMessages} and L{readResponse}).
"""

from __future__ import annotations

from typing import Optional

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.fuzz._harness import case, fuzz, chunked, segmentations

# -- the framing under test ------------------------------------------------------
from twisted_gor.http.client import BadResponse, ResponseParser
from twisted_gor.raw.httpstream import HTTPStreamParser

# ----------------------------------------------------------------------------------

TARGET = "http"

_PIECES = [
    b"GET / HTTP/1.1\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"HEAD / HTTP/1.0\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.0 204 No\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 304 NM\r\n",
    b"HTTP/1.1 101 Up\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"content-length:-1\r\n",
    b"Content-Length: 99999999999\r\n",
    b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: close\r\n",
    b"Connection: keep-alive\r\n",
    b"\r\n",
    b"\n",
    b"5\r\nhello\r\n",
    b"3;ext=1\r\nabc\r\n",
    b"0\r\n\r\n",
    b"0\r\nX-Trailer: t\r\n\r\n",
    b"-5\r\n",
    b"-3\r\n",
    b"-1\r\n",
    b"fffffffffff\r\n",
    b"zz\r\n",
    b"hello",
    b" ",
    b"\r",
]
_STARTS = [p for p in _PIECES if p.startswith(b"HTTP/") or p.endswith(b"HTTP/1.1\r\n") or p.endswith(b"1.0\r\n")]
_HEADERS = [p for p in _PIECES if b": " in p or b":-" in p]
_BODIES = [p for p in _PIECES if p not in _STARTS and p not in _HEADERS]
_soup = st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=12)), max_size=24).map(b"".join)
_shaped = st.lists(
    st.tuples(
        st.one_of(st.just(b"HTTP/1.1 200 OK\r\n"), st.sampled_from(_STARTS)),
        st.lists(st.sampled_from(_HEADERS), max_size=4).map(b"".join),
        st.lists(
            st.one_of(
                st.sampled_from(_BODIES),
                st.binary(max_size=8),
                st.integers(-6, 40).map(lambda n: b"%x\r\n" % n),  # chunk size lines, negative too
            ),
            max_size=6,
        ).map(b"".join),
    ).map(lambda parts: parts[0] + parts[1] + b"\r\n" + parts[2]),
    min_size=1,
    max_size=3,
).map(b"".join)
httpStreams = st.one_of(_soup, _shaped)
"""
HTTP-looking byte streams: the pieces of messages in any order with noise,
or messages shaped as start line, framing headers, blank line and body pieces.
"""


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """
    A strategy of C{(framing header lines, body)}: a Content-Length or a
    chunked body.
    """
    body = draw(st.binary(max_size=60))
    if draw(st.booleans()):
        return b"Content-Length: %d\r\n" % len(body), body
    chunks = draw(st.lists(st.binary(min_size=1, max_size=20), max_size=4))
    encoded = b"".join(b"%x%s\r\n%s\r\n" % (len(c), draw(st.sampled_from([b"", b";x=y"])), c) for c in chunks)
    trailer = draw(st.sampled_from([b"", b"T: 1\r\n"]))
    return b"Transfer-Encoding: chunked\r\n", encoded + b"0\r\n" + trailer + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """
    A strategy of well-formed requests.
    """
    method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS"]))
    target = b"/" + draw(st.binary(max_size=10).map(lambda b: b.hex().encode()))
    headers = b"Host: a\r\n" + draw(st.sampled_from([b"", b"X-A: b\r\n"]))
    if draw(st.booleans()):
        framing, body = draw(bodies())
    else:
        framing, body = b"", b""
    return b"%s %s HTTP/1.1\r\n%s%s\r\n%s" % (method, target, headers, framing, body)


@st.composite
def responses(draw: st.DrawFn, last: bool = False) -> bytes:
    """
    A strategy of well-formed responses (without a body by status, with a
    Content-Length or chunked body, or, when C{last}, read until close).
    """
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 500]))
    head = b"HTTP/1.1 %d X\r\nServer: s\r\n" % status
    if status in (204, 304):
        return head + b"\r\n"
    if last and draw(st.booleans()):
        return head + b"Connection: close\r\n\r\n" + draw(st.binary(max_size=40))
    framing, body = draw(bodies())
    return head + framing + b"\r\n" + body


Emitted = tuple[bytes, int, bool]


def streamMessages(
    isRequest: bool, reads: list[bytes], starts: list[bool], seq0: int, end: str, maxStore: int = 0
) -> tuple[list[Emitted], int]:
    """
    Feed C{reads} (C{starts}: which begin a TCP segment) to a capture parser,
    then end the stream (C{end}: C{"close"}, C{"abort"} or C{"none"}).

    @return: the messages as C{(payload, startSeq, complete)}, and the number
        of unparsable skips.
    """
    out: list[Emitted] = []
    skips: list[None] = []
    parser = HTTPStreamParser(
        isRequest,
        lambda payload, firstTs, lastTs, seq, ack, info, complete: out.append((payload, seq, complete)),
        lambda kind: skips.append(None),
        maxStore=maxStore,
    )
    seq = seq0
    for i, data in enumerate(reads):
        parser.feed(data, i, seq, 7, starts[i] if i < len(starts) else True)
        seq = (seq + len(data)) & 0xFFFFFFFF
    if end == "close":
        parser.close(len(reads))
    elif end == "abort":
        parser.abort(True)
    return out, len(skips)


def readResponse(reads: list[bytes], isHead: bool, keep: int) -> tuple[str, int, int, bool, bytes, bytes]:
    """
    Read one response from C{reads} as the replay client does: feed until it
    is done or bad, then the connection closes.

    @return: C{(outcome, status, size, closeAfter, kept bytes, bytes after
        the response)}, the outcome being C{"done"}, C{"bad"} or C{"incomplete"}.
    """
    parser = ResponseParser(isHead, keep)
    after = b""
    pending = list(reads)
    while pending:
        data = pending.pop(0)
        try:
            after = parser.feed(data)
        except BadResponse:
            return ("bad", 0, 0, False, b"", b"")
        if parser.done:
            break
    outcome = "done" if parser.done or parser.finishOnClose() else "incomplete"
    return (outcome, parser.status, parser.size, parser.closeAfter, parser.rawBytes(), after + b"".join(pending))


class CaptureFramingFuzz(SynchronousTestCase):
    """
    L{HTTPStreamParser} on arbitrary and well-formed streams.
    """

    @fuzz(0.3)
    @given(
        st.booleans(),
        chunked(httpStreams),
        st.lists(st.booleans(), max_size=64),
        st.integers(0, 2**32 - 1),
        st.sampled_from(["close", "abort", "none"]),
    )
    def test_arbitrary(
        self, isRequest: bool, streamReads: tuple[bytes, list[bytes]], starts: list[bool], seq0: int, end: str
    ) -> None:
        """
        Nothing raises; every message reported (complete or given up) is the
        slice of the stream at its start sequence number, and the messages do
        not overlap.
        """
        stream, reads = streamReads
        with case(TARGET):
            out, _ = streamMessages(isRequest, reads, starts, seq0, end)
            previousEnd = 0
            for payload, seq, complete in out:
                at = (seq - seq0) & 0xFFFFFFFF
                self.assertEqual(stream[at : at + len(payload)], payload)
                self.assertGreaterEqual(at, previousEnd)
                previousEnd = at + len(payload)

    @fuzz(0.2)
    @given(st.data(), st.booleans(), st.integers(0, 2**32 - 1))
    def test_wellFormed(self, data: st.DataObject, isRequest: bool, seq0: int) -> None:
        """
        Pipelined well-formed messages, in any reads, are reported exactly,
        complete, in order.
        """
        if isRequest:
            messages = data.draw(st.lists(requests(), max_size=5))
        else:
            messages = data.draw(st.lists(responses(), max_size=4))
            messages += data.draw(st.lists(responses(last=True), max_size=1))
        stream = b"".join(messages)
        reads = data.draw(segmentations(stream))
        with case(TARGET):
            out, skips = streamMessages(isRequest, reads, [], seq0, "close")
            self.assertEqual(skips, 0)
            self.assertEqual([p for p, _, _ in out], messages)
            self.assertTrue(all(complete for _, _, complete in out))


class ResponseFramingFuzz(SynchronousTestCase):
    """
    L{ResponseParser} on arbitrary and well-formed responses.
    """

    @fuzz(0.3)
    @given(chunked(httpStreams), st.booleans(), st.sampled_from([0, 1, 10, 1000]))
    def test_arbitrary(self, streamReads: tuple[bytes, list[bytes]], isHead: bool, keep: int) -> None:
        """
        Only L{BadResponse} is raised; the outcome does not depend on how the
        bytes were read (for streams shorter than the parser's line limits);
        a complete response is the first C{size} bytes of the stream, kept up
        to C{keep}, followed by what the parser hands back.
        """
        stream, reads = streamReads
        with case(TARGET):
            whole = readResponse([stream], isHead, keep)
            pieces = readResponse(reads, isHead, keep)
            self.assertEqual(pieces, whole)
            outcome, status, size, closeAfter, kept, after = whole
            # Empty lines before a response and after an interim one are
            # skipped (RFC 9112 section 2.2): neither counted nor kept.
            gaps = (b"\n\r\n\r\n", b"\n\n\n", b"\n\r\n\n", b"\n\n\r\n")
            skipsLines = stream[:1] in (b"\r", b"\n") or any(gap in stream for gap in gaps)
            if outcome == "done" and not skipsLines:
                self.assertEqual(stream[:size] + after, stream)
                if keep:
                    self.assertEqual(kept, stream[: min(size, keep)])

    @fuzz(0.2)
    @given(st.data(), st.sampled_from([0, 7, 100000]))
    def test_wellFormed(self, data: st.DataObject, keep: int) -> None:
        """
        A well-formed response, in any reads, followed by anything: done,
        exactly its bytes (kept up to C{keep}), the rest handed back.
        """
        response = data.draw(responses())
        following = data.draw(st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n", b"junk"]))
        reads = data.draw(segmentations(response + following))
        with case(TARGET):
            outcome, status, size, closeAfter, kept, after = readResponse(reads, False, keep)
            self.assertEqual((outcome, size, after), ("done", len(response), following))
            self.assertEqual(kept, response[:keep] if keep else b"")
            self.assertEqual(status, int(response[9:12]))


class FramingRegressions(SynchronousTestCase):
    """
    What fuzzing and reading the parsers for it found.
    """

    def test_negativeChunkSize(self) -> None:
        """
        A negative chunk size is not HTTP: L{BadResponse}, as the capture
        parser treats it. (The replay client's old parser accepted C{int("-3",
        16)} and swallowed what followed, depending on the reads; the shared
        framer rejects it.)
        """
        response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\n0\r\n\r\n"
        self.assertEqual(readResponse([response], False, 0)[0], "bad")


    def test_negativeChunkSizeCapture(self) -> None:
        """
        The capture parser skips a response with a negative chunk size.
        """
        response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\n0\r\n\r\n"
        out, skips = streamMessages(False, [response], [], 0, "close")
        self.assertEqual((out, skips), ([], 1))
