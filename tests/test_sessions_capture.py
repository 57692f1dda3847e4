"""
Session data at capture (C{--recognize-tcp-sessions}): the meta line's fifth
field, close records, and how GoReplay's documented reader treats them.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.pcapgen import Conversation
from tests.test_raw_reassembly import GET2, RESP1, capture
from twisted_gor.framing import SEPARATOR, RecordDecoder, encodeMessage
from twisted_gor.message import MalformedMeta, Message, parseSession, sessionEnd

GET1 = b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n"


def goreplayRead(data: bytes) -> list[tuple[bytes, bytes, int, bytes]]:
    """
    GoReplay's file reader and emitter as the reference documents them
    (sections 2.3 and 3.2): line by line up to a line that is the separator
    without its leading newline; the record is split at its first newline;
    an empty payload means "no meta" and is dropped; the meta line is split
    on every space and needs at least 3 fields, read by position (type, id,
    timestamp). Returns C{(type, id, timestamp, payload)} of what it emits.
    """
    out: list[tuple[bytes, bytes, int, bytes]] = []
    buffer = b""
    for line in data.splitlines(keepends=True):
        if line == SEPARATOR[1:]:
            record, buffer = buffer[:-1], b""
            i = record.find(b"\n")
            if i > 0 and len(record) > i + 1:
                meta, payload = record[:i], record[i + 1 :]
            else:
                continue  # no meta: dropped by the emitter
            fields = meta.split(b" ")
            if len(fields) < 3:
                continue
            try:
                ts = int(fields[2])
            except ValueError:
                ts = 0
            out.append((fields[0], fields[1], ts, payload))
        else:
            buffer += line
    return out


class SessionFieldTests(SynchronousTestCase):
    """
    The session field in L{Message} and L{RecordDecoder}.
    """

    def test_format(self) -> None:
        """
        A message with a session is written with a fifth meta field and
        read back with it; the fields GoReplay reads are unchanged.
        """
        m = Message(1, b"ab", 10, 5, b"GET / HTTP/1.1\r\n\r\n", session=b"c0ffee:2")
        self.assertEqual(m.meta(), b"1 ab 10 5 s=c0ffee:2")
        [back] = RecordDecoder().feed(encodeMessage(m))
        self.assertEqual(back, m)
        self.assertEqual(back.session, b"c0ffee:2")
        self.assertEqual(back.meta(), b"1 ab 10 5 s=c0ffee:2")
        self.assertEqual(parseSession(back.session or b""), (b"c0ffee", 2, False))

    def test_replaceKeepsSession(self) -> None:
        """
        Changing a meta field rebuilds the meta line with the session.
        """
        [m] = RecordDecoder().feed(b"1 ab 10 5 s=x1:1\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR)
        self.assertEqual(m.replace(timestamp=11).meta(), b"1 ab 11 5 s=x1:1")
        self.assertEqual(m.replace(payload=b"x").meta(), b"1 ab 10 5 s=x1:1")

    def test_endRecord(self) -> None:
        """
        A close record round-trips through the decoder; an empty payload
        without a session end is still malformed.
        """
        end = sessionEnd(b"x1", 3, 99)
        self.assertTrue(end.isSessionEnd)
        self.assertEqual(end.meta(), b"1 x1 99 -1 s=x1:3:end")
        bad: list[str] = []
        decoder = RecordDecoder(lambda offset, reason: bad.append(reason))
        [back] = decoder.feed(encodeMessage(end) + b"1 y 1 -1\n" + SEPARATOR)
        self.assertTrue(back.isSessionEnd)
        self.assertEqual(parseSession(back.session or b""), (b"x1", 3, True))
        self.assertEqual(bad, ["record has no payload"])

    def test_parseSessionMalformed(self) -> None:
        """
        Session values without a position are refused.
        """
        for value in (b"abc", b":3", b"abc:", b"abc:x", b"abc:x:end"):
            self.assertRaises(MalformedMeta, parseSession, value)

    def test_goreplayReader(self) -> None:
        """
        A file with session data, read by GoReplay's documented reader: the
        same requests (type, id, timestamp, payload) as the same file
        without session data, and the close record skipped.
        """
        plain = [Message(1, b"a%d" % i, 100 + i, 7, GET1) for i in range(3)]
        withSessions = [m.replace() for m in plain]
        for i, m in enumerate(withSessions):
            m._session = b"s1:%d" % (i + 1)
        data = b"".join(encodeMessage(m) for m in withSessions) + encodeMessage(sessionEnd(b"s1", 3, 200))
        self.assertIn(b" s=s1:1\n", data)
        expected = [(b"1", m.id, m.timestamp, m.payload) for m in plain]
        self.assertEqual(goreplayRead(data), expected)
        self.assertEqual(goreplayRead(b"".join(encodeMessage(m) for m in plain)), expected)
        # this project's reader: the same requests (and latency), plus the
        # close record, which GoReplay skipped
        ours = RecordDecoder().feed(data)
        self.assertEqual([(b"%d" % m.type, m.id, m.timestamp, m.payload) for m in ours if m.payload], expected)
        self.assertEqual([m.latency for m in ours if m.payload], [7, 7, 7])
        self.assertEqual([m.isSessionEnd for m in ours], [False, False, False, True])


class CaptureSessionTests(SynchronousTestCase):
    """
    L{twisted_gor.raw.input.RawInput} with C{sessions}.
    """

    def _two(self) -> list[tuple[int, bytes]]:
        a = Conversation(client=("10.0.0.1", 50000)).handshake()
        b = Conversation(client=("10.0.0.3", 50001), start=1_600_000_000_000_500_000).handshake()
        for c in (a, b):
            c.send(GET1).send(RESP1, False).send(GET2).send(RESP1, False)
        a.close()
        return sorted(a.packets + b.packets)

    def test_sessions(self) -> None:
        """
        Each request carries its connection and position; the connection
        closed by FIN gets its close record, the one left open none.
        """
        messages, raw = capture(self, self._two(), sessions=True)
        requests = [m for m in messages if m.type == 1 and m.payload]
        ends = [m for m in messages if m.isSessionEnd]
        self.assertEqual(len(requests), 4)
        parsed = [parseSession(m.session or b"") for m in requests]
        sids = {sid for sid, _, _ in parsed}
        self.assertEqual(len(sids), 2)
        for sid in sids:
            self.assertEqual([n for s, n, _ in parsed if s == sid], [1, 2])
        self.assertEqual(len(ends), 1)
        sid, n, end = parseSession(ends[0].session or b"")
        self.assertEqual((n, end), (2, True))
        # the session closed is the first client's (10.0.0.1:50000), and its
        # id starts with that connection's id prefix (ports, client IP)
        self.assertEqual(sid[:16], requests[0].id[:16])
        self.assertGreater(ends[0].timestamp, max(m.timestamp for m in requests if m.session and m.session.startswith(sid)))
        self.assertEqual(raw.stats["sessions.closed"], 1)
        self.assertEqual(raw.stats["emitted"], 4)

    def test_reusedTuple(self) -> None:
        """
        A new handshake on the same 4-tuple ends the old session and starts
        a new one.
        """
        a = Conversation().handshake().send(GET1)
        b = Conversation(clientIsn=900_000, start=a.now + 1000).handshake().send(GET2)
        messages, _ = capture(self, a.packets + b.packets, sessions=True)
        kinds = [(parseSession(m.session or b"")[1:], bool(m.payload)) for m in messages]
        self.assertEqual(kinds, [((1, False), True), ((1, True), False), ((1, False), True)])
        self.assertNotEqual(messages[0].session, messages[2].session)

    def test_off(self) -> None:
        """
        Without C{sessions}, nothing changes: four fields, no close records.
        """
        messages, _ = capture(self, self._two())
        self.assertEqual(len(messages), 4)
        self.assertTrue(all(m.session is None and m.meta().count(b" ") == 3 for m in messages))
