"""
Differential tests of the compiled record splitter and encoder
(C{twisted_gor._framing}) against their pure-Python twins
(L{twisted_gor.framing.splitRecordsPure}, L{encodeRecordsPure}): the same
reads give the same messages (every field and the meta line), the same
malformed reports (offsets and reasons), the same offsets and held bytes.
Through the real gor command: a file copied by C{--input-file|max
--output-file} is byte-identical with the compiled path and with
C{TWISTED_GOR_PURE=1}.
"""

from __future__ import annotations

import gc
import heapq
import os
import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tests.fuzz._harness import chunked
from tests.fuzz.test_gorfile import gorStreams, validMessages
from twisted_gor import framing
from twisted_gor.framing import SEPARATOR, RecordDecoder, encodeMessage
from twisted_gor.message import Message
from twisted_gor.relay.input import AckDecoder

try:
    from twisted_gor import _framing
except ImportError:  # pragma: no cover - the extension is not built
    _framing = None  # type: ignore[assignment]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pureEncode(messages: list[Message]) -> tuple[bytes, list[int]]:
    return framing.encodeRecordsPure(messages)


TWINS: dict[str, tuple[Any, Any]] = {"pure": (framing.splitRecordsPure, _pureEncode)}
if _framing is not None:
    TWINS["compiled"] = (
        _framing.splitRecords,
        lambda messages: _framing.encodeRecords(messages, pure=framing.encodeRecordsPure),
    )

Fields = tuple[int, bytes, int, int, bytes, bytes | None, bytes | None]


def _fields(m: Message) -> Fields:
    return (m.type, m.id, m.timestamp, m.latency, m.payload, m.rawMeta, m.session)


# Meta lines at the edges of what the compiled fast path takes: it must
# stop at anything it does not decode exactly as the pure path.
ODD_METAS = [
    b"1 a 1 1",
    b"1 a 1 ",
    b"1 a 1",
    b"1 a -1 -1",
    b"1 a -0 -0",
    b"1 a - 1",
    b"1 a 1 -",
    b"2 a 9223372036854775807 -9223372036854775808",
    b"3 a 9223372036854775808 1",
    b"1 a -9223372036854775809 1",
    b"1 a 99999999999999999999 1",
    b"1 a 00000000000000000000001 1",
    b"1 a 1700000000000000000 -1",
    b"1 a +1 1",
    b"1 a 1_0 1",
    b"1 a  1 1",
    b"1 a 1  1",
    b"1 a 1 1\r",
    b"1 a 1\t 1",
    b"1 a \xd9\xa3 1",  # an Arabic-Indic digit: int() takes it, the C path must not
    b"01 a 1 1",
    b"0 a 1 1",
    b"4 a 1 1",
    b"1  1 1",
    b" 1 a 1 1",
    b"1 a 1 1 s=a:1",
    b"1 a 1 -1 s=a:1:end",
    b"1 a 1 1 x",
    b"#R1:2",
    b"",
    b"1",
]
PAYLOADS = [b"x", b"GET / HTTP/1.1\r\n\r\n", b"", b"\r\n", b"\n", b"\xf0" * 20, SEPARATOR[:13], SEPARATOR[1:]]


def _oddStream() -> bytes:
    return b"".join(meta + b"\n" + payload + SEPARATOR for meta in ODD_METAS for payload in PAYLOADS)


def _decode(
    split: Any, reads: list[bytes], maxRecordSize: int = 0, factory: type[RecordDecoder] = RecordDecoder
) -> tuple[list[Fields], list[tuple[int, str]], list[tuple[int, int]], int]:
    """
    Decode C{reads} with C{split} as the decoder's splitter: the messages,
    the reports, C{(offset, pending)} after each read and what C{finish}
    returned.
    """
    saved = framing.splitRecords
    framing.splitRecords = split
    try:
        reports: list[tuple[int, str]] = []
        decoder = factory(lambda offset, reason: reports.append((offset, reason)), maxRecordSize)
        messages: list[Fields] = []
        states = []
        for data in reads:
            messages.extend(_fields(m) for m in decoder.feed(data))
            states.append((decoder.offset, decoder.pending))
        left = decoder.finish()
    finally:
        framing.splitRecords = saved
    return messages, reports, states, left


class DifferentialTests(SynchronousTestCase):
    """
    The compiled twins against the pure ones.
    """

    def setUp(self) -> None:
        if "compiled" not in TWINS:
            raise SkipTest("twisted_gor._framing is not built (pip install -e . builds it)")

    def assertSame(self, reads: list[bytes], maxRecordSize: int = 0, factory: type[RecordDecoder] = RecordDecoder) -> None:
        pure = _decode(TWINS["pure"][0], reads, maxRecordSize, factory)
        compiled = _decode(TWINS["compiled"][0], reads, maxRecordSize, factory)
        self.assertEqual(compiled, pure)

    def test_inUse(self) -> None:
        """
        The decoder uses the compiled splitter unless C{TWISTED_GOR_PURE} is set.
        """
        pure = os.environ.get("TWISTED_GOR_PURE", "") not in ("", "0")
        self.assertEqual(framing.COMPILED, not pure)
        self.assertIs(framing.splitRecords is _framing.splitRecords, not pure)

    def test_messagesMadeInPlace(self) -> None:
        """
        With L{Message} as the factory the compiled splitter makes each
        message itself: a real L{Message}, equal to the one the class makes,
        not tracked by the cyclic collector (it holds only bytes and ints),
        its fields assignable; with any other factory, or a class whose
        slots differ, it calls the factory.
        """
        self.assertEqual(Message.__slots__, ("type", "id", "timestamp", "latency", "payload", "rawMeta", "_session"))
        stream = encodeMessage(Message(2, b"abc", 1_700_000_000_000_000_000, 42, b"HTTP/1.1 200 OK\r\n\r\n"))
        out: list[Message] = []
        _framing.splitRecords(stream, 0, 0, out, Message)
        (m,) = out
        self.assertIs(type(m), Message)
        self.assertFalse(gc.is_tracked(m))
        self.assertEqual(_fields(m), _fields(Message(2, b"abc", 1_700_000_000_000_000_000, 42, m.payload, m.rawMeta)))
        m.payload = b"x"
        self.assertEqual(m.replace(id=b"d").meta(), b"2 d 1700000000000000000 42")
        calls: list[tuple[object, ...]] = []
        _framing.splitRecords(stream, 0, 0, [], lambda *a: calls.append(a))  # type: ignore[arg-type]
        self.assertEqual(len(calls), 1)

        class Other(Message):
            pass

        self.assertFalse(_framing.useMessageClass(Other))
        self.assertTrue(_framing.useMessageClass(Message))

    def test_oddMetaLines(self) -> None:
        """
        Every odd meta line (signs, digits beyond int64, CR, tabs, session
        fields, relay marks) with every odd payload, at once and byte by
        byte: the same messages and reports.
        """
        stream = _oddStream()
        pure = _decode(TWINS["pure"][0], [stream])
        self.assertTrue(pure[0] and pure[1], "the stream has both good and malformed records")
        self.assertSame([stream])
        self.assertSame([stream[i : i + 1] for i in range(len(stream))])
        self.assertSame([stream[i : i + 7] for i in range(0, len(stream), 7)])

    def test_relayMarks(self) -> None:
        """
        The relay's decoder (its own slow path for C{#} lines) agrees too.
        """
        stream = b"#R1:2\n" + encodeMessage(Message(1, b"a", 1, 1, b"x")) + _oddStream() + b"#E" + SEPARATOR
        self.assertSame([stream], factory=AckDecoder)

    def test_crlfVariants(self) -> None:
        """
        Records written with CRLF around the meta line or inside payloads.
        """
        records = [
            b"1 a 1 1\r\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR,
            b"1 a 1 1\nGET / HTTP/1.1\r\n\r\n\r\n" + SEPARATOR,
            b"1 a 1 1\n\r\n" + SEPARATOR,
            b"\r\n1 a 1 1\nx" + SEPARATOR,
            b"1 a 1 1\nx\r" + SEPARATOR,
        ]
        stream = b"".join(records) * 3
        self.assertSame([stream])
        self.assertSame([stream[i : i + 3] for i in range(0, len(stream), 3)])

    def test_hugeRecords(self) -> None:
        """
        A record of 3 MiB decodes whole; over a maximum record size it is
        discarded, reported once, and the records after it decode.
        """
        big = encodeMessage(Message(1, b"big", 5, 6, b"y" * (3 << 20)))
        small = encodeMessage(Message(2, b"s", 7, -1, b"HTTP/1.1 200 OK\r\n\r\n"))
        stream = small + big + small
        reads = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
        self.assertSame(reads)
        self.assertSame(reads, maxRecordSize=1 << 20)
        self.assertEqual(len(_decode(TWINS["compiled"][0], reads)[0]), 3)
        limited = _decode(TWINS["compiled"][0], reads, maxRecordSize=1 << 20)
        self.assertEqual((len(limited[0]), len(limited[1])), (2, 1))

    def test_truncatedAcrossReads(self) -> None:
        """
        A record cut at every position, the rest never coming: same
        messages, same truncation report.
        """
        stream = encodeMessage(Message(1, b"a", 1, 1, b"GET / HTTP/1.1\r\n\r\n")) * 2
        for cut in range(len(stream)):
            self.assertSame([stream[:cut]])
            self.assertSame([stream[: cut // 2], stream[cut // 2 : cut]])

    @settings(max_examples=300, deadline=None)
    @given(chunked(gorStreams), st.sampled_from([0, 0, 5, 40, 300]))
    def test_anyStream(self, streamReads: tuple[bytes, list[bytes]], maxRecordSize: int) -> None:
        """
        Arbitrary streams (good, broken, separator fragments) in arbitrary
        reads, with and without a size limit.
        """
        stream, reads = streamReads
        self.assertSame(reads, maxRecordSize)
        self.assertSame([stream], maxRecordSize)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(validMessages, max_size=10), st.booleans())
    def test_encode(self, messages: list[Message], keepMeta: bool) -> None:
        """
        Encoding a batch: the bytes are those of L{encodeMessage} per
        message, the sizes theirs, for both twins.
        """
        if keepMeta:
            for m in messages:
                m.rawMeta = m.meta()
        expected = [encodeMessage(m) for m in messages]
        for name, (_, encode) in TWINS.items():
            data, sizes = encode(messages)
            self.assertEqual((data, sizes), (b"".join(expected), [len(e) for e in expected]), name)

    def test_encodeNotBytes(self) -> None:
        """
        A payload that is not C{bytes} (a C{bytearray}) is framed as
        L{encodeMessage} frames it.
        """
        m = Message(1, b"a", 1, 1, bytearray(b"xy"))  # type: ignore[arg-type]
        data, sizes = TWINS["compiled"][1]([m, Message(1, b"b", 2, 2, b"z")])
        self.assertEqual(data, encodeMessage(m) + encodeMessage(Message(1, b"b", 2, 2, b"z")))
        self.assertEqual(sizes, [len(encodeMessage(m)), len(b"1 b 2 2\nz") + 14])


class CommandTests(TestCase):
    """
    The real gor command copies a file byte for byte with either twin.
    """

    timeout = 120

    def _copy(self, pure: bool) -> None:
        if not pure and "compiled" not in TWINS:
            raise SkipTest("twisted_gor._framing is not built (pip install -e . builds it)")
        tmp = self.mktemp()
        os.makedirs(tmp)
        src, dst = os.path.join(tmp, "in.gor"), os.path.join(tmp, "out.gor")
        odd = _oddStream()
        good = b"".join(
            encodeMessage(Message(1 + i % 3, b"%024x" % i, 1_700_000_000 * 10**9 + i, -1, b"P" * (i % 3000 + 1)))
            for i in range(5000)
        )
        with open(src, "wb") as f:
            f.write(good + odd + good)
        env = dict(os.environ, PYTHONPATH=REPO, TWISTED_GOR_PURE="1" if pure else "")
        proc = subprocess.run(
            [sys.executable, "-m", "twisted_gor", "--input-file", src + "|max", "--output-file", dst],
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        # emitted as the reordering window (100 records) gives them back:
        # in order until the odd records, then by timestamp within it
        expected: list[Message] = []
        window: list[tuple[int, int, Message]] = []
        for seq, m in enumerate(framing.iterMessages(good + odd + good)):
            heapq.heappush(window, (m.timestamp, seq, m))
            if len(window) == 100:
                expected.append(heapq.heappop(window)[2])
        expected.extend(heapq.heappop(window)[2] for _ in range(len(window)))
        with open(dst, "rb") as f:
            copied = f.read()
        self.assertEqual(copied, b"".join(encodeMessage(m) for m in expected))
        self.assertIn(f"read={len(expected)} emitted={len(expected)}", proc.stderr)

    def test_compiled(self) -> None:
        """
        With the compiled splitter (the default when built).
        """
        self._copy(pure=False)

    def test_pure(self) -> None:
        """
        With C{TWISTED_GOR_PURE=1}.
        """
        self._copy(pure=True)
