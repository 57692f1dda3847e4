# -*- test-case-name: tests.test_prettify -*-
"""
C{--prettify-http}: HTTP/1 messages with their bodies in the clear.

For requests and responses alike: a chunked body is de-chunked (trailers
dropped), a C{gzip}/C{x-gzip}/C{deflate} content coding is undone, then
C{Transfer-Encoding} and C{Content-Encoding} are removed and
C{Content-Length} is set to the new body's length. Framing comes from the one
HTTP/1 framer (L{twisted_gor._http1.frameOne}); header edits from
L{twisted_gor._httphead}.

Applied by the pipeline to what outputs get (after the filters, as GoReplay
orders it) and by a middleware stage to what the middleware receives.

Decisions (where GoReplay differs):
  - A message that cannot be prettified is kept as it is and counted
    (C{kept.*}); GoReplay drops a message whose gzip header is bad. Reasons:
    C{kept.incomplete} (a chunked or compressed body cut short, e.g. by
    C{--copy-buffer-size}), C{kept.bad_chunk}, C{kept.bad_coding} (not valid
    gzip/deflate), C{kept.unsupported_coding} (C{br}, several codings),
    C{kept.too_large} (the decoded body would exceed the bound).
  - Decoded bodies are bounded by the prettifier's C{maxSize} (the
    C{--copy-buffer-size}): a gzip bomb costs at most that much memory.
  - C{deflate} is inflated as zlib-wrapped or, failing that, raw deflate.
"""

from __future__ import annotations

import re
import zlib

from twisted_gor._http1 import CHUNKED, frameOne
from twisted_gor._httphead import deleteHeader, getHeader, headersEnd, isStatusLine, setHeader
from twisted_gor.message import Message
from twisted_gor.stats import Counters

_CODING_HEADER = re.compile(rb"\n(?:transfer|content)-encoding[ \t]*:", re.IGNORECASE)


class _Kept(Exception):
    """
    The message stays as it is; C{args[0]} names why.
    """


def _inflate(body: bytes, coding: bytes, maxSize: int) -> bytes:
    if coding in (b"gzip", b"x-gzip"):
        attempts = [16 + zlib.MAX_WBITS]
    elif coding == b"deflate":
        attempts = [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    else:
        raise _Kept("unsupported_coding")
    for wbits in attempts:
        d = zlib.decompressobj(wbits)
        try:
            result = d.decompress(body, maxSize + 1)
        except zlib.error:
            continue
        if len(result) > maxSize:
            raise _Kept("too_large")
        if not d.eof:
            raise _Kept("incomplete")
        return result
    raise _Kept("bad_coding")


def prettifyPayload(payload: bytes, maxSize: int = 5 * 1024 * 1024) -> bytes:
    """
    The payload with its body de-chunked and decompressed, or C{payload}
    itself when there is nothing to undo.

    @raise ValueError: the message cannot be prettified (its C{args[0]} is
        the reason: C{incomplete}, C{bad_chunk}, C{bad_coding},
        C{unsupported_coding}, C{too_large}); keep it as it is.
    """
    end = headersEnd(payload)
    if end < 0 or _CODING_HEADER.search(payload, 0, end) is None:
        return payload
    head = payload[:end]
    te = getHeader(head, b"Transfer-Encoding")
    ce = getHeader(head, b"Content-Encoding")
    try:
        if te is not None:
            if te.strip().lower() != b"chunked":
                raise _Kept("unsupported_coding")
            frame, error = frameOne(payload, not isStatusLine(payload))
            if error is not None:
                raise _Kept("bad_chunk")
            if frame is None or frame.bodyKind != CHUNKED or not frame.complete:
                raise _Kept("incomplete")
            body = frame.body
        else:
            body = payload[end:]
        coding = ce.strip().lower() if ce is not None else b""
        if coding and coding != b"identity":
            body = _inflate(body, coding, maxSize)
    except _Kept as e:
        raise ValueError(e.args[0]) from None
    while getHeader(head, b"Transfer-Encoding") is not None:
        head = deleteHeader(head, b"Transfer-Encoding")
    while getHeader(head, b"Content-Encoding") is not None:
        head = deleteHeader(head, b"Content-Encoding")
    head = setHeader(head, b"Content-Length", b"%d" % len(body))
    return head + body


class Prettifier:
    """
    C{--prettify-http} as a step: a callable turning a message into its
    prettified copy (or itself), counting what it did.

    @ivar stats: C{prettified}, and C{kept.<reason>} for messages left as
        they were (see the module's decisions).
    """

    name = "prettify"

    def __init__(self, maxSize: int = 5 * 1024 * 1024) -> None:
        self.maxSize = maxSize
        self.stats = Counters()

    def __call__(self, message: Message) -> Message:
        """
        Prettify one message of any type.
        """
        payload = message.payload
        try:
            pretty = prettifyPayload(payload, self.maxSize)
        except ValueError as e:
            self.stats.increment("kept." + str(e.args[0]))
            return message
        if pretty is payload:
            return message
        self.stats.increment("prettified")
        return message.replace(payload=pretty)


__all__ = ["Prettifier", "prettifyPayload"]
