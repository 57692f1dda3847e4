# -*- test-case-name: tests.test_http1 -*-
"""
Tests for L{twisted_gor._http1}, the one HTTP/1.x framer, and for every user
of it framing alike: capture (L{twisted_gor.raw.httpstream}), the replay
client (L{twisted_gor.http.client}), the comparison
(L{twisted_gor.compare.decode}) and C{--input-http}
(L{twisted_gor.http.input}).
"""

from __future__ import annotations

import time
from typing import Any, Optional

import h11
from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor import _http1
from twisted_gor._http1 import (
    BAD_CHUNK,
    BAD_HEADER,
    BAD_LENGTH,
    BAD_START_LINE,
    BAD_TRANSFER_ENCODING,
    CHUNKED,
    CONFLICTING_LENGTH,
    HEAD_TOO_LONG,
    TE_AND_CL,
    TUNNEL,
    UNTIL_CLOSE,
    Frame,
    Framer,
    FramingError,
    dechunk,
    frameOne,
)
from twisted_gor.compare.decode import decodeResponse
from twisted_gor.http.client import BadResponse, HttpClientProtocol, ResponseParser
from twisted_gor.http.input import HttpInput, HttpInputProtocol
from twisted_gor.raw.httpstream import HTTPStreamParser


class Collector(Framer):
    """
    A framer that keeps what it framed.
    """

    def __init__(self, isRequest: bool, **kw: Any) -> None:
        Framer.__init__(self, isRequest, **kw)
        self.frames: list[Frame] = []
        self.errors: list[str] = []

    def frameReceived(self, frame: Frame) -> None:
        self.frames.append(frame)

    def frameError(self, error: FramingError) -> None:
        self.errors.append(error.kind)


def frameAll(data: bytes, isRequest: bool, cuts: tuple[int, ...] = (), method: Optional[bytes] = None, eof: bool = True, **kw: Any) -> Collector:
    """
    Feed C{data} split at C{cuts}, then end the stream.
    """
    c = Collector(isRequest, **kw)
    c.requestMethod = method
    last = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        if cut > last:
            c.feed(data[last:cut])
            last = cut
    if eof:
        c.close()
    return c


def raws(c: Collector) -> list[bytes]:
    return [f.raw for f in c.frames]


GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
POST = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_REQ = b"PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RuleTests(SynchronousTestCase):
    """
    The RFC 9112 framing rules.
    """

    def test_contentLengthAndPipelining(self) -> None:
        """
        Pipelined requests with and without bodies are framed byte-exact, with
        their offsets; empty lines between messages are skipped.
        """
        data = GET + POST + b"\r\n" + CHUNKED_REQ
        c = frameAll(data, True)
        self.assertEqual(raws(c), [GET, POST, CHUNKED_REQ])
        self.assertEqual([f.method for f in c.frames], [b"GET", b"POST", b"PUT"])
        self.assertEqual([(f.start, f.end) for f in c.frames], [(0, len(GET)), (len(GET), len(GET + POST)), (len(GET + POST) + 2, len(data))])

    def test_chunked(self) -> None:
        """
        Chunk extensions are ignored, trailers read, the body decoded.
        """
        c = frameAll(CHUNKED_REQ, True, decodeBody=True)
        self.assertEqual((c.frames[0].body, c.frames[0].bodyKind), (b"Wikipedia", CHUNKED))
        self.assertEqual(dechunk(b"2\r\nab\r\n0\r\n\r\n"), (b"ab", True))
        self.assertEqual(dechunk(b"2\r\nab\r\n1\r\n"), (b"ab", False))

    def test_bareLF(self) -> None:
        """
        A bare LF ends lines (RFC 9112 section 2.2).
        """
        data = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n"
        c = frameAll(data, False, decodeBody=True)
        self.assertEqual((raws(c), c.frames[0].body), ([data], b"ab"))

    def test_noBody(self) -> None:
        """
        HEAD responses, 1xx, 204 and 304 have no body whatever they say.
        """
        for status in (b"204 No Content", b"304 Not Modified"):
            head = b"HTTP/1.1 " + status + b"\r\nContent-Length: 10\r\n\r\n"
            self.assertEqual(raws(frameAll(head + OK, False)), [head, OK])
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
        self.assertEqual(raws(frameAll(head, False, method=b"HEAD")), [head])
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        c = frameAll(interim + OK, False)
        self.assertEqual([(f.status, f.interim) for f in c.frames], [(100, True), (200, False)])

    def test_closeDelimited(self) -> None:
        """
        A response without length ends with the connection.
        """
        data = b"HTTP/1.0 200 OK\r\n\r\nabc"
        c = frameAll(data, False, eof=False)
        self.assertEqual(c.frames, [])
        self.assertFalse(c.close())
        self.assertEqual(raws(c), [data])
        self.assertEqual((c.frames[0].bodyKind, c.frames[0].closeAfter), (UNTIL_CLOSE, True))

    def test_connectionHeaders(self) -> None:
        """
        closeAfter follows C{Connection} and the version; Expect and Upgrade
        are exposed.
        """
        self.assertFalse(frameAll(GET, True).frames[0].closeAfter)
        self.assertTrue(frameAll(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", True).frames[0].closeAfter)
        self.assertTrue(frameAll(b"GET / HTTP/1.0\r\n\r\n", True).frames[0].closeAfter)
        self.assertFalse(frameAll(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True).frames[0].closeAfter)
        c = frameAll(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", True, eof=False)
        self.assertTrue(c.frame is not None and c.frame.expectContinue)
        f = frameAll(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", True).frames[0]
        self.assertEqual(f.upgrade, b"websocket")

    def test_tunnels(self) -> None:
        """
        101 and a 2xx answering CONNECT switch to a tunnel: nothing after is
        framed; a non-2xx answer to CONNECT does not.
        """
        c = frameAll(b"HTTP/1.1 101 Switching\r\nUpgrade: ws\r\n\r\n\x81\x05hello", False)
        self.assertEqual((len(c.frames), c.frames[0].tunnel, c.state, c.errors), (1, True, TUNNEL, []))
        c = frameAll(b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01", False, method=b"CONNECT")
        self.assertEqual((len(c.frames), c.state, c.errors), (1, TUNNEL, []))
        c = frameAll(b"HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n" + OK, False, method=b"CONNECT")
        self.assertEqual(len(c.frames), 2)

    def test_teAndCl(self) -> None:
        """
        Transfer-Encoding overrides Content-Length: chunked wins, the frame is
        flagged and the connection must close after it.
        """
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
        f = frameAll(data + OK, False).frames[0]
        self.assertEqual((f.raw, f.flags, f.closeAfter), (data, (TE_AND_CL,), True))

    def test_transferEncodingNotChunked(self) -> None:
        """
        Not ending in chunked: a response is close-delimited, a request is
        invalid.
        """
        c = frameAll(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", False)
        self.assertEqual((raws(c)[0][-3:], c.frames[0].bodyKind), (b"abc", UNTIL_CLOSE))
        c = frameAll(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", True)
        self.assertEqual(c.errors, [BAD_TRANSFER_ENCODING])

    def test_malformed(self) -> None:
        """
        Every malformed framing has its named outcome.
        """
        cases = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", CONFLICTING_LENGTH),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab", CONFLICTING_LENGTH),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", BAD_LENGTH),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n", BAD_LENGTH),
            (b"HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\na", BAD_HEADER),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", BAD_CHUNK),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\na\r\n", BAD_CHUNK),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", BAD_CHUNK),
            (b"SSH-2.0-OpenSSH", BAD_START_LINE),
            (b"HTTP/2 200\r\n\r\n", BAD_START_LINE),
            (b"HTTP/1.1 200 OK\r\nX: " + b"a" * _http1.MAX_HEAD, HEAD_TOO_LONG),
        ]
        for data, kind in cases:
            for cuts in ((), tuple(range(len(data)))[:300]):
                c = frameAll(data, False, cuts)
                self.assertEqual((c.errors, c.frames), ([kind], []), data[:80])
        self.assertEqual(frameAll(b"get / HTTP/1.1\r\n\r\n", True).errors, [])
        self.assertEqual(frameAll(b"GET / HTTP/3\r\n\r\n", True).errors, [BAD_START_LINE])
        self.assertEqual(frameAll(b"GET  / HTTP/1.1\r\n\r\n", True).errors, [BAD_START_LINE])

    def test_equalLengths(self) -> None:
        """
        Repeated identical Content-Length values are one length.
        """
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\ncontent-length:2\r\n\r\nok"
        self.assertEqual(raws(frameAll(data, False)), [data])

    def test_keep(self) -> None:
        """
        Only C{keep} bytes are stored; sizes and boundaries are exact.
        """
        c = frameAll(OK + OK, False, (3, 20), keep=10)
        self.assertEqual([(f.raw, f.size, f.truncated) for f in c.frames], [(OK[:10], len(OK), True)] * 2)
        c = frameAll(OK, False, keep=-1)
        self.assertEqual((c.frames[0].raw, c.frames[0].size), (b"", len(OK)))

    def test_abortAndPartial(self) -> None:
        """
        A cut stream gives the partial message back, marked incomplete.
        """
        c = frameAll(POST[:-2], True, eof=False)
        self.assertTrue(c.close())
        frame = c.abort()
        assert frame is not None
        self.assertEqual((frame.raw, frame.complete, frame.method), (POST[:-2], False, b"POST"))
        frame, error = frameOne(OK[:-1], False)
        assert frame is not None
        self.assertEqual((frame.complete, error), (False, None))

    def test_linear(self) -> None:
        """
        1-byte feeds cost the same per byte for 16 KiB and 256 KiB bodies
        (the old client parser was quadratic): the per-byte ratio is far
        below the 16x a quadratic parser would show.
        """

        def perByte(size: int) -> float:
            body = b"x" * size
            data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (size, body)
            best = 1e9
            for _ in range(3):
                p = ResponseParser(keep=1 << 30)
                t = time.perf_counter()
                for i in range(len(data)):
                    p.feed(data[i : i + 1])
                best = min(best, (time.perf_counter() - t) / len(data))
                self.assertTrue(p.done)
            return best

        self.assertLess(perByte(256 * 1024) / perByte(16 * 1024), 4.0)


class UserTests(SynchronousTestCase):
    """
    Every user reports the same named outcome for conflicting lengths.
    """

    def test_conflictingLengthEverywhere(self) -> None:
        bad = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
        # Client.
        e = self.assertRaises(BadResponse, ResponseParser().feed, bad)
        self.assertEqual(e.kind, CONFLICTING_LENGTH)
        # Compare.
        self.assertIn(CONFLICTING_LENGTH, decodeResponse(bad).problems)
        # Capture.
        kinds: list[str] = []
        got: list[bytes] = []
        p = HTTPStreamParser(False, lambda payload, *a: got.append(payload), kinds.append)
        p.feed(bad + OK, 1, 1000, 1)
        self.assertEqual((kinds, got), ([CONFLICTING_LENGTH], []))
        # Input-http.
        sent = inputHttp([b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"])
        self.assertEqual(sent.payloads, [])
        self.assertEqual(sent.input.stats["dropped.unparsable.conflicting_length"], 1)
        self.assertTrue(sent.transport.value().startswith(b"HTTP/1.1 400 "))

    def test_inputHttpContinueAndPipelining(self) -> None:
        """
        C{--input-http} answers C{100 Continue}, records each pipelined request
        byte-exact and answers each with 200.
        """
        head = b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        sent = inputHttp([head, b"hello" + GET + CHUNKED_REQ])
        self.assertEqual(sent.payloads, [head + b"hello", GET, CHUNKED_REQ])
        out = sent.transport.value()
        self.assertTrue(out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))
        self.assertEqual(out.count(b"HTTP/1.1 200 OK"), 3)


class _Sent:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.clock = Clock()
        self.input = HttpInput("127.0.0.1", 0, reactor=self.clock)
        self.input.requestArrived = lambda payload, startedAt: self.payloads.append(payload)  # type: ignore[method-assign]
        self.protocol = HttpInputProtocol(self.input)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)


def inputHttp(chunks: list[bytes]) -> _Sent:
    """
    Feed C{chunks} to an C{--input-http} connection.
    """
    sent = _Sent()
    for chunk in chunks:
        sent.protocol.dataReceived(chunk)
    sent.protocol.connectionLost(Failure(Exception("done")))
    return sent


# Generated messages.

_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("content-length", "transfer-encoding", "connection", "expect", "upgrade", "host", "te", "trailer")
)
_value = st.text("abcdefghijklmnopqrstuvwxyz0123456789 ;=/,.", max_size=20).map(str.strip)
_headers = st.lists(st.tuples(_token, _value), max_size=4)
_body = st.binary(max_size=300)


def _chunked(body: bytes, sizes: list[int], ext: bool, trailer: bool) -> bytes:
    out = []
    pos = 0
    i = 0
    while pos < len(body):
        size = max(1, sizes[i % len(sizes)]) if sizes else len(body)
        piece = body[pos : pos + size]
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), b";a=b" if ext else b"", piece))
        pos += size
        i += 1
    return b"".join(out) + b"0\r\n" + (b"X-Trailer: t\r\n" if trailer else b"") + b"\r\n"


@st.composite
def messages(draw: Any, isRequest: bool) -> tuple[bytes, bytes]:
    """
    A valid message and its (decoded) body.
    """
    headers = b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in draw(_headers))
    body = draw(_body)
    framing = draw(st.sampled_from(["length", "chunked", "none"]))
    if isRequest:
        method = draw(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE"]))
        start = method + b" /" + draw(st.sampled_from([b"", b"a", b"a?b=c"])) + b" HTTP/1.1\r\nHost: h\r\n"
    else:
        start = b"HTTP/1.1 " + draw(st.sampled_from([b"200 OK", b"404 Not Found", b"500 Oops", b"201 Created"])) + b"\r\n"
        if framing == "none":
            framing = "length"
    if framing == "length":
        return start + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body, body
    if framing == "chunked":
        sizes = draw(st.lists(st.integers(1, 100), min_size=1, max_size=5))
        encoded = _chunked(body, sizes, draw(st.booleans()), draw(st.booleans()))
        return start + headers + b"Transfer-Encoding: chunked\r\n\r\n" + encoded, body
    return start + headers + b"\r\n", b""


_cuts = st.lists(st.integers(0, 4000), max_size=12)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a]


def captureFrame(chunks: list[bytes], isRequest: bool) -> list[tuple[bytes, int]]:
    """
    Frame with the capture parser: C{(payload, startSeq)} of each message.
    """
    got: list[tuple[bytes, int]] = []
    kinds: list[str] = []
    p = HTTPStreamParser(isRequest, lambda payload, f, l, seq, *a: got.append((payload, seq)), kinds.append)
    seq = 1000
    for chunk in chunks:
        p.feed(chunk, 1, seq, 1)
        seq += len(chunk)
    assert kinds == [], kinds
    return got


class PropertyTests(SynchronousTestCase):
    """
    However a message or a pipelined sequence is split, every user frames it
    identically.
    """

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(messages(True), min_size=1, max_size=4), _cuts)
    def test_requests(self, msgs: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
        data = b"".join(m for m, _ in msgs)
        chunks = _split(data, cuts)
        expected = [m for m, _ in msgs]
        c = Collector(True, decodeBody=True)
        for chunk in chunks:
            c.feed(chunk)
        self.assertEqual(raws(c), expected)
        self.assertEqual([f.body for f in c.frames], [b for _, b in msgs])
        starts = []
        offset = 1000
        for m in expected:
            starts.append(offset)
            offset += len(m)
        self.assertEqual(captureFrame(chunks, True), list(zip(expected, starts)))
        self.assertEqual(inputHttp(chunks).payloads, expected)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(messages(False), min_size=1, max_size=4), _cuts, st.booleans())
    def test_responses(self, msgs: list[tuple[bytes, bytes]], cuts: list[int], interim: bool) -> None:
        first = (b"HTTP/1.1 100 Continue\r\n\r\n" if interim else b"") + msgs[0][0]
        data = first + b"".join(m for m, _ in msgs[1:])
        chunks = _split(data, cuts)
        expected = ([b"HTTP/1.1 100 Continue\r\n\r\n"] if interim else []) + [m for m, _ in msgs]
        self.assertEqual([p for p, _ in captureFrame(chunks, False)], expected)
        # The client: one response, then what follows.
        p = ResponseParser(keep=1 << 20)
        rest = b""
        for chunk in chunks:
            if p.done:
                rest += chunk
            else:
                rest += p.feed(chunk)
        self.assertEqual((p.done, p.rawBytes(), rest), (True, first, data[len(first) :]))
        # The comparison.
        self.assertEqual(decodeResponse(first).body, msgs[0][1])


class H11DifferentialTests(SynchronousTestCase):
    """
    Agreement with h11 on boundaries and bodies of valid messages, and on
    rejecting malformed ones. Documented differences: h11 rejects a response
    whose Transfer-Encoding is not chunked (we read it until close, RFC 9112
    6.3 rule 4), bare-LF chunk lines (we accept them, RFC 9112 2.2), and
    invalid Content-Length values next to a chunked Transfer-Encoding (we
    ignore them as rule 3 says and flag the message L{TE_AND_CL}).
    """

    def h11Frame(self, data: bytes, isRequest: bool) -> tuple[Optional[int], bytes]:
        """
        Where h11 ends the first message of C{data}, and its body; L{None}
        when h11 rejects it.
        """
        if isRequest:
            conn = h11.Connection(h11.SERVER)
        else:
            conn = h11.Connection(h11.CLIENT)
            conn.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
            conn.send(h11.EndOfMessage())
        conn.receive_data(data)
        body = b""
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    return -1, body
                if isinstance(event, h11.Data):
                    body += bytes(event.data)
                if isinstance(event, h11.EndOfMessage):
                    return len(data) - len(conn.trailing_data[0]), body
        except h11.RemoteProtocolError:
            return None, b""

    def ours(self, data: bytes, isRequest: bool) -> tuple[Optional[int], bytes]:
        c = frameAll(data, isRequest, eof=False, decodeBody=True)
        if c.errors:
            return None, b""
        if not c.frames:
            return -1, b""
        return c.frames[0].end, c.frames[0].body

    @settings(max_examples=200, deadline=None)
    @given(st.booleans(), st.data())
    def test_valid(self, isRequest: bool, data: Any) -> None:
        message, body = data.draw(messages(isRequest))
        extra = data.draw(st.sampled_from([b"", GET if isRequest else OK]))
        self.assertEqual(self.ours(message + extra, isRequest), (len(message), body))
        self.assertEqual(self.h11Frame(message + extra, isRequest), (len(message), body))

    @settings(max_examples=200, deadline=None)
    @given(st.booleans(), st.data())
    def test_malformed(self, isRequest: bool, data: Any) -> None:
        message, _ = data.draw(messages(isRequest))
        start, _, rest = message.partition(b"\r\n")
        bad = data.draw(
            st.sampled_from(
                [
                    b"Content-Length: 1\r\nContent-Length: 2\r\n",
                    b"Content-Length: x\r\n",
                    b"Content-Length : 3\r\n",
                    b"Content-Length: 1, 2\r\n",
                ]
            )
        )
        malformed = start + b"\r\n" + bad + rest
        if b"Transfer-Encoding: chunked" in message and b" : " not in bad:
            # Documented difference: chunked overrides any Content-Length
            # (RFC 9112 6.3 rule 3; flagged te_and_cl), h11 rejects bad ones.
            c = frameAll(malformed, isRequest, eof=False)
            self.assertEqual(c.frames[0].flags, (TE_AND_CL,))
        else:
            self.assertIsNone(self.ours(malformed, isRequest)[0], malformed)
            self.assertIsNone(self.h11Frame(malformed, isRequest)[0], malformed)
        chunkedBad = start + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        self.assertIsNone(self.ours(chunkedBad, isRequest)[0])
        self.assertIsNone(self.h11Frame(chunkedBad, isRequest)[0])


class _Listener:
    def __init__(self) -> None:
        self.done: list[ResponseParser] = []
        self.failed: list[str] = []

    def clientConnected(self, client: HttpClientProtocol) -> None:
        pass

    def responseDone(self, client: HttpClientProtocol, parser: ResponseParser) -> None:
        self.done.append(parser)

    def requestFailed(self, client: HttpClientProtocol, reason: str, failure: Optional[Failure]) -> None:
        self.failed.append(reason)

    def clientDisconnected(self, client: HttpClientProtocol) -> None:
        pass


class _FakeServer(Protocol):
    """
    Answers each request with a chunked response, split into 1-byte writes.
    """

    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        assert self.transport is not None
        for i, byte in enumerate(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"):
            self.transport.write(bytes([byte]))


class ClientIOSimTests(SynchronousTestCase):
    """
    The replay client's success path against a fake server.
    """

    def test_success(self) -> None:
        listener = _Listener()
        server = _FakeServer()
        client = HttpClientProtocol(listener, keep=1000)
        _, _, pump = iosim.connectedServerAndClient(lambda: server, lambda: client)
        request = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Odd-Case: 1\r\n\r\n"
        client.sendRequest(request)
        pump.flush()
        self.assertEqual(server.received, request)
        self.assertEqual(listener.failed, [])
        self.assertEqual(len(listener.done), 1)
        parser = listener.done[0]
        self.assertEqual((parser.status, parser.closeAfter, parser.rawBytes()[-5:]), (200, False, b"0\r\n\r\n"))
        self.assertFalse(client.busy)
        client.sendRequest(request)
        pump.flush()
        self.assertEqual(len(listener.done), 2)
