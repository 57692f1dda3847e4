"""
Fuzz target: the C{.gor} reader (L{twisted_gor.framing.RecordDecoder},
L{twisted_gor.framing.iterMessages}, L{twisted_gor.message.parseMeta}).

Documented errors: L{parseMeta} raises L{MalformedMeta}; the decoder never
raises (malformed records go to its C{onMalformed} callback).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.fuzz._harness import case, fuzz, chunked, segmentations
from twisted_gor.framing import SEPARATOR, RecordDecoder, encodeMessage, iterMessages
from twisted_gor.message import MESSAGE_TYPES, MalformedMeta, Message, parseMeta

TARGET = "gorfile"

_TOKENS = [b"1", b"2", b"3", b"0", b"4", b"-1", b"+1", b"1_0", b" ", b"  ", b"\n", b"\r", b"\t", b"x", b"9" * 25]
_SEP_PIECES = [SEPARATOR, SEPARATOR[:1], SEPARATOR[:5], SEPARATOR[5:], SEPARATOR[:13], SEPARATOR[1:], b"\n\n"]

ids = st.binary(min_size=1, max_size=30).filter(lambda b: b" " not in b and b"\n" not in b)
numbers = st.one_of(st.integers(-(2**64), 2**64), st.integers(-2, 2))

metaLines = st.one_of(
    st.builds(
        lambda kind, id_, ts, lat: b"%d %s %d %d" % (kind, id_, ts, lat),
        st.integers(0, 4),
        ids,
        numbers,
        numbers,
    ),
    st.lists(st.sampled_from(_TOKENS + [b"abc"]), max_size=8).map(b"".join),
    st.binary(max_size=40),
)
payloads = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from(_SEP_PIECES + [b"x", b"GET / HTTP/1.1\r\n\r\n"]), max_size=6).map(b"".join),
)
records = st.one_of(
    st.builds(lambda m, p: m + b"\n" + p + SEPARATOR, metaLines, payloads),
    st.builds(lambda m, p: m + b"\n" + p, metaLines, payloads),  # no separator
    st.builds(lambda m: m + SEPARATOR, metaLines),  # no payload
)
gorStreams = st.lists(
    st.one_of(records, st.sampled_from(_SEP_PIECES), st.binary(max_size=30)), max_size=12
).map(b"".join)
"""Streams of records, most well formed, some broken, with separator fragments."""

validMessages = st.builds(
    Message,
    st.sampled_from(sorted(MESSAGE_TYPES)),
    ids,
    st.integers(0, 2**63 - 1),  # int64, as GoReplay writes; beyond is malformed
    st.integers(-1, 2**40),
    payloads.filter(bool),
)


def _fields(m: Message) -> tuple[int, bytes, int, int, bytes, bytes | None]:
    return (m.type, m.id, m.timestamp, m.latency, m.payload, m.rawMeta)


def _decode(reads: list[bytes], maxRecordSize: int = 0) -> tuple[list[Message], list[tuple[int, str]], int]:
    """
    Decode C{reads} and check the decoder's invariants after each read.

    @return: the messages, the malformed reports and what L{finish} returned.
    """
    reports: list[tuple[int, str]] = []
    decoder = RecordDecoder(lambda offset, reason: reports.append((offset, reason)), maxRecordSize)
    messages: list[Message] = []
    fed = 0
    lastOffset = 0
    for data in reads:
        messages.extend(decoder.feed(data))
        fed += len(data)
        assert decoder.offset >= lastOffset, (decoder.offset, lastOffset)
        lastOffset = decoder.offset
        assert decoder.offset + decoder.pending == fed, (decoder.offset, decoder.pending, fed)
        if maxRecordSize:
            assert decoder.pending <= max(maxRecordSize, 13), (decoder.pending, maxRecordSize)
    left = decoder.finish()
    for offset, _ in reports:
        assert 0 <= offset <= fed, (offset, fed)
    return messages, reports, left


class RecordDecoderFuzz(SynchronousTestCase):
    """
    L{RecordDecoder} and L{iterMessages} on arbitrary streams in arbitrary reads.
    """

    @fuzz(0.3)
    @given(chunked(gorStreams))
    def test_anySegmentation(self, streamReads: tuple[bytes, list[bytes]]) -> None:
        """
        Without a size limit, decoding in any reads gives the messages, the
        malformed reports and the trailing byte count of decoding in one read
        (and of L{iterMessages}); every payload is a slice of the stream.
        """
        stream, reads = streamReads
        with case(TARGET):
            whole = _decode([stream])
            pieces = _decode(reads)
            self.assertEqual([_fields(m) for m in pieces[0]], [_fields(m) for m in whole[0]])
            self.assertEqual(pieces[1:], whole[1:])
            self.assertEqual([_fields(m) for m in iterMessages(stream)], [_fields(m) for m in whole[0]])
            for m in whole[0]:
                self.assertIn(m.meta() + b"\n" + m.payload + SEPARATOR, stream)

    @fuzz(0.3)
    @given(chunked(gorStreams), st.integers(1, 300))
    def test_maxRecordSize(self, streamReads: tuple[bytes, list[bytes]], maxRecordSize: int) -> None:
        """
        With a size limit, at most C{max(limit, 13)} bytes wait after any read
        and the messages are those of the unlimited decoder minus some
        records longer than the limit.
        """
        stream, reads = streamReads
        with case(TARGET):
            unlimited = _decode([stream])[0]
            limited = _decode(reads, maxRecordSize)[0]
            it = iter(unlimited)
            for m in limited:
                for u in it:
                    if _fields(u) == _fields(m):
                        break
                    self.assertGreater(len(u.meta()) + 1 + len(u.payload), maxRecordSize)
                else:
                    self.fail(f"{m!r} is not among the unlimited decoder's messages (in order)")
            for u in it:
                self.assertGreater(len(u.meta()) + 1 + len(u.payload), maxRecordSize)

    @fuzz(0.2)
    @given(st.lists(validMessages, max_size=8), st.booleans(), st.data())
    def test_roundTrip(self, messages: list[Message], keepMeta: bool, data: st.DataObject) -> None:
        """
        C{encodeMessage} then L{RecordDecoder} in any reads gives the messages
        back, and encoding them again gives the same bytes. (A payload whose
        record holds the separator anywhere but at its end cannot round trip:
        the format does not escape; such payloads are not drawn.)
        """
        if keepMeta:
            messages = [m.replace() for m in messages]
            for m in messages:
                m.rawMeta = m.meta()
        framed = [encodeMessage(m) for m in messages]
        messages = [m for m, f in zip(messages, framed) if f.find(SEPARATOR) == len(f) - 14]
        stream = b"".join(encodeMessage(m) for m in messages)
        reads = data.draw(segmentations(stream))
        with case(TARGET):
            decoded, reports, left = _decode(reads)
            self.assertEqual((reports, left), ([], 0))
            self.assertEqual([_fields(m)[:5] for m in decoded], [_fields(m)[:5] for m in messages])
            self.assertEqual(b"".join(encodeMessage(m) for m in decoded), stream)


class ParseMetaFuzz(SynchronousTestCase):
    """
    L{parseMeta} on arbitrary meta lines.
    """

    @fuzz(0.2)
    @given(metaLines)
    def test_parseMeta(self, meta: bytes) -> None:
        """
        L{parseMeta} returns well-formed fields or raises L{MalformedMeta};
        the decoder's inlined fast path agrees with it on every line.
        """
        with case(TARGET):
            try:
                parsed: tuple[int, bytes, int, int] | None = parseMeta(meta)
            except MalformedMeta:
                parsed = None
            if parsed is not None:
                kind, id_, _, _ = parsed
                self.assertIn(kind, MESSAGE_TYPES)
                self.assertTrue(id_)
                self.assertNotIn(b" ", id_)
            if b"\n" in meta:
                return
            reports: list[tuple[int, str]] = []
            got = RecordDecoder(lambda offset, reason: reports.append((offset, reason))).feed(
                meta + b"\nx" + SEPARATOR
            )
            if parsed is None:
                self.assertEqual((got, len(reports)), ([], 1))
            else:
                self.assertEqual([(m.type, m.id, m.timestamp, m.latency) for m in got], [parsed])
