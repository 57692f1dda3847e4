# -*- test-case-name: tests.test_raw_decode -*-
"""
Decoding captured frames down to TCP segments.

Link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked capture v1 and
v2, BSD NULL and LOOP, raw IP. Network layers: IPv4 (with options) and IPv6
(with extension headers). Everything is read with C{struct.unpack_from} on the
frame as captured; the only copy made is the TCP payload slice.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional, Tuple

DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW = 101
DLT_RAW_BSD = 12
DLT_RAW_OPENBSD = 14
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_IPV4 = 228
DLT_IPV6 = 229
DLT_LINUX_SLL2 = 276

SUPPORTED_LINKTYPES = frozenset(
    {DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_RAW_BSD, DLT_RAW_OPENBSD, DLT_LOOP, DLT_LINUX_SLL, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL2}
)

FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
_BSD_AF_INET6 = frozenset({10, 24, 28, 30})

_H = struct.Struct("!H").unpack_from
_TCP = struct.Struct("!HHIIH").unpack_from
_IPV4 = struct.Struct("!BxHHHxB").unpack_from
_LE_I = struct.Struct("<I").unpack_from
_BE_I = struct.Struct(">I").unpack_from

Segment = Tuple[bytes, bytes, int, int, int, int, int, bytes, bool]
"""
A decoded TCP segment: C{(srcIp, dstIp, srcPort, dstPort, seq, ack, flags,
payload, truncated)}. Addresses are packed (4 or 16 bytes); C{truncated} is true
when the capture cut the packet short (the payload is then incomplete).
"""


class NotTCP(Exception):
    """
    The frame holds something else than a TCP segment (or a fragment); the
    message says what.
    """


def _afterEtherType(data: bytes, typeOffset: int, what: str) -> int:
    """
    The offset of the IP header after an EtherType at C{typeOffset}, skipping
    802.1Q/802.1ad tags.
    """
    etype = _H(data, typeOffset)[0]
    off = typeOffset + 2
    while etype in _VLAN_TYPES:
        etype = _H(data, off + 2)[0]
        off += 4
    if etype == _ETH_IPV4 or etype == _ETH_IPV6:
        return off
    raise NotTCP("%s 0x%04x" % (what, etype))


def _ethernet(data: bytes) -> int:
    return _afterEtherType(data, 12, "ethertype")


def _sll(data: bytes) -> int:
    return _afterEtherType(data, 14, "SLL protocol")


def _sll2(data: bytes) -> int:
    etype = _H(data, 0)[0]
    if etype == _ETH_IPV4 or etype == _ETH_IPV6:
        return 20
    raise NotTCP("SLL2 protocol 0x%04x" % (etype,))


def _null(data: bytes) -> int:
    # host byte order of the capturing machine: try both.
    family = _LE_I(data, 0)[0]
    if family > 0xFFFF:
        family = _BE_I(data, 0)[0]
    if family == 2 or family in _BSD_AF_INET6:
        return 4
    raise NotTCP("address family %d" % (family,))


def _loop(data: bytes) -> int:
    family = _BE_I(data, 0)[0]
    if family == 2 or family in _BSD_AF_INET6:
        return 4
    raise NotTCP("address family %d" % (family,))


def _raw(data: bytes) -> int:
    return 0


_LINK: dict[int, Callable[[bytes], int]] = {
    DLT_EN10MB: _ethernet,
    DLT_LINUX_SLL: _sll,
    DLT_LINUX_SLL2: _sll2,
    DLT_NULL: _null,
    DLT_LOOP: _loop,
    DLT_RAW: _raw,
    DLT_RAW_BSD: _raw,
    DLT_RAW_OPENBSD: _raw,
    DLT_IPV4: _raw,
    DLT_IPV6: _raw,
}

_IPV6_EXT = frozenset({0, 43, 60})


def decodeIP(data: bytes, off: int) -> Segment:
    """
    Decode the IP packet at C{off} of C{data} into a L{Segment}.

    @raise NotTCP: not TCP, or an IP fragment.
    @raise struct.error: the frame is too short to hold the headers.
    """
    version = data[off] >> 4
    if version == 4:
        vihl, total, _ident, frag, proto = _IPV4(data, off)
        if proto != 6:
            raise NotTCP("IP protocol %d" % (proto,))
        if frag & 0x3FFF:
            raise NotTCP("IPv4 fragment")
        t = off + ((vihl & 0x0F) << 2)
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        end = off + total if total else len(data)
    elif version == 6:
        plen = _H(data, off + 4)[0]
        nxt = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        end = off + 40 + plen if plen else len(data)
        t = off + 40
        hops = 0
        while nxt != 6:
            if nxt in _IPV6_EXT:
                nxt, hlen = data[t], (data[t + 1] + 1) << 3
            elif nxt == 51:  # AH
                nxt, hlen = data[t], (data[t + 1] + 2) << 2
            elif nxt == 44:
                raise NotTCP("IPv6 fragment")
            else:
                raise NotTCP("IPv6 next header %d" % (nxt,))
            t += hlen
            hops += 1
            if hops > 8:
                raise NotTCP("too many IPv6 extension headers")
    else:
        raise NotTCP("IP version %d" % (version,))
    sport, dport, seq, ack, offFlags = _TCP(data, t)
    start = t + ((offFlags >> 12) << 2)
    size = len(data)
    truncated = end > size
    if truncated:
        end = size
    payload = data[start:end] if start < end else b""
    return (src, dst, sport, dport, seq, ack, offFlags & 0x1FF, payload, truncated)


def decoderFor(linktype: int) -> Callable[[bytes], Segment]:
    """
    A function decoding one captured frame of link type C{linktype}.

    @raise ValueError: the link type is not supported.
    """
    link = _LINK.get(linktype)
    if link is None:
        raise ValueError(f"unsupported link type {linktype}")
    if link is _raw:

        def decodeRaw(data: bytes) -> Segment:
            return decodeIP(data, 0)

        return decodeRaw

    if link is _ethernet:

        def decodeEthernet(data: bytes) -> Segment:
            etype = data[12:14]
            if etype == b"\x08\x00" or etype == b"\x86\xdd":
                return decodeIP(data, 14)
            return decodeIP(data, _ethernet(data))

        return decodeEthernet

    def decode(data: bytes) -> Segment:
        return decodeIP(data, link(data))

    return decode


def fastLayout(linktype: int) -> Optional[tuple[int, int]]:
    """
    Where the ethertype and the IP header sit in frames of C{linktype}, for
    the capture's fast path: C{(ethertypeOffset, ipOffset)}, the ethertype
    offset being -1 for raw IP link types; L{None} when frames of this link
    type always go through L{decoderFor}'s decoder (BSD loopback, or unknown).
    Frames with VLAN tags, IP options, IPv6 extension headers or anything
    unusual are left to the decoder too.
    """
    if linktype == DLT_EN10MB:
        return (12, 14)
    if linktype == DLT_LINUX_SLL:
        return (14, 16)
    if linktype == DLT_LINUX_SLL2:
        return (0, 20)
    if linktype in (DLT_RAW, DLT_RAW_BSD, DLT_RAW_OPENBSD, DLT_IPV4, DLT_IPV6):
        return (-1, 0)
    return None


def formatIP(packed: bytes) -> str:
    """
    The text form of a packed IPv4 or IPv6 address.
    """
    import socket

    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


__all__ = [
    "Segment",
    "NotTCP",
    "decodeIP",
    "decoderFor",
    "fastLayout",
    "formatIP",
    "SUPPORTED_LINKTYPES",
    "FIN",
    "SYN",
    "RST",
    "PSH",
    "ACK",
]
