"""
Tests for the public test helpers of L{twisted_gor.testing} that no other
test module covers: L{FakePcapHandle}, used the way its docstring says.
"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.pcapgen import Conversation
from twisted_gor.raw.input import RawInput, RawInputConfig
from twisted_gor.raw.reader import PcapReader
from twisted_gor.raw.source import PcapHandle
from twisted_gor.testing import FakePcapHandle, MessageCollector


class FakePcapHandleTests(SynchronousTestCase):
    """
    L{FakePcapHandle} behaves like a non-blocking pcap handle.
    """

    def test_isAPcapHandle(self) -> None:
        """
        It has everything of L{PcapHandle} (checked by mypy through this
        assignment, and at run time here).
        """
        handle: PcapHandle = FakePcapHandle()
        for name in ("fileno", "dispatch", "stats", "datalink", "setfilter", "geterr", "close"):
            self.assertTrue(callable(getattr(handle, name)), name)

    def test_dispatch(self) -> None:
        """
        C{dispatch(n)} delivers at most C{n} pending packets in order (all of
        them for C{n <= 0}), returns how many, and counts them in C{stats}.
        """
        handle = FakePcapHandle([(i, b"%d" % i) for i in range(5)])
        seen: list[tuple[int, bytes]] = []
        self.assertEqual(handle.dispatch(2, lambda ts, data: seen.append((ts, data))), 2)
        self.assertEqual(handle.dispatch(-1, lambda ts, data: seen.append((ts, data))), 3)
        self.assertEqual(handle.dispatch(10, lambda ts, data: seen.append((ts, data))), 0)
        self.assertEqual(seen, [(i, b"%d" % i) for i in range(5)])
        handle.kernelDrops = 7
        self.assertEqual(handle.stats(), (5, 7, 0))

    def test_error(self) -> None:
        """
        With C{error} set, C{dispatch} fails as libpcap does, and the reader
        reports it (which disconnects it from the reactor).
        """
        handle = FakePcapHandle([(0, b"x")])
        handle.error = "interface went down"
        reader = PcapReader(handle, lambda ts, data: None, reactor=MemoryReactorClock())
        result = reader.doRead()
        assert isinstance(result, Failure)
        self.assertIn("interface went down", result.getErrorMessage())
        self.assertEqual(handle.packets, [(0, b"x")])

    def test_docstringRecipe(self) -> None:
        """
        A live raw input on a memory reactor with a fake handle: the request
        and response of a captured exchange come out, the filter was set by
        the input's opener, and stopping closes the handle.
        """
        c = Conversation().handshake()
        c.send(b"GET /fake HTTP/1.1\r\nHost: x\r\n\r\n").send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False)
        handle = FakePcapHandle(c.packets)
        reactor = MemoryReactorClock()
        filters: list[str] = []

        def openLive(device: str, bpf: str, options: object) -> FakePcapHandle:
            filters.append(bpf)
            return handle

        raw = RawInput(RawInputConfig(address="lo:80", trackResponse=True), reactor=reactor, openLive=openLive)
        collector = MessageCollector()
        raw.setReceiver(collector)
        raw.privilegedStartService()
        raw.startService()
        for reader in list(reactor.readers):
            reader.doRead()
        self.assertEqual([m.type for m in collector.messages], [1, 2])
        self.assertEqual(collector.messages[0].payload, b"GET /fake HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(collector.messages[0].id, collector.messages[1].id)
        self.assertIn("port 80", filters[0])
        stopped = raw.stopService()
        reactor.advance(raw.config.bufferTimeout + raw.drainGrace + 0.02)
        self.successResultOf(stopped)
        self.assertTrue(handle.closed)
