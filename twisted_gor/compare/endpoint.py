# -*- test-case-name: tests.test_compare_logic -*-
"""
Endpoints: requests grouped by method and path, with the query string
dropped and identifier-like path segments folded to C{{id}}.
"""

from __future__ import annotations

import re

from twisted_gor._httphead import method as requestMethod
from twisted_gor._httphead import requestTarget

UNKNOWN = "(request not seen)"
"""The endpoint of a pair whose request was not seen."""

_ID_SEGMENT = re.compile(
    rb"""
    \A(?:
        [0-9]+                                           # 42
      | [0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}  # uuid
      | (?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{16,}            # long hex: hashes, object ids
    )\Z
    """,
    re.VERBOSE,
)


def foldPath(path: bytes) -> bytes:
    """
    C{path} without its query and fragment, identifier-like segments replaced
    by C{{id}}.
    """
    for mark in (b"?", b"#"):
        cut = path.find(mark)
        if cut >= 0:
            path = path[:cut]
    if path.startswith((b"http://", b"https://")):
        # Absolute form (proxies): keep the path only.
        slash = path.find(b"/", path.find(b"//") + 2)
        path = path[slash:] if slash >= 0 else b"/"
    segments = path.split(b"/")
    return b"/".join(b"{id}" if _ID_SEGMENT.match(s) else s for s in segments) or b"/"


def endpointOf(request: bytes) -> str:
    """
    C{"METHOD /folded/path"} of a raw request, or L{UNKNOWN}.
    """
    target = requestTarget(request)
    verb = requestMethod(request)
    if target is None or not verb:
        return UNKNOWN
    return (verb.upper() + b" " + foldPath(target)).decode("latin-1")
