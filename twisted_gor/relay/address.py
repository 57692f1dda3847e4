# -*- test-case-name: tests.test_relay_unit -*-
"""
GoReplay addresses of the relay flags: C{:PORT}, C{HOST:PORT}, C{[::1]:PORT}.
"""

from __future__ import annotations


def parseHostPort(text: str, requireHost: bool) -> tuple[str, int]:
    """
    Split C{text} into C{(host, port)}; the host is C{""} for C{:PORT}.

    @param requireHost: reject an empty host (client addresses).
    @raise ValueError: saying what is wrong with the value.
    """
    value = text.strip()
    if value.startswith("tcp://"):
        value = value[len("tcp://") :]
    if value.startswith("["):
        close = value.find("]")
        if close < 0 or not value[close + 1 :].startswith(":"):
            raise ValueError(f"invalid address {text!r} (expected [IPv6]:PORT)")
        host, portText = value[1:close], value[close + 2 :]
    else:
        host, sep, portText = value.rpartition(":")
        if not sep:
            raise ValueError(f"invalid address {text!r} (expected HOST:PORT or :PORT)")
        if ":" in host:
            raise ValueError(f"invalid address {text!r} (write IPv6 hosts as [addr]:PORT)")
    try:
        port = int(portText)
    except ValueError:
        raise ValueError(f"invalid port in {text!r}") from None
    if not 0 <= port <= 65535 or (requireHost and port == 0):
        raise ValueError(f"port out of range in {text!r}")
    if requireHost and not host:
        raise ValueError(f"missing host in {text!r} (expected HOST:PORT)")
    return host, port
