# -*- test-case-name: tests.test_pipeline,tests.test_testing -*-
"""
In-memory inputs and outputs for testing code that embeds or extends gor.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from twisted_gor._interfaces import IBackpressure, IMessageReceiver
from twisted_gor.base import InputBase, OutputBase
from twisted_gor.config import Prebuilt
from twisted_gor.message import Message
from twisted_gor.raw.decode import DLT_EN10MB


class MemoryInput(InputBase):
    """
    An input driven by the test: call L{push} to emit, L{exhaust} to end it.
    """

    def __init__(self, finite: bool = False) -> None:
        InputBase.__init__(self, "input_memory")
        self._exhausted: Deferred[None] | None = Deferred() if finite else None

    def push(self, message: Message) -> None:
        """
        Emit C{message} now.
        """
        self.emit(message)

    def exhaust(self) -> None:
        """
        Declare that nothing more will be emitted.
        """
        if self._exhausted is not None and not self._exhausted.called:
            self._exhausted.callback(None)

    def whenExhausted(self) -> Deferred[None] | None:
        return self._exhausted


class MemoryOutput(OutputBase):
    """
    Records every message written to it in L{messages}.
    """

    def __init__(self, acceptedTypes: frozenset[int] = frozenset({1, 2, 3})) -> None:
        OutputBase.__init__(self, "output_memory")
        self.acceptedTypes = acceptedTypes
        self.messages: list[Message] = []

    def write(self, message: Message) -> None:
        """
        Record the message.
        """
        self.stats.increment("written")
        self.messages.append(message)

    def stopService(self) -> Deferred[None]:
        OutputBase.stopService(self)
        return succeed(None)


class MemoryConfig(Prebuilt):
    """
    L{twisted_gor.Prebuilt} under its older name: a config that builds a
    given, pre-made input or output.
    """


@implementer(IMessageReceiver)
class MessageCollector:
    """
    A receiver that keeps every message pushed into it.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def messageReceived(self, message: Message) -> None:
        """
        Keep the message.
        """
        self.messages.append(message)


@implementer(IBackpressure)
class RecordingBackpressure:
    """
    Records the C{"pause"} and C{"resume"} calls an output makes.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self, output: Any) -> None:
        """
        Record a pause.
        """
        self.calls.append("pause")

    def resume(self, output: Any) -> None:
        """
        Record a resume.
        """
        self.calls.append("resume")


class FakePcapHandle:
    """
    A pcap handle (L{twisted_gor.raw.source.PcapHandle}) whose packets come
    from a list: test code that embeds or extends a raw input (C{--input-raw})
    without root, without a network and without libpcap.

    Hand it to L{twisted_gor.raw.input.RawInput} in place of a live capture,
    on a memory reactor, and drive the reader the input registers::

        from twisted.internet.testing import MemoryReactorClock
        from twisted_gor.raw.input import RawInput, RawInputConfig
        from twisted_gor.testing import FakePcapHandle, MessageCollector

        handle = FakePcapHandle([(timestampNs, ethernetFrame), ...])
        reactor = MemoryReactorClock()
        raw = RawInput(
            RawInputConfig(address="lo:80"),
            reactor=reactor,
            openLive=lambda device, bpf, options: handle,
        )
        collector = MessageCollector()
        raw.setReceiver(collector)
        raw.privilegedStartService()
        raw.startService()
        for reader in list(reactor.readers):
            reader.doRead()  # delivers the packets; collector.messages fills

    (C{openOffline=lambda path, bpf: handle} does the same for a savefile
    address, read by a cooperator on the reactor.) Frames are link-layer
    bytes of L{linktype}; append to L{packets} to deliver more on the next
    read, and advance the clock to run the input's housekeeping (expiry,
    L{stats} polling). C{raw.stopService()} returns a Deferred that fires
    once the input has read the ring for one more buffer timeout: advance the
    clock past C{raw.config.bufferTimeout + raw.drainGrace}.

    @ivar packets: the C{(timestamp in nanoseconds, frame)} pairs not yet
        delivered, in order.
    @ivar linktype: the link type L{datalink} reports (C{DLT_EN10MB},
        Ethernet, unless given).
    @ivar delivered: how many packets L{dispatch} delivered so far.
    @ivar kernelDrops: the kernel drop count L{stats} reports.
    @ivar interfaceDrops: the interface drop count L{stats} reports.
    @ivar filter: the BPF filter last set with L{setfilter} (C{""} if none).
    @ivar error: when not L{None}, L{dispatch} fails (returns -1) and
        L{geterr} returns this message, as libpcap does on a read error.
    @ivar closed: whether L{close} was called.
    """

    def __init__(
        self,
        packets: Iterable[tuple[int, bytes]] = (),
        linktype: int = DLT_EN10MB,
        descriptor: int = -1,
    ) -> None:
        """
        @param packets: the C{(timestamp in nanoseconds, frame)} pairs to deliver.
        @param linktype: the link type of the frames.
        @param descriptor: what L{fileno} returns; only a memory reactor
            accepts the default (-1, as for a savefile), a real one would need
            a real descriptor.
        """
        self.packets: list[tuple[int, bytes]] = list(packets)
        self.linktype = linktype
        self.descriptor = descriptor
        self.delivered = 0
        self.kernelDrops = 0
        self.interfaceDrops = 0
        self.filter = ""
        self.error: str | None = None
        self.closed = False

    def fileno(self) -> int:
        """
        The descriptor given at creation.
        """
        return self.descriptor

    def dispatch(self, cnt: int, callback: Callable[[int, bytes], None]) -> int:
        """
        Deliver up to C{cnt} of the pending packets (all of them if C{cnt}
        is not positive) to C{callback}.

        @return: how many were delivered (0 when none is pending), or -1 when
            L{error} is set.
        """
        if self.error is not None:
            return -1
        count = len(self.packets) if cnt <= 0 else cnt
        batch, self.packets = self.packets[:count], self.packets[count:]
        for ts, data in batch:
            self.delivered += 1
            callback(ts, data)
        return len(batch)

    def stats(self) -> tuple[int, int, int]:
        """
        C{(received, dropped by the kernel, dropped by the interface)}:
        L{delivered}, L{kernelDrops}, L{interfaceDrops}.
        """
        return (self.delivered, self.kernelDrops, self.interfaceDrops)

    def datalink(self) -> int:
        """
        The link type given at creation.
        """
        return self.linktype

    def setfilter(self, value: str, optimize: int = 1) -> None:
        """
        Remember the filter (it is not applied: every packet is delivered).
        """
        self.filter = value

    def geterr(self) -> str:
        """
        The message of L{error}, or C{""}.
        """
        return self.error or ""

    def close(self) -> None:
        """
        Note that the handle was released.
        """
        self.closed = True
