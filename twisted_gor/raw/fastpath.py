# -*- test-case-name: tests.test_raw_fastpath -*-
"""
Which per-packet function a capture uses: the compiled one
(L{twisted_gor.raw._fastcapture.FastPacket}, built from Cython source by pip
when a C compiler is there) or its pure-Python twin (the closure made by
L{twisted_gor.raw.reassembly.Tracker.packetHandler}), the reference.

C{TWISTED_GOR_PURE=1} in the environment (read once, at import) selects the
pure-Python twin even when the compiled module is built.
"""

from __future__ import annotations

import os
from typing import Any, Optional

PURE = os.environ.get("TWISTED_GOR_PURE", "") not in ("", "0")
"""C{TWISTED_GOR_PURE} was set: the compiled speed-ups are not used."""

FastPacket: Optional[Any]
"""The compiled per-packet class, or L{None} (not built, or L{PURE})."""

BUILD_ERROR: Optional[str] = None
"""Why the compiled module is not used, if it is not."""

Compiled: Optional[Any]
"""The compiled per-packet class if it is built (whatever L{PURE} says)."""

try:
    from twisted_gor.raw import _fastcapture  # type: ignore[attr-defined,unused-ignore]
except ImportError as e:
    Compiled = None
    BUILD_ERROR = f"twisted_gor.raw._fastcapture is not built ({e})"
else:
    Compiled = _fastcapture.FastPacket

FastPacket = None if PURE else Compiled
if PURE:
    BUILD_ERROR = "TWISTED_GOR_PURE is set"

__all__ = ["PURE", "FastPacket", "Compiled", "BUILD_ERROR"]
