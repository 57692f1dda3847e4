# -*- test-case-name: tests.test_http_circuit -*-
"""
A circuit breaker per replay target: a target that refuses, cannot be
reached or never answers costs (almost) nothing.

Closed, every request is sent. After C{threshold} consecutive failures of
the kind that say the target is down (refused, unreachable, connect or
response timeout) with no success between them, the circuit opens: requests
are not sent but counted at once (C{failed.target_down}), so no socket, no
connect and no timer is spent on them. After a delay (doubling from
C{initialDelay} up to C{maxDelay}) one request is let through as a probe,
and the requests that come while it is out wait in the output's queue; if it
succeeds the circuit closes and they are sent, if it fails the circuit opens
again for longer. An
answer of any status, even 5xx, is a success: the target is up.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

DOWN_REASONS = frozenset({"refused", "connect_timeout", "timeout", "connect", "dns", "reset"})
"""Failure reasons that count towards opening the circuit."""

CLOSED = "closed"
OPEN = "open"
PROBING = "probing"


class Circuit:
    """
    The state of one target.

    @ivar state: L{CLOSED}, L{OPEN} or L{PROBING}.
    @ivar failures: consecutive down-failures while closed.
    @ivar lastReason: the reason of the last down-failure.
    @ivar delay: the current wait before the next probe.
    """

    def __init__(
        self, clock: IReactorTime, threshold: int = 5, initialDelay: float = 0.1, maxDelay: float = 5.0
    ) -> None:
        self._clock = clock
        self.threshold = threshold
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.state = CLOSED
        self.failures = 0
        self.lastReason = ""
        self.delay = initialDelay
        self._retryAt = 0.0

    def allow(self) -> bool:
        """
        Whether to send the next request now (when open and due, that
        request becomes the probe).
        """
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN and self._clock.seconds() >= self._retryAt:
            self.state = PROBING
            return True
        return False

    def succeeded(self) -> bool:
        """
        A request got an answer. Returns whether this closed an open circuit.
        """
        self.failures = 0
        if self.state == CLOSED:
            return False
        self.state = CLOSED
        self.delay = self.initialDelay
        return True

    def failed(self, reason: str) -> bool:
        """
        A request failed for C{reason}. Returns whether this opened a closed
        circuit (a failed probe re-opens it quietly, for twice as long).
        """
        if reason not in DOWN_REASONS:
            return False
        self.lastReason = reason
        if self.state == CLOSED:
            self.failures += 1
            if self.failures < self.threshold:
                return False
            self._open(self.initialDelay)
            return True
        if self.state == PROBING:
            self._open(min(self.maxDelay, self.delay * 2))
        return False

    def _open(self, delay: float) -> None:
        self.state = OPEN
        self.delay = delay
        self._retryAt = self._clock.seconds() + delay
