# -*- test-case-name: tests.test_raw_decode,tests.test_testing -*-
"""
Reading a live pcap handle in the reactor.

L{PcapReader} is an C{IReadDescriptor} on the handle's descriptor: each
C{doRead} delivers at most L{PcapReader.maxPacketsPerRead} packets (epoll is
level-triggered, the rest comes next turn), and never raises, because an
exception out of C{doRead} would disconnect the descriptor and silently stop
the capture.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import abstract
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor.raw.source import PcapHandle


class PcapReader(abstract.FileDescriptor):
    """
    Deliver the packets of a non-blocking pcap handle to C{packetReceived}
    (which must not raise; errors are caught here anyway).
    """

    log = Logger()
    maxPacketsPerRead = 2000
    busyBatch = 256
    """A read of at least this many packets means traffic is heavy: read
    again as soon as more is ready, without coalescing."""
    lowRate = 10_000
    """Packets per second (measured over about a second) under which reads
    are coalesced; above it every readiness is read (pausing a busy capture,
    even briefly, lost packets in the kernel at 80k packets/s)."""

    def __init__(
        self,
        handle: PcapHandle,
        packetReceived: Callable[[int, bytes], None],
        reactor: Any = None,
        name: str = "pcap",
        coalesce: float = 0.0,
        afterRead: Optional[Callable[[], None]] = None,
    ) -> None:
        """
        @param coalesce: after a read of fewer than L{busyBatch} packets,
            stop watching the descriptor for this many seconds (the kernel
            ring keeps the packets meanwhile): at low rates one wake-up
            reads several pcap blocks instead of one each (0 = read at
            every readiness).
        @param afterRead: called after each read of packets (the capture
            input hands on the messages the read completed), never raises.
        """
        abstract.FileDescriptor.__init__(self, reactor)
        self._handle: Optional[PcapHandle] = handle
        self._packetReceived = packetReceived
        self._afterRead = afterRead
        self._name = name
        self._coalesce = coalesce
        self._resume: Any = None
        self._low = False
        self._windowStart = -1.0
        self._windowPackets = 0
        self.packets = 0
        self.errors = 0
        self.connected = 1

    def fileno(self) -> int:
        """
        The handle's descriptor.
        """
        return self._handle.fileno() if self._handle is not None else -1

    def doRead(self) -> Optional[Failure]:
        """
        Deliver one bounded batch of packets.
        """
        handle = self._handle
        if handle is None:
            return None
        try:
            n = handle.dispatch(self.maxPacketsPerRead, self._packetReceived)
        except Exception:
            self.errors += 1
            self.log.failure("while reading packets from {name}", name=self._name)
            n = None
        afterRead = self._afterRead
        if afterRead is not None:
            afterRead()
        if n is None:
            return None
        if n < 0:
            return Failure(OSError(f"pcap error on {self._name}: {handle.geterr()}"))
        self.packets += n
        if self._coalesce:
            reactor: Any = self.reactor  # an IReactorTime too (the global one, or a test's clock)
            now = reactor.seconds()
            self._windowPackets += n
            elapsed = now - self._windowStart
            if self._windowStart < 0:
                self._windowStart = now
            elif elapsed >= 1.0:
                self._low = self._windowPackets < self.lowRate * elapsed
                self._windowStart, self._windowPackets = now, 0
            if self._low and n < self.busyBatch and self._resume is None:
                # (a read while already paused, e.g. a stop's drain, keeps
                # the one pending resume)
                self.stopReading()
                self._resume = reactor.callLater(self._coalesce, self._resumeReading)
        return None

    def _resumeReading(self) -> None:
        self._resume = None
        if self._handle is not None:
            self.startReading()

    def connectionLost(self, reason: Failure) -> None:
        """
        Close the handle.
        """
        if self._resume is not None and self._resume.active():
            self._resume.cancel()
        self._resume = None
        abstract.FileDescriptor.connectionLost(self, reason)
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def logPrefix(self) -> str:
        """
        Log prefix for the reactor.
        """
        return self._name
