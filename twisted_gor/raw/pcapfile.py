# -*- test-case-name: tests.test_raw_reassembly,tests.test_raw_live -*-
"""
Reading a pcap savefile through the capture pipeline, without blocking the
reactor: as fast as possible in bounded batches under C{task.cooperate}, or at
the original timing (each packet delivered when as much reactor time has
passed since the first one as capture time did; time spent paused does not
count).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from twisted.internet import task
from twisted.internet.defer import Deferred

from twisted_gor.raw.source import PcapHandle


class PcapFileReader:
    """
    Deliver every packet of a savefile to C{packetReceived}, then fire
    L{done}.

    @ivar done: fires (with L{None}) after the last packet.
    @ivar error: libpcap's message when the file could not be read to its end
        (a corrupt record header); libpcap cannot go past it, so reading
        stops there. L{None} after a clean end.
    """

    batch = 2000

    def __init__(
        self,
        handle: PcapHandle,
        packetReceived: Callable[[int, bytes], None],
        reactor: Any,
        originalTiming: bool = False,
        afterRead: Callable[[], None] = lambda: None,
    ) -> None:
        """
        @param afterRead: called after each batch of packets (each packet
            with C{originalTiming}) was delivered.
        """
        self._handle = handle
        self._afterRead = afterRead
        self._packetReceived = packetReceived
        self._reactor = reactor
        self._originalTiming = originalTiming
        self._task: Optional[task.CooperativeTask] = None
        self._paused = False
        self._stopped = False
        self._delayed: Any = None
        self._held: Optional[tuple[int, bytes]] = None
        self._base: Optional[tuple[int, float]] = None
        self._pausedAt: Optional[float] = None
        self.done: Deferred[None] = Deferred()
        self.packets = 0
        self.error: Optional[str] = None

    def start(self) -> None:
        """
        Start reading.
        """
        if self._originalTiming:
            self._next()
            return
        cooperator = task.Cooperator(scheduler=lambda f: self._reactor.callLater(0, f))
        self._task = cooperator.cooperate(self._fast())
        self._task.whenDone().addBoth(lambda _: self._finish())

    def _fast(self) -> Iterator[None]:
        handle, received = self._handle, self._packetReceived
        counted = [0]

        def deliver(ts: int, data: bytes) -> None:
            # counted here: a batch that ends on a corrupt record returns -1
            # after delivering the packets before it
            counted[0] += 1
            received(ts, data)

        while not self._stopped:
            try:
                n = handle.dispatch(self.batch, deliver)
            finally:
                self._afterRead()
            self.packets = counted[0]
            if n <= 0:
                self._checkError(n)
                return
            yield None

    def _hold(self, ts: int, data: bytes) -> None:
        self._held = (ts, data)

    def _next(self) -> None:
        self._delayed = None
        while not self._stopped and not self._paused:
            if self._held is None:
                n = self._handle.dispatch(1, self._hold)
                if n <= 0 or self._held is None:
                    self._checkError(n)
                    self._finish()
                    return
            ts, data = self._held
            now = self._reactor.seconds()
            if self._base is None:
                self._base = (ts, now)
            due = self._base[1] + (ts - self._base[0]) / 1e9
            if due > now:
                self._delayed = self._reactor.callLater(due - now, self._next)
                return
            self._held = None
            self.packets += 1
            self._packetReceived(ts, data)
            self._afterRead()

    def _checkError(self, n: int) -> None:
        if n < 0 and not self._stopped:
            message: Any = self._handle.geterr()
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            self.error = str(message) or f"pcap_dispatch returned {n}"

    def _finish(self) -> None:
        if self.done.called:
            return
        self._handle.close()
        self.done.callback(None)

    def pause(self) -> None:
        """
        Stop delivering until L{resume}.
        """
        if self._paused:
            return
        self._paused = True
        self._pausedAt = self._reactor.seconds()
        if self._task is not None:
            try:
                self._task.pause()
            except task.TaskDone:
                pass
        if self._delayed is not None:
            self._delayed.cancel()
            self._delayed = None

    def resume(self) -> None:
        """
        Deliver again.
        """
        if not self._paused:
            return
        self._paused = False
        if self._task is not None:
            try:
                self._task.resume()
            except task.TaskDone:
                pass
        elif self._originalTiming and not self.done.called:
            # The time spent paused shifts the rest of the capture: the gaps
            # between the packets still to come stay as recorded.
            if self._base is not None and self._pausedAt is not None:
                packetTs, startedAt = self._base
                self._base = (packetTs, startedAt + self._reactor.seconds() - self._pausedAt)
            self._pausedAt = None
            self._next()

    def stop(self) -> None:
        """
        Stop reading now; L{done} fires.
        """
        self._stopped = True
        if self._delayed is not None:
            self._delayed.cancel()
            self._delayed = None
        if self._task is not None:
            try:
                self._task.stop()
            except task.TaskDone:
                pass
        self._finish()
