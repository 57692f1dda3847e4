# -*- test-case-name: tests.test_raw_decode -*-
"""
C{--input-raw} addresses as Gor and GoReplay take them, and the kernel BPF
filter for each.

C{:80} (all interfaces: the Linux C{any} device), C{127.0.0.1:80} and
C{[::1]:80} (loopback addresses use C{lo}, other addresses C{any} plus a
C{dst host} clause), C{lo:80} and C{eth*:80} (interface by name or prefix),
C{:80,8080} (several ports), C{dump.pcap:80} or C{dump.pcap} (a savefile;
no port = every port).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

_PSEUDO_DEVICES = ("any", "bluetooth", "nflog", "nfqueue", "dbus", "usbmon", "dummy")


@dataclass(frozen=True)
class CaptureAddress:
    """
    A parsed C{--input-raw} address.

    @ivar devices: the pcap devices to open (or the savefile path).
    @ivar host: the IP the capture is restricted to, or L{None}.
    @ivar ports: server ports; empty means every port.
    @ivar isFile: C{devices[0]} is a pcap savefile.
    """

    text: str
    devices: tuple[str, ...]
    host: Optional[str]
    ports: tuple[int, ...]
    isFile: bool


def _parsePorts(text: str) -> tuple[int, ...]:
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            port = int(part, 10)
        except ValueError:
            raise ValueError(f"parsing port error: {part!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"parsing port error: {port} is out of range")
        if port:
            ports.append(port)
    return tuple(dict.fromkeys(ports))


def splitHostPort(text: str) -> tuple[str, str]:
    """
    Split C{host:ports} (C{[v6]:ports} for IPv6); the port part may be empty.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"missing ']' in {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after ']' in {text!r}")
        return host, rest[1:]
    if text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise ValueError(f"write IPv6 addresses in brackets: [{text}]:PORT") from None
        return text, ""
    host, sep, ports = text.rpartition(":")
    if not sep:
        return text, ""
    return host, ports


def parseAddress(
    text: str,
    listDevices: Optional[Callable[[], Sequence[str]]] = None,
    ignore: Sequence[str] = (),
    forceFile: bool = False,
) -> CaptureAddress:
    """
    Parse one C{--input-raw} value (without its C{|limit}).

    @param listDevices: returns the capture devices (default
        C{pcap.findalldevs}); only called for names and wildcards.
    @param ignore: interface names to skip when capturing everywhere (the
        interfaces are then opened one by one instead of C{any}).
    @param forceFile: the engine is C{pcap_file}: the host is a path.
    @raise ValueError: the address cannot be used; the message says why.
    """
    if text.strip().lower().startswith("k8s://"):
        raise ValueError(
            "k8s:// capture addresses (Kubernetes pod discovery) are not supported by twisted-gor;"
            " run gor on the node (e.g. a hostNetwork DaemonSet) and capture the pod's port: --input-raw :PORT"
        )
    host, portText = splitHostPort(text.strip())
    if forceFile or host.endswith("pcap") or (not portText and text.endswith("pcap")):
        path = host if host.endswith("pcap") or portText else text
        if forceFile and not host:
            raise ValueError(f"pcap_file engine needs a file name, got {text!r}")
        if not os.path.exists(path):
            raise ValueError(f"no such pcap file {path!r}")
        return CaptureAddress(text, (path,), None, _parsePorts(portText), True)
    ports = _parsePorts(portText)
    if host in ("", "0.0.0.0", "::", "*"):
        if ignore:
            devices = [d for d in _devices(listDevices) if d not in ignore and not d.startswith(_PSEUDO_DEVICES)]
            if not devices:
                raise ValueError("no interface left to capture on after --input-raw-ignore-interface")
            return CaptureAddress(text, tuple(devices), None, ports, False)
        return CaptureAddress(text, ("any",), None, ports, False)
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        device = "lo" if ip.is_loopback else "any"
        return CaptureAddress(text, (device,), str(ip), ports, False)
    if host == "any":
        return CaptureAddress(text, ("any",), None, ports, False)
    devices = _devices(listDevices)
    if host.endswith("*"):
        matches = [d for d in devices if d.startswith(host[:-1]) and d not in ignore]
        if not matches:
            raise ValueError(f"no interface matches {host!r}")
        return CaptureAddress(text, (matches[0],), None, ports, False)
    if host not in devices:
        if host.isdigit() and not portText:
            raise ValueError(f"no such interface or address {host!r}; did you mean ':{host}' (port {host})?")
        raise ValueError(f"no such interface or address {host!r}")
    return CaptureAddress(text, (host,), None, ports, False)


def _devices(listDevices: Optional[Callable[[], Sequence[str]]]) -> list[str]:
    if listDevices is None:
        import pcap

        return list(pcap.findalldevs())
    return list(listDevices())


def _portClause(direction: str, ports: Sequence[int]) -> str:
    if not ports:
        return "tcp"
    clauses = [f"tcp {direction} port {p}" for p in ports]
    return clauses[0] if len(clauses) == 1 else "(" + " or ".join(clauses) + ")"


DATA_ONLY = (
    "(tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0"
    " or (ip and ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0)"
    " or (ip6 and ip6[4:2] - ((tcp[12]&0xf0)>>2) != 0))"
)
"""BPF clause keeping only segments with data or SYN/FIN/RST (no pure ACKs)."""


def bpfFilter(
    address: CaptureAddress,
    trackResponse: bool = False,
    promisc: bool = False,
    vlan: bool = False,
    vlanIds: Sequence[int] = (),
    dataOnly: bool = True,
) -> str:
    """
    The kernel filter for C{address}: C{tcp dst port P} (and C{dst host H}),
    with C{track-response} the mirror C{src} clause, and optionally without
    pure ACKs.
    """

    def side(direction: str) -> str:
        clause = _portClause(direction, address.ports)
        if address.host is not None and not promisc and not address.isFile:
            clause = f"{clause} and {direction} host {address.host}"
        return clause

    expr = side("dst")
    if trackResponse and address.ports:
        expr = f"({expr}) or ({side('src')})"
    elif trackResponse and address.host is not None and not promisc and not address.isFile:
        expr = f"({expr}) or ({side('src')})"
    if dataOnly:
        expr = f"({expr}) and {DATA_ONLY}"
    if vlanIds:
        return " or ".join(f"(vlan {vid} and {expr})" for vid in vlanIds)
    if vlan:
        return f"vlan and {expr}"
    return expr
