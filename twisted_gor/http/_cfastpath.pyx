# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""
Compiled twin of L{twisted_gor.http.fastpath} (same answers for every input;
see that module). Bytes are scanned with C loops; the rare and the
arithmetic-heavy parts (several Content-Length values) reuse the shared
framer's own Python helpers.
"""

from twisted_gor._headscan cimport findHeadEnd, hasLFLF, nameAt, statusLine

from twisted_gor._http1 import MAX_HEAD as _PY_MAX_HEAD, FramingError, _parseLengths
from twisted_gor._httphead import METHODS as _METHODS

cdef Py_ssize_t MAX_HEAD = _PY_MAX_HEAD


cdef inline bint _contains(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, const char* word, Py_ssize_t k):
    """Whether C{word} (lower case) occurs in p[start:end], ASCII case-insensitively."""
    cdef Py_ssize_t i
    for i in range(start, end - k + 1):
        if nameAt(p, i, end, word, k):
            return True
    return False


def frameResponse(bytes data, bint isHead):
    cdef const unsigned char* p = data
    cdef Py_ssize_t n = len(data)
    cdef Py_ssize_t e, i, end, pos, vs, ve, kind, total
    cdef int status
    cdef unsigned char versionMinor, c
    cdef bint haveTE = False
    cdef bint space
    cdef Py_ssize_t lengthCount = 0, lvs = 0, lve = 0, connCount = 0, cvs = 0, cve = 0
    cdef long long number
    cdef list lengths = None
    cdef list connection = None
    if n < 5 or p[0] != 72 or p[1] != 84 or p[2] != 84 or p[3] != 80 or p[4] != 47:  # "HTTP/"
        return None
    e = findHeadEnd(p, n)
    if not (0 < e < MAX_HEAD) or hasLFLF(p, e + 2):
        return None
    end = e + 4
    # Status line: HTTP/1.D SP DDD ( SP [^\r\n]* )? \r? \n
    status = statusLine(p, end, &pos)
    if status < 0:
        return None
    versionMinor = p[7]
    # pos is the status line's LF; every LF from there on may start a framing header.
    while pos < end:
        if p[pos] != 10:
            pos += 1
            continue
        i = pos + 1
        if nameAt(p, i, end, b"content-length", 14):
            kind = 1
            i += 14
        elif nameAt(p, i, end, b"transfer-encoding", 17):
            kind = 2
            i += 17
        elif nameAt(p, i, end, b"connection", 10):
            kind = 3
            i += 10
        else:
            pos += 1
            continue
        space = False
        while i < end and (p[i] == 32 or p[i] == 9):
            space = True
            i += 1
        if i >= end or p[i] != 58:  # ":"
            pos += 1
            continue
        i += 1
        while i < end and (p[i] == 32 or p[i] == 9):
            i += 1
        vs = i
        while i < end and p[i] != 13 and p[i] != 10:
            i += 1
        ve = i
        if kind == 3:
            if not space:
                connCount += 1
                if connCount == 1:
                    cvs = vs
                    cve = ve
                else:
                    if connection is None:
                        connection = [data[cvs:cve]]
                    connection.append(data[vs:ve])
        elif space:
            return None  # bad_header: the shared framer reports it
        elif kind == 1:
            lengthCount += 1
            if lengthCount == 1:
                lvs = vs
                lve = ve
            else:
                if lengths is None:
                    lengths = [data[lvs:lve]]
                lengths.append(data[vs:ve])
        else:
            haveTE = True
        pos = i
    if status < 200 or status == 204 or status == 304 or isHead:
        if status < 200:
            return None  # interim, or 101 (a tunnel)
        total = end
    elif haveTE:
        return None  # chunked, or until close
    elif lengthCount == 0:
        return None  # until close
    else:
        number = -1
        if lengthCount == 1 and 0 < lve - lvs <= 15:
            number = 0
            for i in range(lvs, lve):
                c = p[i]
                if not (48 <= c <= 57):
                    number = -1
                    break
                number = number * 10 + (c - 48)
        if number >= 0:
            length = number
        else:
            if lengths is None:
                lengths = [data[lvs:lve]]
            try:
                length = _parseLengths(lengths)
            except FramingError:
                return None
        if length > n:
            return None
        total = end + length
    if total > n:
        return None
    if connCount <= 1:
        if versionMinor == 48:  # HTTP/1.0
            closeAfter = connCount == 0 or not _contains(p, cvs, cve, b"keep-alive", 10)
        else:
            closeAfter = connCount == 1 and _contains(p, cvs, cve, b"close", 5)
    else:
        joined = b",".join(connection).lower()
        if versionMinor == 48:
            closeAfter = b"keep-alive" not in joined
        else:
            closeAfter = b"close" in joined
    return total, status, closeAfter


def setOriginHost(bytes payload, bytes netloc):
    cdef const unsigned char* p = payload
    cdef Py_ssize_t n = len(payload)
    cdef Py_ssize_t end = -1, sp1 = -1, sp2 = -1, i, pos, nl, lineEnd, colon, vs, ve
    for i in range(n - 1):
        if p[i] == 13 and p[i + 1] == 10:
            end = i
            break
    if end < 13:
        return None
    for i in range(end):
        if p[i] == 32:
            if sp1 < 0:
                sp1 = i
            sp2 = i
    if sp1 <= 0 or sp2 <= sp1:
        return None
    if end - sp2 - 1 != 8:
        return None
    if not (p[sp2 + 1] == 72 and p[sp2 + 2] == 84 and p[sp2 + 3] == 84 and p[sp2 + 4] == 80
            and p[sp2 + 5] == 47 and p[sp2 + 6] == 49 and p[sp2 + 7] == 46 and (p[sp2 + 8] == 48 or p[sp2 + 8] == 49)):
        return None
    method = payload[:sp1]
    if method not in _METHODS or method == b"CONNECT":
        return None
    if p[sp1 + 1] != 47:  # "/": origin-form
        return None
    # The first header called Host (headerSpan): header lines after the
    # first LF, each up to its LF (a CR before it excluded), up to a blank one.
    pos = 0
    while pos < n and p[pos] != 10:
        pos += 1
    pos += 1
    while pos < n:
        nl = pos
        while nl < n and p[nl] != 10:
            nl += 1
        lineEnd = nl
        if lineEnd > pos and p[lineEnd - 1] == 13:
            lineEnd -= 1
        if lineEnd == pos:
            break
        colon = pos
        while colon < lineEnd and p[colon] != 58:
            colon += 1
        if colon < lineEnd and colon - pos == 4 and nameAt(p, pos, colon, b"host", 4):
            vs = colon + 1
            ve = lineEnd
            while vs < ve and p[vs] < 0x21:
                vs += 1
            while ve > vs and p[ve - 1] < 0x21:
                ve -= 1
            return payload[:vs] + netloc + payload[ve:]
        pos = nl + 1
    return payload[: end + 2] + b"Host: " + netloc + b"\r\n" + payload[end + 2 :]
