"""
Write pcap savefiles for tests: frames built with C{struct}, and a
L{Conversation} helper that turns HTTP messages into TCP segments.
"""

from __future__ import annotations

import socket
import struct
from typing import Iterable, Optional, Sequence

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


def _addr(text: str) -> bytes:
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    return socket.inet_pton(family, text)


def tcpHeader(sport: int, dport: int, seq: int, ack: int, flags: int, options: bytes = b"") -> bytes:
    """
    A TCP header (checksum 0) with optional options (padded to 4 bytes).
    """
    options += b"\x01" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags, 65535, 0, 0) + options


def ipPacket(src: str, dst: str, transport: bytes, ipOptions: bytes = b"", ext: bool = False, proto: int = 6) -> bytes:
    """
    An IPv4 (with optional options) or IPv6 (with an optional hop-by-hop
    extension header) packet around C{transport}.
    """
    s, d = _addr(src), _addr(dst)
    if len(s) == 4:
        ipOptions += b"\x00" * (-len(ipOptions) % 4)
        ihl = (20 + len(ipOptions)) // 4
        total = ihl * 4 + len(transport)
        return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, 0x4000, 64, proto, 0, s, d) + ipOptions + transport
    if ext:
        hop = struct.pack("!BB6s", proto, 0, b"\x01\x04\x00\x00\x00\x00")
        body = hop + transport
        nxt = 0
    else:
        body = transport
        nxt = proto
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nxt, 64, s, d) + body


def linkFrame(linktype: int, ip: bytes, vlan: Optional[int] = None) -> bytes:
    """
    Wrap an IP packet in a link-layer header.
    """
    etype = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
    if linktype == LINKTYPE_ETHERNET:
        head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
        if vlan is not None:
            head += struct.pack("!HH", 0x8100, vlan)
        return head + struct.pack("!H", etype) + ip
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack("!HHH8sH", 0, 772, 6, b"\x00" * 8, etype) + ip
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 1, 772, 0, 6, b"\x00" * 8) + ip
    if linktype == LINKTYPE_NULL:
        return struct.pack("<I", 2 if etype == 0x0800 else 30) + ip
    if linktype == LINKTYPE_RAW:
        return ip
    raise ValueError(linktype)


def writePcap(path: str, packets: Iterable[tuple[int, bytes]], linktype: int = LINKTYPE_ETHERNET, nano: bool = True, snaplen: int = 262144) -> None:
    """
    Write C{(timestampNs, frame)} packets to a pcap savefile; frames longer
    than C{snaplen} are cut (as a capture would).
    """
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for ts, frame in packets:
            sec, frac = divmod(ts, 1_000_000_000)
            if not nano:
                frac //= 1000
            data = frame[:snaplen]
            f.write(struct.pack("<IIII", sec, frac, len(data), len(frame)))
            f.write(data)


class Conversation:
    """
    One TCP connection: builds segments with the right sequence and
    acknowledgement numbers.

    @ivar packets: C{(timestampNs, frame)} in the order they were made.
    """

    def __init__(
        self,
        client: tuple[str, int] = ("10.0.0.1", 50000),
        server: tuple[str, int] = ("10.0.0.2", 80),
        clientIsn: int = 1000,
        serverIsn: int = 5000,
        linktype: int = LINKTYPE_ETHERNET,
        start: int = 1_600_000_000_000_000_000,
        step: int = 1_000_000,
        vlan: Optional[int] = None,
        ipOptions: bytes = b"",
    ) -> None:
        self.client = client
        self.server = server
        self.seq = {True: clientIsn & 0xFFFFFFFF, False: serverIsn & 0xFFFFFFFF}
        self.linktype = linktype
        self.now = start
        self.step = step
        self.vlan = vlan
        self.ipOptions = ipOptions
        self.packets: list[tuple[int, bytes]] = []

    def frame(self, fromClient: bool, seq: int, ack: int, flags: int, payload: bytes = b"", ipOptions: bytes = b"", tcpOptions: bytes = b"") -> bytes:
        """
        One frame of this connection.
        """
        src, dst = (self.client, self.server) if fromClient else (self.server, self.client)
        tcp = tcpHeader(src[1], dst[1], seq, ack, flags, tcpOptions) + payload
        return linkFrame(self.linktype, ipPacket(src[0], dst[0], tcp, ipOptions or self.ipOptions), self.vlan)

    def _add(self, frame: bytes) -> None:
        self.now += self.step
        self.packets.append((self.now, frame))

    def handshake(self) -> "Conversation":
        """
        SYN, SYN-ACK, ACK.
        """
        c, s = self.seq[True], self.seq[False]
        self._add(self.frame(True, c, 0, SYN))
        self._add(self.frame(False, s, c + 1, SYN | ACK))
        self.seq[True] = (c + 1) & 0xFFFFFFFF
        self.seq[False] = (s + 1) & 0xFFFFFFFF
        self._add(self.frame(True, self.seq[True], self.seq[False], ACK))
        return self

    def send(self, data: bytes, fromClient: bool = True, sizes: Optional[Sequence[int]] = None, mss: int = 1400) -> "Conversation":
        """
        Send C{data} in segments of C{sizes} (the rest in one) or of C{mss}.
        """
        pieces: list[bytes] = []
        pos = 0
        if sizes is not None:
            for size in sizes:
                if pos < len(data):
                    pieces.append(data[pos : pos + size])
                    pos += size
            if pos < len(data):
                pieces.append(data[pos:])
        else:
            while pos < len(data):
                pieces.append(data[pos : pos + mss])
                pos += mss
        for piece in pieces:
            seq = self.seq[fromClient]
            self._add(self.frame(fromClient, seq, self.seq[not fromClient], PSH | ACK, piece))
            self.seq[fromClient] = (seq + len(piece)) & 0xFFFFFFFF
        return self

    def close(self, fromClient: bool = True) -> "Conversation":
        """
        A FIN from one side and one from the other.
        """
        for side in (fromClient, not fromClient):
            seq = self.seq[side]
            self._add(self.frame(side, seq, self.seq[not side], FIN | ACK))
            self.seq[side] = (seq + 1) & 0xFFFFFFFF
        return self

    def reset(self, fromClient: bool = True) -> "Conversation":
        """
        An RST from one side.
        """
        self._add(self.frame(fromClient, self.seq[fromClient], self.seq[not fromClient], RST | ACK))
        return self
