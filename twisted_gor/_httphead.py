# -*- test-case-name: tests.test_http_proto,tests.test_http1 -*-
"""
Byte-level helpers for raw HTTP/1.x messages.

Everything here works on the captured bytes and changes only what it is asked
to change: header names keep their case, headers keep their order and
duplicates, whitespace around untouched values is kept. Header lookups are
case-insensitive and stop at the blank line that ends the header block (so a
body that happens to contain C{Name: value} lines is never taken for headers).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Iterator

METHODS = frozenset({b"CONNECT", b"DELETE", b"GET", b"HEAD", b"OPTIONS", b"PATCH", b"POST", b"PUT", b"TRACE"})
"""Request methods recognised as HTTP (case-sensitive), as GoReplay does."""

_KNOWN_STATUS = frozenset(int(s) for s in HTTPStatus)

def _trim(value: bytes) -> tuple[int, int]:
    """
    Offsets of C{value} with bytes below 0x21 trimmed from both ends.
    """
    start, end = 0, len(value)
    while start < end and value[start] < 0x21:
        start += 1
    while end > start and value[end - 1] < 0x21:
        end -= 1
    return start, end


def firstLineEnd(payload: bytes) -> int:
    """
    Index of the C{\\n} ending the first line, or -1.
    """
    return payload.find(b"\n")


def isRequestLine(payload: bytes) -> bool:
    """
    Whether C{payload} starts with a complete HTTP/1.x request line
    (C{METHOD SP target SP HTTP/1.x CRLF}) of a known method.
    """
    end = payload.find(b"\r\n")
    if end < 13:
        return False
    line = payload[:end]
    sp1 = line.find(b" ")
    sp2 = line.rfind(b" ")
    if sp1 <= 0 or sp2 <= sp1:
        return False
    if line[:sp1] not in METHODS:
        return False
    version = line[sp2 + 1 :]
    return version in (b"HTTP/1.0", b"HTTP/1.1")


def isStatusLine(payload: bytes) -> bool:
    """
    Whether C{payload} starts with a complete HTTP/1.x status line with a
    known status code.
    """
    end = payload.find(b"\r\n")
    if end < 12:
        return False
    line = payload[:end]
    if line[:9] not in (b"HTTP/1.0 ", b"HTTP/1.1 "):
        return False
    code = line[9:12]
    if not code.isdigit() or int(code) not in _KNOWN_STATUS:
        return False
    return len(line) == 12 or line[12:13] == b" "


def statusCode(payload: bytes) -> int | None:
    """
    The status code of a response, or L{None}.
    """
    code = payload[9:12]
    if payload[:5] != b"HTTP/" or not code.isdigit():
        return None
    return int(code)


def method(payload: bytes) -> bytes:
    """
    The request method (the bytes before the first space of the first line).
    """
    end = firstLineEnd(payload)
    line = payload if end < 0 else payload[:end]
    sp = line.find(b" ")
    return line[:sp] if sp > 0 else b""


def _targetSpan(payload: bytes) -> tuple[int, int] | None:
    end = payload.find(b"\r\n")
    if end < 0:
        return None
    line = payload[:end]
    sp1 = line.find(b" ")
    sp2 = line.rfind(b" ")
    if sp1 < 0 or sp2 <= sp1:
        return None
    return sp1 + 1, sp2


def requestTarget(payload: bytes) -> bytes | None:
    """
    The request-target as written in the request line, or L{None} when the
    first line is not C{METHOD SP target SP version CRLF}.
    """
    span = _targetSpan(payload)
    if span is None:
        return None
    return payload[span[0] : span[1]]


def setRequestTarget(payload: bytes, target: bytes) -> bytes:
    """
    Replace the request-target; the payload is returned unchanged when it has
    no request line.
    """
    span = _targetSpan(payload)
    if span is None:
        return payload
    return payload[: span[0]] + target + payload[span[1] :]


def headersEnd(payload: bytes | bytearray, start: int = 0) -> int:
    """
    Index just after the empty line ending the head that begins at
    C{start} (C{CRLF CRLF}, C{LF LF} or C{LF CRLF}: a bare LF ends a line as
    well, RFC 9112 section 2.2), or -1.
    """
    i = payload.find(b"\n\r\n", start)
    j = payload.find(b"\n\n", start, i + 2 if i >= 0 else len(payload))
    if j >= 0:
        return j + 2
    return i + 3 if i >= 0 else -1


def body(payload: bytes) -> bytes:
    """
    Whatever follows the header block (empty when it is incomplete).
    """
    end = headersEnd(payload)
    return b"" if end < 0 else payload[end:]


def _headerLines(payload: bytes) -> Iterator[tuple[int, int, int, int]]:
    """
    Yield C{(lineStart, colon, valueEnd, newline)} for each header line:
    C{valueEnd} excludes the CR, C{newline} is the index of the C{\\n} (or the
    payload's length).
    """
    pos = payload.find(b"\n")
    if pos < 0:
        return
    pos += 1
    n = len(payload)
    while pos < n:
        nl = payload.find(b"\n", pos)
        if nl < 0:
            nl = n
        line_end = nl
        if line_end > pos and payload[line_end - 1 : line_end] == b"\r":
            line_end -= 1
        if line_end == pos:
            return  # blank line: end of headers
        colon = payload.find(b":", pos, line_end)
        if colon > pos:
            yield pos, colon, line_end, nl
        pos = nl + 1


def headerSpan(payload: bytes, name: bytes) -> tuple[int, int, int, int] | None:
    """
    Find the first header called C{name} (case-insensitive).

    @return: C{(lineStart, valueStart, valueEnd, lineEnd)} where the value is
        trimmed and C{lineEnd} is the index just after the line's C{\\n} (or
        the payload end); L{None} when absent.
    """
    lname = name.lower()
    for start, colon, lineEnd, nl in _headerLines(payload):
        if payload[start:colon].lower() == lname:
            vs, ve = _trim(payload[colon + 1 : lineEnd])
            return start, colon + 1 + vs, colon + 1 + ve, min(nl + 1, len(payload))
    return None


def getHeader(payload: bytes, name: bytes) -> bytes | None:
    """
    The trimmed value of the first header called C{name}, or L{None}.
    """
    span = headerSpan(payload, name)
    if span is None:
        return None
    return payload[span[1] : span[2]]


def getHeaders(payload: bytes) -> list[tuple[bytes, bytes]]:
    """
    Every C{(name, trimmed value)} of the header block, in order.
    """
    result = []
    for start, colon, lineEnd, _ in _headerLines(payload):
        vs, ve = _trim(payload[colon + 1 : lineEnd])
        result.append((payload[start:colon], payload[colon + 1 + vs : colon + 1 + ve]))
    return result


def setHeader(payload: bytes, name: bytes, value: bytes) -> bytes:
    """
    Set header C{name}: replace the value of its first occurrence in place
    (surrounding whitespace kept), or insert C{Name: value} right after the
    first line. A payload without any CRLF is returned unchanged.
    """
    span = headerSpan(payload, name)
    if span is not None:
        return payload[: span[1]] + value + payload[span[2] :]
    end = payload.find(b"\r\n")
    if end < 0:
        return payload
    return payload[: end + 2] + name + b": " + value + b"\r\n" + payload[end + 2 :]


def deleteHeader(payload: bytes, name: bytes) -> bytes:
    """
    Remove the whole line of the first header called C{name}, if any.
    """
    span = headerSpan(payload, name)
    if span is None:
        return payload
    return payload[: span[0]] + payload[span[3] :]


def _paramSpan(target: bytes, name: bytes) -> tuple[int, int] | None:
    q = target.find(b"?")
    if q < 0:
        return None
    pos = q + 1
    key = name + b"="
    n = len(target)
    while pos <= n:
        amp = target.find(b"&", pos)
        if amp < 0:
            amp = n
        if target.startswith(key, pos):
            return pos + len(key), amp
        pos = amp + 1
    return None


def queryParam(target: bytes, name: bytes) -> bytes | None:
    """
    The raw value of the first C{name=} query parameter of a request-target.
    """
    span = _paramSpan(target, name)
    if span is None:
        return None
    return target[span[0] : span[1]]


def setQueryParam(target: bytes, name: bytes, value: bytes) -> bytes:
    """
    Replace the value of the first C{name=} parameter, or append
    C{?name=value} / C{&name=value}.
    """
    span = _paramSpan(target, name)
    if span is not None:
        return target[: span[0]] + value + target[span[1] :]
    sep = b"&" if b"?" in target else b"?"
    return target + sep + name + b"=" + value


_ABSOLUTE = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


def setHost(payload: bytes, scheme: bytes, netloc: bytes) -> bytes:
    """
    Point a request at C{scheme://netloc}: an absolute-form target gets its
    scheme and authority replaced (its C{Host} header is left alone, as
    GoReplay does); an origin-form request gets its C{Host} header set
    (inserted after the request line when absent).
    """
    sp = payload.find(b" ")
    if payload[sp + 1 : sp + 2] == b"/":
        return setHeader(payload, b"Host", netloc)  # origin-form, the usual case
    target = requestTarget(payload)
    if target is not None:
        m = _ABSOLUTE.match(target)
        if m is not None:
            return setRequestTarget(payload, scheme + b"://" + netloc + target[m.end() :])
    return setHeader(payload, b"Host", netloc)


__all__ = [
    "METHODS",
    "isRequestLine",
    "isStatusLine",
    "statusCode",
    "method",
    "requestTarget",
    "setRequestTarget",
    "headersEnd",
    "body",
    "headerSpan",
    "getHeader",
    "getHeaders",
    "setHeader",
    "deleteHeader",
    "queryParam",
    "setQueryParam",
    "setHost",
]
