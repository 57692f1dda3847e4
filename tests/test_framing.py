"""
Tests for L{twisted_gor.framing} and L{twisted_gor.message}.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.framing import SEPARATOR, RecordDecoder, encodeMessage, iterMessages
from twisted_gor.message import MalformedMeta, Message, newRequestId, parseMeta

REQ = b"POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"

# Two records as GoReplay 2.0 writes them (4-field meta, 24-hex ids).
GOREPLAY_FILE = (
    b"1 8d0f2f6c5e1a4b3c2d1e0f9a 1439818823587396305 153000\n"
    b"GET /a HTTP/1.1\r\nHost: example.org\r\n\r\n"
    b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
    b"2 8d0f2f6c5e1a4b3c2d1e0f9a 1439818823588001234 2782013\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
)


class MessageTests(SynchronousTestCase):
    """
    The meta line.
    """

    def test_parseFourFields(self) -> None:
        """
        A GoReplay 2.0 meta line parses into its four fields.
        """
        self.assertEqual(parseMeta(b"1 abc 123 456"), (1, b"abc", 123, 456))

    def test_parseThreeFields(self) -> None:
        """
        Old 3-field meta lines (Gor 0.10-1.1) have an unknown latency.
        """
        self.assertEqual(parseMeta(b"2 " + b"f" * 40 + b" 99"), (2, b"f" * 40, 99, -1))

    def test_parseRejects(self) -> None:
        """
        Too few fields, non-numbers and unknown types are malformed.
        """
        for bad in (b"1 abc", b"x abc 1", b"1 abc zz", b"7 abc 1 1", b"1  1 1"):
            self.assertRaises(MalformedMeta, parseMeta, bad)

    def test_metaRoundTrip(self) -> None:
        """
        A message made here is written with a 4-field meta line.
        """
        m = Message(1, b"id1", 5, -1, b"x")
        self.assertEqual(m.meta(), b"1 id1 5 -1")

    def test_rawMetaKept(self) -> None:
        """
        The meta line read from a file is written back unchanged, unless a meta
        field changes.
        """
        m = Message(1, b"id1", 5, -1, b"x", rawMeta=b"1 id1 5")
        self.assertEqual(m.meta(), b"1 id1 5")
        self.assertEqual(m.replace(payload=b"y").meta(), b"1 id1 5")
        self.assertEqual(m.replace(timestamp=6).meta(), b"1 id1 6 -1")

    def test_newRequestId(self) -> None:
        """
        Synthetic ids are 24 lowercase hex characters, and differ.
        """
        a, b = newRequestId(), newRequestId()
        self.assertEqual(len(a), 24)
        self.assertNotEqual(a, b)
        int(a, 16)


class FramingTests(SynchronousTestCase):
    """
    Encoding and incremental decoding of records.
    """

    def test_separator(self) -> None:
        """
        The separator is GoReplay's 14 bytes.
        """
        self.assertEqual(SEPARATOR.hex(), "0af09f90b5f09f9988f09f99890a")

    def test_encode(self) -> None:
        """
        A record is meta, newline, payload, separator.
        """
        m = Message(1, b"abc", 1, 2, REQ)
        self.assertEqual(encodeMessage(m), b"1 abc 1 2\n" + REQ + SEPARATOR)

    def test_goreplayFile(self) -> None:
        """
        A GoReplay-written file decodes to its two records, and re-encodes to
        the same bytes.
        """
        messages = list(iterMessages(GOREPLAY_FILE))
        self.assertEqual([m.type for m in messages], [1, 2])
        self.assertEqual(messages[0].id, messages[1].id)
        self.assertEqual(messages[1].latency, 2782013)
        self.assertEqual(b"".join(encodeMessage(m) for m in messages), GOREPLAY_FILE)

    def test_byteByByte(self) -> None:
        """
        Records split at every byte still decode identically.
        """
        data = GOREPLAY_FILE * 3
        decoder = RecordDecoder()
        out = []
        for i in range(len(data)):
            out.extend(decoder.feed(data[i : i + 1]))
        self.assertEqual(out, list(iterMessages(data)))
        self.assertEqual(decoder.finish(), 0)

    def test_malformedSkippedWithOffset(self) -> None:
        """
        A record with a broken meta line is skipped and reported with its byte
        offset; the records around it survive.
        """
        bad = b"1 nofields\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR
        data = GOREPLAY_FILE[:100] + GOREPLAY_FILE[100:]
        first = encodeMessage(Message(1, b"a", 1, -1, b"GET /x HTTP/1.1\r\n\r\n"))
        reports = []
        out = list(iterMessages(first + bad + data, lambda o, r: reports.append((o, r))))
        self.assertEqual(len(out), 3)
        self.assertEqual(len(reports), 1)
        self.assertEqual(reports[0][0], len(first))

    def test_truncatedLastRecord(self) -> None:
        """
        Trailing bytes without a separator are reported as a truncated record.
        """
        decoder = RecordDecoder(lambda o, r: reports.append(r))
        reports: list[str] = []
        out = decoder.feed(GOREPLAY_FILE + b"1 a 1 1\nGET / HT")
        self.assertEqual(len(out), 2)
        self.assertEqual(decoder.finish(), 16)
        self.assertIn("truncated", reports[0])

    def test_maxRecordSize(self) -> None:
        """
        A record over the maximum size is discarded without buffering it; the
        next record decodes.
        """
        reports: list[str] = []
        decoder = RecordDecoder(lambda o, r: reports.append(r), maxRecordSize=1000)
        decoder.feed(b"1 a 1 1\n")
        for _ in range(100):
            decoder.feed(b"x" * 1000)
            self.assertLess(decoder.pending, 2100)
        out = decoder.feed(SEPARATOR + GOREPLAY_FILE)
        self.assertEqual(len(out), 2)
        self.assertEqual(len(reports), 1)
        self.assertIn("maximum", reports[0])

    def test_maxRecordSizeUnderSeparator(self) -> None:
        """
        A limit shorter than the separator's 13-byte search tail never moves
        the offset back nor re-reads bytes of the previous record (found by
        tests.fuzz): C{offset + pending} stays the number of bytes fed.
        """
        reports: list[tuple[int, str]] = []
        decoder = RecordDecoder(lambda o, r: reports.append((o, r)), maxRecordSize=5)
        decoder.feed(b"abcdef")
        self.assertEqual((decoder.offset, decoder.pending), (0, 6))
        out = decoder.feed(b"gh" + SEPARATOR + b"1 a 1 1\nx" + SEPARATOR + b"1234567")
        self.assertEqual([(m.id, m.payload) for m in out], [(b"a", b"x")])
        self.assertEqual(decoder.offset + decoder.pending, 6 + 2 + 14 + 9 + 14 + 7)
        self.assertLessEqual(decoder.pending, 13)
        self.assertEqual(reports, [(0, "record larger than the maximum record size")])

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
    def test_garbageNeverCrashes(self, garbage: bytes, step: int) -> None:
        """
        Arbitrary bytes, fed in arbitrary pieces, never raise; valid records
        after them still decode.
        """
        decoder = RecordDecoder(lambda o, r: None)
        data = garbage + SEPARATOR + GOREPLAY_FILE
        out = []
        for i in range(0, len(data), step):
            out.extend(decoder.feed(data[i : i + step]))
        self.assertEqual(out[-2:], list(iterMessages(GOREPLAY_FILE)))
