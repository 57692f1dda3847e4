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

    def __init__(
        self,
        handle: PcapHandle,
        packetReceived: Callable[[int, bytes], None],
        reactor: Any = None,
        name: str = "pcap",
    ) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._handle: Optional[PcapHandle] = handle
        self._packetReceived = packetReceived
        self._name = name
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
            return None
        if n < 0:
            return Failure(OSError(f"pcap error on {self._name}: {handle.geterr()}"))
        self.packets += n
        return None

    def connectionLost(self, reason: Failure) -> None:
        """
        Close the handle.
        """
        abstract.FileDescriptor.connectionLost(self, reason)
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def logPrefix(self) -> str:
        """
        Log prefix for the reactor.
        """
        return self._name
