# -*- test-case-name: tests.test_raw_reassembly,tests.test_relay_unit -*-
"""
The local TCP endpoints of gor's own outgoing connections.

Outputs that open connections (C{--output-http}, C{--output-tcp}) register the
local address of each one in their service's L{SelfPorts} (one per
L{twisted_gor.service.GorService}, handed out by its build context); a live
capture of the same service ignores flows whose client side is registered, so replaying to the captured port never captures the replay again.
Closed endpoints are remembered for a grace period, because the capture may
process a connection's packets after it was closed.
"""

from __future__ import annotations

import time
from typing import Callable


class SelfPorts:
    """
    A set of C{(ip, port)} local endpoints with a grace period after removal.
    """

    def __init__(self, grace: float = 30.0, now: Callable[[], float] = time.monotonic) -> None:
        self._open: dict[tuple[str, int], int] = {}
        self._closed: dict[tuple[str, int], float] = {}
        self._grace = grace
        self._now = now

    def add(self, ip: str, port: int) -> None:
        """
        Register an open connection's local endpoint.
        """
        key = (ip, port)
        self._open[key] = self._open.get(key, 0) + 1
        self._closed.pop(key, None)

    def remove(self, ip: str, port: int) -> None:
        """
        The connection closed; keep it known for the grace period.
        """
        key = (ip, port)
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
            return
        self._open.pop(key, None)
        now = self._now()
        self._closed[key] = now + self._grace
        if len(self._closed) > 4096:
            self._closed = {k: t for k, t in self._closed.items() if t > now}

    def __contains__(self, endpoint: tuple[str, int]) -> bool:
        if endpoint in self._open:
            return True
        until = self._closed.get(endpoint)
        if until is None:
            return False
        if until < self._now():
            del self._closed[endpoint]
            return False
        return True

    def __len__(self) -> int:
        return len(self._open)

