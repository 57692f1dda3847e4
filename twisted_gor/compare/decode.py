# -*- test-case-name: tests.test_compare_logic -*-
"""
Turn a recorded HTTP response (a type 2 or type 3 payload) into what the
comparison looks at: the status code, the headers and the body after undoing
the chunked transfer coding and the gzip/deflate content coding.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from twisted_gor._httphead import getHeaders, headersEnd, statusCode

MAX_DECODED = 16 * 1024 * 1024
"""Decoded bodies are cut at this size (a gzip bomb cannot exhaust memory)."""

NO_BODY_STATUS = frozenset({204, 304})


@dataclass
class DecodedResponse:
    """
    A response as compared.

    @ivar status: the status code, or L{None} when the payload is not a response.
    @ivar headers: C{{lower-case name: [values...]}}.
    @ivar body: the decoded body.
    @ivar problems: what could not be decoded (C{"chunked"}, C{"gzip"},
        C{"deflate"}, C{"encoding:br"}, C{"truncated"}, ...); the body is then
        compared as far as it could be decoded.
    """

    status: int | None
    headers: dict[str, list[str]]
    body: bytes
    problems: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """
        All values of header C{name} (lower-case) joined by C{", "}, or L{None}.
        """
        values = self.headers.get(name)
        return None if values is None else ", ".join(values)


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """
    Undo the chunked transfer coding.

    @return: the body and whether the chunked framing was complete (a
        truncated recording yields what could be read, and C{False}).
    """
    out: list[bytes] = []
    pos = 0
    n = len(data)
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return b"".join(out), False
        line = data[pos:nl].split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            return b"".join(out), False
        pos = nl + 1
        if size == 0:
            return b"".join(out), True
        if pos + size > n:
            out.append(data[pos:])
            return b"".join(out), False
        out.append(data[pos : pos + size])
        pos += size
        # The CRLF after each chunk's data.
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1


def _inflate(data: bytes, wbits: int) -> tuple[bytes, bool]:
    """
    Decompress C{data}; C{(result, complete)}; raises L{zlib.error}.
    """
    d = zlib.decompressobj(wbits)
    result = d.decompress(data, MAX_DECODED)
    return result, d.eof and not d.unconsumed_tail


def undoContentCoding(body: bytes, coding: str, problems: list[str]) -> bytes:
    """
    Undo one content coding (C{gzip}, C{x-gzip}, C{deflate}); unknown codings
    leave the body as it is and are noted in C{problems}.
    """
    if coding in ("", "identity") or not body:
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            result, complete = _inflate(body, 16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            # RFC 9110 says zlib-wrapped; some servers send raw deflate.
            try:
                result, complete = _inflate(body, zlib.MAX_WBITS)
            except zlib.error:
                result, complete = _inflate(body, -zlib.MAX_WBITS)
        else:
            problems.append("encoding:" + coding)
            return body
    except zlib.error:
        problems.append(coding)
        return body
    if not complete:
        problems.append("truncated")
    return result


def decodeResponse(payload: bytes, headRequest: bool = False) -> DecodedResponse:
    """
    Decode a raw HTTP/1.x response.

    @param headRequest: the request was C{HEAD}: the response has no body
        whatever its headers say.
    """
    status = statusCode(payload)
    end = headersEnd(payload)
    if status is None or end < 0:
        return DecodedResponse(status, {}, b"" if end < 0 else payload[end:], ["head"])
    headers: dict[str, list[str]] = {}
    for name, value in getHeaders(payload[:end]):
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    problems: list[str] = []
    if headRequest or status in NO_BODY_STATUS or 100 <= status < 200:
        return DecodedResponse(status, headers, b"", problems)
    raw = payload[end:]
    codings = [
        c.strip().lower() for v in headers.get("transfer-encoding", ()) for c in v.split(",") if c.strip()
    ]
    if codings and codings[-1] == "chunked":
        raw, complete = dechunk(raw)
        if not complete:
            problems.append("chunked")
        codings = codings[:-1]
    else:
        length = headers.get("content-length")
        if length:
            try:
                wanted = int(length[0])
            except ValueError:
                wanted = -1
            if wanted >= 0:
                if len(raw) < wanted:
                    problems.append("truncated")
                raw = raw[:wanted]
    # Content codings were applied first, then transfer codings: undo the
    # remaining transfer codings, then the content codings, last applied first.
    contentCodings = [
        c.strip().lower() for v in headers.get("content-encoding", ()) for c in v.split(",") if c.strip()
    ]
    for coding in reversed(contentCodings + codings):
        before = len(problems)
        raw = undoContentCoding(raw, coding, problems)
        if len(problems) > before and problems[-1] != "truncated":
            break
    return DecodedResponse(status, headers, raw, problems)
