"""
Tests for L{twisted_gor.raw.reassembly} through pcap savefiles generated here
(read by the C{pcap_file} engine, no root needed).
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.pcapgen import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    Conversation,
    writePcap,
)
from twisted_gor.testing import MessageCollector
from twisted_gor.message import Message
from twisted_gor.raw.decode import ACK, RST, SYN
from twisted_gor.raw.input import RawInput, RawInputConfig
from twisted_gor.raw.reassembly import Tracker
from twisted_gor.selfports import SelfPorts
from twisted_gor.stats import Counters

GET1 = b"GET /a HTTP/1.1\r\nHost: example\r\n\r\n"
GET2 = b"GET /b?x=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n"
POST = b"POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 23\r\n\r\n" + b"Network" * 3 + b"ab"
CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"7\r\nNetwork\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"
)
RESP1 = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
RESP2 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n"
RESP204 = b"HTTP/1.1 204 No Content\r\n\r\n"




def capture(
    testCase: SynchronousTestCase,
    packets: list[tuple[int, bytes]],
    address: str = ":80",
    linktype: int = LINKTYPE_ETHERNET,
    selfPorts: SelfPorts | None = None,
    **options: Any,
) -> tuple[list[Message], RawInput]:
    """
    Write C{packets} to a savefile, read it with a RawInput, return the messages.
    """
    path = testCase.mktemp() + ".pcap"
    writePcap(path, packets, linktype=linktype)
    clock = Clock()
    raw = RawInput(
        RawInputConfig(address=path + address, engine="pcap_file", **options),
        reactor=clock,
        selfPorts=selfPorts or SelfPorts(),
    )
    collector = MessageCollector()
    raw.setReceiver(collector)
    raw.startService()
    done = raw.whenExhausted()
    assert done is not None
    for _ in range(100000):
        if done.called:
            break
        clock.advance(0)
    testCase.successResultOf(done)
    raw.stopService()
    return collector.messages, raw


def payloads(messages: list[Message], kind: int = 1) -> list[bytes]:
    return [m.payload for m in messages if m.type == kind]


class ReassemblyTests(SynchronousTestCase):
    """
    Requests and responses come out whole, in order, with matching ids.
    """

    def test_keepAliveWithResponses(self) -> None:
        """
        Two requests and two responses on one connection give 4 messages,
        request and response ids equal, different between the pairs.
        """
        c = Conversation().handshake()
        c.send(GET1).send(RESP1, False).send(GET2).send(RESP2, False).close()
        messages, raw = capture(self, c.packets, trackResponse=True)
        self.assertEqual([m.type for m in messages], [1, 2, 1, 2])
        self.assertEqual([m.payload for m in messages], [GET1, RESP1, GET2, RESP2])
        self.assertEqual(messages[0].id, messages[1].id)
        self.assertEqual(messages[2].id, messages[3].id)
        self.assertNotEqual(messages[0].id, messages[2].id)
        self.assertEqual(len(messages[0].id), 24)
        self.assertEqual(raw.stats["emitted"], 4)

    def test_goreplayId(self) -> None:
        """
        The request id is client port, server port, client IP, Ack (GoReplay).
        """
        c = Conversation(client=("10.0.0.1", 50000), serverIsn=4999).handshake()
        c.send(GET1)
        messages, _ = capture(self, c.packets)
        self.assertEqual(messages[0].id, b"c35000500a00000100001388")

    def test_responsesIgnoredWithoutTracking(self) -> None:
        """
        Without track-response only requests come out.
        """
        c = Conversation().handshake().send(GET1).send(RESP1, False).close()
        messages, _ = capture(self, c.packets)
        self.assertEqual(payloads(messages), [GET1])
        self.assertEqual(len(messages), 1)

    def test_splitSegments(self) -> None:
        """
        A chunked request split inside chunk lines and a POST split into three
        segments come out whole (GoReplay R6).
        """
        c = Conversation().handshake()
        c.send(CHUNKED, sizes=[10, 60, 3, 1, 1, 2, 5, 7])
        c.send(RESP204, False)
        c.send(POST, sizes=[20, 50])
        messages, _ = capture(self, c.packets, trackResponse=True)
        self.assertEqual(payloads(messages), [CHUNKED, POST])
        self.assertEqual(payloads(messages, 2), [RESP204])

    def test_pipelined(self) -> None:
        """
        Pipelined requests in one segment are separated, get distinct ids, and
        each response gets its request's id.
        """
        c = Conversation().handshake()
        c.send(GET1 + POST + GET2)
        c.send(RESP1 + RESP2 + RESP204, False)
        messages, _ = capture(self, c.packets, trackResponse=True)
        reqs = [m for m in messages if m.type == 1]
        resps = [m for m in messages if m.type == 2]
        self.assertEqual([m.payload for m in reqs], [GET1, POST, GET2])
        self.assertEqual([m.payload for m in resps], [RESP1, RESP2, RESP204])
        self.assertEqual(len({m.id for m in reqs}), 3)
        self.assertEqual([m.id for m in reqs], [m.id for m in resps])

    def test_headAnd304(self) -> None:
        """
        Responses to HEAD and 304 responses have no body even with a length.
        """
        head = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
        headResp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        notModified = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n"
        c = Conversation().handshake()
        c.send(head).send(headResp, False).send(GET1).send(notModified, False).send(GET2).send(RESP1, False)
        messages, raw = capture(self, c.packets, trackResponse=True)
        self.assertEqual(payloads(messages, 2), [headResp, notModified, RESP1])
        self.assertEqual(raw.stats.total("dropped"), 0)

    def test_expectContinue(self) -> None:
        """
        A request with Expect: 100-continue is one message with its body; the
        interim 100 is not emitted; the final response has the request's id.
        """
        headers = b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        c = Conversation().handshake()
        c.send(headers).send(b"HTTP/1.1 100 Continue\r\n\r\n", False).send(b"body").send(RESP1, False)
        messages, raw = capture(self, c.packets, trackResponse=True)
        self.assertEqual([m.payload for m in messages], [headers + b"body", RESP1])
        self.assertEqual(messages[0].id, messages[1].id)
        self.assertEqual(raw.stats["skipped.interim_response"], 1)

    def test_readUntilClose(self) -> None:
        """
        A response without length ends with the connection.
        """
        resp = b"HTTP/1.0 200 OK\r\n\r\nall of it"
        c = Conversation().handshake().send(GET1).send(resp, False).close(fromClient=False)
        messages, _ = capture(self, c.packets, trackResponse=True)
        self.assertEqual(payloads(messages, 2), [resp])

    def test_retransmissionAndOverlap(self) -> None:
        """
        Duplicated and overlapping segments do not change the messages.
        """
        c = Conversation().handshake().send(POST, sizes=[30, 30, 30])
        data = c.packets[3:]
        # retransmit the first data segment, and an overlap of 2nd+3rd
        extra = c.frame(True, 1001 + 20, 5001, 0x18, POST[20:75])
        packets = c.packets[:3] + [data[0], data[0], (data[0][0] + 1, extra)] + data[1:] + [data[2]]
        packets = [(1_600_000_000_000_000_000 + i, f) for i, (_, f) in enumerate(packets)]
        messages, raw = capture(self, packets)
        self.assertEqual(payloads(messages), [POST])
        self.assertGreater(raw.stats["segments.duplicate"] + raw.stats["segments.overlap"], 0)

    def test_lostSegmentExpires(self) -> None:
        """
        A lost segment: the cut request is dropped and counted, the next
        requests still come out.
        """
        c = Conversation().handshake().send(POST, sizes=[30, 30]).send(GET1).send(GET2)
        packets = c.packets[:4] + c.packets[5:]
        messages, raw = capture(self, packets)
        self.assertEqual(payloads(messages), [GET1, GET2])
        self.assertEqual(raw.stats["dropped.expired_request"], 1)

    def test_lostSegmentAllowIncomplete(self) -> None:
        """
        With allow-incomplete the cut request is emitted (what was captured).
        """
        c = Conversation().handshake().send(POST, sizes=[30, 30]).send(GET1)
        packets = c.packets[:4] + c.packets[5:]
        messages, raw = capture(self, packets, allowIncomplete=True)
        self.assertEqual(payloads(messages), [POST[:30], GET1])
        self.assertEqual(raw.stats["incomplete"], 1)

    def test_sequenceWraparound(self) -> None:
        """
        Sequence numbers wrapping around 2**32 inside a message are handled.
        """
        c = Conversation(clientIsn=0xFFFFFFFF - 40).handshake().send(POST, sizes=[10, 10, 10, 10, 10])
        packets = c.packets[:3] + list(reversed(c.packets[3:]))
        messages, _ = capture(self, packets)
        self.assertEqual(payloads(messages), [POST])

    def test_midStreamStart(self) -> None:
        """
        A capture starting in the middle of a connection (no SYN) skips the
        partial message and resumes at the next request.
        """
        c = Conversation().handshake().send(POST, sizes=[30]).send(GET1)
        packets = c.packets[4:]
        messages, raw = capture(self, packets)
        self.assertEqual(payloads(messages), [GET1])

    def test_selfCapture(self) -> None:
        """
        Flows whose client endpoint is registered as gor's own are skipped and
        counted.
        """
        ports = SelfPorts()
        ports.add("10.0.0.1", 50000)
        c = Conversation().handshake().send(GET1).send(RESP1, False)
        messages, raw = capture(self, c.packets, selfPorts=ports, trackResponse=True)
        self.assertEqual(messages, [])
        self.assertEqual(raw.stats["skipped.self_capture"], 2)

    def test_realIPHeader(self) -> None:
        """
        The real-IP header is set to the client address.
        """
        c = Conversation().handshake().send(GET1)
        messages, _ = capture(self, c.packets, realIPHeader="X-Real-IP")
        self.assertEqual(messages[0].payload, b"GET /a HTTP/1.1\r\nX-Real-IP: 10.0.0.1\r\nHost: example\r\n\r\n")

    def test_timestampAndLatency(self) -> None:
        """
        A request's timestamp is its first packet's; latency first to last.
        """
        c = Conversation(step=1000).handshake().send(POST, sizes=[10, 10])
        messages, _ = capture(self, c.packets)
        self.assertEqual(messages[0].timestamp, c.packets[3][0])
        self.assertEqual(messages[0].latency, c.packets[5][0] - c.packets[3][0])

    def test_manyConnectionsInterleaved(self) -> None:
        """
        Packets of many connections interleaved at random give every message.
        """
        rng = random.Random(4)
        conversations = []
        for i in range(20):
            c = Conversation(client=("10.0.0.1", 40000 + i)).handshake()
            c.send(GET1, sizes=[5, 7]).send(RESP1, False).send(POST, sizes=[33]).send(RESP2, False).close()
            conversations.append(c.packets)
        merged: list[bytes] = []
        queues = [list(p) for p in conversations]
        while any(queues):
            q = rng.choice([q for q in queues if q])
            merged.append(q.pop(0)[1])
        packets = [(1_600_000_000_000_000_000 + i * 1000, f) for i, f in enumerate(merged)]
        messages, raw = capture(self, packets, trackResponse=True)
        self.assertEqual(sorted(payloads(messages)), sorted([GET1, POST] * 20))
        self.assertEqual(len(payloads(messages, 2)), 40)
        ids1 = [m.id for m in messages if m.type == 1]
        ids2 = [m.id for m in messages if m.type == 2]
        self.assertEqual(sorted(ids1), sorted(ids2))
        self.assertEqual(len(set(ids1)), 40)

    @settings(max_examples=60, deadline=None)
    @given(st.permutations(range(10)), st.sets(st.integers(0, 9), max_size=3))
    def test_anyOrder(self, order: list[int], dups: set[int]) -> None:
        """
        Data segments in any order, some duplicated, give the same messages.
        """
        c = Conversation().handshake().send(CHUNKED, sizes=[10, 60, 3, 1, 1, 2, 5]).send(POST, sizes=[40])
        data = c.packets[3:]
        self.assertEqual(len(data), 10)
        shuffled = [data[i] for i in order] + [data[i] for i in sorted(dups)]
        packets = [(1_600_000_000_000_000_000 + i, f) for i, (_, f) in enumerate(c.packets[:3] + shuffled)]
        messages, raw = capture(self, packets)
        self.assertEqual(payloads(messages), [CHUNKED, POST])

    @settings(max_examples=40, deadline=None)
    @given(st.data())
    def test_everySplit(self, data: st.DataObject) -> None:
        """
        Splitting the byte stream at any boundaries gives the same messages.
        """
        stream = CHUNKED + GET1 + POST + GET2
        cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=25)))
        sizes = [b - a for a, b in zip([0] + cuts, cuts + [len(stream)])]
        c = Conversation().handshake().send(stream, sizes=sizes)
        messages, _ = capture(self, c.packets)
        self.assertEqual(payloads(messages), [CHUNKED, GET1, POST, GET2])

    def test_everySingleByteBoundary(self) -> None:
        """
        Every two-segment split of a chunked request (each byte boundary).
        """
        for cut in range(1, len(CHUNKED)):
            c = Conversation().handshake().send(CHUNKED + GET1, sizes=[cut])
            messages, _ = capture(self, c.packets)
            self.assertEqual(payloads(messages), [CHUNKED, GET1], cut)

    def test_largeBody(self) -> None:
        """
        A 2 MB body in MSS-sized segments comes out whole.
        """
        body = bytes(range(256)) * 8192
        req = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        c = Conversation().handshake().send(req, mss=65000)
        messages, _ = capture(self, c.packets)
        self.assertEqual(payloads(messages), [req])


class FileClockTests(SynchronousTestCase):
    """
    In a savefile, gaps expire on the file's clock while packets keep coming.
    """

    def test_gapExpiresDuringTraffic(self) -> None:
        """
        A request cut by a lost segment is given up 2 s (file time) later
        while later requests of the connection keep flowing, and the lost
        whole response is counted as a gap.
        """
        c = Conversation(step=10_000_000).handshake()
        for i in range(400):
            c.send(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i).send(RESP1, False)
        packets = c.packets[:100] + c.packets[102:]
        messages, raw = capture(self, packets, trackResponse=True)
        self.assertEqual(len(payloads(messages)), 399)
        self.assertEqual(len(payloads(messages, 2)), 399)
        self.assertEqual(raw.stats["dropped.gaps"], 2)
        self.assertGreater(raw.stats["segments.out_of_order"], 0)


class CloseTests(SynchronousTestCase):
    """
    FIN and RST end streams.
    """

    def test_finBeforeLastSegment(self) -> None:
        """
        A FIN captured before the last data segment still ends a
        read-until-close response after that segment.
        """
        resp = b"HTTP/1.0 200 OK\r\n\r\nfirst second"
        c = Conversation().handshake().send(GET1).send(resp, False, sizes=[25]).close(fromClient=False)
        # order: ..., resp part 1, resp part 2, FIN(server), FIN(client) -> swap part 2 and FIN
        packets = list(c.packets)
        packets[-3], packets[-2] = packets[-2], packets[-3]
        messages, _ = capture(self, packets, trackResponse=True)
        self.assertEqual(payloads(messages, 2), [resp])

    def test_resetDropsPartial(self) -> None:
        """
        A reset in the middle of a request drops it, counted.
        """
        c = Conversation().handshake().send(POST[:40]).reset()
        messages, raw = capture(self, c.packets)
        self.assertEqual(messages, [])
        self.assertEqual(raw.stats["dropped.expired_request"], 1)


class FastPathTests(SynchronousTestCase):
    """
    The per-packet fast path (data on known streams, IPv4 without options or
    IPv6 without extension headers, at fixed link offsets) gives exactly what
    the general decoder gives.
    """

    def _scenario(self, vlan: bool = False, **options: Any) -> list[tuple[int, bytes, int]]:
        tag = options.pop("vlanTag", None)
        c = Conversation(vlan=tag, **options).handshake()
        c.send(GET1).send(RESP1, False)
        c.send(POST, sizes=[20, 50]).send(RESP2, False)
        c.send(GET1 + GET2).send(RESP1 + RESP204, False)
        c.send(CHUNKED, sizes=[30, 30])
        c.close()
        packets = list(c.packets)
        # the two first CHUNKED segments swapped, the second one duplicated
        i = len(packets) - 5
        packets[i], packets[i + 1] = packets[i + 1], packets[i]
        packets.insert(i + 2, packets[i])
        messages, raw = capture(
            self, packets, trackResponse=True, linktype=options.get("linktype", LINKTYPE_ETHERNET), vlan=vlan
        )
        ids = [m.id for m in messages]
        self.assertEqual(raw.stats["emitted"], len(messages))
        return [(m.type, m.payload, ids.index(m.id)) for m in messages]

    def test_sameMessagesEveryLayout(self) -> None:
        """
        Ethernet, Linux cooked v1/v2, raw IP (fast path), BSD loopback, VLAN
        tags (with C{--input-raw-vlan}) and IPv4 options (general decoder),
        IPv4 and IPv6: identical messages, pairing and order.
        """
        expected = self._scenario()
        self.assertEqual(
            [(t, p) for t, p, _ in expected],
            [(1, GET1), (2, RESP1), (1, POST), (2, RESP2), (1, GET1), (1, GET2), (2, RESP1), (2, RESP204), (1, CHUNKED)],
        )
        v6 = {"client": ("fd00::1", 50000), "server": ("fd00::2", 80)}
        variants: list[dict[str, Any]] = [
            {"linktype": LINKTYPE_LINUX_SLL},
            {"linktype": LINKTYPE_LINUX_SLL2},
            {"linktype": LINKTYPE_RAW},
            {"linktype": LINKTYPE_NULL},
            {"vlan": True, "vlanTag": 7},
            {"ipOptions": b"\x01\x01\x01\x01"},
            v6,
            dict(v6, linktype=LINKTYPE_LINUX_SLL),
            dict(v6, linktype=LINKTYPE_RAW),
        ]
        for options in variants:
            self.assertEqual(self._scenario(**options), expected, options)


class HeldLimitTests(SynchronousTestCase):
    """
    A bound on the out-of-order bytes held across all streams: over it the
    oldest gaps are given up and counted.
    """

    def _tracker(self, maxHeld: int) -> tuple[Tracker, list[tuple[int, bytes]]]:
        emitted: list[tuple[int, bytes]] = []
        tracker = Tracker(
            lambda kind, rid, ts, latency, payload: emitted.append((kind, payload)),
            Counters(),
            ports=frozenset({80}),
            maxHeld=maxHeld,
            selfPorts=SelfPorts(),
        )
        return tracker, emitted

    def _request(self, n: int) -> bytes:
        return b"GET /%d HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % (n, b"p" * 3000)

    def _heldBehindGap(self, tracker: Tracker, client: int, ts: int) -> bytes:
        """
        Open a connection from port C{client} whose first 50 bytes are lost
        and whose next request is held behind that gap.
        """
        src, dst = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
        tracker.segment(ts, (src, dst, client, 80, 1000, 0, SYN, b"", False))
        request = self._request(client)
        tracker.segment(ts, (src, dst, client, 80, 1001 + 50, 1, ACK, request, False))
        return request

    def test_oldestGapsGivenUp(self) -> None:
        """
        Three streams hold a request each behind a gap; the third one goes
        over the bound: the two oldest gaps are given up (counted), their
        held requests come out in age order, the newest stays held until the
        capture ends.
        """
        size = len(self._request(50001))
        tracker, emitted = self._tracker(maxHeld=int(size * 2.5))
        first = self._heldBehindGap(tracker, 50001, 1)
        second = self._heldBehindGap(tracker, 50002, 2)
        self.assertEqual(emitted, [])
        self.assertEqual(tracker.heldBytes, 2 * size)
        third = self._heldBehindGap(tracker, 50003, 3)
        self.assertEqual(emitted, [(1, first), (1, second)])
        self.assertEqual(tracker.stats["dropped.gaps_held_limit"], 2)
        self.assertEqual(tracker.stats["dropped.gaps"], 0)
        self.assertEqual(tracker.heldBytes, size)
        tracker.finish()
        self.assertEqual(emitted[2:], [(1, third)])
        self.assertEqual(tracker.heldBytes, 0)

    def test_accountingFollowsFilledGaps(self) -> None:
        """
        Held bytes go back to zero when the missing segment arrives, when a
        gap expires and when a connection is reset.
        """
        tracker, emitted = self._tracker(maxHeld=1 << 30)
        src, dst = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
        held = self._heldBehindGap(tracker, 50001, 1)
        lost = b"GET /lost HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxx\r\n\r\n"
        self.assertEqual(len(lost), 50)
        tracker.segment(2, (src, dst, 50001, 80, 1001, 1, ACK, lost, False))
        self.assertEqual(emitted, [(1, lost), (1, held)])
        self.assertEqual(tracker.heldBytes, 0)
        self._heldBehindGap(tracker, 50002, 3)
        tracker.expire(3 + tracker.expireNs)
        self.assertEqual(tracker.heldBytes, 0)
        self.assertEqual(tracker.stats["dropped.gaps"], 1)
        self._heldBehindGap(tracker, 50003, 4)
        tracker.segment(5, (src, dst, 50003, 80, 1001, 1, RST | ACK, b"", False))
        self.assertEqual(tracker.heldBytes, 0)


class OriginalTimingTests(SynchronousTestCase):
    """
    C{--input-raw-original-timing}: a savefile is replayed at its recorded
    pace, on the reactor's clock (a L{Clock} here, so nothing depends on the
    machine's speed).
    """

    # capture-time offsets (s) of the four requests after the handshake
    offsets = [0.5, 1.5, 1.6, 3.0]

    def _start(self) -> tuple[RawInput, MessageCollector, Clock, list[bytes]]:
        start = 1_600_000_000_000_000_000
        c = Conversation(start=start, step=1000).handshake()
        requests = [b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(len(self.offsets))]
        packets = list(c.packets)
        for request, offset in zip(requests, self.offsets):
            c.send(request)
            packets.append((start + int(offset * 1e9), c.packets[-1][1]))
        path = self.mktemp() + ".pcap"
        writePcap(path, packets)
        clock = Clock()
        clock.advance(1000)
        raw = RawInput(
            RawInputConfig(address=path + ":80", engine="pcap_file", originalTiming=True),
            reactor=clock,
            selfPorts=SelfPorts(),
        )
        collector = MessageCollector()
        raw.setReceiver(collector)
        raw.startService()
        return raw, collector, clock, requests

    def _advanceTo(self, clock: Clock, started: float, offset: float) -> None:
        clock.advance(started + offset - clock.seconds())

    def test_recordedPace(self) -> None:
        """
        Each request comes out when its capture offset has elapsed on the
        reactor clock, not before, with its capture timestamp.
        """
        raw, collector, clock, requests = self._start()
        started = clock.seconds()
        self.assertEqual(collector.messages, [])
        for i, offset in enumerate(self.offsets):
            self._advanceTo(clock, started, offset - 0.001)
            self.assertEqual(len(collector.messages), i, offset)
            self._advanceTo(clock, started, offset)
            self.assertEqual(len(collector.messages), i + 1, offset)
        self.assertEqual(payloads(collector.messages), requests)
        gaps = [b.timestamp - a.timestamp for a, b in zip(collector.messages, collector.messages[1:])]
        self.assertEqual(gaps, [1_000_000_000, 100_000_000, 1_400_000_000])
        done = raw.whenExhausted()
        assert done is not None
        self.successResultOf(done)
        raw.stopService()

    def test_pauseKeepsGaps(self) -> None:
        """
        Time spent paused (backpressure) is not counted: after resuming, the
        remaining gaps are as recorded.
        """
        raw, collector, clock, requests = self._start()
        started = clock.seconds()
        self._advanceTo(clock, started, 0.7)
        self.assertEqual(len(collector.messages), 1)
        raw.pauseProducing()
        clock.advance(60)
        self.assertEqual(len(collector.messages), 1)
        raw.resumeProducing()
        # 0.8 s of the 1 s gap to the second request are still to wait
        clock.advance(0.799)
        self.assertEqual(len(collector.messages), 1)
        clock.advance(0.001)
        self.assertEqual(len(collector.messages), 2)
        clock.advance(0.1)
        self.assertEqual(len(collector.messages), 3)
        clock.advance(1.4)
        self.assertEqual(payloads(collector.messages), requests)
        raw.stopService()


class OriginalTimingCommandTests(TestCase):
    """
    C{--input-raw-original-timing} through the real C{gor} command.
    """

    timeout = 60

    async def test_recordedPaceThroughGor(self) -> None:
        """
        A savefile whose requests span 1.2 s is replayed in no less than that
        (without the flag, as fast as possible), every request byte-exact and
        in order.
        """
        from tests.support import runGor
        from twisted_gor.framing import iterMessages

        start = 1_600_000_000_000_000_000
        c = Conversation(start=start, step=1000).handshake()
        requests = [b"GET /paced/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(4)]
        packets = list(c.packets)
        for i, request in enumerate(requests):
            c.send(request)
            packets.append((start + int(i * 0.4e9), c.packets[-1][1]))
        path = os.path.abspath(self.mktemp() + ".pcap")
        writePcap(path, packets)
        paced = await runGor("--input-raw", path + ":80", "--input-raw-original-timing", "--output-stdout")
        self.assertEqual(paced.rc, 0, paced.errText)
        self.assertEqual([m.payload for m in iterMessages(paced.out)], requests)
        elapsed = float(re.search(r"summary: read=.* elapsed=([0-9.]+)s", paced.errText).group(1))  # type: ignore[union-attr]
        self.assertGreaterEqual(elapsed, 1.19)
        fast = await runGor("--input-raw", path + ":80", "--output-stdout")
        self.assertEqual([m.payload for m in iterMessages(fast.out)], requests)
