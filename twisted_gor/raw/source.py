# -*- test-case-name: tests.test_raw_reassembly,tests.test_raw_live,tests.test_testing -*-
"""
The seam between twisted-gor and libpcap (pypcap): opening live and offline
handles with the right options, and reading their statistics.

Everything else talks to a L{PcapHandle}; tests pass fakes.
"""

from __future__ import annotations

import os
import sys

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol


class PcapHandle(Protocol):
    """
    What twisted-gor uses of a C{pcap.pcap} object.
    """

    def fileno(self) -> int:
        """The selectable descriptor (-1 for savefiles)."""

    def dispatch(self, cnt: int, callback: Callable[[int, bytes], None]) -> int:
        """Deliver up to C{cnt} packets; the number delivered, 0 at EOF or when none is ready, negative on error."""

    def stats(self) -> tuple[int, int, int]:
        """C{(received, dropped by the kernel, dropped by the interface)}."""

    def datalink(self) -> int:
        """The link type."""

    def setfilter(self, value: str, optimize: int = 1) -> None:
        """Compile and set a BPF filter."""

    def geterr(self) -> str:
        """The last error."""

    def close(self) -> None:
        """Release the handle."""


class CaptureError(Exception):
    """
    A handle could not be opened or configured; the message says how to fix it.
    """


@dataclass
class LiveOptions:
    """
    How to open a live handle.

    @ivar bufferSize: kernel capture buffer in bytes (0 = libpcap's default).
    @ivar timeoutMs: read timeout when not in immediate mode.
    """

    snaplen: int = 262144
    promisc: bool = False
    immediate: bool = True
    timeoutMs: int = 0
    bufferSize: int = 0


def _pcapModule() -> Any:
    import pcap

    return pcap


def openLive(device: str, bpf: str, options: LiveOptions, pcapModule: Optional[Any] = None) -> PcapHandle:
    """
    Open C{device} for capture, set C{bpf}, and make it non-blocking.

    @raise CaptureError: with a message naming the device and the cause.
    """
    mod = pcapModule if pcapModule is not None else _pcapModule()
    try:
        handle = mod.pcap(
            name=device,
            snaplen=options.snaplen,
            promisc=options.promisc,
            timeout_ms=options.timeoutMs if not options.immediate else 1,
            immediate=options.immediate,
            timestamp_in_ns=True,
            buffer_size=options.bufferSize,
        )
    except OSError as e:
        text = str(e)
        if "permit" in text.lower() or "privileges" in text.lower():
            # pypcap's words ("Activateing packet capture failed. Error
            # returned by ... b'socket: Operation not permitted'") say less
            # than this.
            python = os.path.realpath(sys.executable)
            raise CaptureError(
                f"cannot capture on {device!r}: operation not permitted; run gor as root, or grant the capture"
                f" capabilities once: sudo setcap cap_net_raw,cap_net_admin+eip {python}"
            ) from None
        raise CaptureError(f"cannot capture on {device!r}: {text}") from None
    try:
        if bpf:
            handle.setfilter(bpf)
        handle.setnonblock(True)
        if not handle.getnonblock():
            raise CaptureError(f"cannot make the capture on {device!r} non-blocking")
    except OSError as e:
        handle.close()
        raise CaptureError(f"cannot set BPF filter {bpf!r} on {device!r}: {e}") from None
    return handle


def openOffline(path: str, bpf: str, pcapModule: Optional[Any] = None) -> PcapHandle:
    """
    Open a pcap savefile (nanosecond timestamps) and set C{bpf}.

    @raise CaptureError: the file cannot be read or the filter compiled.
    """
    mod = pcapModule if pcapModule is not None else _pcapModule()
    try:
        handle = mod.pcap(name=path, timestamp_in_ns=True)
    except OSError as e:
        raise CaptureError(f"cannot read pcap file {path!r}: {e}") from None
    if bpf:
        try:
            handle.setfilter(bpf)
        except OSError as e:
            handle.close()
            raise CaptureError(f"cannot set BPF filter {bpf!r} on {path!r}: {e}") from None
    return handle
