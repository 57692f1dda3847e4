# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# -*- test-case-name: tests.test_raw_fastpath -*-
"""
The compiled twin of L{twisted_gor.raw.reassembly.Tracker.packetHandler}'s
per-packet function (see L{twisted_gor.raw.fastpath}).

L{FastPacket} is the pcap callback itself. For the in-order common case (a
data segment on a known stream, IPv4 without options or IPv6 without
extension headers, the next expected bytes, the parser between messages, the
segment being exactly one whole message) it goes from the frame's bytes to an
emitted message without a Python-level call: the request line / status line
and the framing headers are checked with the rules of
L{twisted_gor._http1.parseHead} (ported, and tested differentially against
it), the id is made as L{twisted_gor.raw.reassembly.Connection.requestDone}
makes it, and the message goes to the input's receiver. Everything else is
handed, untouched, to the same Python code the pure-Python function calls:
the stream's C{_data}, its parser's C{feed}, the connection's
C{requestDone}, or the general decoder C{slow}. So the compiled code only
ever decides "this is the simple case, and its outcome is X", where X is what
the Python code would do; any doubt goes to Python.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize, PyBytes_CheckExact
from cpython.dict cimport PyDict_GetItem
from cpython.list cimport PyList_Append, PyList_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from libc.string cimport memchr, memcmp, memcpy

from twisted_gor._framing cimport _messageSlotsReady, _newMessage, _slotOffset, _slotGet, _slotSet
from twisted_gor._headscan cimport findHeadEnd, hasLFLF, nameAt, statusLine

from twisted.logger import Logger

from twisted_gor._http1 import IDLE as _PY_IDLE, MAX_HEAD as _PY_MAX_HEAD
from twisted_gor.message import Message
from twisted_gor.raw.httpstream import HTTPStreamParser
from twisted_gor.raw.reassembly import Connection, HalfStream
# Importing the framing module hands Message to _framing.useMessageClass (when
# the compiled twins are in use), which is what lets _newMessage fill its slots.
import twisted_gor.framing

cdef object _Message = Message
cdef int IDLE = _PY_IDLE
cdef Py_ssize_t MAX_HEAD = _PY_MAX_HEAD
cdef unsigned long long MASK = 0xFFFFFFFF
cdef Py_ssize_t MAX_QUEUED_REQUESTS = 1024
cdef Py_ssize_t BATCH_BYTES = 1 << 20
"""Payload bytes of a sink's batch that make it hand the batch on at once."""

# The slots read and written per packet, by offset (PyObject_GetAttr and
# SetAttr were about a fifth of the capture's CPU): only on objects of exactly
# these types, whose layout the offsets describe; any other object, and every
# object when an offset is missing, goes the Python way.
cdef type _Stream = HalfStream
cdef type _Conn = Connection
cdef type _Parser = HTTPStreamParser
cdef Py_ssize_t S_CLOSED = _slotOffset(_Stream, "closed")
cdef Py_ssize_t S_LASTTS = _slotOffset(_Stream, "lastTs")
cdef Py_ssize_t S_NEXTSEQ = _slotOffset(_Stream, "nextSeq")
cdef Py_ssize_t S_PENDING = _slotOffset(_Stream, "pending")
cdef Py_ssize_t S_FINSEQ = _slotOffset(_Stream, "finSeq")
cdef Py_ssize_t S_PARSER = _slotOffset(_Stream, "parser")
cdef Py_ssize_t S_CONN = _slotOffset(_Stream, "conn")
cdef Py_ssize_t P_STATE = _slotOffset(_Parser, "state")
cdef Py_ssize_t P_KEEP = _slotOffset(_Parser, "keep")
cdef Py_ssize_t P_ISREQUEST = _slotOffset(_Parser, "isRequest")
cdef Py_ssize_t P_LASTTS = _slotOffset(_Parser, "lastTs")
cdef Py_ssize_t P_SEQ = _slotOffset(_Parser, "_seq")
cdef Py_ssize_t P_ACK = _slotOffset(_Parser, "_ack")
cdef Py_ssize_t P_STARTPOS = _slotOffset(_Parser, "startPos")
cdef Py_ssize_t P_TRUNCATED = _slotOffset(_Parser, "truncated")
cdef Py_ssize_t P_SWITCHED = _slotOffset(_Parser, "switched")
cdef Py_ssize_t C_SELFCHECKED = _slotOffset(_Conn, "selfChecked")
cdef Py_ssize_t C_SELFCAPTURE = _slotOffset(_Conn, "selfCapture")
cdef Py_ssize_t C_QUEUE = _slotOffset(_Conn, "queue")
cdef Py_ssize_t C_LASTRAWACK = _slotOffset(_Conn, "lastRawAck")
cdef Py_ssize_t C_LASTIDACK = _slotOffset(_Conn, "lastIdAck")
cdef Py_ssize_t C_IDPREFIX = _slotOffset(_Conn, "idPrefix")
cdef Py_ssize_t C_SERVER = _slotOffset(_Conn, "server")
cdef Py_ssize_t C_CLIENT = _slotOffset(_Conn, "client")
cdef bint SLOTS = min(
    S_CLOSED, S_LASTTS, S_NEXTSEQ, S_PENDING, S_FINSEQ, S_PARSER, S_CONN,
    P_STATE, P_KEEP, P_ISREQUEST, P_LASTTS, P_SEQ, P_ACK, P_STARTPOS, P_TRUNCATED, P_SWITCHED,
    C_SELFCHECKED, C_SELFCAPTURE, C_QUEUE, C_LASTRAWACK, C_LASTIDACK, C_IDPREFIX, C_SERVER, C_CLIENT,
) >= 0

def slotsUsed():
    """For the tests: whether the slots are read by offset (every one found)."""
    return SLOTS


cdef inline object _get(object obj, Py_ssize_t offset):
    """C{getattr} of a slot by offset: AttributeError while it is unset."""
    cdef PyObject *value = _slotGet(obj, offset)
    if value == NULL:
        raise AttributeError("slot not set")
    return <object>value

cdef bytes _GET = b"GET"
cdef bytes _HEAD = b"HEAD"
cdef bytes _CONNECT = b"CONNECT"
cdef const char* _HEX = b"0123456789abcdef"

# RFC 9110 token characters: [!#$%&'*+.^_`|~0-9A-Za-z-]
cdef unsigned char TOKEN[256]
cdef int _c
for _c in range(256):
    TOKEN[_c] = 0
for _c in b"!#$%&'*+.^_`|~-":
    TOKEN[_c] = 1
for _c in range(ord("0"), ord("9") + 1):
    TOKEN[_c] = 1
for _c in range(ord("A"), ord("Z") + 1):
    TOKEN[_c] = 1
for _c in range(ord("a"), ord("z") + 1):
    TOKEN[_c] = 1


cdef inline unsigned int be16(const unsigned char* p) noexcept nogil:
    return (p[0] << 8) | p[1]


cdef inline unsigned int be32(const unsigned char* p) noexcept nogil:
    return (<unsigned int>p[0] << 24) | (<unsigned int>p[1] << 16) | (<unsigned int>p[2] << 8) | p[3]


cdef Py_ssize_t requestLine(const unsigned char* d, Py_ssize_t n, Py_ssize_t* nl) noexcept nogil:
    """
    _http1._REQUEST_LINE.match(d[:n]): the end of the method, or -1; *nl is
    the index of the line's LF.
    """
    cdef Py_ssize_t i = 0, j, m
    while i < n and TOKEN[d[i]]:
        i += 1
    if i == 0 or i >= n or d[i] != 32:
        return -1
    m = i
    i += 1
    j = i
    while i < n and d[i] > 32 and d[i] != 127:
        i += 1
    if i == j or i >= n or d[i] != 32:
        return -1
    i += 1
    if n - i < 8 or memcmp(d + i, b"HTTP/1.", 7) != 0 or not (48 <= d[i + 7] <= 57):
        return -1
    i += 8
    if i < n and d[i] == 13:
        i += 1
    if i >= n or d[i] != 10:
        return -1
    nl[0] = i
    return m


cdef int scanFraming(const unsigned char* d, Py_ssize_t start, Py_ssize_t end, bint response, long long* length) noexcept nogil:
    """
    The framing headers of the head d[start:end] (start at the start line's
    LF), as _http1._FRAMING / _RESPONSE_FRAMING find them: 0 = none, 1 =
    exactly one C{Content-Length} of 1 to 18 digits with no space before its
    colon (*length set), -1 = anything else (Python decides). C{Connection}
    headers of responses are ignored (they do not change the framing).
    """
    cdef Py_ssize_t p = start, k, sp
    cdef const unsigned char* q
    cdef int kind, count = 0, digits
    cdef long long value
    while p < end:
        q = <const unsigned char*>memchr(d + p, 10, end - p)
        if q == NULL:
            break
        p = q - d
        k = p + 1
        if nameAt(d, k, end, b"content-length", 14):
            kind = 1
            k += 14
        elif nameAt(d, k, end, b"transfer-encoding", 17):
            kind = 2
            k += 17
        elif response and nameAt(d, k, end, b"connection", 10):
            kind = 3
            k += 10
        else:
            p += 1
            continue
        sp = k
        while k < end and (d[k] == 32 or d[k] == 9):
            k += 1
        if k >= end or d[k] != 58:
            p += 1
            continue
        if kind == 3:
            p += 1
            continue
        if kind == 2 or k > sp or count:
            return -1
        k += 1
        while k < end and (d[k] == 32 or d[k] == 9):
            k += 1
        value = 0
        digits = 0
        while k < end and d[k] != 13 and d[k] != 10:
            if not (48 <= d[k] <= 57) or digits >= 18:
                return -1
            value = value * 10 + (d[k] - 48)
            digits += 1
            k += 1
        if not digits:
            return -1
        count = 1
        length[0] = value
        p += 1
    return count


def requestFraming(bytes data):
    """
    For the differential tests: the compiled verdict on a segment that is
    one request: C{(method, headEnd, bodyLength)} when the compiled path
    would emit it whole, else L{None}.
    """
    cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), e, nl, m
    cdef long long length = 0
    cdef int r
    e = _wholeHead(d, n)
    if e < 0:
        return None
    m = requestLine(d, e, &nl)
    if m < 0:
        return None
    r = scanFraming(d, nl, e, False, &length)
    if r < 0 or e + length != n:
        return None
    return (data[:m], e, length)


def responseFraming(bytes data):
    """
    For the differential tests: C{(status, headEnd, bodyLength)} when the
    compiled path would take the response as one whole message (before the
    request method is considered), else L{None}.
    """
    cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), e, nl
    cdef long long length = 0
    cdef int r, status
    e = _wholeHead(d, n)
    if e < 0:
        return None
    status = statusLine(d, e, &nl)
    if status < 200 or status == 204 or status == 304:
        return None
    r = scanFraming(d, nl, e, True, &length)
    if r != 1 or e + length != n:
        return None
    return (status, e, length)


cdef inline Py_ssize_t _wholeHead(const unsigned char* d, Py_ssize_t n) noexcept nogil:
    """
    HTTPStreamParser.feed's fast-path precondition on the data: the end of
    the head (past CRLFCRLF), or -1.
    """
    cdef Py_ssize_t e
    if n < 1 or d[0] <= 32:
        return -1
    e = findHeadEnd(d, n)
    if not (0 < e < MAX_HEAD) or hasLFLF(d, e + 2):
        return -1
    return e + 4


cdef inline Py_ssize_t _decimal(char* out, unsigned long long v) noexcept nogil:
    """Write C{v} in decimal at C{out} (room for 20 digits); its length."""
    cdef char tmp[20]
    cdef Py_ssize_t n = 0, i
    while True:
        tmp[n] = <char>(48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef bytes _metaLine(int kind, bytes rid, long long ts, long long latency):
    """
    C{b"%d %s %d %d" % (kind, rid, ts, latency)} (L{Message.meta}) for a kind
    of one digit, an id of at most 40 bytes and a timestamp and latency that
    are not negative; L{None} otherwise (the message makes it when asked).
    """
    cdef char buf[96]
    cdef Py_ssize_t size = PyBytes_GET_SIZE(rid), n
    if size > 40 or ts < 0 or latency < 0 or not (0 <= kind <= 9):
        return None
    buf[0] = <char>(48 + kind)
    buf[1] = 32
    memcpy(buf + 2, PyBytes_AS_STRING(rid), size)
    n = 2 + size
    buf[n] = 32
    n += 1
    n += _decimal(buf + n, <unsigned long long>ts)
    buf[n] = 32
    n += 1
    n += _decimal(buf + n, <unsigned long long>latency)
    return PyBytes_FromStringAndSize(buf, n)


def metaLine(int kind, bytes rid, long long ts, long long latency):
    """For the differential tests: the meta line the compiled path writes."""
    return _metaLine(kind, rid, ts, latency)


cdef class FastPacket:
    """
    The per-packet function of L{twisted_gor.raw.reassembly.Tracker.packetHandler},
    compiled (see the module docstring).

    @param sink: the capture input (its C{receiver}, C{emitted} and
        C{stats}), so messages go to the receiver directly; L{None}: through
        C{tracker.emit}. A sink with a C{batch} list (L{twisted_gor.raw.input.RawInput})
        gets the messages appended to it instead, and hands them on itself
        after each read of packets (C{flushBatch}, also called here once
        the batch holds L{BATCH_BYTES} of payload).
    """

    cdef object tracker
    cdef object slow
    cdef object sink
    cdef list batch
    cdef object flushBatch
    cdef Py_ssize_t batchBytes
    cdef dict streams
    cdef object close
    cdef object stats
    cdef object log
    cdef Py_ssize_t etOff
    cdef Py_ssize_t ip
    cdef bint noEthertype
    cdef bint plainRequests
    cdef bint trackResponse
    cdef public unsigned long long fast
    """Messages emitted without leaving compiled code (for tests and benches)."""

    def __init__(self, tracker, tuple layout, slow, sink=None):
        self.tracker = tracker
        self.slow = slow
        self.sink = sink
        batch = getattr(sink, "batch", None)
        if type(batch) is list:
            self.batch = batch
            self.flushBatch = sink.flushBatch
        self.batchBytes = 0
        self.streams = tracker.streams
        self.close = tracker.close
        self.stats = tracker.stats
        self.log = Logger(namespace="twisted_gor.raw.reassembly.Tracker")
        self.etOff = layout[0]
        self.ip = layout[1]
        self.noEthertype = layout[0] < 0
        # (set once, when the tracker is made)
        self.plainRequests = tracker.realIPHeader is None and tracker.emitSession is None
        self.trackResponse = bool(tracker.trackResponse)
        self.fast = 0

    def __call__(self, ts, data):
        cdef const unsigned char* d
        cdef Py_ssize_t n, ip = self.ip, start, end, keyOff, keyLen
        cdef unsigned int seq, ack, offFlags, total, frag
        cdef unsigned char v
        cdef PyObject* found
        if not SLOTS or not PyBytes_CheckExact(data) or not PyLong_CheckExact(ts):
            self.slow(ts, data)
            return
        d = <const unsigned char*>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
        if n < ip + 40:
            self.slow(ts, data)
            return
        v = d[ip]
        if v == 0x45:
            if not self.noEthertype and (d[self.etOff] != 0x08 or d[self.etOff + 1] != 0x00):
                self.slow(ts, data)
                return
            total = be16(d + ip + 2)
            frag = be16(d + ip + 6)
            seq = be32(d + ip + 24)
            ack = be32(d + ip + 28)
            offFlags = be16(d + ip + 32)
            if d[ip + 9] != 6 or frag & 0x3FFF or offFlags & 0x07:
                self.slow(ts, data)
                return
            start = ip + 20 + ((offFlags >> 12) << 2)
            end = ip + total
            keyOff = ip + 12
            keyLen = 12
        elif (v >> 4) == 6 and n >= ip + 60:
            if not self.noEthertype and (d[self.etOff] != 0x86 or d[self.etOff + 1] != 0xDD):
                self.slow(ts, data)
                return
            total = be16(d + ip + 4)
            seq = be32(d + ip + 44)
            ack = be32(d + ip + 48)
            offFlags = be16(d + ip + 52)
            if d[ip + 6] != 6 or offFlags & 0x07 or not total:
                self.slow(ts, data)
                return
            start = ip + 40 + ((offFlags >> 12) << 2)
            end = ip + 40 + total
            keyOff = ip + 8
            keyLen = 36
        else:
            self.slow(ts, data)
            return
        key = PyBytes_FromStringAndSize(<const char*>d + keyOff, keyLen)
        found = PyDict_GetItem(self.streams, key)
        if found == NULL:
            self.slow(ts, data)
            return
        stream = <object>found
        if type(stream) is not _Stream or _get(stream, S_CLOSED) or not (start < end <= n):
            self.slow(ts, data)
            return
        payload = PyBytes_FromStringAndSize(<const char*>d + start, end - start)
        try:
            _slotSet(stream, S_LASTTS, ts)
            nextSeq = _get(stream, S_NEXTSEQ)
            if nextSeq is not None and <unsigned long long>nextSeq == seq and not _get(stream, S_PENDING):
                _slotSet(stream, S_NEXTSEQ, (seq + <unsigned long long>(end - start)) & MASK)
                self._feed(stream, payload, ts, seq, ack)
            else:
                stream._data(ts, seq, ack, payload)
            fin = _get(stream, S_FINSEQ)
            if fin is not None and fin == _get(stream, S_NEXTSEQ):
                self.close(stream, ts, False)
        except Exception:
            self.stats.increment("errors")
            self.log.failure("while processing a captured packet")

    cdef _feed(self, stream, bytes payload, ts, unsigned int seq, unsigned int ack):
        """
        HTTPStreamParser.feed(payload, ts, seq, ack, True), its whole-message
        fast path done here when the message is simple.
        """
        cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(payload)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(payload), e, nl, m
        cdef long long length = 0
        cdef long long cts
        cdef int r, status
        parser = _get(stream, S_PARSER)
        if type(parser) is not _Parser:
            parser.feed(payload, ts, seq, ack, True)
            return
        keep = _get(parser, P_KEEP)
        if _get(parser, P_STATE) != IDLE or (keep and n > keep):
            parser.feed(payload, ts, seq, ack, True)
            return
        conn = _get(stream, S_CONN)
        if type(conn) is not _Conn:
            parser.feed(payload, ts, seq, ack, True)
            return
        e = _wholeHead(d, n)
        if e < 0:
            parser.feed(payload, ts, seq, ack, True)
            return
        cts = ts
        if _get(parser, P_ISREQUEST):
            m = requestLine(d, e, &nl)
            if m < 0:
                parser.feed(payload, ts, seq, ack, True)
                return
            r = scanFraming(d, nl, e, False, &length)
            if r < 0 or e + length != n:
                parser.feed(payload, ts, seq, ack, True)
                return
            method = _GET if m == 3 and d[0] == 71 and d[1] == 69 and d[2] == 84 else payload[:m]
            self._settle(parser, ts, seq, ack)
            if not (_get(conn, C_SELFCHECKED) and not _get(conn, C_SELFCAPTURE) and self.plainRequests):
                conn.requestDone(payload, ts, ts, seq, ack, method, True)
                return
            rid = self._requestId(conn, ack)
            if self.trackResponse:
                queue = _get(conn, C_QUEUE)
                queue.append((ack, rid, method, ts))
                if len(queue) > MAX_QUEUED_REQUESTS:
                    queue.popleft()
            self._emit(1, rid, ts, cts, 0, payload)
            return
        status = statusLine(d, e, &nl)
        if status < 200 or status == 204 or status == 304:
            parser.feed(payload, ts, seq, ack, True)
            return
        r = scanFraming(d, nl, e, True, &length)
        if r != 1 or e + length != n:
            parser.feed(payload, ts, seq, ack, True)
            return
        queue = _get(conn, C_QUEUE)
        if not queue:
            parser.feed(payload, ts, seq, ack, True)
            return
        entry = queue[0]
        if entry[0] != seq:
            parser.feed(payload, ts, seq, ack, True)
            return
        method = entry[2]
        if method == _HEAD or (method == _CONNECT and status < 300):
            parser.feed(payload, ts, seq, ack, True)
            return
        self._settle(parser, ts, seq, ack)
        _slotSet(parser, P_SWITCHED, False)
        queue.popleft()
        rid = entry[1]
        latency = cts - <long long>entry[3]
        if latency < 0:
            latency = 0
        server = _get(conn, C_SERVER)
        if server is not None and server.parser.switched:
            client = _get(conn, C_CLIENT)
            if client is not None:
                client.parser.upgrade()
        if _get(conn, C_SELFCHECKED) and not _get(conn, C_SELFCAPTURE):
            self._emit(2, rid, ts, cts, latency, payload)
        else:
            self.tracker.emitResponse(conn, rid, ts, latency, payload, True)

    cdef void _settle(self, parser, ts, unsigned int seq, unsigned int ack):
        """The parser's state after feed took one whole message."""
        _slotSet(parser, P_LASTTS, ts)
        _slotSet(parser, P_SEQ, seq)
        _slotSet(parser, P_ACK, ack)
        _slotSet(parser, P_STARTPOS, 0)
        _slotSet(parser, P_TRUNCATED, False)

    cdef bytes _requestId(self, conn, unsigned int ack):
        """Connection.requestDone's id: GoReplay's, Ack+1, +2 when pipelined."""
        cdef unsigned int used
        cdef char buf[8]
        cdef int i
        cdef long long lastRawAck = _get(conn, C_LASTRAWACK)
        if lastRawAck == <long long>ack:
            used = (<unsigned long long>(<unsigned int>_get(conn, C_LASTIDACK)) + 1) & MASK
        else:
            used = ack
        _slotSet(conn, C_LASTRAWACK, ack)
        _slotSet(conn, C_LASTIDACK, used)
        for i in range(8):
            buf[7 - i] = _HEX[(used >> (4 * i)) & 0xF]
        return _get(conn, C_IDPREFIX) + PyBytes_FromStringAndSize(buf, 8)

    cdef _emit(self, int kind, bytes rid, ts, long long cts, long long latency, bytes payload):
        """RawInput._emitMessage (or tracker.emit), with the meta line made here."""
        sink = self.sink
        if sink is None:
            self.tracker.emit(kind, rid, ts, latency, payload)
            self.fast += 1
            return
        batch = self.batch
        if batch is None:
            receiver = sink.receiver
            if receiver is None:
                sink.stats.increment("dropped.no_receiver")
                return
            sink.emitted += 1
        self.fast += 1
        meta = _metaLine(kind, rid, cts, latency)
        if _messageSlotsReady():
            message = _newMessage(kind, rid, cts, latency, payload, meta)
        else:
            message = _Message(kind, rid, ts, latency, payload, meta)
        if batch is None:
            receiver.messageReceived(message)
            return
        if PyList_GET_SIZE(batch) == 0:
            self.batchBytes = 0
        PyList_Append(batch, message)
        self.batchBytes += PyBytes_GET_SIZE(payload)
        if self.batchBytes >= BATCH_BYTES:
            self.batchBytes = 0
            self.flushBatch()
