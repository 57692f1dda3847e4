# -*- test-case-name: tests.test_http_fastpath -*-
"""
The replay client's per-request fast paths, with an optional compiled twin.

Two functions run once per replayed request:

 - L{frameResponse}: whether one read holds a whole final response framed
   by its head alone (C{Content-Length}, or no body), and if so its length,
   status and whether the connection closes after it. Anything else
   (interim, chunked, until close, split over reads, malformed) answers
   L{None} and takes the shared incremental framer
   (L{twisted_gor._http1.Framer}), which is the reference for everything.
 - L{setOriginHost}: a well-formed origin-form request (not C{CONNECT}) with
   its C{Host} header set to the target, exactly as
   L{twisted_gor._httphead.setHost} does, or L{None} for any other payload
   (the output's general preparation then decides: dropped, skipped,
   rewritten).

The pure-Python versions below are the reference: they call the shared
modules (L{twisted_gor._http1.parseHead}, L{twisted_gor._httphead}). The
compiled twin (C{_cfastpath.pyx}, built by C{setup.py} when Cython and a C
compiler are there) gives the same answer for every input (the differential
tests in C{tests.test_http_fastpath} run both on well-formed, malformed,
truncated and oversized inputs). C{TWISTED_GOR_PURE=1} in the environment
(read once, at import) selects the pure versions even when the compiled one
is built; L{COMPILED} says which are in use.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from twisted_gor._http1 import LENGTH, MAX_HEAD, NO_BODY, Frame, FramingError, parseHead
from twisted_gor._httphead import isRequestLine, setHeader


def frameResponsePure(data: bytes, isHead: bool) -> Optional[tuple[int, int, bool]]:
    """
    C{(total, status, closeAfter)} when C{data} starts with a whole final
    response whose length its head alone gives (C{total} bytes; C{data} may
    hold more), else L{None}.

    @param isHead: the request was a C{HEAD} (the response has no body).
    """
    if data[:5] != b"HTTP/":
        return None
    e = data.find(b"\r\n\r\n")
    if not 0 < e < MAX_HEAD or data.find(b"\n\n", 0, e + 2) >= 0:
        return None
    end = e + 4
    try:
        frame: Frame = parseHead(data[:end], False, b"HEAD" if isHead else None)
    except FramingError:
        return None
    if frame.interim or frame.tunnel or frame.flags:
        return None
    kind = frame.bodyKind
    total = end + frame.length if kind == LENGTH else end if kind == NO_BODY else -1
    if 0 < total <= len(data):
        return total, frame.status, frame.closeAfter
    return None


def setOriginHost(payload: bytes, netloc: bytes) -> Optional[bytes]:
    """
    C{payload} with its C{Host} set to C{netloc} when it is a request line of
    a known method other than C{CONNECT} with an origin-form target (what
    L{twisted_gor._httphead.setHost} does to it), else L{None}.
    """
    if not isRequestLine(payload) or payload.startswith(b"CONNECT "):
        return None
    sp = payload.find(b" ")
    if payload[sp + 1 : sp + 2] != b"/":
        return None
    return setHeader(payload, b"Host", netloc)


frameResponse: Callable[[bytes, bool], Optional[tuple[int, int, bool]]] = frameResponsePure
setOriginHostFast: Callable[[bytes, bytes], Optional[bytes]] = setOriginHost
COMPILED = False
"""Whether the compiled twins are in use."""

if not os.environ.get("TWISTED_GOR_PURE"):
    try:
        from twisted_gor.http._cfastpath import frameResponse as _cFrame, setOriginHost as _cHost
    except ImportError:
        pass
    else:
        frameResponse = _cFrame
        setOriginHostFast = _cHost
        COMPILED = True

__all__ = ["COMPILED", "frameResponse", "frameResponsePure", "setOriginHost", "setOriginHostFast"]
