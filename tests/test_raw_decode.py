"""
Tests for L{twisted_gor.raw.decode}, L{twisted_gor.raw.address},
L{twisted_gor.raw.httpstream} helpers and the capture flags.
"""

from __future__ import annotations


from typing import Callable, cast

from twisted.internet.testing import MemoryReactor, MemoryReactorClock
from twisted.logger import ILogObserver, Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from tests.pcapgen import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    Conversation,
    ipPacket,
    linkFrame,
    tcpHeader,
)
from twisted_gor.config import GorConfig
from twisted_gor.flags import defaultValues
from twisted_gor.raw import flags as rawflags
from twisted_gor.raw.address import bpfFilter, parseAddress
from twisted_gor.raw.decode import PSH, SYN, NotTCP, decoderFor
from twisted_gor._httphead import setHeader
from twisted_gor.raw.input import RawInput, RawInputConfig
from twisted_gor.raw.reader import PcapReader
from twisted_gor.testing import FakePcapHandle, MessageCollector


class DecodeTests(SynchronousTestCase):
    """
    Frames of every supported link type decode to the same segment.
    """

    def _check(self, linktype: int, src: str = "10.0.0.1", dst: str = "10.0.0.2", **kw: object) -> None:
        tcp = tcpHeader(1234, 80, 7, 9, PSH | 0x10, options=b"\x02\x04\x05\xb4") + b"payload"
        frame = linkFrame(linktype, ipPacket(src, dst, tcp, **kw))  # type: ignore[arg-type]
        seg = decoderFor(linktype)(frame + b"\x00\x00")  # trailing link padding ignored
        self.assertEqual(seg[2:8], (1234, 80, 7, 9, PSH | 0x10, b"payload"))
        self.assertFalse(seg[8])

    def test_linkTypes(self) -> None:
        """
        Ethernet, SLL, SLL2, NULL and raw IP, IPv4 and IPv6.
        """
        for linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW):
            self._check(linktype)
            self._check(linktype, "::1", "::2")

    def test_ipv4Options(self) -> None:
        """
        IPv4 options are skipped by IHL.
        """
        self._check(LINKTYPE_ETHERNET, ipOptions=b"\x01\x01\x01\x01\x01\x01\x01\x01")

    def test_ipv6Extension(self) -> None:
        """
        IPv6 hop-by-hop extension headers are followed.
        """
        self._check(LINKTYPE_ETHERNET, "::1", "::2", ext=True)

    def test_vlan(self) -> None:
        """
        An 802.1Q tag is skipped.
        """
        c = Conversation(vlan=12)
        frame = c.frame(True, 5, 6, SYN)
        self.assertEqual(decoderFor(LINKTYPE_ETHERNET)(frame)[6], SYN)

    def test_notTCP(self) -> None:
        """
        UDP and ARP raise NotTCP.
        """
        udp = linkFrame(LINKTYPE_ETHERNET, ipPacket("10.0.0.1", "10.0.0.2", b"\x00" * 8, proto=17))
        self.assertRaises(NotTCP, decoderFor(LINKTYPE_ETHERNET), udp)
        arp = b"\xff" * 12 + b"\x08\x06" + b"\x00" * 28
        self.assertRaises(NotTCP, decoderFor(LINKTYPE_ETHERNET), arp)

    def test_truncated(self) -> None:
        """
        A frame cut by the snapshot length is flagged truncated.
        """
        frame = Conversation().frame(True, 1, 1, PSH, b"x" * 100)
        seg = decoderFor(LINKTYPE_ETHERNET)(frame[:-10])
        self.assertTrue(seg[8])
        self.assertEqual(len(seg[7]), 90)

    def test_unsupported(self) -> None:
        """
        Unknown link types are refused.
        """
        self.assertRaises(ValueError, decoderFor, 9999)


class AddressTests(SynchronousTestCase):
    """
    GoReplay address forms.
    """

    devices = staticmethod(lambda: ["eth0", "eth1", "lo", "any"])

    def test_forms(self) -> None:
        """
        Every address form gives devices, host and ports.
        """
        p = lambda t: parseAddress(t, listDevices=self.devices)  # noqa: E731
        self.assertEqual(p(":80").devices, ("any",))
        self.assertEqual(p(":80").ports, (80,))
        self.assertEqual(p(":80,8080").ports, (80, 8080))
        self.assertEqual((p("127.0.0.1:80").devices, p("127.0.0.1:80").host), (("lo",), "127.0.0.1"))
        self.assertEqual((p("[::1]:80").devices, p("[::1]:80").host), (("lo",), "::1"))
        self.assertEqual((p("10.1.2.3:80").devices, p("10.1.2.3:80").host), (("any",), "10.1.2.3"))
        self.assertEqual(p("lo:80").devices, ("lo",))
        self.assertEqual(p("eth*:80").devices, ("eth0",))
        self.assertEqual(p("localhost:80").host, "127.0.0.1")
        self.assertEqual(p(":0").ports, ())
        self.assertEqual(parseAddress(":80", listDevices=self.devices, ignore=["eth1"]).devices, ("eth0", "lo"))

    def test_errors(self) -> None:
        """
        Bad ports, unknown interfaces, missing files and bare IPv6 are errors.
        """
        for bad in (":http", ":70000", "nope0:80", "x.pcap:80", "[::1"):
            self.assertRaises(ValueError, parseAddress, bad, listDevices=self.devices)

    def test_file(self) -> None:
        """
        A host ending in pcap is a savefile; no port means every port.
        """
        path = self.mktemp() + ".pcap"
        open(path, "wb").close()
        a = parseAddress(path)
        self.assertEqual((a.isFile, a.devices, a.ports), (True, (path,), ()))
        self.assertEqual(parseAddress(path + ":80").ports, (80,))

    def test_filter(self) -> None:
        """
        dst port (and host), the src mirror with track-response, VLAN prefixes.
        """
        a = parseAddress("127.0.0.1:80", listDevices=self.devices)
        self.assertEqual(bpfFilter(a, dataOnly=False), "tcp dst port 80 and dst host 127.0.0.1")
        self.assertEqual(
            bpfFilter(a, trackResponse=True, dataOnly=False),
            "(tcp dst port 80 and dst host 127.0.0.1) or (tcp src port 80 and src host 127.0.0.1)",
        )
        b = parseAddress(":80,81", listDevices=self.devices)
        self.assertEqual(bpfFilter(b, dataOnly=False), "(tcp dst port 80 or tcp dst port 81)")
        self.assertEqual(bpfFilter(b, dataOnly=False, vlan=True), "vlan and (tcp dst port 80 or tcp dst port 81)")
        self.assertIn("vlan 5 and", bpfFilter(b, vlanIds=[5, 6]))
        self.assertIn("tcp-syn", bpfFilter(b))


class HelperTests(SynchronousTestCase):
    """
    Header helpers.
    """

    def test_setHeader(self) -> None:
        """
        Replace an existing header or insert after the request line.
        """
        req = b"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 1\r\n\r\nbody"
        self.assertEqual(setHeader(req, b"X-Real-IP", b"2"), b"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 2\r\n\r\nbody")
        self.assertEqual(setHeader(b"GET / HTTP/1.1\r\n\r\n", b"X", b"y"), b"GET / HTTP/1.1\r\nX: y\r\n\r\n")


class FlagTests(SynchronousTestCase):
    """
    The capture flags make RawInputConfigs.
    """

    def _configure(self, **given: object) -> GorConfig:
        values = defaultValues(rawflags.FLAGS)
        values.values.update(given)
        config = GorConfig()
        rawflags.configure(values, config)
        return config

    def test_configure(self) -> None:
        """
        One config per --input-raw, with limit and options.
        """
        config = self._configure(**{"input-raw": ["lo:80|10", "127.0.0.1:81"], "input-raw-track-response": True})
        self.assertEqual(len(config.inputs), 2)
        first = config.inputs[0]
        assert isinstance(first, RawInputConfig)
        self.assertEqual(first.address, "lo:80")
        self.assertIsNotNone(first.limit)
        self.assertTrue(first.trackResponse)
        self.assertEqual(first.bufferTimeout, 0.5)
        self.assertEqual(first.maxHeld, 256 * 1024 * 1024)

    def test_maxHeld(self) -> None:
        """
        --input-raw-max-held sets the global bound; it must be positive.
        """
        config = self._configure(**{"input-raw": [":80"], "input-raw-max-held": 1 << 20})
        first = config.inputs[0]
        assert isinstance(first, RawInputConfig)
        self.assertEqual(first.maxHeld, 1 << 20)
        e = self.assertRaises(ValueError, self._configure, **{"input-raw": [":80"], "input-raw-max-held": 0})
        self.assertIn("--input-raw-max-held:", str(e))

    def test_badAddress(self) -> None:
        """
        A bad address is a ValueError naming the flag.
        """
        e = self.assertRaises(ValueError, self._configure, **{"input-raw": [":port"]})
        self.assertIn("--input-raw:", str(e))

    def test_engines(self) -> None:
        """
        raw_socket/af_packet are libpcap aliases; vxlan and unknown are refused.
        """
        flag = next(f for f in rawflags.FLAGS if f.name == "input-raw-engine")
        self.assertEqual(flag.coerce("af_packet"), "libpcap")
        self.assertEqual(flag.coerce("pcap_file"), "pcap_file")
        self.assertRaises(ValueError, flag.coerce, "vxlan")
        self.assertRaises(ValueError, flag.coerce, "bogus")


class ReaderTests(SynchronousTestCase):
    """
    The reactor-side reader and the live input with a fake handle.
    """

    def test_boundedAndSurvivesErrors(self) -> None:
        """
        doRead delivers at most maxPacketsPerRead packets, and an exception
        from the receiver does not stop the reader.
        """
        handle = FakePcapHandle([(i, b"x") for i in range(5)])
        seen: list[int] = []

        def receive(ts: int, data: bytes) -> None:
            seen.append(ts)
            if ts == 1:
                raise RuntimeError("boom")

        reader = PcapReader(handle, receive, reactor=MemoryReactor())
        reader.maxPacketsPerRead = 2
        self.assertIsNone(reader.doRead())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNone(reader.doRead())
        self.assertIsNone(reader.doRead())
        self.assertEqual(seen, [0, 1, 2, 3, 4])

    def test_stopReadsTheRing(self) -> None:
        """
        Stopping a live input reads the ring for one more buffer timeout:
        a request the kernel hands over after the stop was asked for, but
        within that time, is still emitted; then the handle is closed.
        """
        c = Conversation().handshake().send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        handle = FakePcapHandle(c.packets)
        reactor = MemoryReactorClock()
        raw = RawInput(RawInputConfig(address="lo:80"), reactor=reactor, openLive=lambda d, b, o: handle)
        collector = MessageCollector()
        raw.setReceiver(collector)
        raw.privilegedStartService()
        raw.startService()
        [reader] = list(reactor.readers)
        reader.doRead()
        self.assertEqual(len(collector.messages), 1)
        stopped = raw.stopService()
        handle.packets.extend(c.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n").packets[-1:])
        reactor.advance(raw.config.bufferTimeout / 2)
        self.assertNoResult(stopped)
        reactor.advance(raw.config.bufferTimeout / 2 + raw.drainGrace + 0.02)
        self.successResultOf(stopped)
        self.assertEqual([m.payload.split(b" ")[1] for m in collector.messages], [b"/first", b"/late"])
        self.assertTrue(handle.closed)

    def test_stopDrainIsBounded(self) -> None:
        """
        A ring that keeps handing over full batches (a backlog) is read for at
        most C{maxDrain} seconds when stopping, then closed, with a warning.
        """
        c = Conversation().handshake()
        for i in range(3):
            c.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        packets = c.packets
        handle = FakePcapHandle(packets)
        reactor = MemoryReactorClock()
        raw = RawInput(RawInputConfig(address="lo:80"), reactor=reactor, openLive=lambda d, b, o: handle)
        raw.setReceiver(MessageCollector())
        raw.privilegedStartService()
        raw.startService()
        self.patch(PcapReader, "maxPacketsPerRead", 1)
        # an endless backlog: every read finds one more packet
        refill = lambda: handle.packets.append(packets[-1])  # noqa: E731
        original = handle.dispatch

        def dispatch(cnt: int, callback: Callable[[int, bytes], None]) -> int:
            refill()
            return original(cnt, callback)

        handle.dispatch = dispatch  # type: ignore[method-assign]
        warnings: list[str] = []
        raw.log = Logger(observer=cast(ILogObserver, lambda event: warnings.append(formatEvent(event))))
        stopped = raw.stopService()
        for _ in range(int(raw.maxDrain / 0.01) + 10):
            reactor.advance(0.01)
        self.successResultOf(stopped)
        self.assertTrue(handle.closed)
        self.assertTrue(any("backlog" in w for w in warnings), warnings)

    def test_liveInput(self) -> None:
        """
        The live input opens its handle once (privileged start, then start),
        registers a reader, emits requests, counts kernel drops, and never
        reports exhaustion.
        """
        c = Conversation().handshake().send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        handle = FakePcapHandle(c.packets + [(0, b"\x00" * 10)])
        handle.kernelDrops = 3
        opened: list[str] = []

        def openLive(device: str, bpf: str, options: object) -> FakePcapHandle:
            opened.append(bpf)
            return handle

        reactor = MemoryReactorClock()
        raw = RawInput(RawInputConfig(address="lo:80"), reactor=reactor, openLive=openLive)
        collector = MessageCollector()
        got = collector.messages
        raw.setReceiver(collector)
        raw.privilegedStartService()
        raw.startService()
        self.assertEqual(len(opened), 1)
        self.assertIsNone(raw.whenExhausted())
        [reader] = list(reactor.readers)
        reader.doRead()
        self.assertEqual(len(got), 1)
        self.assertEqual(raw.stats["dropped.decode"] + raw.stats["skipped.not_tcp"], 1)
        reactor.advance(1.1)
        self.assertEqual(raw.stats["dropped.kernel"], 3)
        stopped = raw.stopService()
        self.assertFalse(handle.closed)  # the ring is read for one more timeout
        reactor.advance(raw.config.bufferTimeout + raw.drainGrace + 0.02)
        self.successResultOf(stopped)
        self.assertTrue(handle.closed)
