"""
The compiled per-packet path (L{twisted_gor.raw._fastcapture}) against its
pure-Python twin (L{twisted_gor.raw.reassembly.Tracker.packetHandler} with
C{compiled=False}): the framing rules differentially against
L{twisted_gor._http1}, whole captures (in order, reordered, lost,
duplicated, truncated, malformed, pipelined, oversized) through both with
identical messages, ids, meta lines and counters, and the real C{gor}
command capturing live with each.
"""

from __future__ import annotations

import os
import random
import sys
from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor as globalReactor
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web import server

from tests.pcapgen import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, Conversation
from tests.support import listenLocal, waitUntil
from twisted_gor._http1 import (
    LENGTH,
    MAX_HEAD,
    NO_BODY,
    FramingError,
    bodilessRequestMethod,
    parseHead,
)
from twisted_gor.message import Message
from twisted_gor.raw import fastpath, reassembly
from twisted_gor.raw.decode import NotTCP, decoderFor, fastLayout
from twisted_gor.raw.reassembly import Tracker
from twisted_gor.selfports import SelfPorts
from twisted_gor.stats import Counters

try:
    from twisted_gor.raw import _fastcapture  # type: ignore[attr-defined,unused-ignore]
except ImportError:
    _fastcapture = None

NOT_BUILT = "twisted_gor.raw._fastcapture is not built (pip install builds it; needs Cython and a C compiler)"


def needCompiled() -> Any:
    if _fastcapture is None:
        raise SkipTest(NOT_BUILT)
    return _fastcapture


def pyWhole(data: bytes, isRequest: bool, method: Optional[bytes] = None) -> Optional[tuple[Any, int, int]]:
    """
    The pure-Python verdict of HTTPStreamParser.feed's whole-message fast
    path on C{data}: C{(method or status, headEnd, bodyLength)} or L{None}.
    """
    if not data[:1] > b" ":
        return None
    e = data.find(b"\r\n\r\n")
    if not (0 < e < MAX_HEAD) or data.find(b"\n\n", 0, e + 2) >= 0:
        return None
    end = e + 4
    if isRequest and end == len(data):
        m = bodilessRequestMethod(data)
        if m is not None:
            return (m, end, 0)
    try:
        frame = parseHead(data[:end], isRequest, method)
    except FramingError:
        return None
    if frame.tunnel or frame.flags:
        return None
    info = frame.method if isRequest else frame.status
    if frame.bodyKind == NO_BODY and end == len(data):
        return (info, end, 0)
    if frame.bodyKind == LENGTH and end + frame.length == len(data):
        return (info, end, frame.length)
    return None


def compiledWhole(data: bytes, isRequest: bool, method: Optional[bytes] = None) -> Optional[tuple[Any, int, int]]:
    """
    The compiled verdict (L{None}: left to Python), with the request method
    rule the compiled response path applies.
    """
    mod = needCompiled()
    if isRequest:
        return mod.requestFraming(data)  # type: ignore[no-any-return,unused-ignore]
    verdict = mod.responseFraming(data)
    if verdict is None or method == b"HEAD" or (method == b"CONNECT" and verdict[0] < 300):
        return None
    return verdict  # type: ignore[no-any-return,unused-ignore]


REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x?y=1 HTTP/1.0\r\n\r\n",
    b"DELETE /a HTTP/1.1\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\ncontent-LENGTH:5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"PUT /p HTTP/1.1\r\nContent-Length:\t3\r\nX: y\r\n\r\nabc",
    b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"M-_.!#$%&'*+^`|~9z /x HTTP/1.9\r\n\r\n",
]
"""Requests the compiled path must take itself."""

MALFORMED_REQUESTS = [
    b"",
    b" GET / HTTP/1.1\r\n\r\n",
    b"\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 \r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n",
    b"GET / HTTP/1.x\r\n\r\n",
    b"GET /a b HTTP/1.1\r\n\r\n",
    b"GET /\x7f HTTP/1.1\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
    b"G(T / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\n\nX: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 5 \r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhell",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello!",
    b"POST /p HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nx",
    b"POST /p HTTP/1.1\r\nContent-Length: \r\n\r\n",
    b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nX-Content-Length: 5\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Lengthy: 5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + b"x" * 10,
]
"""Malformed or unusual requests (the malformed-head cases of the framer's
tests among them): the compiled path must agree or defer."""

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 404 Not Found\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection : close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 500 Oops\r\nServer: nginx\r\ncontent-length:3\r\n\r\nabc",
]

MALFORMED_RESPONSES = [
    b"HTTP/1.1 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1\t200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1x200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.x 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200\tOK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\rX\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokk",
    b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
]

# pieces for generated heads
_START = st.sampled_from(
    [b"GET / HTTP/1.1", b"POST /p HTTP/1.1", b"GET  / HTTP/1.1", b"get /x HTTP/1.0", b"GET / HTTP/1.1 ", b"G T / HTTP/1.1",
     b"HTTP/1.1 200 OK", b"HTTP/1.1 200", b"HTTP/1.0 304 NM", b"HTTP/1.1 204", b"HTTP/1.1 101 S", b"HTTP/1.1 2000",
     b"HTTP/1.1 100 C", b"HTTP/1.1 302 Found"]
)  # fmt: skip
_NAME = st.sampled_from(
    [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"Transfer-Encoding", b"Connection", b"Host",
     b"Content-Lengt", b"XContent-Length", b"Content-Length "]
)  # fmt: skip
_VALUE = st.sampled_from([b"0", b"2", b"5", b" 2", b"\t2", b"2 ", b"2, 2", b"chunked", b"close", b"x", b"", b"12345678901234567890"])
_EOL = st.sampled_from([b"\r\n", b"\r\n", b"\n", b"\r"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """
    A request or response built from valid and invalid pieces, with a body
    that may or may not match its length.
    """
    parts = [draw(_START) + draw(_EOL)]
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(_NAME) + draw(st.sampled_from([b":", b": ", b" :", b":\t"])) + draw(_VALUE) + draw(_EOL))
    parts.append(draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b""])))
    parts.append(draw(st.sampled_from([b"", b"ok", b"hello", b"x" * 12])))
    return b"".join(parts)


class FramingRulesTests(SynchronousTestCase):
    """
    The compiled whole-message rules against L{twisted_gor._http1}: where
    the compiled path decides, it decides as Python does.
    """

    def setUp(self) -> None:
        needCompiled()

    def test_requests(self) -> None:
        """
        Common requests are taken by the compiled path, with Python's method
        and length.
        """
        for data in REQUESTS:
            self.assertIsNotNone(compiledWhole(data, True), data)
            self.assertEqual(compiledWhole(data, True), pyWhole(data, True), data)

    def test_malformedRequests(self) -> None:
        """
        Malformed and unusual requests: the same verdict, or left to Python.
        """
        for data in MALFORMED_REQUESTS:
            verdict = compiledWhole(data, True)
            if verdict is not None:
                self.assertEqual(verdict, pyWhole(data, True), data)
        # multiple or listed lengths are valid but left to Python
        for data in MALFORMED_REQUESTS[16:19]:
            self.assertIsNotNone(pyWhole(data, True), data)
            self.assertIsNone(compiledWhole(data, True), data)

    def test_responses(self) -> None:
        """
        Common responses are taken by the compiled path unless the request
        was HEAD or CONNECT.
        """
        for data in RESPONSES:
            for method in (b"GET", None, b"POST"):
                self.assertIsNotNone(compiledWhole(data, False, method), data)
                self.assertEqual(compiledWhole(data, False, method), pyWhole(data, False, method), data)
            self.assertIsNone(compiledWhole(data, False, b"HEAD"))
        self.assertIsNone(compiledWhole(RESPONSES[0], False, b"CONNECT"))

    def test_malformedResponses(self) -> None:
        """
        Malformed and bodiless responses are left to Python.
        """
        for data in MALFORMED_RESPONSES:
            for method in (b"GET", None, b"HEAD", b"CONNECT"):
                self.assertIsNone(compiledWhole(data, False, method), (data, method))

    @settings(max_examples=600, deadline=None)
    @given(heads(), st.sampled_from([b"GET", None, b"HEAD", b"CONNECT"]))
    def test_generated(self, data: bytes, method: Optional[bytes]) -> None:
        """
        Generated heads: wherever the compiled path takes a message, Python
        takes it the same way.
        """
        for isRequest in (True, False):
            verdict = compiledWhole(data, isRequest, method)
            if verdict is not None:
                self.assertEqual(verdict, pyWhole(data, isRequest, method), (data, isRequest, method))


class MetaLineTests(SynchronousTestCase):
    """
    The compiled meta line (made without C{snprintf}) against
    L{Message.meta}: the same bytes, or L{None} where the message makes it.
    """

    def setUp(self) -> None:
        needCompiled()

    def _check(self, kind: int, rid: bytes, ts: int, latency: int) -> None:
        line = needCompiled().metaLine(kind, rid, ts, latency)
        if len(rid) > 40 or ts < 0 or latency < 0:
            self.assertIsNone(line)
        else:
            self.assertEqual(line, Message(kind, rid, ts, latency, b"").meta())

    def test_edges(self) -> None:
        """
        Zero, one digit, powers of ten, the largest 64-bit value, negative
        values and ids of 40 and 41 bytes.
        """
        rid = b"0123456789abcdef0123456789abcdef01234567"
        for value in (0, 1, 9, 10, 99, 100, 10**18, 2**63 - 1, -1):
            for kind in (1, 2, 3):
                self._check(kind, rid, value, 0)
                self._check(kind, rid[:24], 1_700_000_000_123_456_789, value)
        self._check(1, rid + b"8", 5, 5)
        self._check(1, b"", 5, 5)

    @settings(max_examples=300, deadline=None)
    @given(
        st.sampled_from([1, 2, 3]),
        st.binary(min_size=0, max_size=44).map(lambda b: b.hex().encode()[: len(b)]),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
    )
    def test_generated(self, kind: int, rid: bytes, ts: int, latency: int) -> None:
        """
        Generated fields: the same meta line as L{Message.meta}.
        """
        self._check(kind, rid, ts, latency)


class Sink:
    """
    What the compiled path needs of the capture input: C{receiver},
    C{emitted}, C{stats}.
    """

    def __init__(self) -> None:
        self.receiver = self
        self.emitted = 0
        self.stats = Counters()
        self.messages: list[Message] = []

    def messageReceived(self, message: Message) -> None:
        self.messages.append(message)


class BatchSink(Sink):
    """
    A sink that takes the compiled path's messages as a batch, as
    L{twisted_gor.raw.input.RawInput} does (C{batch}, C{flushBatch}).
    """

    def __init__(self) -> None:
        Sink.__init__(self)
        self.batch: list[Message] = []
        self.flushes = 0

    def flushBatch(self) -> None:
        self.flushes += 1
        self.emitted += len(self.batch)
        self.messages.extend(self.batch)
        del self.batch[:]


def run(
    packets: list[tuple[int, bytes]],
    compiled: bool,
    linktype: int = LINKTYPE_ETHERNET,
    batch: int = 0,
    viaPython: list[Message] | None = None,
    **options: Any,
) -> tuple[list[tuple[int, bytes, int, int, bytes, bytes]], dict[str, int], int]:
    """
    C{packets} through a tracker and its per-packet function: the messages
    as C{(type, id, ts, latency, payload, meta)}, the counters, the held bytes.

    @param batch: for the compiled path, hand the messages on as a batch
        after every C{batch} packets (0: one by one).
    @param viaPython: where to put the messages the Python code emitted
        (the rest the compiled path emitted itself).
    """
    stats = Counters()
    sink = BatchSink() if batch else Sink()

    def emit(kind: int, rid: bytes, ts: int, latency: int, payload: bytes) -> None:
        # RawInput._emitMessage: behind a batch that is not yet handed on
        message = Message(kind, rid, ts, latency, payload)
        if viaPython is not None:
            viaPython.append(message)
        if isinstance(sink, BatchSink) and sink.batch:
            sink.batch.append(message)
            return
        sink.emitted += 1
        sink.messageReceived(message)

    options.setdefault("ports", frozenset({80}))
    options.setdefault("selfPorts", SelfPorts())
    tracker = Tracker(emit, stats, **options)
    decode = decoderFor(linktype)

    def slow(ts: int, data: bytes) -> None:
        try:
            seg = decode(data)
        except NotTCP:
            stats.increment("skipped.not_tcp")
            return
        except Exception:
            stats.increment("dropped.decode")
            return
        tracker.segment(ts, seg)

    handler = tracker.packetHandler(fastLayout(linktype), slow, compiled=compiled, sink=sink if compiled else None)
    if compiled:
        assert type(handler).__name__ == "FastPacket"
    for i, (ts, frame) in enumerate(packets, 1):
        handler(ts, frame)
        if isinstance(sink, BatchSink) and i % batch == 0:
            sink.flushBatch()
    if isinstance(sink, BatchSink):
        sink.flushBatch()
    tracker.expire(packets[-1][0] + 10**9)
    held = tracker.heldBytes
    tracker.finish()
    messages = [(m.type, m.id, m.timestamp, m.latency, m.payload, m.meta()) for m in sink.messages]
    counters = dict(stats.items())
    counters.update(("sink." + k, v) for k, v in sink.stats.items())
    counters["emitted"] = sink.emitted
    return messages, counters, held


def conversation(seed: int, linktype: int = LINKTYPE_ETHERNET, v6: bool = False, port: int = 50000) -> Conversation:
    """
    A connection with a random mix of requests and responses: simple ones
    (the compiled path's), pipelined, split, chunked, malformed, HEAD.
    """
    rng = random.Random(seed)
    if v6:
        c = Conversation(client=("fd00::1", port), server=("fd00::2", 80), linktype=linktype)
    else:
        c = Conversation(client=("10.0.0.1", port), linktype=linktype)
    c.handshake()
    for i in range(rng.randint(5, 40)):
        pick = rng.random()
        if pick < 0.45:
            c.send(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i).send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False)
        elif pick < 0.55:
            body = b"b" * rng.randint(0, 300)
            req = b"POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            c.send(req, sizes=[rng.randint(1, len(req))] if rng.random() < 0.3 else None)
            c.send(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", False)
        elif pick < 0.62:
            c.send(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", False)
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", False)
        elif pick < 0.68:
            c.send(b"HEAD /h HTTP/1.1\r\n\r\n").send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", False)
        elif pick < 0.74:
            c.send(b"GET /c HTTP/1.1\r\n\r\n").send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", False)
        elif pick < 0.80:
            c.send(b"GET /bad  HTTP/1.1\r\n\r\n").send(b"HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", False)
        elif pick < 0.86:
            c.send(b"POST /p HTTP/1.1\r\nContent-Length : 2\r\n\r\nab")
        elif pick < 0.92:
            c.send(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").send(b"HTTP/1.1 304 Not Modified\r\n\r\n", False)
        else:
            c.send(b"GET /big HTTP/1.1\r\nX: " + b"p" * 3000 + b"\r\n\r\n", sizes=[1000, 1000])
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", False)
    if rng.random() < 0.5:
        c.close()
    return c


def mangle(packets: list[tuple[int, bytes]], seed: int) -> list[tuple[int, bytes]]:
    """
    Lose, duplicate, swap and truncate some packets (after the handshake).
    """
    rng = random.Random(seed)
    out = list(packets[:3])
    for ts, frame in packets[3:]:
        r = rng.random()
        if r < 0.04:
            continue
        if r < 0.08:
            out.append((ts, frame))
        if r < 0.11 and len(out) > 4:
            out[-1], prev = (ts, frame), out[-1]
            out.append(prev)
            continue
        if r < 0.13:
            frame = frame[: rng.randint(40, len(frame))]
        out.append((ts, frame))
    return out


class DifferentialCaptureTests(SynchronousTestCase):
    """
    Whole captures through the compiled and the pure-Python per-packet
    functions: identical messages (ids, timestamps, latencies, payloads,
    meta lines), counters and held bytes.
    """

    def setUp(self) -> None:
        needCompiled()

    def _same(self, packets: list[tuple[int, bytes]], **options: Any) -> list[tuple[int, bytes, int, int, bytes, bytes]]:
        pure = run(packets, False, **options)
        compiled = run(packets, True, **options)
        self.assertEqual(compiled[0], pure[0])
        self.assertEqual(compiled[1], pure[1])
        self.assertEqual(compiled[2], pure[2])
        # batched: handed on every 7 packets, the Python path's messages
        # queued behind the batch's, in the same order
        batched = run(packets, True, batch=7, **options)
        self.assertEqual(batched, compiled)
        return compiled[0]

    def test_inOrder(self) -> None:
        """
        Clean connections: same output, and the compiled path emits the
        simple messages itself.
        """
        packets: list[tuple[int, bytes]] = []
        for seed in range(8):
            packets += conversation(seed, port=50000 + seed).packets
        packets.sort(key=lambda p: p[0])
        messages = self._same(packets, trackResponse=True)
        self.assertGreater(len(messages), 100)
        self._same(packets, trackResponse=False)
        self._same(packets, trackResponse=True, maxStore=200)

    def test_mangled(self) -> None:
        """
        Lost, duplicated, reordered and truncated segments: same output.
        """
        for seed in range(30):
            packets = mangle(conversation(seed, port=40000 + seed).packets, seed)
            self._same(packets, trackResponse=True)
            self._same(packets, trackResponse=True, allowIncomplete=True)

    def test_layouts(self) -> None:
        """
        IPv6, Linux cooked capture and raw IP: same output.
        """
        for linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW):
            for v6 in (False, True):
                packets = conversation(7, linktype=linktype, v6=v6).packets
                self._same(packets, trackResponse=True, linktype=linktype)

    def test_sessionsAndRealIP(self) -> None:
        """
        Options the compiled path leaves to Python (the real-IP header)
        still give the same output through it.
        """
        packets = conversation(3).packets
        self._same(packets, trackResponse=True, realIPHeader=b"X-Real-IP")

    def test_pipelinedIds(self) -> None:
        """
        Requests sharing an Ack get Ack+1, Ack+2 in both.
        """
        c = Conversation().handshake()
        for _ in range(3):
            c.send(b"GET /a HTTP/1.1\r\n\r\n")
        messages = self._same(c.packets)
        ids = [m[1] for m in messages]
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(int(ids[1][-8:], 16), int(ids[0][-8:], 16) + 1)


class BatchTests(SynchronousTestCase):
    """
    The compiled path appends to a sink's batch, by slot offsets.
    """

    def setUp(self) -> None:
        needCompiled()

    def test_subclassesGoThePythonWay(self) -> None:
        """
        Streams, connections or parsers of a subclass (not exactly the
        classes whose slot offsets the compiled path uses) are left to the
        Python code, which emits every message: the output is the same.
        """
        needCompiled()

        class Stream(reassembly.HalfStream):
            __slots__ = ()

        class Conn(reassembly.Connection):
            __slots__ = ()

        class Parser(reassembly.HTTPStreamParser):
            __slots__ = ()

        packets: list[tuple[int, bytes]] = []
        for seed in range(4):
            packets += conversation(seed, port=50000 + seed).packets
        packets.sort(key=lambda p: p[0])
        pure = run(packets, False, trackResponse=True)
        exact: list[Message] = []
        self.assertEqual(run(packets, True, viaPython=exact, trackResponse=True), pure)
        # (the count tells the paths apart: exact classes, the compiled path emits most)
        self.assertLess(len(exact), len(pure[0]) // 2)
        for name, subclass in [("HalfStream", Stream), ("Connection", Conn), ("HTTPStreamParser", Parser)]:
            patched = self.patch(reassembly, name, subclass)
            viaPython: list[Message] = []
            self.assertEqual(run(packets, True, viaPython=viaPython, trackResponse=True), pure, name)
            self.assertEqual(len(viaPython), len(pure[0]), name)
            patched.restore()

    def test_slotsFound(self) -> None:
        """
        Every slot the compiled path reads by offset is found on the
        stream, connection and parser classes (else it would leave every
        packet to Python).
        """
        self.assertTrue(needCompiled().slotsUsed())

    def test_handedOnPerMebibyte(self) -> None:
        """
        A batch is handed on as soon as it holds 1 MiB of payload, even in
        the middle of a read; nothing is lost or reordered.
        """
        c = Conversation().handshake()
        bodies = [bytes([65 + i % 26]) * 60_000 for i in range(40)]
        for body in bodies:
            c.send(b"POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body), mss=65_000)
        sink = BatchSink()

        def emit(kind: int, rid: bytes, ts: int, latency: int, payload: bytes) -> None:
            # (the connection's first request, before its ports are checked)
            sink.batch.append(Message(kind, rid, ts, latency, payload))

        tracker = Tracker(emit, Counters(), ports=frozenset({80}), selfPorts=SelfPorts())
        handler = tracker.packetHandler(fastLayout(LINKTYPE_ETHERNET), lambda ts, data: tracker.segment(ts, decoderFor(LINKTYPE_ETHERNET)(data)), compiled=True, sink=sink)
        for ts, frame in c.packets:
            handler(ts, frame)
        # 40 x 60 kB: handed on twice during the read, each time once the
        # compiled path had added 1 MiB (18 messages; the first batch also
        # holds the connection's first request, from Python)
        self.assertEqual(sink.flushes, 2)
        self.assertEqual(len(sink.messages), 37)
        sink.flushBatch()
        self.assertEqual([m.payload[-60_000:] for m in sink.messages], bodies)
        self.assertEqual(sink.emitted, 40)


class OverloadTests(SynchronousTestCase):
    """
    Kernel drops leave many gaps in a stream: they are given up in one pass
    (not one per housekeeping tick), memory stays bounded, and stopping
    feeds a bounded amount.
    """

    def _lossy(self, requests: int, every: int) -> tuple[Tracker, list[bytes], list[tuple[int, bytes]]]:
        emitted: list[bytes] = []
        tracker = Tracker(
            lambda kind, rid, ts, latency, payload: emitted.append(payload),
            Counters(),
            ports=frozenset({80}),
            selfPorts=SelfPorts(),
        )
        c = Conversation(step=1000).handshake()
        for i in range(requests):
            c.send(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)
        # the kernel dropped every `every`-th request
        packets = c.packets[:3] + [p for i, p in enumerate(c.packets[3:]) if i % every]
        return tracker, emitted, packets

    def test_kernelDropsGivenUpAtOnce(self) -> None:
        """
        After kernel drops, one L{Tracker.skipAllGaps} gives up every gap of
        the stream and emits everything held.
        """
        tracker, emitted, packets = self._lossy(2000, 10)
        handler = tracker.packetHandler(fastLayout(LINKTYPE_ETHERNET), lambda ts, data: tracker.segment(ts, decoderFor(LINKTYPE_ETHERNET)(data)))
        for ts, frame in packets:
            handler(ts, frame)
        self.assertEqual(len(emitted), 0)  # the first request was lost: all held
        self.assertTrue(tracker.hasGaps())
        tracker.skipAllGaps(packets[-1][0])
        self.assertEqual(len(emitted), 1800)
        self.assertEqual(tracker.stats["dropped.gaps"], 200)
        self.assertEqual((tracker.heldBytes, tracker.heldSegments), (0, 0))
        self.assertFalse(tracker.hasGaps())

    def test_expiredGapsGivenUpAtOnce(self) -> None:
        """
        An expiry gives up every gap whose next segment is older than the
        expiry, and keeps the younger ones.
        """
        tracker, emitted, packets = self._lossy(2000, 10)
        for ts, frame in packets:
            tracker.segment(ts, decoderFor(LINKTYPE_ETHERNET)(frame))
        middle = packets[len(packets) // 2][0]
        tracker.expire(middle + tracker.expireNs)
        self.assertTrue(800 <= len(emitted) <= 1000, len(emitted))
        self.assertTrue(tracker.hasGaps())
        tracker.expire(packets[-1][0] + tracker.expireNs)
        self.assertEqual(len(emitted), 1800)
        self.assertEqual(tracker.stats["dropped.gaps"], 200)

    def test_heldBoundCountsOverhead(self) -> None:
        """
        L{Tracker.maxHeld} bounds the held payloads plus a per-segment
        overhead: many small held segments are given up before their
        payloads alone reach it.
        """
        tracker, emitted, packets = self._lossy(2000, 2000)
        tracker.maxHeld = 100_000
        for ts, frame in packets:
            tracker.segment(ts, decoderFor(LINKTYPE_ETHERNET)(frame))
        self.assertLessEqual(tracker.heldCost(), 100_000)
        self.assertGreater(tracker.stats["dropped.gaps_held_limit"], 0)
        self.assertGreater(len(emitted), 0)

    def test_stopAbandonsOverBudget(self) -> None:
        """
        Stopping feeds at most C{maxBytes} of held segments; the rest is
        counted as C{dropped.held_at_stop}.
        """
        tracker, emitted, packets = self._lossy(2000, 2000)
        for ts, frame in packets:
            tracker.segment(ts, decoderFor(LINKTYPE_ETHERNET)(frame))
        held = tracker.heldSegments
        self.assertEqual(held, 1999)
        tracker.finish(maxBytes=1000)
        self.assertEqual(emitted, [])
        self.assertEqual(tracker.stats["dropped.held_at_stop"], held)
        self.assertEqual((tracker.heldBytes, tracker.heldSegments), (0, 0))


class GorLiveCompiledTests(TestCase):
    """
    The real C{gor} command capturing live on loopback with the compiled
    path, and with C{TWISTED_GOR_PURE=1}: every request and response
    byte-exact, ids paired.
    """

    timeout = 90

    async def _capture(self, pure: bool) -> str:
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        from tests.support import startGor
        from tests.test_raw_live import CLIENT, Site, _readGor, _recordsSoFar

        listening, port = listenLocal(server.Site(Site()), "127.0.0.1", globalReactor)
        self.addCleanup(listening.stopListening)
        out = os.path.abspath(self.mktemp() + ".gor")
        env = dict(os.environ)
        if pure:
            env["TWISTED_GOR_PURE"] = "1"
        else:
            env.pop("TWISTED_GOR_PURE", None)
        self.patch(os, "environ", env)
        gor = startGor(
            "--input-raw", f"127.0.0.1:{port}", "--input-raw-track-response", "--output-file", out,
            "--output-file-flush-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(80)
        modes = ("keepalive", "pipelined", "nobody")
        prefix = os.path.abspath(self.mktemp())
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            for mode in modes:
                _, err, code = await getProcessOutputAndValue(
                    sys.executable, ["-c", CLIENT, mode, "127.0.0.1", str(port), prefix + mode], env=env
                )
                self.assertEqual(code, 0, err.decode())
            total = sum(int(n) for mode in modes for n in open(prefix + mode + ".count").read().split())
            await waitUntil(
                lambda: _recordsSoFar(out) >= total,
                30,
                describe=lambda: f"{_recordsSoFar(out)} of {total} records written:\n{gor.logText}",
            )
        finally:
            gor.signal("INT")
        result = await ended
        messages = _readGor(out)
        sent = b"".join(open(prefix + mode + ".sent", "rb").read() for mode in modes)
        received = b"".join(open(prefix + mode + ".recv", "rb").read() for mode in modes)
        requests = [m for m in messages if m.type == 1]
        responses = [m for m in messages if m.type == 2]
        self.assertEqual(b"".join(m.payload for m in requests), sent, result.errText)
        self.assertEqual(b"".join(m.payload for m in responses), received)
        self.assertEqual([m.id for m in requests], [m.id for m in responses])
        return gor.logText

    async def test_compiled(self) -> None:
        """
        With the extension built, gor uses the compiled path and it emits
        most messages itself.
        """
        needCompiled()
        log = await self._capture(pure=False)
        self.assertIn("per-packet path: compiled", log)
        self.assertRegex(log, r"[1-9][0-9]* messages emitted by the compiled path")

    async def test_pure(self) -> None:
        """
        C{TWISTED_GOR_PURE=1}: the pure-Python path, same captures.
        """
        log = await self._capture(pure=True)
        self.assertIn("per-packet path: pure Python", log)
        self.assertNotIn("emitted by the compiled path", log)


class SelectionTests(SynchronousTestCase):
    """
    L{twisted_gor.raw.fastpath} picks the compiled class unless
    C{TWISTED_GOR_PURE} is set.
    """

    def test_selection(self) -> None:
        """
        The compiled class is selected when built and not disabled; asking
        for it when it is not available is an error.
        """
        tracker = Tracker(lambda *a: None, Counters(), selfPorts=SelfPorts())
        layout = fastLayout(LINKTYPE_ETHERNET)
        self.assertEqual(type(tracker.packetHandler(layout, lambda ts, d: None, compiled=False)).__name__, "function")
        if fastpath.FastPacket is None:
            self.assertIsNotNone(fastpath.BUILD_ERROR)
        if fastpath.Compiled is None:
            self.assertRaises(RuntimeError, tracker.packetHandler, layout, lambda ts, d: None, compiled=True)
        else:
            self.assertEqual(type(tracker.packetHandler(layout, lambda ts, d: None, compiled=True)).__name__, "FastPacket")
        if fastpath.FastPacket is not None:
            self.assertEqual(type(tracker.packetHandler(layout, lambda ts, d: None)).__name__, "FastPacket")


class ReadCoalescingTests(SynchronousTestCase):
    """
    L{twisted_gor.raw.reader.PcapReader} with C{coalesce}: at low rates a
    small read pauses the descriptor for the coalescing time; at high rates
    every readiness is read.
    """

    def _reader(self) -> tuple[Any, Any, list[int]]:
        from twisted.internet.testing import MemoryReactorClock

        from twisted_gor.raw.reader import PcapReader
        from twisted_gor.testing import FakePcapHandle

        handle = FakePcapHandle()
        reactor = MemoryReactorClock()
        got: list[int] = []
        reader = PcapReader(handle, lambda ts, data: got.append(ts), reactor=reactor, coalesce=0.1)
        reader.startReading()
        return reader, (handle, reactor), got

    def test_lowRatePauses(self) -> None:
        """
        Under L{PcapReader.lowRate} packets per second, a read of fewer than
        L{PcapReader.busyBatch} packets stops reading until the coalescing
        time has passed; nothing is lost, the next read takes what came.
        """
        reader, (handle, reactor), got = self._reader()
        handle.packets.append((1, b"x"))
        reader.doRead()
        reactor.advance(1.0)
        handle.packets.append((2, b"x"))
        reader.doRead()  # one second measured at 2 packets/s: low
        handle.packets.append((3, b"x"))
        reader.doRead()
        self.assertNotIn(reader, reactor.getReaders())
        handle.packets.extend([(4, b"x"), (5, b"x")])
        reactor.advance(0.1)
        self.assertIn(reader, reactor.getReaders())
        reader.doRead()
        self.assertEqual(got, [1, 2, 3, 4, 5])
        reader.connectionLost(None)
        self.assertEqual(reactor.getDelayedCalls(), [])

    def test_readsWhilePausedKeepOneResume(self) -> None:
        """
        Reads while paused (a stop drains the ring by calling C{doRead})
        leave one pending resume, which closing cancels: nothing is left
        in the reactor.
        """
        reader, (handle, reactor), got = self._reader()
        handle.packets.append((1, b"x"))
        reader.doRead()
        reactor.advance(1.0)
        for ts in range(2, 6):
            handle.packets.append((ts, b"x"))
            reader.doRead()
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        reader.connectionLost(None)
        self.assertEqual(reactor.getDelayedCalls(), [])
        self.assertEqual(got, [1, 2, 3, 4, 5])

    def test_highRateNeverPauses(self) -> None:
        """
        Over the rate, small reads do not pause.
        """
        reader, (handle, reactor), got = self._reader()
        for second in range(3):
            handle.packets.extend([(second, b"x")] * 20_000)
            while handle.packets:
                reader.doRead()
            reactor.advance(1.0)
            handle.packets.append((second, b"x"))
            reader.doRead()
            self.assertIn(reader, reactor.getReaders())
        self.assertEqual(len(got), 60_003)
