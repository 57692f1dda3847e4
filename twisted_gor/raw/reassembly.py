# -*- test-case-name: tests.test_raw_reassembly -*-
"""
TCP reassembly into HTTP messages, and request/response pairing.

Each direction of a connection is a L{HalfStream} keyed by its 4-tuple and
ordered by sequence number (modulo 2**32): in-order bytes go straight to its
L{HTTPStreamParser}; segments ahead of a gap wait; retransmissions, duplicates
and overlaps are trimmed to the bytes not seen yet. A gap that stays open for
C{expire} nanoseconds is given up: the message it cut is dropped (or emitted
incomplete) and counted, and parsing resumes at the next message start.

Request ids follow GoReplay (client port, server port, low 32 bits of the
client IP, the Ack of the request's first segment), except that pipelined
requests sharing an Ack get distinct ids; responses take the id of the request
they answer (matched by Ack/Seq, else by order), so request and response ids
are always equal when both were captured.

With C{sessions} (C{--recognize-tcp-sessions}), each request also carries its
client connection and its position on it (the meta line's fifth field, see
L{twisted_gor.message}), and the connection's end is emitted as a close
record when first seen: a FIN reached in order or a RST in either direction,
the 4-tuple reused by a new handshake, or the connection forgotten (idle for
C{idleTimeout}, or evicted). A capture that stops with connections open
records no close for them.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections import deque
from typing import Any, Callable, Optional

from twisted.logger import Logger

from twisted_gor.message import REQUEST, RESPONSE
from twisted_gor.raw.decode import ACK, FIN, RST, SYN, Segment, formatIP
from twisted_gor._httphead import setHeader
from twisted_gor.raw.httpstream import IDLE, SKIP, HTTPStreamParser, Info, looksLikeResponse
from twisted_gor.selfports import SelfPorts
from twisted_gor.stats import Counters

MASK = 0xFFFFFFFF
HALF = 0x80000000
MAX_PENDING_BYTES = 64 * 1024 * 1024
MAX_HELD_BYTES = 256 * 1024 * 1024
MAX_QUEUED_REQUESTS = 1024
ALL = 1 << 63
"""A cutoff later than any capture time: give up every gap (L{Tracker.skipGap})."""
HELD_OVERHEAD = 160
"""Bytes of memory a held segment costs besides its payload (its tuple, dict
entry and bytes header), counted against L{Tracker.maxHeld}."""
FINISH_MAX_BYTES = 32 * 1024 * 1024
"""At most this many held bytes are fed when a capture stops
(L{Tracker.finish}); the rest is given up, counted as
C{dropped.held_at_stop}, so that stopping stays prompt."""
MAX_CONNECTIONS = 10_000
"""Connections tracked at once by default (about 2 KiB each when idle)."""

_PACK_PREFIX = struct.Struct("!HH4s").pack
_PACK_PORTS = struct.Struct("!HH").pack

StreamKey = bytes
"""
A direction's key: source address, destination address (packed, 4 or 16
bytes each), source port and destination port (2 bytes each, big endian):
exactly the bytes an IPv4 header without options (from offset 12) or an IPv6
header without extension headers (from offset 8) and the TCP ports hold, so a
captured frame gives its key with one slice.
"""


def streamKey(src: bytes, sport: int, dst: bytes, dport: int) -> StreamKey:
    """
    The L{StreamKey} of the direction from C{src:sport} to C{dst:dport}.
    """
    return src + dst + _PACK_PORTS(sport, dport)

# IPv4 (no options) + TCP: total length, flags/fragment offset, protocol,
# then (past the addresses and ports) sequence, acknowledgement, offset/flags.
_V4_TCP = struct.Struct("!2xH2xHxB14xIIH").unpack_from
# IPv6 (no extension header) + TCP: payload length, next header, then seq,
# ack, offset/flags.
_V6_TCP = struct.Struct("!4xHB37xIIH").unpack_from

Packet = Callable[[int, bytes], None]
"""C{(timestampNs, frame)}: what a pcap handle delivers."""

Emit = Callable[[int, bytes, int, int, bytes], None]
"""C{(type, id, timestampNs, latencyNs, payload)}."""

EmitSession = Callable[[int, bytes, int, int, bytes, bytes], None]
"""C{(type, id, timestampNs, latencyNs, payload, session)}: L{Emit} with the
session field's value."""


def _signed(delta: int) -> int:
    delta &= MASK
    return delta - (1 << 32) if delta >= HALF else delta


class Connection:
    """
    Both directions of one TCP connection, and the requests awaiting a response.
    """

    __slots__ = (
        "tracker",
        "clientIp",
        "clientPort",
        "serverIp",
        "serverPort",
        "client",
        "server",
        "queue",
        "lastRawAck",
        "lastIdAck",
        "clientText",
        "selfCapture",
        "selfChecked",
        "idPrefix",
        "key",
        "sid",
        "requests",
    )

    def __init__(self, tracker: "Tracker", clientIp: bytes, clientPort: int, serverIp: bytes, serverPort: int) -> None:
        self.tracker = tracker
        self.key = streamKey(clientIp, clientPort, serverIp, serverPort)
        self.clientIp = clientIp
        self.clientPort = clientPort
        self.serverIp = serverIp
        self.serverPort = serverPort
        self.client: Optional[HalfStream] = None
        self.server: Optional[HalfStream] = None
        self.queue: deque[tuple[int, bytes, Info, int]] = deque()
        self.lastRawAck = -1
        self.lastIdAck = 0
        self.clientText: Optional[str] = None
        self.selfCapture = False
        self.selfChecked = False
        self.idPrefix = _PACK_PREFIX(clientPort, serverPort, clientIp[-4:]).hex().encode("ascii")
        self.sid: Optional[bytes] = None
        self.requests = 0

    def makeId(self, number: int) -> bytes:
        """
        The 24-hex-character id of GoReplay for this connection and C{number}.
        """
        return self.idPrefix + b"%08x" % (number,)

    def _match(self, seq: int, pop: bool) -> Optional[tuple[int, bytes, Info, int]]:
        queue = self.queue
        if not queue:
            return None
        for i, entry in enumerate(queue):
            if entry[0] == seq:
                if pop:
                    for _ in range(i):
                        queue.popleft()
                    queue.popleft()
                return entry
        head = queue[0]
        if ((seq - head[0]) & MASK) < HALF:
            if pop:
                queue.popleft()
            return head
        return None

    def methodFor(self, seq: int) -> Optional[bytes]:
        """
        The method of the request answered by the response starting at C{seq}.
        """
        queue = self.queue
        entry = queue[0] if queue and queue[0][0] == seq else self._match(seq, False)
        if entry is None:
            return None
        method = entry[2]
        return method if isinstance(method, bytes) else None

    def requestDone(
        self, payload: bytes, firstTs: int, lastTs: int, seq: int, ack: int, info: Info, complete: bool
    ) -> None:
        """
        A request was delimited: give it an id, remember it, emit it.
        """
        if ack == self.lastRawAck:
            used = (self.lastIdAck + 1) & MASK
        else:
            used = ack
        self.lastRawAck = ack
        self.lastIdAck = used
        rid = self.idPrefix + b"%08x" % (used,)
        tracker = self.tracker
        if tracker.trackResponse:
            queue = self.queue
            queue.append((ack, rid, info, lastTs))
            if len(queue) > MAX_QUEUED_REQUESTS:
                queue.popleft()
        if complete and self.selfChecked and not self.selfCapture and tracker.realIPHeader is None:
            emitSession = tracker.emitSession
            if emitSession is None:
                tracker.emit(REQUEST, rid, firstTs, lastTs - firstTs, payload)
            else:
                sid = self.sid
                if sid is None:
                    sid = tracker.newSession(self)
                self.requests = n = self.requests + 1
                emitSession(REQUEST, rid, firstTs, lastTs - firstTs, payload, b"%s:%d" % (sid, n))
        else:
            tracker.emitRequest(self, rid, firstTs, lastTs, payload, complete)

    def responseDone(
        self, payload: bytes, firstTs: int, lastTs: int, seq: int, ack: int, info: Info, complete: bool
    ) -> None:
        """
        A response was delimited: pair it with its request and emit it.
        """
        tracker = self.tracker
        if isinstance(info, int) and 100 <= info < 200 and info != 101:
            tracker.stats.increment("skipped.interim_response")
            return
        queue = self.queue
        entry = queue.popleft() if queue and queue[0][0] == seq else self._match(seq, True)
        if entry is not None:
            rid = entry[1]
            latency = lastTs - entry[3]
            if latency < 0:
                latency = 0
        else:
            rid = self.makeId(seq)
            latency = lastTs - firstTs
        if self.server is not None and self.server.parser.switched:
            # 101, or 2xx to CONNECT: the request direction is no longer HTTP.
            if self.client is not None:
                self.client.parser.upgrade()
        if complete and self.selfChecked and not self.selfCapture:
            tracker.emit(RESPONSE, rid, firstTs, latency, payload)
        else:
            tracker.emitResponse(self, rid, firstTs, latency, payload, complete)

    def unparsable(self, kind: str) -> None:
        """
        Bytes that are not HTTP were skipped in one direction
        (C{dropped.unparsable}, and by L{twisted_gor._http1} kind
        C{dropped.unparsable.<kind>}).
        """
        stats = self.tracker.stats
        stats.increment("dropped.unparsable")
        stats.increment("dropped.unparsable." + kind)

    def flagged(self, flag: str) -> None:
        """
        A message was framed despite an oddity (C{framing.<flag>}).
        """
        self.tracker.stats.increment("framing." + flag)


class HalfStream:
    """
    One direction of a connection: sequence ordering and its HTTP parser.
    """

    __slots__ = ("conn", "key", "isClient", "nextSeq", "pending", "pendingBytes", "parser", "lastTs", "gapSince", "finSeq", "closed")

    def __init__(self, conn: Connection, key: StreamKey, isClient: bool, maxStore: int) -> None:
        self.conn = conn
        self.key = key
        self.isClient = isClient
        self.nextSeq: Optional[int] = None
        self.pending: dict[int, tuple[bytes, int, int]] = {}
        self.pendingBytes = 0
        if isClient:
            self.parser = HTTPStreamParser(True, conn.requestDone, conn.unparsable, maxStore=maxStore, onFlagged=conn.flagged)
        else:
            self.parser = HTTPStreamParser(
                False, conn.responseDone, conn.unparsable, conn.methodFor, maxStore, onFlagged=conn.flagged
            )
        self.lastTs = 0
        self.gapSince: Optional[int] = None
        self.finSeq: Optional[int] = None
        self.closed = False

    def segment(self, ts: int, seq: int, ack: int, flags: int, payload: bytes) -> None:
        """
        Process one segment of this direction.
        """
        if self.closed and not flags & SYN:
            return
        self.lastTs = ts
        if flags & SYN:
            isn = (seq + 1) & MASK
            if self.nextSeq is not None and self.nextSeq != isn:
                # The 4-tuple is reused by a new connection.
                self.conn.tracker.giveUp(self)
                self.conn.tracker.endSession(self.conn, ts)
                self.conn.selfChecked = False
                self.conn.selfCapture = False
                self.release()
                self.gapSince = None
                self.finSeq = None
                self.closed = False
            self.nextSeq = isn
            if self.parser.state == SKIP:
                self.parser.state = IDLE
            seq = isn
        if flags & FIN:
            self.finSeq = (seq + len(payload)) & MASK
        if flags & RST:
            if payload:
                self._data(ts, seq, ack, payload)
            self.conn.tracker.close(self, ts, reset=True)
            return
        if payload:
            self._data(ts, seq, ack, payload)
        if self.finSeq is not None and self.finSeq == self.nextSeq:
            self.conn.tracker.close(self, ts, reset=False)

    def _data(self, ts: int, seq: int, ack: int, payload: bytes) -> None:
        nxt = self.nextSeq
        if nxt is None:
            if self.parser.looksLikeStart(payload):
                self.nextSeq = nxt = seq
            else:
                self._hold(ts, seq, ack, payload)
                return
        if seq == nxt:
            self.nextSeq = (seq + len(payload)) & MASK
            self.parser.feed(payload, ts, seq, ack, True)
            if self.pending:
                self.drain(ts)
            return
        ahead = (seq - nxt) & MASK
        if ahead < HALF:
            self.conn.tracker.stats.increment("segments.out_of_order")
            self._hold(ts, seq, ack, payload)
            return
        over = (nxt - seq) & MASK
        if over < len(payload):
            self.conn.tracker.stats.increment("segments.overlap")
            self.nextSeq = (seq + len(payload)) & MASK
            self.parser.feed(payload[over:], ts, nxt, ack, False)
            if self.pending:
                self.drain(ts)
        else:
            self.conn.tracker.stats.increment("segments.duplicate")

    def _hold(self, ts: int, seq: int, ack: int, payload: bytes) -> None:
        pending = self.pending
        old = pending.get(seq)
        if old is not None:
            if len(old[0]) >= len(payload):
                self.conn.tracker.stats.increment("segments.duplicate")
                return
            self.pendingBytes -= len(old[0])
            self.conn.tracker.heldBytes -= len(old[0])
            self.conn.tracker.heldSegments -= 1
        pending[seq] = (payload, ack, ts)
        self.pendingBytes += len(payload)
        tracker = self.conn.tracker
        tracker.heldBytes += len(payload)
        if self.gapSince is None:
            self.gapSince = ts
        tracker.heldSegments += 1
        if self.pendingBytes > MAX_PENDING_BYTES:
            tracker.skipGap(self, ts, cutoff=ALL)
        if tracker.heldBytes + tracker.heldSegments * HELD_OVERHEAD > tracker.maxHeld:
            tracker.relieve(ts)

    def take(self, seq: int) -> tuple[bytes, int, int]:
        """
        Remove the segment held at C{seq} and return C{(payload, ack, ts)},
        keeping the held-byte accounting right.
        """
        item = self.pending.pop(seq)
        size = len(item[0])
        self.pendingBytes -= size
        tracker = self.conn.tracker
        tracker.heldBytes -= size
        tracker.heldSegments -= 1
        return item

    def release(self) -> None:
        """
        Forget every held segment (uncounted: the caller counts what it gives
        up).
        """
        tracker = self.conn.tracker
        tracker.heldBytes -= self.pendingBytes
        tracker.heldSegments -= len(self.pending)
        self.pendingBytes = 0
        self.pending.clear()

    def drain(self, ts: int) -> None:
        """
        Feed the held segments that became contiguous.
        """
        pending = self.pending
        progressed = False
        while pending:
            nxt = self.nextSeq
            assert nxt is not None
            if nxt in pending:
                payload, ack, its = self.take(nxt)
                self.nextSeq = (nxt + len(payload)) & MASK
                self.parser.feed(payload, its, nxt, ack, True)
                progressed = True
                continue
            found = False
            if len(pending) > 256:
                # Overlapping held segments are rare; with many held (a long
                # gap) they are sorted out when the gap is given up.
                break
            for s in list(pending):
                if ((s - nxt) & MASK) >= HALF:
                    payload, ack, its = self.take(s)
                    over = (nxt - s) & MASK
                    if over < len(payload):
                        self.nextSeq = (s + len(payload)) & MASK
                        self.parser.feed(payload[over:], its, nxt, ack, False)
                        found = True
                        progressed = True
                        break
                    self.conn.tracker.stats.increment("segments.duplicate")
            if not found:
                break
        if not pending:
            self.gapSince = None
        elif progressed:
            self.gapSince = ts


class Tracker:
    """
    All connections of one capture, and what to do with complete messages.

    @ivar ports: server ports (requests go to them); empty = any port, the
        direction then comes from the handshake or the payload.
    @ivar stats: the capture's counters.
    @ivar maxHeld: bound on the bytes held behind gaps across all streams.
    @ivar heldBytes: bytes held behind gaps now, across all streams.
    @ivar maxConnections: connections tracked at once, at most; a new one
        over it evicts the least recently active (idle ones first), counted
        as C{dropped.evicted_connections} (see L{evict}).
    """

    log = Logger()

    def __init__(
        self,
        emit: Emit,
        stats: Counters,
        ports: frozenset[int] = frozenset(),
        trackResponse: bool = False,
        expire: float = 2.0,
        allowIncomplete: bool = False,
        realIPHeader: Optional[bytes] = None,
        maxStore: int = 0,
        selfPorts: Optional[SelfPorts] = None,
        idleTimeout: float = 120.0,
        maxHeld: int = MAX_HELD_BYTES,
        maxConnections: int = MAX_CONNECTIONS,
        emitSession: Optional[EmitSession] = None,
    ) -> None:
        """
        @param emitSession: when given, session data is recorded
            (C{--recognize-tcp-sessions}): requests and close records are
            emitted through it with their session field.
        """
        self.emit = emit
        self.emitSession = emitSession
        self.sessions = emitSession is not None
        self._sessionSerial = int.from_bytes(os.urandom(4), "big")
        self.stats = stats
        self.ports = ports
        self.trackResponse = trackResponse
        self.expireNs = int((expire if expire > 0 else 1.0) * 1e9)
        self.idleNs = int(max(idleTimeout, expire) * 1e9)
        self.allowIncomplete = allowIncomplete
        self.realIPHeader = realIPHeader
        self.maxStore = maxStore
        self.selfPorts = SelfPorts() if selfPorts is None else selfPorts
        self.maxHeld = maxHeld if maxHeld > 0 else MAX_HELD_BYTES
        self.heldBytes = 0
        self.heldSegments = 0
        self.maxConnections = maxConnections if maxConnections > 0 else MAX_CONNECTIONS
        self.streams: dict[StreamKey, HalfStream] = {}
        self.connections: dict[StreamKey, Connection] = {}

    def segment(self, ts: int, seg: Segment) -> None:
        """
        Process one decoded segment captured at C{ts} (ns).
        """
        src, dst, sport, dport, seq, ack, flags, payload, truncated = seg
        if truncated:
            self.stats.increment("dropped.truncated")
            payload = b""
            flags &= ~FIN
        key = src + dst + _PACK_PORTS(sport, dport)
        stream = self.streams.get(key)
        if stream is not None and payload and not flags & 0x07 and not stream.closed:
            # Fast path: data without SYN/FIN/RST on a known stream.
            stream.lastTs = ts
            stream._data(ts, seq, ack, payload)
            if stream.finSeq is not None and stream.finSeq == stream.nextSeq:
                self.close(stream, ts, reset=False)
            return
        if stream is None:
            if not (flags & SYN) and (not payload or flags & RST):
                return
            stream = self._newStream(key, src, sport, dst, dport, flags, payload)
            if stream is None:
                return
        stream.segment(ts, seq, ack, flags, payload)

    def packetHandler(
        self, layout: Optional[tuple[int, int]], slow: Packet, compiled: Optional[bool] = None, sink: Any = None
    ) -> Packet:
        """
        A per-packet function that handles the common case itself: a data
        segment without SYN/FIN/RST, IPv4 without options or IPv6 without
        extension headers (at the fixed offsets of C{layout}, see
        L{twisted_gor.raw.decode.fastLayout}), on a stream already known. Its
        stream key is one slice of the frame, its header fields one
        C{unpack_from}, and in-order data goes straight to the stream's
        parser. Everything else goes to C{slow} (decode, then L{segment}).

        @param compiled: use the compiled twin
            (L{twisted_gor.raw._fastcapture.FastPacket}, which also emits
            whole simple messages itself); L{None}: when it is built and
            C{TWISTED_GOR_PURE} is not set (L{twisted_gor.raw.fastpath}).
        @param sink: for the compiled twin: the capture input whose receiver
            gets the messages directly (see L{FastPacket}); L{None}: through
            L{emit}.
        """
        if layout is None:
            return slow
        if compiled is None or compiled:
            from twisted_gor.raw import fastpath

            fast = fastpath.FastPacket if compiled is None else fastpath.Compiled
            if fast is not None:
                return fast(self, layout, slow, sink)  # type: ignore[no-any-return,unused-ignore]
            if compiled:
                raise RuntimeError(fastpath.BUILD_ERROR)
        etOff, ip = layout
        noEthertype = etOff < 0
        et1 = etOff + 1
        streams = self.streams
        getStream = streams.get
        close = self.close
        stats = self.stats
        v4Key, v4KeyEnd, v4Tcp = ip + 12, ip + 24, ip + 20
        v6Key, v6KeyEnd, v6Tcp = ip + 8, ip + 44, ip + 40
        minV4, minV6 = ip + 40, ip + 60

        def packet(ts: int, data: bytes) -> None:
            n = len(data)
            if n < minV4:
                slow(ts, data)
                return
            version = data[ip]
            if version == 0x45:
                if not noEthertype and (data[etOff] != 0x08 or data[et1] != 0x00):
                    slow(ts, data)
                    return
                total, frag, proto, seq, ack, offFlags = _V4_TCP(data, ip)
                if proto != 6 or frag & 0x3FFF or offFlags & 0x07:
                    slow(ts, data)
                    return
                start = v4Tcp + ((offFlags >> 12) << 2)
                end = ip + total
                key = data[v4Key:v4KeyEnd]
            elif version >> 4 == 6 and n >= minV6:
                if not noEthertype and (data[etOff] != 0x86 or data[et1] != 0xDD):
                    slow(ts, data)
                    return
                plen, nxt, seq, ack, offFlags = _V6_TCP(data, ip)
                if nxt != 6 or offFlags & 0x07 or not plen:
                    slow(ts, data)
                    return
                start = v6Tcp + ((offFlags >> 12) << 2)
                end = v6Tcp + plen
                key = data[v6Key:v6KeyEnd]
            else:
                slow(ts, data)
                return
            stream = getStream(key)
            if stream is None or stream.closed or not start < end <= n:
                slow(ts, data)
                return
            payload = data[start:end]
            try:
                stream.lastTs = ts
                if seq == stream.nextSeq and not stream.pending:
                    stream.nextSeq = (seq + end - start) & MASK
                    stream.parser.feed(payload, ts, seq, ack, True)
                else:
                    stream._data(ts, seq, ack, payload)
                fin = stream.finSeq
                if fin is not None and fin == stream.nextSeq:
                    close(stream, ts, False)
            except Exception:
                stats.increment("errors")
                self.log.failure("while processing a captured packet")

        return packet

    def _newStream(
        self, key: StreamKey, src: bytes, sport: int, dst: bytes, dport: int, flags: int, payload: bytes
    ) -> Optional[HalfStream]:
        ports = self.ports
        reverse = dst + src + _PACK_PORTS(dport, sport)
        if ports:
            if dport in ports:
                isClient = True
            elif sport in ports:
                isClient = False
            else:
                self.stats.increment("skipped.filtered")
                return None
        else:
            other = self.streams.get(reverse)
            if other is not None:
                isClient = not other.isClient
            elif flags & SYN:
                isClient = not (flags & ACK)
            else:
                isClient = not looksLikeResponse(payload)
        if not isClient and not self.trackResponse:
            self.stats.increment("skipped.filtered")
            return None
        connKey = key if isClient else reverse
        conn = self.connections.get(connKey)
        if conn is None:
            if len(self.connections) >= self.maxConnections:
                self.evict()
            if isClient:
                conn = Connection(self, src, sport, dst, dport)
            else:
                conn = Connection(self, dst, dport, src, sport)
            self.connections[connKey] = conn
        stream = HalfStream(conn, key, isClient, self.maxStore)
        if isClient:
            conn.client = stream
        else:
            conn.server = stream
        self.streams[key] = stream
        return stream

    def _isSelf(self, conn: Connection) -> bool:
        # Checked at a connection's first message: gor registers its own
        # connections as soon as they are made, before sending anything.
        if conn.selfChecked:
            return conn.selfCapture
        conn.selfChecked = True
        text = conn.clientText
        if text is None:
            text = conn.clientText = formatIP(conn.clientIp)
        if (text, conn.clientPort) in self.selfPorts:
            conn.selfCapture = True
        return conn.selfCapture

    def emitRequest(self, conn: Connection, rid: bytes, firstTs: int, lastTs: int, payload: bytes, complete: bool) -> None:
        """
        Emit a delimited request (unless it is gor's own traffic).
        """
        stats = self.stats
        if self._isSelf(conn):
            stats.increment("skipped.self_capture")
            return
        if not complete:
            stats.increment("incomplete")
        if self.realIPHeader is not None:
            if conn.clientText is None:
                conn.clientText = formatIP(conn.clientIp)
            payload = setHeader(payload, self.realIPHeader, conn.clientText.encode("ascii"))
        emitSession = self.emitSession
        if emitSession is None:
            self.emit(REQUEST, rid, firstTs, lastTs - firstTs, payload)
            return
        sid = conn.sid
        if sid is None:
            sid = self.newSession(conn)
        conn.requests += 1
        emitSession(REQUEST, rid, firstTs, lastTs - firstTs, payload, b"%s:%d" % (sid, conn.requests))

    def newSession(self, conn: Connection) -> bytes:
        """
        Give C{conn} a session id: its id prefix (ports, client IP) and a
        serial from a random start, so that a reused 4-tuple, or two
        captures merged into one file, give distinct sessions.
        """
        self._sessionSerial = serial = (self._sessionSerial + 1) & MASK
        sid = conn.sid = conn.idPrefix + b"%08x" % (serial,)
        conn.requests = 0
        return sid

    def endSession(self, conn: Connection, ts: int) -> None:
        """
        C{conn} ended, or is forgotten: with sessions, emit its close record
        (once, and only if it had requests); a later request on the same
        4-tuple starts a new session.
        """
        sid = conn.sid
        if sid is None or self.emitSession is None:
            return
        conn.sid = None
        requests, conn.requests = conn.requests, 0
        self.emitSession(REQUEST, sid, ts, -1, b"", b"%s:%d:end" % (sid, requests))

    def emitResponse(self, conn: Connection, rid: bytes, firstTs: int, latency: int, payload: bytes, complete: bool) -> None:
        """
        Emit a delimited response (unless it is gor's own traffic).
        """
        if conn.selfCapture or self._isSelf(conn):
            self.stats.increment("skipped.self_capture")
            return
        if not complete:
            self.stats.increment("incomplete")
        self.emit(RESPONSE, rid, firstTs, latency, payload)

    def giveUp(self, stream: HalfStream) -> None:
        """
        Drop (or emit incomplete) the partial message of C{stream}, counted.
        """
        if stream.parser.abort(self.allowIncomplete) and not self.allowIncomplete:
            self.stats.increment("dropped.expired_request" if stream.isClient else "dropped.expired_response")

    def skipGap(self, stream: HalfStream, ts: int, reason: str = "dropped.gaps", cutoff: Optional[int] = None) -> None:
        """
        Give up waiting for the bytes missing before the held segments,
        counted as C{reason}.

        @param cutoff: also give up every later gap of the stream whose next
            held segment was captured at or before C{cutoff} (ns, capture
            clock), in one pass over the held segments in sequence order
            (L{_feedHeld}); L{None}: only the first gap (the held segments
            that become contiguous are fed).
        """
        pending = stream.pending
        if not pending:
            return
        self.giveUp(stream)
        nxt = stream.nextSeq
        if nxt is None:
            starts = [s for s, item in pending.items() if stream.parser.looksLikeStart(item[0])]
            if not starts:
                self.stats.increment("dropped.midstream_segments", len(pending))
                stream.release()
                stream.gapSince = None
                return
            base = starts[0]
            stream.nextSeq = min(starts, key=lambda s: _signed(s - base))
            stream.parser.state = IDLE
        else:
            self._purgeBehind(stream)
            if not pending:
                stream.gapSince = None
                return
            stream.nextSeq = min(pending, key=lambda s: (s - nxt) & MASK)
            self.stats.increment(reason)
        if cutoff is None:
            stream.drain(ts)
        else:
            self._feedHeld(stream, ts, cutoff, reason)

    def _feedHeld(self, stream: HalfStream, ts: int, cutoff: int, reason: str) -> None:
        """
        Feed the held segments of C{stream} in sequence order from its next
        expected byte, giving up (counted as C{reason}) each gap whose next
        segment was captured at or before C{cutoff}; stop at the first
        younger gap, which then waits from the time its next segment came.
        One sort and one pass: a stream with many gaps (kernel drops under
        overload) costs O(n log n), not a pass per gap.
        """
        pending = stream.pending
        nxt = stream.nextSeq
        assert nxt is not None
        for s in sorted(pending, key=lambda s: (s - nxt) & MASK):
            item = pending.get(s)
            if item is None:
                continue
            current = stream.nextSeq
            assert current is not None
            ahead = (s - current) & MASK
            if ahead >= HALF:
                payload, ack, its = stream.take(s)
                over = (current - s) & MASK
                if over >= len(payload):
                    self.stats.increment("segments.duplicate")
                    continue
                stream.nextSeq = (s + len(payload)) & MASK
                stream.parser.feed(payload[over:], its, current, ack, False)
                continue
            if ahead:
                if item[2] > cutoff:
                    stream.gapSince = item[2]
                    return
                self.giveUp(stream)
                self.stats.increment(reason)
            payload, ack, its = stream.take(s)
            stream.nextSeq = (s + len(payload)) & MASK
            stream.parser.feed(payload, its, s, ack, True)
        stream.gapSince = None

    def relieve(self, ts: int) -> None:
        """
        More than L{maxHeld} bytes wait behind gaps across all streams: give
        up the oldest gaps (counted as C{dropped.gaps_held_limit}) until at
        most three quarters of the bound are held.
        """
        target = self.maxHeld * 3 // 4
        waiting = [s for s in self.streams.values() if s.pending]
        waiting.sort(key=lambda s: s.gapSince if s.gapSince is not None else ts)
        for stream in waiting:
            while stream.pending and self.heldCost() > target:
                before = self.heldBytes
                self.skipGap(stream, ts, "dropped.gaps_held_limit", cutoff=ALL)
                if self.heldBytes >= before:
                    break
            if self.heldCost() <= target:
                return

    def heldCost(self) -> int:
        """
        The memory held behind gaps, in bytes: payloads plus
        L{HELD_OVERHEAD} per segment (what L{maxHeld} bounds).
        """
        return self.heldBytes + self.heldSegments * HELD_OVERHEAD

    def _purgeBehind(self, stream: HalfStream) -> None:
        """
        Feed the new part of held segments that overlap the next expected
        byte, and forget those entirely behind it.
        """
        pending = stream.pending
        nxt = stream.nextSeq
        assert nxt is not None
        for s in [s for s in pending if ((s - nxt) & MASK) >= HALF]:
            payload, ack, its = stream.take(s)
            nxt = stream.nextSeq
            assert nxt is not None
            over = (nxt - s) & MASK
            if over < HALF and over < len(payload):
                stream.nextSeq = (s + len(payload)) & MASK
                stream.parser.feed(payload[over:], its, nxt, ack, False)
            else:
                self.stats.increment("segments.duplicate")

    def _flushAll(self, stream: HalfStream) -> None:
        """
        Feed every held segment in sequence order, giving up each gap (the
        capture ended).
        """
        pending = stream.pending
        if stream.nextSeq is None:
            self.skipGap(stream, stream.lastTs)
            if stream.nextSeq is None:
                return
        self._purgeBehind(stream)
        nxt = stream.nextSeq
        assert nxt is not None
        for s in sorted(pending, key=lambda s: (s - nxt) & MASK):
            payload, ack, its = stream.take(s)
            current = stream.nextSeq
            assert current is not None
            ahead = (s - current) & MASK
            if ahead >= HALF:
                over = (current - s) & MASK
                if over >= len(payload):
                    continue
                payload, s = payload[over:], current
            elif ahead:
                self.giveUp(stream)
                self.stats.increment("dropped.gaps")
            stream.nextSeq = (s + len(payload)) & MASK
            stream.parser.feed(payload, its, s, ack, True)
        stream.gapSince = None

    def close(self, stream: HalfStream, ts: int, reset: bool) -> None:
        """
        C{stream} ended (FIN reached in order, or RST).
        """
        if stream.closed:
            return
        if stream.parser.close(ts):
            self.giveUp(stream)
        stream.closed = True
        conn = stream.conn
        if conn.sid is not None:
            self.endSession(conn, ts)
        if reset:
            for other in (conn.client, conn.server):
                if other is not None and other is not stream and not other.closed:
                    if other.parser.close(ts):
                        self.giveUp(other)
                    other.closed = True
        if all(s is None or s.closed for s in (conn.client, conn.server)):
            for s in (conn.client, conn.server):
                if s is not None:
                    if s.pending:
                        s.release()
                    self.streams.pop(s.key, None)
            self.connections.pop(conn.key, None)

    def evict(self) -> None:
        """
        Too many connections are tracked: forget the least recently active
        eighth of L{maxConnections} (at least one), connections without a
        partial message or held segments first, each counted as
        C{dropped.evicted_connections}; a partial message cut by it is given
        up as when it expires. An idle connection evicted this way loses
        little: its next request starts a new stream, found at the message
        start; only responses it still awaited lose their pairing.
        """
        connections = self.connections
        count = max(1, min(len(connections), self.maxConnections // 8))

        def age(conn: Connection) -> tuple[bool, int]:
            busy = False
            last = 0
            for stream in (conn.client, conn.server):
                if stream is not None:
                    if stream.pending or stream.parser.hasPartial():
                        busy = True
                    if stream.lastTs > last:
                        last = stream.lastTs
            return busy, last

        for conn in heapq.nsmallest(count, connections.values(), key=age):
            if conn.sid is not None:
                self.endSession(conn, max((s.lastTs for s in (conn.client, conn.server) if s is not None), default=0))
            for stream in (conn.client, conn.server):
                if stream is None:
                    continue
                if stream.pending:
                    stream.release()
                if not stream.closed and stream.parser.hasPartial():
                    self.giveUp(stream)
                stream.closed = True
                if self.streams.get(stream.key) is stream:
                    del self.streams[stream.key]
            del connections[conn.key]
        self.stats.increment("dropped.evicted_connections", count)

    def expire(self, now: int) -> None:
        """
        Give up gaps and partial messages older than the expiry, and forget
        idle connections; C{now} is in ns on the capture clock.
        """
        expireNs = self.expireNs
        idle: list[HalfStream] = []
        for stream in list(self.streams.values()):
            if stream.pending:
                since = stream.gapSince
                if since is not None and now - since >= expireNs:
                    self.skipGap(stream, now, cutoff=now - expireNs)
                continue
            parser = stream.parser
            if parser.hasPartial():
                if now - stream.lastTs >= expireNs:
                    self.giveUp(stream)
            elif now - stream.lastTs >= self.idleNs or stream.closed:
                idle.append(stream)
        for stream in idle:
            self.streams.pop(stream.key, None)
            conn = stream.conn
            if conn.sid is not None and stream.isClient:
                self.endSession(conn, stream.lastTs)
            if conn.client is stream:
                conn.client = None
            else:
                conn.server = None
            if conn.client is None and conn.server is None:
                self.connections.pop(conn.key, None)

    def hasGaps(self) -> bool:
        """
        Whether any stream waits for missing bytes.
        """
        return any(stream.pending for stream in self.streams.values())

    def skipAllGaps(self, now: int) -> None:
        """
        Give up every open gap now, all the gaps of each stream at once (the
        kernel dropped packets: what is missing will never come).
        """
        for stream in list(self.streams.values()):
            if stream.pending and stream.gapSince is not None:
                self.skipGap(stream, now, cutoff=ALL)

    def finish(self, maxBytes: int = FINISH_MAX_BYTES) -> None:
        """
        The capture ended: every gap and partial message expires now. At
        most C{maxBytes} of held segments are fed (in sequence order, gaps
        given up); held segments beyond that are abandoned, counted as
        C{dropped.held_at_stop} (segments), so a stop under a backlog is
        prompt.
        """
        budget = maxBytes
        for stream in list(self.streams.values()):
            if stream.pending:
                if stream.pendingBytes <= budget:
                    budget -= stream.pendingBytes
                    self._flushAll(stream)
                else:
                    self.stats.increment("dropped.held_at_stop", len(stream.pending))
                    stream.release()
            if stream.parser.close(stream.lastTs):
                self.giveUp(stream)
        self.streams.clear()
        self.connections.clear()
        self.heldBytes = 0
        self.heldSegments = 0
