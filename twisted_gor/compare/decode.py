# -*- test-case-name: tests.test_compare_logic,tests.test_http1 -*-
"""
Turn a recorded HTTP response (a type 2 or type 3 payload) into what the
comparison looks at: the status code, the headers and the body after undoing
the chunked transfer coding (with the shared framer L{twisted_gor._http1}) and
the gzip/deflate content coding.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from twisted_gor._http1 import CHUNKED, LENGTH, dechunk, frameOne
from twisted_gor._httphead import getHeaders, headersEnd, statusCode

MAX_DECODED = 16 * 1024 * 1024
"""Decoded bodies are cut at this size (a gzip bomb cannot exhaust memory)."""


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
    Decode a raw HTTP/1.x response, framed by the shared L{twisted_gor._http1}
    framer (interim 1xx responses before it are skipped).

    Problems noted: C{head} (no complete status line and headers),
    C{chunked} (chunked body cut short), C{truncated} (Content-Length body cut
    short, or a content coding cut short), a L{twisted_gor._http1} error kind
    (C{conflicting_length}, C{bad_chunk}, ...) when the framing is malformed,
    C{te_and_cl} when chunked won over a Content-Length, and the content
    coding problems of L{undoContentCoding}.

    @param headRequest: the request was C{HEAD}: the response has no body
        whatever its headers say.
    """
    frame, error = frameOne(payload, False, b"HEAD" if headRequest else None)
    problems: list[str] = []
    if frame is None:
        status = statusCode(payload)
        end = headersEnd(payload)
        if status is None or end < 0:
            return DecodedResponse(status, {}, b"" if end < 0 else payload[end:], ["head"])
        head, raw = payload[:end], b""
    else:
        status, head, raw = frame.status, frame.head, frame.body
        problems.extend(frame.flags)
        if not frame.complete and error is None:
            problems.append("chunked" if frame.bodyKind == CHUNKED else "truncated")
    if error is not None:
        problems.append(error.kind)
    headers: dict[str, list[str]] = {}
    for name, value in getHeaders(head):
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    if frame is None or frame.bodyKind not in (CHUNKED, LENGTH) and not raw:
        return DecodedResponse(status, headers, raw, problems)
    codings = [
        c.strip().lower() for v in headers.get("transfer-encoding", ()) for c in v.split(",") if c.strip()
    ]
    if frame.bodyKind == CHUNKED:
        codings = codings[:-1]
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


__all__ = ["MAX_DECODED", "DecodedResponse", "decodeResponse", "dechunk", "undoContentCoding"]
